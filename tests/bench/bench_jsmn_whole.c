/* jsmn over a whole buffer, with parent links, as a reference point for bench_json.c. Separate
 * file because JSMN_PARENT_LINKS changes jsmntok_t, which spo/json.h must not see. jsmn is static
 * here, so it cannot clash with the copy inside libspo. */
#define JSMN_PARENT_LINKS
#define JSMN_STRICT
#define JSMN_STATIC
#include <jsmn.h>

#include <stdlib.h>

int bench_jsmn_whole(const char *js, size_t len, long *ntok_out);

/* Tokenize js in one call into a token array sized for it (counted first, not timed by the
 * caller's second call). Returns jsmn's result (token count or a negative jsmn error). */
int bench_jsmn_whole(const char *js, size_t len, long *ntok_out)
{
    static jsmntok_t *tok;
    static unsigned ntok;
    jsmn_parser p;
    int n;

    if (tok == NULL) {
        jsmn_init(&p);
        n = jsmn_parse(&p, js, len, NULL, 0);
        if (n < 0)
            return n;
        ntok = (unsigned)n;
        tok = malloc(sizeof *tok * ntok);
        if (tok == NULL)
            return -100;
    }
    jsmn_init(&p);
    n = jsmn_parse(&p, js, len, tok, ntok);
    *ntok_out = n;
    return n;
}
