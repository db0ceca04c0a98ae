/* Internal to the client (client.c, client_user.c): the delegated mode's hooks. */
#ifndef SPO_CLIENT_PRIV_H
#define SPO_CLIENT_PRIV_H

#include "spo/spo.h"

/* One token request with retries (429, 5xx, broken connections): client credentials, or in
 * delegated mode the refresh grant into c->user. */
int spo_client_fetch(spo_client *c);

/* The cache could not be used: warn once through the configured callback. */
void spo_client_cache_problem(spo_client *c, int rc);

/* c->scope = the delegated scope: user_scope (NULL: the Graph root graph[0, glen) +
 * "/Sites.Read.All"), with " offline_access" added when it is not there (no refresh token
 * without it). SPO_E_TOO_LONG (diag says so) when it does not fit c->scope. */
int spo_client_user_scope(spo_client *c, const char *graph, size_t glen, const char *user_scope);

/* Delegated mode: make c->auth.token a usable token: the cached one if fresh (and not force),
 * else renewed with the refresh token (cached, or kept from earlier in the run), the rotated
 * refresh token stored. SPO_E_AUTH with diag code SPO_LOGIN_REQUIRED when there is nothing to
 * renew with. */
int spo_client_user_token(spo_client *c, int force);

#endif
