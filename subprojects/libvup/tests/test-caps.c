/*
 * Unit tests: VERSION capabilities JSON, good, bad and out of range.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "vup/caps.h"
#include "vup/proto.h"

static int parse(const char *json, VupCaps *c, char *err, size_t errlen)
{
    return vup_caps_parse(json, strlen(json) + 1, c, err, errlen);
}

static void test_defaults(void **state)
{
    VupCaps c;

    vup_caps_init_defaults(&c);
    assert_int_equal(c.max_msg_fds, 1);
    assert_int_equal(c.max_data_xfer_size, 1048576);
    assert_int_equal(c.pgsizes, 4096);
    assert_int_equal(c.max_dma_maps, 65535);
    assert_false(c.write_multiple);
    assert_false(c.twin_socket_supported);
    assert_int_equal(c.twin_socket_fd_index, -1);

    /* An empty object, or one without "capabilities", means defaults. */
    memset(&c, 0xaa, sizeof(c));
    assert_int_equal(parse("{}", &c, NULL, 0), 0);
    assert_int_equal(c.max_msg_fds, 1);
    assert_int_equal(parse("{\"other\": 1}", &c, NULL, 0), 0);
    assert_int_equal(parse(" {} \n", &c, NULL, 0), 0);   /* whitespace */
    assert_int_equal(c.max_dma_maps, 65535);
}

static void test_qemu_client_caps(void **state)
{
    /* What QEMU 10.2's vfio-user-pci sends (hw/vfio-user/proxy.c). */
    const char *json = "{\"capabilities\": {\"migration\": {\"pgsize\": 4096,"
        " \"max_bitmap_size\": 268435456}, \"max_msg_fds\": 16,"
        " \"max_data_xfer_size\": 1048576, \"pgsizes\": 4096,"
        " \"max_dma_maps\": 65535, \"write_multiple\": true}}";
    VupCaps c;

    assert_int_equal(parse(json, &c, NULL, 0), 0);
    assert_int_equal(c.max_msg_fds, 16);
    assert_int_equal(c.max_data_xfer_size, 1048576);
    assert_true(c.has_migration);
    assert_int_equal(c.migration_pgsize, 4096);
    assert_int_equal(c.migration_max_bitmap_size, 268435456);
    assert_true(c.write_multiple);
}

static void test_round_trip(void **state)
{
    VupCaps c, back;
    char *json;

    vup_caps_init_defaults(&c);
    c.max_msg_fds = 8;
    c.max_data_xfer_size = 65536;
    c.pgsizes = 4096 | (2 << 20);
    c.max_dma_maps = 1000;
    c.has_migration = true;
    c.migration_pgsize = 4096;
    c.migration_max_bitmap_size = 1 << 20;
    c.twin_socket_supported = true;
    c.twin_socket_fd_index = 0;
    c.write_multiple = true;
    c.dm_irq_messages = true;
    c.dm_standby = true;
    c.dm_vm_clock = true;
    c.dm_doorbells = true;
    c.dm_vq_fetch = true;
    c.dm_vq_push = true;
    c.dm_events = true;
    c.dm_dirty_pages = true;
    c.dm_controls = true;
    c.dm_applied = true;
    c.dm_vcpus = 4;
    strcpy(c.dm_accel, "tcg");
    strcpy(c.ids[VUP_ID_VM], "vm-1");
    strcpy(c.ids[VUP_ID_CLIENT_PLATFORM], "client-a");
    strcpy(c.ids[VUP_ID_TOKEN], "s3cret");

    json = vup_caps_format(&c);
    assert_non_null(json);
    assert_int_equal(parse(json, &back, NULL, 0), 0);
    assert_memory_equal(&c, &back, sizeof(c));
    free(json);
}

/*
 * A peer's migration object may leave max_bitmap_size out (no limit
 * given): what we format from it must parse again, here and at the peer
 * (found by tests/fuzz/fuzz-vup-caps.c).
 */
static void test_round_trip_migration_without_bitmap(void **state)
{
    const char *json = "{\"capabilities\": {\"migration\": "
                       "{\"pgsize\": 4096}}}";
    VupCaps c, back;
    char *out;

    assert_int_equal(parse(json, &c, NULL, 0), 0);
    assert_true(c.has_migration);
    assert_int_equal(c.migration_max_bitmap_size, 0);
    out = vup_caps_format(&c);
    assert_non_null(out);
    assert_int_equal(parse(out, &back, NULL, 0), 0);
    assert_memory_equal(&c, &back, sizeof(c));
    free(out);
}

static void test_unknown_keys_ignored(void **state)
{
    VupCaps c;

    assert_int_equal(parse("{\"capabilities\": {\"max_msg_fds\": 4,"
                           " \"future_thing\": {\"x\": [1,2]}}}",
                           &c, NULL, 0), 0);
    assert_int_equal(c.max_msg_fds, 4);
}

static void expect_bad(const char *json, const char *why)
{
    char err[256] = "";
    VupCaps c, before;

    memset(&c, 0x5a, sizeof(c));
    before = c;
    assert_int_equal(parse(json, &c, err, sizeof(err)), -EINVAL);
    if (!strstr(err, why)) {
        fail_msg("for %s: error \"%s\" lacks \"%s\"", json, err, why);
    }
    /* Out-parameters are untouched on failure. */
    assert_memory_equal(&c, &before, sizeof(c));
}

static void test_bad_json(void **state)
{
    expect_bad("", "not valid JSON");
    expect_bad("{", "not valid JSON");
    expect_bad("{\"capabilities\": }", "not valid JSON");
    expect_bad("{} trailing", "trailing data");
    expect_bad("{} {}", "trailing data");
    expect_bad("[]", "not an object");
    expect_bad("42", "not an object");
    expect_bad("{\"capabilities\": 1}", "must be an object");
    expect_bad("{\"capabilities\": []}", "must be an object");
}

static void test_embedded_nul(void **state)
{
    const char json[] = "{}\0{}";
    char err[128] = "";
    VupCaps c;

    assert_int_equal(vup_caps_parse(json, sizeof(json), &c, err,
                                    sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "NUL"));
}

static void test_wrong_types(void **state)
{
    expect_bad("{\"capabilities\": {\"max_msg_fds\": \"4\"}}",
               "\"max_msg_fds\" must be a non-negative integer");
    expect_bad("{\"capabilities\": {\"max_msg_fds\": -1}}",
               "non-negative integer");
    expect_bad("{\"capabilities\": {\"max_data_xfer_size\": 1.5}}",
               "non-negative integer");
    expect_bad("{\"capabilities\": {\"write_multiple\": 1}}",
               "\"write_multiple\" must be a boolean");
    expect_bad("{\"capabilities\": {\"migration\": true}}",
               "\"migration\" must be an object");
    expect_bad("{\"capabilities\": {\"twin_socket\": 1}}",
               "\"twin_socket\" must be an object");
    expect_bad("{\"capabilities\": {\"twin_socket\": {\"supported\": 1}}}",
               "must be a boolean");
    expect_bad("{\"capabilities\": {\"dm_irq_messages\": \"yes\"}}",
               "\"dm_irq_messages\" must be a boolean");
    expect_bad("{\"capabilities\": {\"dm_standby\": 1}}",
               "\"dm_standby\" must be a boolean");
    expect_bad("{\"capabilities\": {\"dm_vm_clock\": \"yes\"}}",
               "\"dm_vm_clock\" must be a boolean");
    expect_bad("{\"capabilities\": {\"dm_doorbells\": 1}}",
               "\"dm_doorbells\" must be a boolean");
    expect_bad("{\"capabilities\": {\"dm_ids\": []}}",
               "\"dm_ids\" must be an object");
    expect_bad("{\"capabilities\": {\"dm_ids\": {\"vm\": 7}}}",
               "\"dm_ids.vm\" must be a string");
    expect_bad("{\"capabilities\": {\"dm_ids\": {\"token\": \"a\\u0001b\"}}}",
               "\"dm_ids.token\" holds a control character");
}

static void test_out_of_range(void **state)
{
    expect_bad("{\"capabilities\": {\"max_msg_fds\": 1000}}",
               "\"max_msg_fds\" out of range: 1000");
    expect_bad("{\"capabilities\": {\"max_data_xfer_size\": 0}}",
               "out of range");
    expect_bad("{\"capabilities\": {\"max_data_xfer_size\": 1099511627776}}",
               "out of range");
    expect_bad("{\"capabilities\": {\"pgsizes\": 512}}", "out of range");
    expect_bad("{\"capabilities\": {\"pgsizes\": 6144}}", "below 4096");
    expect_bad("{\"capabilities\": {\"max_dma_maps\": 70000}}",
               "out of range");
    expect_bad("{\"capabilities\": {\"max_dma_maps\": 0}}", "out of range");
    expect_bad("{\"capabilities\": {\"migration\": {\"pgsize\": 12288}}}",
               "power of two");
    expect_bad("{\"capabilities\": {\"twin_socket\": {\"fd_index\": 999}}}",
               "out of range");
    expect_bad("{\"capabilities\": {\"dm_vcpus\": 0}}", "out of range");
    expect_bad("{\"capabilities\": {\"dm_vcpus\": 1025}}", "out of range");
    expect_bad("{\"capabilities\": {\"dm_accel\": \"\"}}", "1 to 15 bytes");
    expect_bad("{\"capabilities\": {\"dm_accel\": \"a-very-long-accel\"}}",
               "1 to 15 bytes");
    expect_bad("{\"capabilities\": {\"dm_accel\": \"KVM\"}}", "may hold only");
    expect_bad("{\"capabilities\": {\"dm_accel\": \"k\\nm\"}}", "may hold only");
    expect_bad("{\"capabilities\": {\"dm_accel\": 1}}", "must be a string");
    /* json-c saturates 2^64; the page-size check still refuses it. */
    expect_bad("{\"capabilities\": {\"pgsizes\": 18446744073709551616}}",
               "\"pgsizes\"");
}

static void test_long_identifier(void **state)
{
    char json[512];
    char id[VUP_ID_MAX + 2];

    memset(id, 'x', sizeof(id) - 1);
    id[sizeof(id) - 1] = '\0';
    snprintf(json, sizeof(json),
             "{\"capabilities\": {\"dm_ids\": {\"hypervisor\": \"%s\"}}}", id);
    expect_bad(json, "\"dm_ids.hypervisor\" is longer than 128 bytes");
}

static void test_version_payload(void **state)
{
    VupCaps c, back;
    void *buf;
    size_t len;
    uint16_t major, minor;
    char err[128];
    VupVersion bare = { .major = 0, .minor = 2 };

    vup_caps_init_defaults(&c);
    c.max_msg_fds = 16;
    assert_int_equal(vup_version_build(0, 1, &c, &buf, &len), 0);
    assert_true(len > sizeof(VupVersion));
    assert_int_equal(((char *)buf)[len - 1], '\0');
    assert_int_equal(vup_version_parse(buf, len, &major, &minor, &back,
                                       err, sizeof(err)), 0);
    assert_int_equal(major, 0);
    assert_int_equal(minor, 1);
    assert_int_equal(back.max_msg_fds, 16);
    free(buf);

    /* The JSON is optional. */
    assert_int_equal(vup_version_parse(&bare, sizeof(bare), &major, &minor,
                                       &back, err, sizeof(err)), 0);
    assert_int_equal(minor, 2);
    assert_int_equal(back.max_msg_fds, 1);

    /* Too short for major and minor. */
    assert_int_equal(vup_version_parse(&bare, 3, &major, &minor, &back,
                                       err, sizeof(err)), -EINVAL);
    assert_non_null(strstr(err, "too short"));
}

static void test_negotiate(void **state)
{
    VupCaps ours, peer, out;

    vup_caps_init_defaults(&ours);
    vup_caps_init_defaults(&peer);
    ours.max_msg_fds = 16;
    peer.max_msg_fds = 8;
    ours.max_data_xfer_size = 1 << 20;
    peer.max_data_xfer_size = 1 << 16;
    ours.pgsizes = 4096 | (2 << 20);
    peer.pgsizes = 4096;
    ours.write_multiple = true;
    peer.write_multiple = false;
    peer.max_dma_maps = 10;

    vup_caps_negotiate(&ours, &peer, &out);
    assert_int_equal(out.max_msg_fds, 8);
    assert_int_equal(out.max_data_xfer_size, 1 << 16);
    assert_int_equal(out.pgsizes, 4096);
    assert_int_equal(out.max_dma_maps, 10);
    assert_false(out.write_multiple);

    peer.write_multiple = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_true(out.write_multiple);

    /* Told by the client, never carried into what was negotiated. */
    strcpy(peer.dm_accel, "tcg");
    peer.dm_vcpus = 2;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_string_equal(out.dm_accel, "");
    assert_int_equal(out.dm_vcpus, 0);

    /* Our extension: only when both sides offer it. */
    ours.dm_irq_messages = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_false(out.dm_irq_messages);
    peer.dm_irq_messages = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_true(out.dm_irq_messages);

    /* A standby session only when both say so. */
    ours.dm_standby = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_false(out.dm_standby);
    peer.dm_standby = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_true(out.dm_standby);

    /* The VM clock only when both say so. */
    ours.dm_vm_clock = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_false(out.dm_vm_clock);
    peer.dm_vm_clock = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_true(out.dm_vm_clock);

    /* Doorbells without fds only when both say so. */
    ours.dm_doorbells = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_false(out.dm_doorbells);
    peer.dm_doorbells = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_true(out.dm_doorbells);

    /* Events only to a client that takes them. */
    ours.dm_events = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_false(out.dm_events);
    peer.dm_events = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_true(out.dm_events);

    /* Dirty pages only when both say so. */
    peer.dm_dirty_pages = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_false(out.dm_dirty_pages);
    ours.dm_dirty_pages = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_true(out.dm_dirty_pages);

    /* Controls only to a server that takes them. */
    ours.dm_controls = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_false(out.dm_controls);
    peer.dm_controls = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_true(out.dm_controls);

    /* Applied writes told only when both sides offer it. */
    ours.dm_applied = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_false(out.dm_applied);
    peer.dm_applied = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_true(out.dm_applied);

    /* Chains with the kick: both sides, and only with ring fetches. */
    ours.dm_vq_push = peer.dm_vq_push = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_false(out.dm_vq_push);
    ours.dm_vq_fetch = peer.dm_vq_fetch = true;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_true(out.dm_vq_push);
    peer.dm_vq_push = false;
    vup_caps_negotiate(&ours, &peer, &out);
    assert_false(out.dm_vq_push);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_qemu_client_caps),
        cmocka_unit_test(test_round_trip),
        cmocka_unit_test(test_round_trip_migration_without_bitmap),
        cmocka_unit_test(test_unknown_keys_ignored),
        cmocka_unit_test(test_bad_json),
        cmocka_unit_test(test_embedded_nul),
        cmocka_unit_test(test_wrong_types),
        cmocka_unit_test(test_out_of_range),
        cmocka_unit_test(test_long_identifier),
        cmocka_unit_test(test_version_payload),
        cmocka_unit_test(test_negotiate),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
