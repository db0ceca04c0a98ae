/* The POSIX port against real loopback sockets, the clocks, entropy and files. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "spo/port.h"

static const spo_port *P;

/* A listening socket on the loopback of family af, port chosen by the kernel; -1 if unavailable. */
static int listener(int af, uint16_t *port)
{
    int fd = socket(af, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof ss);
    socklen_t len;
    if (af == AF_INET) {
        struct sockaddr_in *a = (struct sockaddr_in *)&ss;
        a->sin_family = AF_INET;
        a->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        len = sizeof *a;
    } else {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
        a->sin6_family = AF_INET6;
        a->sin6_addr = in6addr_loopback;
        len = sizeof *a;
    }
    if (bind(fd, (struct sockaddr *)&ss, len) != 0 || listen(fd, 4) != 0 ||
        getsockname(fd, (struct sockaddr *)&ss, &len) != 0) {
        close(fd);
        return -1;
    }
    *port = ntohs(af == AF_INET ? ((struct sockaddr_in *)&ss)->sin_port
                                : ((struct sockaddr_in6 *)&ss)->sin6_port);
    return fd;
}

static void exchange(const char *host, int af)
{
    uint16_t port;
    int lfd = listener(af, &port);
    if (lfd < 0) {
        print_message("no %s loopback here: skipped\n", host);
        return;
    }
    spo_conn_handle c;
    assert_int_equal(P->connect(P->ctx, host, port, 2000, &c), SPO_OK);
    int sfd = accept(lfd, NULL, NULL);
    assert_true(sfd >= 0);

    const uint8_t msg[] = "hello over loopback";
    assert_int_equal(P->send(P->ctx, c, msg, sizeof msg, 1000), (int)sizeof msg);
    uint8_t buf[64];
    size_t got = 0;
    while (got < sizeof msg) {
        ssize_t n = recv(sfd, buf + got, sizeof buf - got, 0);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(buf, msg, sizeof msg);

    assert_int_equal(send(sfd, "pong", 4, 0), 4);
    got = 0;
    while (got < 4) {
        int n = P->recv(P->ctx, c, buf + got, sizeof buf - got, 1000);
        assert_true(n > 0);
        got += (size_t)n;
    }
    assert_memory_equal(buf, "pong", 4);

    /* orderly close by the peer reads as 0 */
    close(sfd);
    assert_int_equal(P->recv(P->ctx, c, buf, sizeof buf, 1000), 0);
    P->close(P->ctx, c);
    close(lfd);
}

static void test_ipv4_literal(void **state)
{
    (void)state;
    exchange("127.0.0.1", AF_INET);
}

static void test_ipv6_literal(void **state)
{
    (void)state;
    exchange("::1", AF_INET6);
}

static void test_name(void **state)
{
    (void)state;
    /* "localhost" may resolve to ::1 first: trying every address must still reach the v4 one */
    exchange("localhost", AF_INET);
}

static void test_recv_timeout(void **state)
{
    (void)state;
    uint16_t port;
    int lfd = listener(AF_INET, &port);
    assert_true(lfd >= 0);
    spo_conn_handle c;
    assert_int_equal(P->connect(P->ctx, "127.0.0.1", port, 2000, &c), SPO_OK);
    uint8_t buf[8];
    uint64_t t0 = P->monotonic_ms(P->ctx);
    assert_int_equal(P->recv(P->ctx, c, buf, sizeof buf, 300), SPO_E_NET_TIMEOUT);
    uint64_t dt = P->monotonic_ms(P->ctx) - t0;
    print_message("recv timeout of 300 ms took %llu ms\n", (unsigned long long)dt);
    assert_true(dt >= 290 && dt < 1000);
    P->close(P->ctx, c);
    close(lfd);
}

static void test_reset_reads_closed(void **state)
{
    (void)state;
    uint16_t port;
    int lfd = listener(AF_INET, &port);
    assert_true(lfd >= 0);
    spo_conn_handle c;
    assert_int_equal(P->connect(P->ctx, "127.0.0.1", port, 2000, &c), SPO_OK);
    int sfd = accept(lfd, NULL, NULL);
    assert_true(sfd >= 0);
    /* closing with unread data makes the kernel send RST instead of FIN */
    assert_int_equal(P->send(P->ctx, c, (const uint8_t *)"x", 1, 1000), 1);
    usleep(50000);
    close(sfd);
    uint8_t buf[8];
    int n = P->recv(P->ctx, c, buf, sizeof buf, 1000);
    assert_int_equal(n, SPO_E_NET_CLOSED);
    /* and writing to it fails without SIGPIPE killing the test */
    int s = 0;
    for (int i = 0; i < 10 && s >= 0; i++)
        s = P->send(P->ctx, c, (const uint8_t *)"yy", 2, 1000);
    assert_true(s == SPO_E_NET_CLOSED || s == SPO_E_NET_IO);
    P->close(P->ctx, c);
    close(lfd);
}

static void test_connect_refused_fast(void **state)
{
    (void)state;
    uint16_t port;
    int lfd = listener(AF_INET, &port);
    assert_true(lfd >= 0);
    close(lfd); /* nothing listens there any more */
    spo_conn_handle c;
    uint64_t t0 = P->monotonic_ms(P->ctx);
    assert_int_equal(P->connect(P->ctx, "127.0.0.1", port, 5000, &c), SPO_E_NET_CONNECT);
    assert_true(P->monotonic_ms(P->ctx) - t0 < 1000);
    assert_int_equal(P->connect(P->ctx, "name.invalid", 443, 5000, &c), SPO_E_NET_CONNECT);
    assert_int_equal(P->connect(P->ctx, "", 443, 5000, &c), SPO_E_ARG);
}

static void test_clocks(void **state)
{
    (void)state;
    uint64_t a = P->monotonic_ms(P->ctx);
    P->sleep_ms(P->ctx, 30);
    uint64_t b = P->monotonic_ms(P->ctx);
    assert_true(b >= a + 30 && b < a + 1000);
    int64_t now = P->wall_time(P->ctx);
    assert_true(now > 1700000000); /* later than November 2023 */
}

static void test_entropy(void **state)
{
    (void)state;
    uint8_t a[64], b[64], zero[64];
    memset(zero, 0, sizeof zero);
    assert_int_equal(P->entropy(P->ctx, a, sizeof a), SPO_OK);
    assert_int_equal(P->entropy(P->ctx, b, sizeof b), SPO_OK);
    assert_memory_not_equal(a, b, sizeof a);
    assert_memory_not_equal(a, zero, sizeof a);
    static uint8_t big[100000]; /* more than one getrandom call may return */
    assert_int_equal(P->entropy(P->ctx, big, sizeof big), SPO_OK);
}

static void test_file_read(void **state)
{
    (void)state;
    char path[] = "/tmp/spo_port_test_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    char data[3000];
    for (size_t i = 0; i < sizeof data; i++)
        data[i] = (char)('a' + i % 26);
    assert_int_equal(write(fd, data, sizeof data), (ssize_t)sizeof data);
    close(fd);

    uint8_t buf[512];
    assert_int_equal(P->file_read(P->ctx, path, 0, buf, 10), 10);
    assert_memory_equal(buf, data, 10);
    assert_int_equal(P->file_read(P->ctx, path, 2900, buf, sizeof buf), 100);
    assert_memory_equal(buf, data + 2900, 100);
    assert_int_equal(P->file_read(P->ctx, path, 1234, buf, sizeof buf), (int)sizeof buf);
    assert_memory_equal(buf, data + 1234, sizeof buf);
    assert_int_equal(P->file_read(P->ctx, path, 3000, buf, sizeof buf), 0);
    assert_int_equal(P->file_read(P->ctx, path, 1u << 20, buf, sizeof buf), 0);
    unlink(path);
    assert_int_equal(P->file_read(P->ctx, path, 0, buf, sizeof buf), SPO_E_ARG);
}

/* file_stat: size and a nanosecond mtime that changes when the file is written; not a directory,
 * not a missing file. */
static void test_file_stat(void **state)
{
    (void)state;
    char path[] = "/tmp/spo_port_stat_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, "hello", 5), 5);
    uint64_t size = 0;
    int64_t m1 = 0, m2 = 0;
    assert_int_equal(P->file_stat(P->ctx, path, &size, &m1), SPO_OK);
    assert_int_equal(size, 5);
    struct timespec later[2] = { { 0, UTIME_OMIT }, { 1700000000, 123456789 } };
    assert_int_equal(futimens(fd, later), 0);
    assert_int_equal(P->file_stat(P->ctx, path, &size, &m2), SPO_OK);
    assert_int_equal(m2, 1700000000123456789LL); /* the nanoseconds are kept */
    assert_int_equal(write(fd, "!", 1), 1);
    close(fd);
    assert_int_equal(P->file_stat(P->ctx, path, &size, &m1), SPO_OK);
    assert_int_equal(size, 6);
    assert_true(m1 != m2);
    unlink(path);
    assert_int_equal(P->file_stat(P->ctx, path, &size, &m1), SPO_E_ARG);
    assert_int_equal(P->file_stat(P->ctx, "/tmp", &size, &m1), SPO_E_ARG); /* a directory */
}

int main(void)
{
    P = spo_port_posix();
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_ipv4_literal),
        cmocka_unit_test(test_ipv6_literal),
        cmocka_unit_test(test_name),
        cmocka_unit_test(test_recv_timeout),
        cmocka_unit_test(test_reset_reads_closed),
        cmocka_unit_test(test_connect_refused_fast),
        cmocka_unit_test(test_clocks),
        cmocka_unit_test(test_entropy),
        cmocka_unit_test(test_file_read),
        cmocka_unit_test(test_file_stat),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
