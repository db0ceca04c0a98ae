/* The lwIP port at run time, against Debian's liblwip (its unix/Hurd build, NO_SYS 0): lwIP's own
 * TCP over a netif that loops packets to its own address back (LWIP_NETIF_LOOPBACK), a listener
 * in a thread, and the port's connect/send/recv/close with their timeouts. What this cannot show:
 * a real link, lwIP's DNS (Debian builds it with LWIP_DNS 0), and the lwip_select path (compiled
 * only, with tests/lwip/select-opts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include "spo/port_lwip.h"

#include "lwip/opt.h"

#include "lwip/ip4_addr.h"
#include "lwip/netif.h"
#include "lwip/sockets.h"
#include "lwip/sys.h"
#include "lwip/tcpip.h"

#include <pthread.h>
#include <string.h>

#define SELF "10.9.8.7"
#define PORT_OPEN 4433
#define PORT_SHUT 4434

static struct netif nif;
static volatile int lwip_ready;
static spo_port port;
static volatile size_t server_got;
static volatile int server_mode; /* 0 echo 5 bytes then wait for close, 1 count until close */

static int fixed_entropy(void *ctx, uint8_t *buf, size_t len)
{
    (void)ctx;
    memset(buf, 0x5a, len);
    return SPO_OK;
}

static int64_t fixed_time(void *ctx)
{
    (void)ctx;
    return 1767225600; /* 2026-01-01 */
}

static int resolve_test(void *ctx, const char *host, char *ip, size_t cap)
{
    (void)ctx;
    if (strcmp(host, "spo.test") != 0 || cap < sizeof SELF)
        return SPO_E_NET_CONNECT;
    memcpy(ip, SELF, sizeof SELF);
    return SPO_OK;
}

static const spo_lwip_app app = { NULL, fixed_entropy, fixed_time, resolve_test, NULL };

static err_t drop_output(struct netif *n, struct pbuf *p, const ip4_addr_t *a)
{
    (void)n, (void)p, (void)a;
    return ERR_OK;
}

static err_t nif_init(struct netif *n)
{
    n->name[0] = 's';
    n->name[1] = 'p';
    n->mtu = 1500;
    n->output = drop_output;
    return ERR_OK;
}

static void on_tcpip_ready(void *arg)
{
    (void)arg;
    lwip_ready = 1;
}

static void *server(void *arg)
{
    (void)arg;
    int s = lwip_socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = lwip_htons(PORT_OPEN) };
    lwip_inet_pton(AF_INET, SELF, &a.sin_addr);
    int one = 1;
    lwip_setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (lwip_bind(s, (struct sockaddr *)&a, sizeof a) != 0 || lwip_listen(s, 4) != 0)
        return NULL;
    for (;;) {
        int c = lwip_accept(s, NULL, NULL);
        if (c < 0)
            continue;
        char buf[4096];
        ssize_t n;
        if (server_mode == 0) {
            size_t got = 0;
            while (got < 5 && (n = lwip_recv(c, buf + got, 5 - got, 0)) > 0)
                got += (size_t)n;
            lwip_send(c, buf, got, 0);
            while (lwip_recv(c, buf, sizeof buf, 0) > 0) {
            }
        } else {
            while ((n = lwip_recv(c, buf, sizeof buf, 0)) > 0)
                server_got += (size_t)n;
        }
        lwip_close(c);
    }
    return NULL;
}

static int setup_lwip(void **state)
{
    (void)state;
    tcpip_init(on_tcpip_ready, NULL);
    while (!lwip_ready)
        sys_msleep(1);
    ip4_addr_t ip, mask, gw;
    ip4addr_aton(SELF, &ip);
    ip4addr_aton("255.255.255.0", &mask);
    ip4addr_aton("0.0.0.0", &gw);
    LOCK_TCPIP_CORE();
    netif_add(&nif, &ip, &mask, &gw, NULL, nif_init, tcpip_input);
    netif_set_up(&nif);
    netif_set_link_up(&nif);
    UNLOCK_TCPIP_CORE();
    pthread_t t;
    if (pthread_create(&t, NULL, server, NULL) != 0)
        return -1;
    pthread_detach(t);
    sys_msleep(50);
    return spo_port_lwip(&port, &app) == SPO_OK ? 0 : -1;
}

static void test_required_hooks(void **state)
{
    (void)state;
    spo_port p;
    spo_lwip_app none = { 0 };
    assert_int_equal(spo_port_lwip(&p, &none), SPO_E_ARG);
    assert_int_equal(spo_port_lwip(&p, NULL), SPO_E_ARG);
    assert_null(port.file_read);
    uint8_t b[4];
    assert_int_equal(port.entropy(port.ctx, b, sizeof b), SPO_OK);
    assert_int_equal(port.wall_time(port.ctx), 1767225600);
}

static void test_echo_timeout_close(void **state)
{
    (void)state;
    server_mode = 0;
    spo_conn_handle c;
    assert_int_equal(port.connect(port.ctx, SELF, PORT_OPEN, 2000, &c), SPO_OK);
    assert_int_equal(port.send(port.ctx, c, (const uint8_t *)"hello", 5, 2000), 5);
    uint8_t buf[16];
    size_t got = 0;
    while (got < 5) {
        int n = port.recv(port.ctx, c, buf + got, sizeof buf - got, 2000);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(buf, "hello", 5);
    uint64_t t0 = port.monotonic_ms(port.ctx);
    assert_int_equal(port.recv(port.ctx, c, buf, sizeof buf, 200), SPO_E_NET_TIMEOUT);
    uint64_t waited = port.monotonic_ms(port.ctx) - t0;
    assert_true(waited >= 190 && waited < 2000);
    port.close(port.ctx, c);
}

static void test_refused_and_names(void **state)
{
    (void)state;
    spo_conn_handle c;
    assert_int_equal(port.connect(port.ctx, SELF, PORT_SHUT, 2000, &c), SPO_E_NET_CONNECT);
    spo_lwip_app no_resolver = app;
    no_resolver.resolve = NULL;
    spo_port p;
    assert_int_equal(spo_port_lwip(&p, &no_resolver), SPO_OK);
    assert_int_equal(p.connect(p.ctx, "spo.test", PORT_OPEN, 2000, &c), SPO_E_NET_CONNECT);
    assert_int_equal(port.connect(port.ctx, "unknown.test", PORT_OPEN, 2000, &c), SPO_E_NET_CONNECT);
    server_mode = 0;
    assert_int_equal(port.connect(port.ctx, "spo.test", PORT_OPEN, 2000, &c), SPO_OK);
    port.close(port.ctx, c);
}

static void test_bulk_send(void **state)
{
    (void)state;
    server_mode = 1;
    server_got = 0;
    static uint8_t big[256 * 1024];
    spo_conn_handle c;
    assert_int_equal(port.connect(port.ctx, SELF, PORT_OPEN, 2000, &c), SPO_OK);
    size_t sent = 0;
    while (sent < sizeof big) {
        int n = port.send(port.ctx, c, big + sent, sizeof big - sent, 5000);
        assert_true(n > 0);
        sent += (size_t)n;
    }
    port.close(port.ctx, c);
    for (int i = 0; i < 500 && server_got < sizeof big; i++)
        sys_msleep(10);
    assert_int_equal(server_got, sizeof big);
}

static void test_clock_and_sleep(void **state)
{
    (void)state;
    uint64_t t0 = port.monotonic_ms(port.ctx);
    port.sleep_ms(port.ctx, 50);
    uint64_t t1 = port.monotonic_ms(port.ctx);
    assert_true(t1 - t0 >= 49);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_required_hooks),
        cmocka_unit_test(test_echo_timeout_close),
        cmocka_unit_test(test_refused_and_names),
        cmocka_unit_test(test_bulk_send),
        cmocka_unit_test(test_clock_and_sleep),
    };
    return cmocka_run_group_tests(tests, setup_lwip, NULL);
}
