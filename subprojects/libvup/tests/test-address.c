/*
 * The one address parser and the one identifier rule.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "vup/address.h"

static void test_unix(void **unused)
{
    VupAddress a;
    char path[200];

    assert_int_equal(vup_address_parse("unix:/run/dm/edu0.sock", &a, NULL, 0),
                     0);
    assert_int_equal(a.kind, VUP_ADDRESS_UNIX);
    assert_string_equal(a.path, "/run/dm/edu0.sock");

    memset(path, 'x', sizeof(path));
    memcpy(path, "unix:", 5);
    path[5 + VUP_ADDRESS_PATH_MAX] = '\0';      /* exactly the maximum */
    assert_int_equal(vup_address_parse(path, &a, NULL, 0), 0);
    path[5 + VUP_ADDRESS_PATH_MAX] = 'x';
    path[5 + VUP_ADDRESS_PATH_MAX + 1] = '\0';
    assert_int_equal(vup_address_parse(path, &a, NULL, 0), -EINVAL);
}

static void test_tcp(void **unused)
{
    VupAddress a;

    assert_int_equal(vup_address_parse("tcp:192.0.2.1:5000", &a, NULL, 0), 0);
    assert_int_equal(a.kind, VUP_ADDRESS_TCP);
    assert_string_equal(a.host, "192.0.2.1");
    assert_string_equal(a.port, "5000");
    assert_int_equal(vup_address_parse("tcp:[::1]:65535", &a, NULL, 0), 0);
    assert_string_equal(a.host, "::1");
    assert_string_equal(a.port, "65535");
    assert_int_equal(vup_address_parse("tcp:server-a:0", &a, NULL, 0), 0);
    assert_string_equal(a.port, "0");
}

static void expect_bad(const char *str, const char *msg)
{
    VupAddress a = { .kind = VUP_ADDRESS_TCP, .host = "keep" };
    char err[256] = "";

    assert_int_equal(vup_address_parse(str, &a, err, sizeof(err)), -EINVAL);
    assert_string_equal(a.host, "keep");        /* untouched */
    if (!strstr(err, msg)) {
        fail_msg("'%s': wanted '%s', got '%s'", str, msg, err);
    }
}

static void test_bad(void **unused)
{
    expect_bad("udp:1.2.3.4:5", "unsupported address");
    expect_bad("unix:", "empty path");
    expect_bad("tcp:host", "missing port");
    expect_bad("tcp::5000", "bad host or port");
    expect_bad("tcp:host:", "bad host or port");
    expect_bad("tcp:host:65536", "bad host or port");
    expect_bad("tcp:host:123456", "bad host or port");
    expect_bad("tcp:host:-1", "bad host or port");
    expect_bad("tcp:host:+80", "bad host or port");
    expect_bad("tcp:host: 80", "bad host or port");
    expect_bad("tcp:host:80x", "bad host or port");
    expect_bad("tcp:::1:80", "bad host or port");
    expect_bad("tcp:[::1:80", "bad IPv6 address");
    expect_bad("tcp:[::1]80", "bad IPv6 address");
    expect_bad("tcp:[]:80", "bad host or port");
}

static void test_names(void **unused)
{
    char long_name[VUP_NAME_MAX + 2];

    assert_true(vup_name_valid("vm1"));
    assert_true(vup_name_valid("client-a.example_2"));
    assert_false(vup_name_valid(""));
    assert_false(vup_name_valid("."));
    assert_false(vup_name_valid(".."));
    assert_true(vup_name_valid("..."));
    assert_false(vup_name_valid("a/b"));
    assert_false(vup_name_valid("a b"));
    assert_false(vup_name_valid("a\nb"));
    assert_false(vup_name_valid("a,b"));
    assert_false(vup_name_valid("caf\xc3\xa9"));
    memset(long_name, 'a', sizeof(long_name));
    long_name[VUP_NAME_MAX] = '\0';
    assert_true(vup_name_valid(long_name));
    long_name[VUP_NAME_MAX] = 'a';
    long_name[VUP_NAME_MAX + 1] = '\0';
    assert_false(vup_name_valid(long_name));
}

/* Identifiers: the names' characters, up to VUP_ID_MAX bytes. */
static void test_ids(void **unused)
{
    char id[VUP_ID_MAX + 2];

    assert_true(vup_id_valid("3f2504e0-4f89-11d3-9a0c-0305e82c3301"));
    assert_true(vup_id_valid("client-a-qemu"));
    assert_false(vup_id_valid(""));
    assert_false(vup_id_valid(".."));
    assert_false(vup_id_valid("vm 7"));
    assert_false(vup_id_valid("vm,7"));
    memset(id, 'a', sizeof(id));
    id[VUP_NAME_MAX + 5] = '\0';
    assert_true(vup_id_valid(id));      /* a 64-byte name + "-qemu" */
    assert_false(vup_name_valid(id));
    id[VUP_NAME_MAX + 5] = 'a';
    id[VUP_ID_MAX] = '\0';
    assert_true(vup_id_valid(id));
    id[VUP_ID_MAX] = 'a';
    id[VUP_ID_MAX + 1] = '\0';
    assert_false(vup_id_valid(id));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unix),
        cmocka_unit_test(test_tcp),
        cmocka_unit_test(test_bad),
        cmocka_unit_test(test_names),
        cmocka_unit_test(test_ids),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
