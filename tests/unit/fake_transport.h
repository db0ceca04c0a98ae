/* A scripted transport for tests of the layers above HTTP: each step is the raw response to one
 * request, served in pieces of `split` bytes, optionally cut off after `drop_at` bytes. */
#ifndef FAKE_TRANSPORT_H
#define FAKE_TRANSPORT_H

#include "spo/http.h"

#define FAKE_MAX_STEPS 64
#define FAKE_SENT_MAX (1u << 20)

typedef struct fake_step {
    const char *resp;
    size_t len;      /* 0 = strlen(resp) */
    int close_after; /* the server closes once this response is sent */
    size_t drop_at;  /* > 0: the connection dies after this many bytes */
} fake_step;

typedef struct fake_transport {
    fake_step steps[FAKE_MAX_STEPS];
    size_t nsteps, cur, off;
    int served, connected, connects, requests, fail_connect;
    size_t split;                 /* bytes per recv; 0 = all available */
    char host[256];
    char sent[FAKE_SENT_MAX];     /* everything the client sent, all connections */
    size_t sent_len;
} fake_transport;

void fake_init(fake_transport *f, size_t split);
void fake_add(fake_transport *f, const char *resp, int close_after, size_t drop_at);
spo_http_transport fake_as_transport(fake_transport *f);
/* Count occurrences of needle in everything sent. */
int fake_sent_count(const fake_transport *f, const char *needle);

#endif
