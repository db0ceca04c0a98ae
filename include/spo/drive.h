/* spo — document libraries: addressing a site and a drive, item paths, listing a folder, creating
 * folders, an item's metadata and its download URL.
 *
 * Addresses follow Microsoft Graph v1.0: a site by id (/sites/{host,guid,guid}) or by
 * server-relative path (/sites/{host}:/{path}), a drive by id (/drives/{id}), an item by path under
 * the drive's root (/drives/{id}/root:/{path}:). Every piece taken from the user is
 * percent-encoded per path segment, so a name with spaces, '#', '?', '%', ':' or non-ASCII letters
 * addresses that item and nothing else. All state lives in the caller's spo_graph and in the fixed
 * buffers below. */
#ifndef SPO_DRIVE_H
#define SPO_DRIVE_H

#include "spo/graph.h"

#ifndef SPO_SITE_ID_MAX
#define SPO_SITE_ID_MAX 256 /* a site id "host,guid,guid" + NUL (a host is at most 253 bytes) */
#endif
#ifndef SPO_DRIVE_ID_MAX
#define SPO_DRIVE_ID_MAX 128 /* a drive id ("b!" + 64 base64url characters today) + NUL */
#endif
#ifndef SPO_ITEM_ID_MAX
#define SPO_ITEM_ID_MAX 128 /* a driveItem or listItem id (34 characters today) + NUL */
#endif
#ifndef SPO_DRIVE_NAME_MAX
#define SPO_DRIVE_NAME_MAX 256 /* a document library's display name (--drive) + NUL */
#endif
#ifndef SPO_DRIVE_BODY_MAX
#define SPO_DRIVE_BODY_MAX 1024 /* the JSON body that creates one folder (its name escaped) */
#endif

/* What a request addressed, so that a 404 can say which part was not found. */
typedef enum spo_drive_part {
    SPO_PART_NONE = 0,
    SPO_PART_SITE,  /* the site (SITE argument) */
    SPO_PART_DRIVE, /* the document library (--drive, or the site's default) */
    SPO_PART_ITEM,  /* the file or folder path */
    SPO_PART_LIST   /* the list (list-add) */
} spo_drive_part;

/* A resolved site and drive. */
typedef struct spo_drive_ref {
    char site_id[SPO_SITE_ID_MAX];
    char drive_id[SPO_DRIVE_ID_MAX];
    spo_drive_part failed; /* set by every function here: the part the failing request addressed */
} spo_drive_ref;

/* Append to dst at *pos (dst stays NUL-terminated) the Graph path that addresses site, which is
 *  - a site id "host,guid,guid" (letters, digits, '.', '-', '_' and two commas): "/sites/ID";
 *  - "host:/server/relative/path": "/sites/host:/server/relative/path" (each segment encoded);
 *  - "https://host/server/relative/path" (a site URL as the browser shows it; %XX in it is
 *    decoded first, so a copied URL with %20 works): the same as above;
 *  - "host" alone or "https://host/": the root site, "/sites/host".
 * A query, fragment, port or user part in the URL, an empty, "." or ".." segment, or anything
 * else is SPO_E_ARG; SPO_E_TOO_LONG when dst is full. */
int spo_site_path_append(char *dst, size_t cap, size_t *pos, const char *site);

/* Append the item path p ("a/b/c.txt"; leading, trailing and doubled '/' ignored) to dst with each
 * segment percent-encoded (unreserved bytes kept, everything else %XX, '/' between segments).
 * *segments (may be NULL) receives the number of segments; "" or "/" is the root (0 segments, and
 * nothing is appended). A "." or ".." segment, a control character or a backslash is SPO_E_ARG
 * (SharePoint refuses those names, and ".." would address another folder than the one named). */
int spo_item_path_append(char *dst, size_t cap, size_t *pos, const char *p, size_t *segments);

/* Resolve site (as spo_site_path_append takes it) to its id ("host,guid,guid", checked) with
 * GET /v1.0/sites/{...}. Returns SPO_OK, SPO_E_ARG, or as spo_graph_call. */
int spo_site_resolve(spo_graph *g, const char *site, char *id, size_t cap);

/* Resolve site (as spo_site_path_append takes it) to its id with GET /v1.0/sites/{...}?$select=id,
 * then the drive: the document library whose name is drive_name (through /sites/{id}/drives, every
 * page), or the site's default drive (/sites/{id}/drive) when drive_name is NULL. Returns SPO_OK,
 * SPO_E_ARG (a malformed site), SPO_E_GRAPH with out->failed naming the part (404 on the site: the
 * site; no library of that name: SPO_E_GRAPH with diag status 404 and out->failed SPO_PART_DRIVE),
 * or a status from spo_graph_call. */
int spo_drive_resolve(spo_graph *g, const char *site, const char *drive_name, spo_drive_ref *out);

/* One child of a folder; strings are UTF-8 (NUL-terminated, valid during the callback only). */
typedef struct spo_item {
    const char *id;
    size_t id_len;
    const char *name;
    size_t name_len;
    const char *modified;  /* lastModifiedDateTime as Graph wrote it, "" if absent */
    size_t modified_len;
    uint64_t size;         /* bytes; 0 when has_size is 0 */
    uint8_t has_size;
    uint8_t folder;        /* the item has a "folder" facet */
} spo_item;

/* Return 0 to go on, non-zero to stop the listing (which then returns that value). */
typedef int (*spo_item_fn)(void *ctx, const spo_item *item);

/* List the children of the folder at path ("" or NULL: the root) in d's drive, every page. Items
 * without an id or name, or with a size that is not a non-negative integer, are SPO_E_JSON_SHAPE.
 * Returns SPO_OK, or as spo_graph_list (d->failed = SPO_PART_ITEM on a Graph error). */
int spo_drive_list(spo_graph *g, spo_drive_ref *d, const char *path, spo_item_fn fn, void *ctx);

/* Create the folder at path and each missing parent: POST .../children with
 * "@microsoft.graph.conflictBehavior":"fail" per segment; a segment that exists already is fine if
 * it is a folder (checked with a GET), and SPO_E_GRAPH with diag status 409 if it is a file.
 * *created (may be NULL) counts the folders made. Returns SPO_OK or as spo_graph_call. */
int spo_drive_mkdir(spo_graph *g, spo_drive_ref *d, const char *path, unsigned *created);

#ifndef SPO_QXH_TEXT_MAX
#define SPO_QXH_TEXT_MAX 48 /* a quickXorHash in base64 (28 characters) + NUL, with room */
#endif

/* What a download needs to know about a file. */
typedef struct spo_item_meta {
    char id[SPO_ITEM_ID_MAX];
    char qxh[SPO_QXH_TEXT_MAX]; /* file.hashes.quickXorHash, "" when the service gave none */
    uint64_t size;
    uint8_t folder;             /* the path names a folder */
} spo_item_meta;

/* GET /drives/{d}/root:/{path}?$select=id,size,file,folder. SPO_OK, or as spo_graph_call. */
int spo_drive_item(spo_graph *g, spo_drive_ref *d, const char *path, spo_item_meta *out);

/* GET /drives/{d}/items/{id}/content, which answers 302 with a pre-authenticated URL on another
 * host: that URL (a secret: it carries a tempauth token) goes to url. SPO_OK, SPO_E_TOO_LONG, or
 * as spo_graph_call; a 2xx without a redirect is SPO_E_GRAPH. */
int spo_drive_content_url(spo_graph *g, spo_drive_ref *d, const char *item_id, char *url,
                          size_t cap);

/* ---------------------------------------------------------------- downloads */

#ifndef SPO_DOWNLOAD_URL_MAX
#define SPO_DOWNLOAD_URL_MAX SPO_HTTP_LINE_MAX /* the pre-authenticated URL of a download + NUL:
                                                * it carries a tempauth token; it arrives in one
                                                * Location line, which SPO_HTTP_LINE_MAX bounds */
#endif
#ifndef SPO_DOWNLOAD_ATTEMPTS
#define SPO_DOWNLOAD_ATTEMPTS 8 /* transfers of one file (the first one and its resumptions) */
#endif
#ifndef SPO_DOWNLOAD_REDIRECTS
#define SPO_DOWNLOAD_REDIRECTS 3 /* fresh download URLs asked for when one expires (403/404/410) */
#endif

/* Where the bytes go. write appends; restart discards everything written so far (the server
 * ignored a Range and sends the file from its first byte again). Both return SPO_OK or a negative
 * status (SPO_E_FILE), which stops the download. */
typedef struct spo_download_sink {
    void *ctx;
    int (*write)(void *ctx, const uint8_t *data, size_t len);
    int (*restart)(void *ctx);
} spo_download_sink;

/* One download's state (no heap: keep it static or in a long-lived struct; ~2.2 KB). */
typedef struct spo_download {
    spo_item_meta meta;           /* from spo_drive_item, given by the caller */
    char url[SPO_DOWNLOAD_URL_MAX]; /* a secret while set (tempauth): wiped when the call ends */
    uint64_t received;            /* bytes written to the sink and hashed */
    uint32_t transfers;           /* GETs of the download URL (the first + resumptions) */
    uint32_t redirects;           /* content redirects fetched from Graph */
    uint8_t hash_checked;         /* the service gave a quickXorHash and it matched */
    char hash[SPO_QXH_B64];       /* the quickXorHash of what was received */
    /* private */
    spo_qxh qxh;
    uint64_t range_first, range_total;
    int status;
    uint8_t range_ok, too_much; /* too_much: the answer is not this file's size (integrity) */
    int sink_rc;
    const spo_download_sink *sink;
    const spo_http_conn *conn;
    uint32_t retry_after_ms;
    uint8_t has_retry_after;
} spo_download;

/* Download the file dl->meta describes (dl->meta filled by spo_drive_item; not a folder) from
 * d's drive: GET .../items/{id}/content through Graph (302), then GET of the pre-authenticated URL
 * on its own host **without** the Authorization header (the bearer token never leaves Graph's
 * origin), streaming each piece to the sink and into a quickXorHash. A transfer that breaks is
 * resumed with "Range: bytes=N-" (up to SPO_DOWNLOAD_ATTEMPTS transfers; a 206 must start at N and
 * name the same total; a 200 instead restarts the sink); an expired URL is asked for again.
 * At the end the size must equal dl->meta.size and, when the service gave one, the hash must
 * equal dl->meta.qxh. Returns SPO_OK, SPO_E_INTEGRITY (size or hash differ: the bytes in the sink
 * must not be used), SPO_E_GRAPH (diag: an error status from Graph or the download host), what the
 * sink returned, or a network/HTTP status when every attempt failed. */
int spo_drive_download(spo_graph *g, spo_drive_ref *d, spo_download *dl,
                       const spo_download_sink *sink);

#endif
