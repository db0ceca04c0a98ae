/* Debian's lwIP options with poll() compiled out, so that `make port-lwip` also compiles the port's
 * lwip_select path (the build lwIP 2.0 and stacks without LWIP_SOCKET_POLL take). Compile-only. */
#include_next <lwipopts.h>
#undef LWIP_SOCKET_SELECT
#define LWIP_SOCKET_SELECT 1
#define LWIP_SOCKET_POLL 0
