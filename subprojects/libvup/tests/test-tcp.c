/*
 * The TCP options both ends set: names checked before use, a bad one
 * refused with the host's list, a good one on the socket.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "vup/tcp.h"

static void test_bad_names(void **unused)
{
    char err[512];

    assert_int_equal(vup_tcp_congestion_check("", err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "1 to 15 bytes"));
    assert_int_equal(vup_tcp_congestion_check("a_name_of_16_byt", err,
                                              sizeof(err)), -EINVAL);
    assert_int_equal(vup_tcp_congestion_check("Reno", err, sizeof(err)),
                     -EINVAL);
    assert_non_null(strstr(err, "invalid TCP congestion control name"));
    assert_int_equal(vup_tcp_congestion_check("re no", NULL, 0), -EINVAL);
}

static void test_unknown_name(void **unused)
{
    char err[512] = "";

    /* Well formed, but no kernel has it: the host's list is named. */
    assert_true(vup_tcp_congestion_check("nosuchcc", err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "'nosuchcc'"));
    assert_non_null(strstr(err, "this host allows: "));
    assert_non_null(strstr(err, "reno"));
}

/* A connected loopback pair: the client end in @c, the server's in @s. */
static void tcp_pair(int *c, int *s)
{
    struct sockaddr_in sin = { .sin_family = AF_INET };
    socklen_t len = sizeof(sin);
    int l = socket(AF_INET, SOCK_STREAM, 0);

    assert_true(l >= 0);
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(l, (struct sockaddr *)&sin, sizeof(sin)), 0);
    assert_int_equal(listen(l, 1), 0);
    assert_int_equal(getsockname(l, (struct sockaddr *)&sin, &len), 0);
    *c = socket(AF_INET, SOCK_STREAM, 0);
    assert_int_equal(connect(*c, (struct sockaddr *)&sin, sizeof(sin)), 0);
    *s = accept(l, NULL, NULL);
    assert_true(*s >= 0);
    close(l);
}

static void assert_congestion(int fd, const char *want)
{
    char name[VUP_TCP_CONGESTION_MAX] = "";
    socklen_t len = sizeof(name);

    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name, &len),
                     0);
    assert_string_equal(name, want);
}

static void test_tune(void **unused)
{
    int c, s, v = 0;
    socklen_t len = sizeof(v);
    char err[512];

    /* reno is built into every kernel and allowed to every process. */
    assert_int_equal(vup_tcp_congestion_check("reno", err, sizeof(err)), 0);
    tcp_pair(&c, &s);
    assert_int_equal(vup_tcp_tune(c, "reno", err, sizeof(err)), 0);
    assert_congestion(c, "reno");
    assert_int_equal(getsockopt(c, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    assert_int_equal(v, 1);
    assert_int_equal(getsockopt(c, SOL_SOCKET, SO_KEEPALIVE, &v, &len), 0);
    assert_int_equal(v, 1);

    /* NULL keeps the host's default and still sets the other two. */
    v = 0;
    assert_int_equal(vup_tcp_tune(s, NULL, NULL, 0), 0);
    assert_int_equal(getsockopt(s, IPPROTO_TCP, TCP_NODELAY, &v, &len), 0);
    assert_int_equal(v, 1);

    assert_true(vup_tcp_tune(s, "nosuchcc", err, sizeof(err)) < 0);
    assert_non_null(strstr(err, "this host allows"));
    close(c);
    close(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_bad_names),
        cmocka_unit_test(test_unknown_name),
        cmocka_unit_test(test_tune),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
