/* Document libraries: site and drive addressing, item paths, folder listing, folder creation,
 * item metadata and the download redirect. Every URL is built in g->url; nothing on the heap. */
#include "spo/drive.h"

#include "drive_priv.h"

#include <string.h>

/* ------------------------------------------------------------------ building URLs */

int spo_drive_cat(char *dst, size_t cap, size_t *pos, const char *s, size_t n)
{
    if (n >= cap - *pos)
        return SPO_E_TOO_LONG;
    memcpy(dst + *pos, s, n);
    *pos += n;
    dst[*pos] = '\0';
    return SPO_OK;
}

int spo_drive_catz(char *dst, size_t cap, size_t *pos, const char *z)
{
    return spo_drive_cat(dst, cap, pos, z, strlen(z));
}

static int is_alnum(int c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int is_host(const char *h, size_t n)
{
    if (n == 0 || n > 253)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum((unsigned char)h[i]) && h[i] != '.' && h[i] != '-' && h[i] != '_')
            return 0;
    return 1;
}

/* Ids Graph hands out: site ids ("host,guid,guid"), drive ids ("b!..." base64url), item ids.
 * They go into paths unencoded, so a hostile answer must not smuggle '/', '?' or '%' in. */
int spo_drive_is_id(const char *s, size_t n, const char *extra)
{
    if (n == 0)
        return 0;
    for (size_t i = 0; i < n; i++)
        if (!is_alnum((unsigned char)s[i]) && !strchr(extra, s[i]))
            return 0;
    return 1;
}

/* Append the segments of p[0..len) percent-encoded, '/' between them (dst NULL: only check and
 * count them). With decode, %XX in the input is a byte (a URL copied from a browser). "." and ".."
 * are checked after decoding. */
static int put_segments(char *dst, size_t cap, size_t *pos, const char *p, size_t len, int decode,
                        size_t *segments)
{
    size_t i = 0, nseg = 0;
    while (i < len) {
        while (i < len && p[i] == '/')
            i++;
        if (i == len)
            break;
        if (nseg++ > 0 && dst) {
            int rc = spo_drive_cat(dst, cap, pos, "/", 1);
            if (rc != SPO_OK)
                return rc;
        }
        size_t dots = 0, bytes = 0;
        for (; i < len && p[i] != '/'; i++, bytes++) {
            unsigned char b = (unsigned char)p[i];
            if (decode && b == '%') {
                int hi = i + 2 < len ? spo_url_hexval((unsigned char)p[i + 1]) : -1;
                int lo = i + 2 < len ? spo_url_hexval((unsigned char)p[i + 2]) : -1;
                if (hi < 0 || lo < 0)
                    return SPO_E_ARG;
                b = (unsigned char)(hi * 16 + lo);
                i += 2;
            }
            if (b < 0x20 || b == 0x7f || b == '\\')
                return SPO_E_ARG;
            dots += b == '.';
            char c = (char)b;
            int rc = dst ? spo_url_encode_append(dst, cap, pos, &c, 1) : SPO_OK;
            if (rc != SPO_OK)
                return rc;
        }
        if (dots == bytes && bytes <= 2)
            return SPO_E_ARG; /* "." or ".." */
    }
    if (segments)
        *segments = nseg;
    return SPO_OK;
}

int spo_item_path_append(char *dst, size_t cap, size_t *pos, const char *p, size_t *segments)
{
    if (!dst || !pos || *pos >= cap || !p)
        return SPO_E_ARG;
    size_t start = *pos;
    int rc = put_segments(dst, cap, pos, p, strlen(p), 0, segments);
    if (rc != SPO_OK) {
        *pos = start;
        dst[start] = '\0';
    }
    return rc;
}

static int site_path(char *dst, size_t cap, size_t *pos, const char *site)
{
    size_t n = strlen(site);
    const char *comma = memchr(site, ',', n);
    if (comma) {
        /* host,guid,guid: exactly two commas, three non-empty parts */
        const char *c2 = memchr(comma + 1, ',', n - (size_t)(comma + 1 - site));
        if (!c2 || memchr(c2 + 1, ',', n - (size_t)(c2 + 1 - site)) || comma == site ||
            c2 == comma + 1 || c2 + 1 == site + n || !spo_drive_is_id(site, n, ".-_,"))
            return SPO_E_ARG;
        int rc = spo_drive_catz(dst, cap, pos, "/sites/");
        return rc ? rc : spo_drive_cat(dst, cap, pos, site, n);
    }
    if (strstr(site, "://") && !(n >= 8 && spo_http_span_ieq((spo_span){ site, 8 }, "https://")))
        return SPO_E_ARG; /* http:// or another scheme: not a SharePoint site URL */
    const char *host = site, *path = NULL;
    size_t hlen, plen = 0;
    int decode = 0;
    if (n >= 8 && spo_http_span_ieq((spo_span){ site, 8 }, "https://")) {
        host = site + 8;
        const char *slash = memchr(host, '/', n - 8);
        hlen = slash ? (size_t)(slash - host) : n - 8;
        if (slash) {
            path = slash;
            plen = n - (size_t)(slash - site);
        }
        if (path && (memchr(path, '?', plen) || memchr(path, '#', plen)))
            return SPO_E_ARG; /* a page's query is not part of the site's address */
        decode = 1;
    } else {
        const char *colon = strstr(site, ":/");
        hlen = colon ? (size_t)(colon - site) : n;
        if (colon) {
            path = colon + 1;
            plen = n - (size_t)(path - site);
        }
    }
    if (!is_host(host, hlen))
        return SPO_E_ARG; /* also refuses ports, user parts and IPv6 literals */
    int rc;
    if ((rc = spo_drive_catz(dst, cap, pos, "/sites/")) ||
        (rc = spo_drive_cat(dst, cap, pos, host, hlen)))
        return rc;
    size_t before = *pos, nseg = 0;
    if (path && (rc = spo_drive_catz(dst, cap, pos, ":/")))
        return rc;
    if (path && (rc = put_segments(dst, cap, pos, path, plen, decode, &nseg)))
        return rc;
    if (nseg == 0) {
        *pos = before; /* "https://host/" and "host:/" are the root site */
        dst[before] = '\0';
    }
    return SPO_OK;
}

int spo_site_path_append(char *dst, size_t cap, size_t *pos, const char *site)
{
    if (!dst || !pos || *pos >= cap || !site)
        return SPO_E_ARG;
    size_t start = *pos;
    int rc = site_path(dst, cap, pos, site);
    if (rc != SPO_OK) {
        *pos = start;
        dst[start] = '\0';
    }
    return rc;
}

/* g->url = Graph root + "/v1.0" */
int spo_drive_url_begin(spo_graph *g, size_t *pos)
{
    *pos = 0;
    g->url[0] = '\0';
    int rc = spo_drive_catz(g->url, sizeof g->url, pos, g->base_str);
    return rc ? rc : spo_drive_catz(g->url, sizeof g->url, pos, "/v1.0");
}

int spo_drive_url_add(spo_graph *g, size_t *pos, const char *z)
{
    return spo_drive_catz(g->url, sizeof g->url, pos, z);
}

/* g->url = .../v1.0/drives/{id}/root, then ":/{path}" when the path has segments; *nseg says. */
static int url_item(spo_graph *g, const spo_drive_ref *d, const char *path, size_t plen,
                    size_t *pos, size_t *nseg)
{
    int rc;
    if ((rc = spo_drive_url_begin(g, pos)) || (rc = spo_drive_url_add(g, pos, "/drives/")) ||
        (rc = spo_drive_url_add(g, pos, d->drive_id)) || (rc = spo_drive_url_add(g, pos, "/root")))
        return rc;
    size_t before = *pos;
    if ((rc = spo_drive_url_add(g, pos, ":/")) ||
        (rc = put_segments(g->url, sizeof g->url, pos, path ? path : "", path ? plen : 0, 0,
                           nseg)))
        return rc;
    if (*nseg == 0) {
        *pos = before;
        g->url[before] = '\0';
    }
    return SPO_OK;
}

/* ------------------------------------------------------------------ resolving */

typedef struct drive_pick {
    const char *want;
    char *out;
    int exact, loose; /* matches seen */
    char loose_id[SPO_DRIVE_ID_MAX];
} drive_pick;

int spo_drive_ascii_ieq(const char *a, const char *b)
{
    for (; *a && *b; a++, b++) {
        int x = (unsigned char)*a, y = (unsigned char)*b;
        if (x >= 'A' && x <= 'Z')
            x += 32;
        if (y >= 'A' && y <= 'Z')
            y += 32;
        if (x != y)
            return 0;
    }
    return *a == *b;
}

static int drive_elem(void *ctx, const spo_json_elem *e)
{
    drive_pick *p = ctx;
    char name[SPO_DRIVE_NAME_MAX], id[SPO_DRIVE_ID_MAX];
    size_t idlen;
    int rc = spo_json_elem_string(e, "id", id, sizeof id, &idlen);
    if (rc != SPO_OK)
        return rc == SPO_E_TOO_LONG ? rc : SPO_E_JSON_SHAPE;
    if (!spo_drive_is_id(id, idlen, "!-_."))
        return SPO_E_JSON_SHAPE;
    /* A name longer than any we could have been asked for cannot match: not an error. */
    if (spo_json_elem_string(e, "name", name, sizeof name, NULL) != SPO_OK)
        return 0;
    if (strcmp(name, p->want) == 0 && !p->exact++) {
        memcpy(p->out, id, idlen + 1);
    } else if (spo_drive_ascii_ieq(name, p->want) && !p->loose++) {
        memcpy(p->loose_id, id, idlen + 1);
    }
    return 0;
}

static void not_found(spo_graph *g, const char *code, const char *msg)
{
    memset(g->diag, 0, sizeof *g->diag);
    g->diag->status = 404;
    strncpy(g->diag->code, code, sizeof g->diag->code - 1);
    strncpy(g->diag->message, msg, sizeof g->diag->message - 1);
}

int spo_drive_capture_id(spo_graph *g, char *out, size_t cap, const char *extra)
{
    spo_json_capture caps[1] = { { { "id", NULL }, out, cap, 0, 0, 0, 0, 0 } };
    spo_graph_req r;
    memset(&r, 0, sizeof r);
    r.caps = caps;
    r.ncaps = 1;
    int rc = spo_graph_call(g, &r);
    if (rc != SPO_OK)
        return rc;
    if (!caps[0].found || caps[0].type != SPO_JSON_STRING ||
        !spo_drive_is_id(out, caps[0].len, extra))
        return SPO_E_JSON_SHAPE;
    return SPO_OK;
}

int spo_site_resolve(spo_graph *g, const char *site, char *id, size_t cap)
{
    if (!g || !site || !id || cap == 0)
        return SPO_E_ARG;
    id[0] = '\0';
    size_t pos;
    int rc = spo_drive_url_begin(g, &pos);
    if (rc == SPO_OK)
        rc = spo_site_path_append(g->url, sizeof g->url, &pos, site);
    if (rc == SPO_OK)
        rc = spo_drive_capture_id(g, id, cap, ".-_,");
    return rc;
}

int spo_drive_resolve(spo_graph *g, const char *site, const char *drive_name, spo_drive_ref *d)
{
    if (!g || !site || !d)
        return SPO_E_ARG;
    memset(d, 0, sizeof *d);
    size_t pos;
    d->failed = SPO_PART_SITE;
    int rc = spo_site_resolve(g, site, d->site_id, sizeof d->site_id);
    if (rc != SPO_OK)
        return rc;

    d->failed = SPO_PART_DRIVE;
    if ((rc = spo_drive_url_begin(g, &pos)) || (rc = spo_drive_url_add(g, &pos, "/sites/")) ||
        (rc = spo_drive_url_add(g, &pos, d->site_id)))
        return rc;
    if (!drive_name) {
        if ((rc = spo_drive_url_add(g, &pos, "/drive?$select=id")))
            return rc;
        rc = spo_drive_capture_id(g, d->drive_id, sizeof d->drive_id, "!-_.");
    } else {
        if ((rc = spo_drive_url_add(g, &pos, "/drives?$select=id,name")))
            return rc;
        drive_pick p = { drive_name, d->drive_id, 0, 0, { 0 } };
        spo_graph_req r;
        memset(&r, 0, sizeof r);
        r.on_elem = drive_elem;
        r.elem_ctx = &p;
        rc = spo_graph_list(g, &r);
        if (rc == SPO_OK && !p.exact) {
            /* Library names are unique regardless of case in SharePoint. */
            if (p.loose == 1)
                memcpy(d->drive_id, p.loose_id, sizeof d->drive_id);
            else {
                not_found(g, "itemNotFound", "no document library has this name");
                rc = SPO_E_GRAPH;
            }
        }
    }
    if (rc == SPO_OK)
        d->failed = SPO_PART_NONE;
    return rc;
}

/* ------------------------------------------------------------------ listing */

typedef struct list_ctx {
    spo_item_fn fn;
    void *ctx;
} list_ctx;

/* Unescape a string member in place (the result is never longer than the escaped text and the
 * closing quote's byte takes the NUL): the element is not needed raw afterwards. */
static int take_string(const spo_json_elem *e, const char *key, const char **out, size_t *len)
{
    *out = "";
    *len = 0;
    int v = spo_json_elem_member(e, key);
    if (v < 0)
        return SPO_OK; /* Graph omits empty fields */
    if (e->tok[v].type != JSMN_STRING)
        return SPO_E_JSON_SHAPE;
    char *s = (char *)(uintptr_t)(e->js + e->tok[v].start);
    size_t n = (size_t)(e->tok[v].end - e->tok[v].start);
    int rc = spo_json_unescape(s, n, s, n + 1, len);
    *out = s;
    return rc;
}

static int take_size(const spo_json_elem *e, uint64_t *out, uint8_t *has)
{
    *out = 0;
    *has = 0;
    int v = spo_json_elem_member(e, "size");
    if (v < 0)
        return SPO_OK;
    const char *s = e->js + e->tok[v].start;
    size_t n = (size_t)(e->tok[v].end - e->tok[v].start);
    if (e->tok[v].type != JSMN_PRIMITIVE || n == 0)
        return SPO_E_JSON_SHAPE;
    uint64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return SPO_E_JSON_SHAPE; /* negative, fractional or exponent: not a byte count */
        uint64_t dgt = (uint64_t)(s[i] - '0');
        if (x > (UINT64_MAX - dgt) / 10)
            return SPO_E_JSON_SHAPE;
        x = x * 10 + dgt;
    }
    *out = x;
    *has = 1;
    return SPO_OK;
}

static int item_elem(void *ctx, const spo_json_elem *e)
{
    list_ctx *lc = ctx;
    spo_item it;
    memset(&it, 0, sizeof it);
    int f = spo_json_elem_member(e, "folder");
    it.folder = f > 0 && e->tok[f].type == JSMN_OBJECT;
    int rc;
    if ((rc = take_size(e, &it.size, &it.has_size)) ||
        (rc = take_string(e, "id", &it.id, &it.id_len)) ||
        (rc = take_string(e, "name", &it.name, &it.name_len)) ||
        (rc = take_string(e, "lastModifiedDateTime", &it.modified, &it.modified_len)))
        return rc;
    if (it.id_len == 0 || it.name_len == 0)
        return SPO_E_JSON_SHAPE;
    return lc->fn(lc->ctx, &it);
}

int spo_drive_list(spo_graph *g, spo_drive_ref *d, const char *path, spo_item_fn fn, void *ctx)
{
    if (!g || !d || !fn || !d->drive_id[0])
        return SPO_E_ARG;
    size_t pos, nseg;
    int rc;
    d->failed = SPO_PART_ITEM;
    if ((rc = url_item(g, d, path, path ? strlen(path) : 0, &pos, &nseg)))
        return rc;
    if ((rc = spo_drive_url_add(g, &pos, nseg ? ":/children" : "/children")) ||
        (rc = spo_drive_url_add(g, &pos, "?$select=id,name,size,lastModifiedDateTime,folder")))
        return rc;
    list_ctx lc = { fn, ctx };
    spo_graph_req r;
    memset(&r, 0, sizeof r);
    r.on_elem = item_elem;
    r.elem_ctx = &lc;
    rc = spo_graph_list(g, &r);
    if (rc == SPO_OK)
        d->failed = SPO_PART_NONE;
    return rc;
}

/* ------------------------------------------------------------------ metadata, download URL */

/* GET item at path[0..plen) with the folder probe; fills id/size/qxh when given. */
static int get_item(spo_graph *g, spo_drive_ref *d, const char *path, size_t plen,
                    spo_item_meta *m)
{
    size_t pos, nseg;
    int rc;
    if ((rc = url_item(g, d, path, plen, &pos, &nseg)) ||
        (rc = spo_drive_url_add(g, &pos, "?$select=id,size,file,folder")))
        return rc;
    char folder_probe[2], size_text[24];
    memset(m, 0, sizeof *m);
    spo_json_capture caps[4] = {
        { { "id", NULL }, m->id, sizeof m->id, 0, 0, 0, 0, 0 },
        { { "size", NULL }, size_text, sizeof size_text, 0, 0, 0, 0, 0 },
        { { "file", "hashes", "quickXorHash", NULL }, m->qxh, sizeof m->qxh, 0, 0, 0, 0, 0 },
        { { "folder", NULL }, folder_probe, sizeof folder_probe, 1, 0, 0, 0, 0 },
    };
    spo_graph_req r;
    memset(&r, 0, sizeof r);
    r.caps = caps;
    r.ncaps = 4;
    if ((rc = spo_graph_call(g, &r)) != SPO_OK)
        return rc;
    if (!caps[0].found || caps[0].type != SPO_JSON_STRING ||
        !spo_drive_is_id(m->id, caps[0].len, "!-_.") ||
        (caps[2].found && caps[2].type != SPO_JSON_STRING))
        return SPO_E_JSON_SHAPE;
    m->folder = caps[3].found && caps[3].type == SPO_JSON_OBJECT;
    if (caps[1].found) {
        if (caps[1].type != SPO_JSON_NUMBER || caps[1].len == 0)
            return SPO_E_JSON_SHAPE;
        for (size_t i = 0; i < caps[1].len; i++) {
            uint64_t dgt = (uint64_t)(size_text[i] - '0');
            if (size_text[i] < '0' || size_text[i] > '9' || m->size > (UINT64_MAX - dgt) / 10)
                return SPO_E_JSON_SHAPE;
            m->size = m->size * 10 + dgt;
        }
    }
    return SPO_OK;
}

int spo_drive_item(spo_graph *g, spo_drive_ref *d, const char *path, spo_item_meta *out)
{
    if (!g || !d || !path || !out || !d->drive_id[0])
        return SPO_E_ARG;
    d->failed = SPO_PART_ITEM;
    int rc = get_item(g, d, path, strlen(path), out);
    if (rc == SPO_OK)
        d->failed = SPO_PART_NONE;
    return rc;
}

int spo_drive_content_url(spo_graph *g, spo_drive_ref *d, const char *item_id, char *url,
                          size_t cap)
{
    if (!g || !d || !item_id || !url || cap == 0 || !d->drive_id[0] ||
        !spo_drive_is_id(item_id, strlen(item_id), "!-_."))
        return SPO_E_ARG;
    size_t pos;
    int rc;
    d->failed = SPO_PART_ITEM;
    if ((rc = spo_drive_url_begin(g, &pos)) || (rc = spo_drive_url_add(g, &pos, "/drives/")) ||
        (rc = spo_drive_url_add(g, &pos, d->drive_id)) ||
        (rc = spo_drive_url_add(g, &pos, "/items/")) ||
        (rc = spo_drive_url_add(g, &pos, item_id)) || (rc = spo_drive_url_add(g, &pos, "/content")))
        return rc;
    spo_graph_req r;
    memset(&r, 0, sizeof r);
    r.accept_redirect = 1;
    r.location = url;
    r.location_cap = cap;
    rc = spo_graph_call(g, &r);
    if (rc == SPO_OK && (r.status < 300 || !url[0])) {
        memset(g->diag, 0, sizeof *g->diag);
        g->diag->status = r.status;
        strncpy(g->diag->message, "the content request did not redirect to a download URL",
                sizeof g->diag->message - 1);
        return SPO_E_GRAPH;
    }
    if (rc == SPO_OK)
        d->failed = SPO_PART_NONE;
    return rc;
}

/* ------------------------------------------------------------------ mkdir */

typedef struct buf_writer {
    char *b;
    size_t cap, n;
} buf_writer;

static int buf_put(void *ctx, const char *s, size_t n)
{
    buf_writer *w = ctx;
    if (n >= w->cap - w->n)
        return SPO_E_TOO_LONG;
    memcpy(w->b + w->n, s, n);
    w->n += n;
    w->b[w->n] = '\0';
    return SPO_OK;
}

/* One folder, name[0..nlen), under the folder at path[0..plen). *made = 1 if it was created. */
static int make_one(spo_graph *g, spo_drive_ref *d, const char *path, size_t plen,
                    const char *name, size_t nlen, int *made)
{
    char body[SPO_DRIVE_BODY_MAX];
    buf_writer w = { body, sizeof body, 0 };
    int rc;
    *made = 0;
    static const char head[] = "{\"name\":",
                      tail[] = ",\"folder\":{},\"@microsoft.graph.conflictBehavior\":\"fail\"}";
    if ((rc = buf_put(&w, head, sizeof head - 1)) ||
        (rc = spo_json_write_string(buf_put, &w, name, nlen)) ||
        (rc = buf_put(&w, tail, sizeof tail - 1)))
        return rc;
    size_t pos, nseg;
    if ((rc = url_item(g, d, path, plen, &pos, &nseg)) ||
        (rc = spo_drive_url_add(g, &pos, nseg ? ":/children" : "/children")))
        return rc;
    spo_graph_req r;
    memset(&r, 0, sizeof r);
    r.method = "POST";
    r.content_type = "application/json";
    r.body = (const uint8_t *)body;
    r.body_len = w.n;
    /* Not marked not_idempotent: with "fail", a second copy after a lost answer gets 409, which
     * is checked below like any existing folder. */
    rc = spo_graph_call(g, &r);
    if (rc == SPO_OK) {
        *made = 1;
        return SPO_OK;
    }
    if (!(rc == SPO_E_GRAPH && g->diag->status == 409))
        return rc;
    /* Something of that name exists: fine if it is a folder. */
    spo_item_meta m;
    size_t full = (size_t)(name + nlen - path);
    if ((rc = get_item(g, d, path, full, &m)) != SPO_OK)
        return rc;
    if (!m.folder) {
        memset(g->diag, 0, sizeof *g->diag);
        g->diag->status = 409;
        strncpy(g->diag->code, "nameAlreadyExists", sizeof g->diag->code - 1);
        strncpy(g->diag->message, "a file, not a folder, has this name",
                sizeof g->diag->message - 1);
        return SPO_E_GRAPH;
    }
    return SPO_OK;
}

int spo_drive_mkdir(spo_graph *g, spo_drive_ref *d, const char *path, unsigned *created)
{
    if (created)
        *created = 0;
    if (!g || !d || !path || !d->drive_id[0])
        return SPO_E_ARG;
    size_t len = strlen(path), nseg = 0;
    /* Check the whole path first: a bad last segment must not leave its parents made. */
    size_t none = 0;
    int rc = put_segments(NULL, 0, &none, path, len, 0, &nseg);
    if (rc != SPO_OK || nseg == 0)
        return SPO_E_ARG;
    d->failed = SPO_PART_ITEM;
    for (size_t i = 0; i < len;) {
        while (i < len && path[i] == '/')
            i++;
        if (i == len)
            break;
        size_t s = i;
        while (i < len && path[i] != '/')
            i++;
        int made;
        if ((rc = make_one(g, d, path, s, path + s, i - s, &made)) != SPO_OK)
            return rc;
        if (made && created)
            (*created)++;
    }
    d->failed = SPO_PART_NONE;
    return SPO_OK;
}
