/* SharePoint lists: resolution by display name or id, item creation, list-add's argument syntax. */
#include "spo/lists.h"

#include <string.h>

#include "drive_priv.h"

/* A list id is a GUID: 8-4-4-4-12 hex digits. */
static int is_guid(const char *s)
{
    static const char shape[] = "xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx";
    for (size_t i = 0; i < sizeof shape - 1; i++) {
        char c = s[i];
        if (shape[i] == '-' ? c != '-'
                            : !((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
                                (c >= 'A' && c <= 'F')))
            return 0;
    }
    return s[sizeof shape - 1] == '\0';
}

typedef struct list_pick {
    const char *want;
    char *out;
    int display, name, loose; /* matches of each kind */
    char name_id[SPO_ITEM_ID_MAX], loose_id[SPO_ITEM_ID_MAX];
} list_pick;

static int list_elem(void *ctx, const spo_json_elem *e)
{
    list_pick *p = ctx;
    char id[SPO_ITEM_ID_MAX], text[SPO_LIST_NAME_MAX];
    size_t idlen;
    int rc = spo_json_elem_string(e, "id", id, sizeof id, &idlen);
    if (rc != SPO_OK)
        return rc == SPO_E_TOO_LONG ? rc : SPO_E_JSON_SHAPE;
    if (!spo_drive_is_id(id, idlen, "-"))
        return SPO_E_JSON_SHAPE;
    /* Names longer than any we could have been asked for cannot match: not an error. */
    if (spo_json_elem_string(e, "displayName", text, sizeof text, NULL) == SPO_OK) {
        if (strcmp(text, p->want) == 0 && !p->display++)
            memcpy(p->out, id, idlen + 1);
        else if (spo_drive_ascii_ieq(text, p->want) && !p->loose++)
            memcpy(p->loose_id, id, idlen + 1);
    }
    if (spo_json_elem_string(e, "name", text, sizeof text, NULL) == SPO_OK &&
        strcmp(text, p->want) == 0 && !p->name++)
        memcpy(p->name_id, id, idlen + 1);
    return 0;
}

int spo_list_resolve(spo_graph *g, const char *site, const char *list, spo_list_ref *l)
{
    if (!g || !site || !list || !l || !*list)
        return SPO_E_ARG;
    memset(l, 0, sizeof *l);
    l->failed = SPO_PART_SITE;
    int rc = spo_site_resolve(g, site, l->site_id, sizeof l->site_id);
    if (rc != SPO_OK)
        return rc;
    l->failed = SPO_PART_LIST;
    if (is_guid(list)) {
        memcpy(l->list_id, list, strlen(list) + 1);
        l->failed = SPO_PART_NONE;
        return SPO_OK; /* a wrong id shows as 404 on the POST, which names the list too */
    }
    size_t pos;
    if ((rc = spo_drive_url_begin(g, &pos)) || (rc = spo_drive_url_add(g, &pos, "/sites/")) ||
        (rc = spo_drive_url_add(g, &pos, l->site_id)) ||
        (rc = spo_drive_url_add(g, &pos, "/lists?$select=id,displayName,name")))
        return rc;
    list_pick p;
    memset(&p, 0, sizeof p);
    p.want = list;
    p.out = l->list_id;
    spo_graph_req r;
    memset(&r, 0, sizeof r);
    r.on_elem = list_elem;
    r.elem_ctx = &p;
    if ((rc = spo_graph_list(g, &r)) != SPO_OK)
        return rc;
    if (!p.display) {
        if (p.name)
            memcpy(l->list_id, p.name_id, sizeof l->list_id);
        else if (p.loose == 1)
            memcpy(l->list_id, p.loose_id, sizeof l->list_id);
        else {
            memset(g->diag, 0, sizeof *g->diag);
            g->diag->status = 404;
            strncpy(g->diag->code, "itemNotFound", sizeof g->diag->code - 1);
            strncpy(g->diag->message, "no list has this name", sizeof g->diag->message - 1);
            return SPO_E_GRAPH;
        }
    }
    l->failed = SPO_PART_NONE;
    return SPO_OK;
}

int spo_list_add_item(spo_graph *g, spo_list_ref *l, const char *body, size_t len, char *id,
                      size_t cap)
{
    if (!g || !l || !body || !id || cap == 0 || !l->site_id[0] || !l->list_id[0])
        return SPO_E_ARG;
    id[0] = '\0';
    size_t pos;
    int rc;
    l->failed = SPO_PART_LIST;
    if ((rc = spo_drive_url_begin(g, &pos)) || (rc = spo_drive_url_add(g, &pos, "/sites/")) ||
        (rc = spo_drive_url_add(g, &pos, l->site_id)) ||
        (rc = spo_drive_url_add(g, &pos, "/lists/")) ||
        (rc = spo_drive_url_add(g, &pos, l->list_id)) ||
        (rc = spo_drive_url_add(g, &pos, "/items")))
        return rc;
    spo_json_capture caps[1] = { { { "id", NULL }, id, cap, 0, 0, 0, 0, 0 } };
    spo_graph_req r;
    memset(&r, 0, sizeof r);
    r.method = "POST";
    r.content_type = "application/json";
    r.body = (const uint8_t *)body;
    r.body_len = len;
    r.caps = caps;
    r.ncaps = 1;
    r.not_idempotent = 1;
    if ((rc = spo_graph_call(g, &r)) != SPO_OK)
        return rc;
    /* listItem ids are strings of digits; anything else is not Graph's answer. */
    if (!caps[0].found || caps[0].type != SPO_JSON_STRING || !spo_drive_is_id(id, caps[0].len, ""))
        return SPO_E_JSON_SHAPE;
    l->failed = SPO_PART_NONE;
    return SPO_OK;
}

/* ------------------------------------------------------------------ FIELD=VALUE, FIELD:=JSON */

int spo_list_field_parse(const char *arg, spo_list_field *out)
{
    if (!arg || !out)
        return SPO_E_ARG;
    memset(out, 0, sizeof *out);
    const char *eq = strchr(arg, '=');
    if (!eq || eq == arg)
        return SPO_E_ARG;
    size_t klen = (size_t)(eq - arg);
    if (arg[klen - 1] == ':') {
        out->scalar = 1;
        klen--;
        if (klen == 0)
            return SPO_E_ARG;
    }
    out->key = arg;
    out->key_len = klen;
    out->value = eq + 1;
    out->value_len = strlen(eq + 1);
    if (!spo_json_utf8_valid(out->key, out->key_len) ||
        !spo_json_utf8_valid(out->value, out->value_len))
        return SPO_E_ARG;
    if (out->scalar && spo_json_scalar_check(out->value, out->value_len) != SPO_OK)
        return SPO_E_ARG;
    return SPO_OK;
}
