/* Shared by the token requests of src/auth.c and src/auth_device.c; not part of the API. */
#ifndef SPO_AUTH_PRIV_H
#define SPO_AUTH_PRIV_H

#include <stddef.h>

/* 1 when s[0..len) is a usable access or refresh token: visible ASCII only (JWTs and Entra's
 * opaque tokens are). Anything else goes into an Authorization header, a form or the token cache
 * (which refuses such bytes on load), so the answer is malformed rather than a credential that
 * fails later; a \u0000 above all would cut the C string short of its length. */
int spo_auth_token_text(const char *s, size_t len);

#endif
