/* The POSIX port's record storage (store_posix.c), for port_posix.c's spo_port. */
#ifndef SPO_STORE_POSIX_H
#define SPO_STORE_POSIX_H

#include "spo/port.h"

int posix_store_read(void *ctx, const char *key, uint8_t *buf, size_t cap);
int posix_store_write(void *ctx, const char *key, const uint8_t *data, size_t len);
int posix_store_remove(void *ctx, const char *key);

#endif
