/* Private to the JSON layer: the pieces the streaming reader and the helpers share. */
#ifndef SPO_JSON_PRIV_H
#define SPO_JSON_PRIV_H

#include <stddef.h>
#include <stdint.h>

/* The value of hex digit c, or -1. */
int spo_json_hexval(unsigned c);

/* Encode code point u (<= U+10FFFF, not a surrogate) as UTF-8 into o[0..3]; returns the length. */
size_t spo_json_utf8_put(uint32_t u, uint8_t *o);

#endif
