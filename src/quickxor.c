/* quickXorHash: the content hash SharePoint and OneDrive report in file.hashes.quickXorHash.
 *
 * The algorithm (published by Microsoft): a 160-bit state; input byte i is XORed in at bit
 * (11 * i) mod 160, wrapping from bit 159 to bit 0; at the end the total length as a
 * little-endian 64-bit number is XORed into the last 8 of the 20 bytes, and the 20 bytes are
 * base64-encoded. Bit p of the state is bit p % 8 of byte p / 8, so the state is kept as bytes and
 * a byte lands in at most two of them: no word size or endianness question arises. */
#include "spo/graph.h"

#include <string.h>

#define QX_BITS (SPO_QXH_LEN * 8u)

void spo_qxh_init(spo_qxh *h)
{
    memset(h, 0, sizeof *h);
}

void spo_qxh_update(spo_qxh *h, const uint8_t *data, size_t len)
{
    uint32_t bit = h->bit;
    for (size_t i = 0; i < len; i++) {
        uint32_t idx = bit >> 3, sh = bit & 7u;
        uint32_t v = (uint32_t)data[i] << sh; /* up to 15 bits: the low byte and the spill */
        h->state[idx] ^= (uint8_t)v;
        if (sh != 0)
            h->state[idx + 1 == SPO_QXH_LEN ? 0 : idx + 1] ^= (uint8_t)(v >> 8);
        bit += 11u;
        if (bit >= QX_BITS)
            bit -= QX_BITS;
    }
    h->bit = bit;
    h->length += len;
}

static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void spo_qxh_final(const spo_qxh *h, char out[SPO_QXH_B64])
{
    uint8_t d[SPO_QXH_LEN + 1]; /* one zero byte so the last group of 3 is whole: 21 = 7 * 3 */
    memcpy(d, h->state, SPO_QXH_LEN);
    d[SPO_QXH_LEN] = 0;
    uint64_t n = h->length;
    for (unsigned i = 0; i < 8; i++)
        d[SPO_QXH_LEN - 8 + i] ^= (uint8_t)(n >> (8 * i));
    size_t o = 0;
    for (size_t i = 0; i < sizeof d; i += 3) {
        uint32_t w = ((uint32_t)d[i] << 16) | ((uint32_t)d[i + 1] << 8) | d[i + 2];
        out[o++] = b64[(w >> 18) & 63];
        out[o++] = b64[(w >> 12) & 63];
        out[o++] = b64[(w >> 6) & 63];
        out[o++] = b64[w & 63];
    }
    out[SPO_QXH_B64 - 2] = '='; /* 20 bytes: the last group holds 2 real bytes, one pad */
    out[SPO_QXH_B64 - 1] = '\0';
}
