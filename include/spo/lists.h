/* spo — SharePoint lists: resolving a list by display name or id, and adding an item.
 *
 * POST /v1.0/sites/{site-id}/lists/{list-id}/items with {"fields":{...}} (Graph v1.0); the body is
 * the caller's, written with spo_json_writer. The FIELD=VALUE / FIELD:=JSON argument syntax of
 * `spo list-add` is parsed here so that it is one definition, tested as a unit. */
#ifndef SPO_LISTS_H
#define SPO_LISTS_H

#include "spo/drive.h"

#ifndef SPO_LIST_BODY_MAX
#define SPO_LIST_BODY_MAX 8192 /* the whole {"fields":{...}} request body + NUL (--json-file too) */
#endif
#ifndef SPO_LIST_NAME_MAX
#define SPO_LIST_NAME_MAX 256 /* a list's displayName or name as compared + NUL */
#endif

typedef struct spo_list_ref {
    char site_id[SPO_SITE_ID_MAX];
    char list_id[SPO_ITEM_ID_MAX];
    spo_drive_part failed; /* SPO_PART_SITE or SPO_PART_LIST when a request failed */
} spo_list_ref;

/* Resolve site, then list: a list id (a GUID, used as it is) or a display name looked up in
 * /sites/{id}/lists (every page; displayName exactly, else the URL name, else displayName without
 * regard to ASCII case). No such list: SPO_E_GRAPH with diag status 404, failed SPO_PART_LIST. */
int spo_list_resolve(spo_graph *g, const char *site, const char *list, spo_list_ref *out);

/* POST the body (a JSON object, len bytes) as a new item of the list; the new item's id goes to id.
 * Not repeated after a lost answer (it could create the item twice), only after 429/503.
 * Returns SPO_OK, SPO_E_TOO_LONG, SPO_E_JSON_SHAPE (no id in the answer) or as spo_graph_call. */
int spo_list_add_item(spo_graph *g, spo_list_ref *l, const char *body, size_t len, char *id,
                      size_t cap);

/* One FIELD=VALUE (value: a string) or FIELD:=JSON (value: a number, true, false or null) argument;
 * spans point into the argument. */
typedef struct spo_list_field {
    const char *key;
    size_t key_len;
    const char *value;
    size_t value_len;
    uint8_t scalar; /* 1: FIELD:=JSON */
} spo_list_field;

/* Parse arg. SPO_E_ARG when there is no '=', FIELD is empty, a ':=' value is not a JSON number or
 * literal, or FIELD or VALUE is not valid UTF-8. */
int spo_list_field_parse(const char *arg, spo_list_field *out);

#endif
