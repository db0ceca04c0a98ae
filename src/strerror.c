#include "spo/base.h"

const char *spo_strerror(int status)
{
    switch (status) {
    case SPO_OK: return "success";
    case SPO_E_ARG: return "invalid argument";
    case SPO_E_TOO_LONG: return "value longer than its compile-time buffer";
    case SPO_E_NET_CONNECT: return "could not connect";
    case SPO_E_NET_TIMEOUT: return "network timeout";
    case SPO_E_NET_CLOSED: return "connection closed by the peer";
    case SPO_E_NET_IO: return "network error";
    case SPO_E_TLS: return "TLS failure";
    case SPO_E_TLS_VERIFY: return "server certificate refused";
    case SPO_E_TLS_POOL: return "TLS memory pool exhausted";
    case SPO_E_TLS_TRUST: return "CA bundle unreadable or empty";
    case SPO_E_HTTP_PARSE: return "malformed HTTP response";
    case SPO_E_HTTP_LINE: return "HTTP header line too long";
    case SPO_E_HTTP_HEADERS: return "too many HTTP headers";
    case SPO_E_HTTP_FRAMING: return "invalid or conflicting HTTP body framing";
    case SPO_E_HTTP_TRUNCATED: return "HTTP response truncated";
    case SPO_E_JSON_SYNTAX: return "malformed JSON";
    case SPO_E_JSON_TOO_BIG: return "JSON element larger than the window";
    case SPO_E_JSON_DEPTH: return "JSON nested too deeply";
    case SPO_E_JSON_SHAPE: return "unexpected JSON structure";
    case SPO_E_URL: return "malformed or non-https URL";
    case SPO_E_URL_HOST: return "link to another host refused";
    case SPO_E_AUTH: return "token request refused";
    case SPO_E_GRAPH: return "Microsoft Graph error";
    case SPO_E_THROTTLED: return "throttled: retries exhausted";
    case SPO_E_DEADLINE: return "deadline exceeded";
    case SPO_E_ENTROPY: return "no entropy";
    case SPO_E_ABORTED: return "stopped by a callback";
    case SPO_E_INTERNAL: return "internal error";
    case SPO_E_INTEGRITY: return "content check failed";
    case SPO_E_FILE: return "local file unreadable or changed";
    case SPO_E_PROXY_URL: return "unsupported or malformed proxy URL";
    case SPO_E_PROXY_CONNECT: return "could not connect to the proxy";
    case SPO_E_PROXY_AUTH: return "proxy authentication required";
    case SPO_E_PROXY_REFUSED: return "the proxy refused the tunnel";
    case SPO_E_PROXY_CLOSED: return "the proxy closed the connection during CONNECT";
    case SPO_E_PROXY_ANSWER: return "malformed proxy answer";
    case SPO_E_PROXY_TOO_BIG: return "proxy answer too large";
    default: return "unknown error";
    }
}

void spo_text_clean(char *s, int first_line)
{
    for (unsigned char *p = (unsigned char *)s; *p; p++) {
        if (first_line && (*p == '\r' || *p == '\n')) {
            *p = '\0';
            return;
        }
        if (*p < 0x20 || *p == 0x7f) {
            *p = '?';
        } else if (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f) { /* U+0080..U+009F */
            p[0] = '?';
            p[1] = '?';
            p++;
        }
    }
}

void spo_diag_clean(spo_diag *d)
{
    spo_text_clean(d->code, 0);
    spo_text_clean(d->aadsts, 0);
    spo_text_clean(d->request_id, 0);
    spo_text_clean(d->message, 1);
}
