/* Internal to drive.c, lists.c and upload.c: building Graph URLs in g->url and checking ids from
 * Graph. */
#ifndef SPO_DRIVE_PRIV_H
#define SPO_DRIVE_PRIV_H

#include "spo/drive.h"

/* Append s[0..n) to dst at *pos, dst kept NUL-terminated. SPO_OK or SPO_E_TOO_LONG. */
int spo_drive_cat(char *dst, size_t cap, size_t *pos, const char *s, size_t n);
/* spo_drive_cat of a NUL-terminated string. */
int spo_drive_catz(char *dst, size_t cap, size_t *pos, const char *z);
/* g->url = the Graph root + "/v1.0"; *pos its length. SPO_OK or SPO_E_TOO_LONG. */
int spo_drive_url_begin(spo_graph *g, size_t *pos);
/* Append z (already encoded) to g->url at *pos. SPO_OK or SPO_E_TOO_LONG. */
int spo_drive_url_add(spo_graph *g, size_t *pos, const char *z);
/* True if s[0..n) is non-empty and only letters, digits and bytes of extra: ids go into paths
 * unencoded, so a hostile answer must not smuggle '/', '?' or '%' in. */
int spo_drive_is_id(const char *s, size_t n, const char *extra);
/* GET g->url and capture its "id" into out (checked with spo_drive_is_id against extra). */
int spo_drive_capture_id(spo_graph *g, char *out, size_t cap, const char *extra);
/* ASCII case-insensitive equality of two NUL-terminated strings. */
int spo_drive_ascii_ieq(const char *a, const char *b);

#endif
