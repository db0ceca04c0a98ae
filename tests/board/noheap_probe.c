/* A firmware fragment that does allocate: `make BOARD=cortex-m4 check` links it and expects
 * scripts/check-noheap.sh to refuse its map, so that a checker that sees nothing cannot pass. */
#include <stdio.h>
#include <stdlib.h>

void probe(void);
void probe(void)
{
    static char buf[16];
    char *p = malloc(8);
    snprintf(buf, sizeof buf, "%p", (void *)p);
    free(p);
}
