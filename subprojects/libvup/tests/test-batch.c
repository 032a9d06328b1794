/*
 * Gathered messages (vup/batch.h): several posted commands leave in one
 * send() and arrive as ordinary messages, in order; a full batch says
 * so; an empty one sends nothing; a closed peer is an error.  The
 * server's outbox the same, growing past its first 64 KiB up to its
 * limit with messages that carry 4 KiB of data.  send() is wrapped
 * (-Wl,--wrap=send) to count the system calls.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vup/batch.h"

static int send_calls;

ssize_t __real_send(int fd, const void *buf, size_t len, int flags);
ssize_t __wrap_send(int fd, const void *buf, size_t len, int flags)
{
    send_calls++;
    return __real_send(fd, buf, len, flags);
}

static int sv[2];
static VupBatch batch;

static int setup(void **state)
{
    struct timeval tv = { .tv_sec = 5 };

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return -1;
    }
    setsockopt(sv[1], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    vup_batch_clear(&batch);
    send_calls = 0;
    return 0;
}

static int teardown(void **state)
{
    close(sv[0]);
    close(sv[1]);
    return 0;
}

static void posted_write(uint16_t id, uint64_t offset, uint32_t value)
{
    struct {
        VupRegionAccess a;
        uint32_t data;
    } __attribute__((packed)) w = {
        .a = { .offset = offset, .region = 0, .count = 4 },
        .data = value,
    };
    VupHeader h = { .msg_id = id, .command = VUP_CMD_REGION_WRITE,
                    .flags = VUP_FLAG_NO_REPLY };

    assert_int_equal(vup_batch_add(&batch, &h, &w, sizeof(w)), 0);
}

static void test_one_send_in_order(void **state)
{
    VupStream s = VUP_STREAM_PLAIN(sv[0]);

    for (uint16_t i = 0; i < 10; i++) {
        posted_write(i, 4 * i, 0x1000 + i);
    }
    assert_int_equal(batch.count, 10);
    assert_int_equal(send_calls, 0);            /* nothing left yet */
    assert_int_equal(vup_stream_send_batch(&s, &batch), 0);
    assert_int_equal(send_calls, 1);
    assert_int_equal(batch.len, 0);
    assert_int_equal(batch.count, 0);

    for (uint16_t i = 0; i < 10; i++) {
        VupMsg m;
        VupRegionAccess a;
        uint32_t v;

        assert_int_equal(vup_recv_msg(sv[1], &m, 4096, 0), 0);
        assert_int_equal(m.hdr.msg_id, i);
        assert_int_equal(m.hdr.command, VUP_CMD_REGION_WRITE);
        assert_int_equal(m.hdr.flags, VUP_FLAG_NO_REPLY);
        assert_int_equal(m.hdr.msg_size, sizeof(VupHeader) + sizeof(a) + 4);
        memcpy(&a, m.payload, sizeof(a));
        memcpy(&v, m.payload + sizeof(a), 4);
        assert_int_equal(a.offset, 4 * i);
        assert_int_equal(v, 0x1000 + i);
        vup_msg_clear(&m);
    }
}

static void test_full_batch(void **state)
{
    VupStream s = VUP_STREAM_PLAIN(sv[0]);
    VupHeader h = { .command = VUP_CMD_REGION_WRITE };
    static uint8_t big[VUP_BATCH_SIZE];
    unsigned n = 0;
    int ret;

    while ((ret = vup_batch_add(&batch, &h, big, 100)) == 0) {
        n++;
    }
    assert_int_equal(ret, -ENOSPC);
    assert_int_equal(n, VUP_BATCH_SIZE / (sizeof(VupHeader) + 100));
    assert_int_equal(batch.count, n);
    /* A message bigger than any batch never fits. */
    vup_batch_clear(&batch);
    assert_int_equal(vup_batch_add(&batch, &h, big, sizeof(big)), -ENOSPC);
    assert_int_equal(batch.len, 0);
    assert_int_equal(vup_stream_send_batch(&s, &batch), 0);
    assert_int_equal(send_calls, 0);            /* empty: no send */
}

static void test_peer_gone(void **state)
{
    VupStream s = VUP_STREAM_PLAIN(sv[0]);

    posted_write(1, 0, 1);
    close(sv[1]);
    sv[1] = socket(AF_UNIX, SOCK_STREAM, 0);    /* for teardown */
    assert_int_equal(vup_stream_send_batch(&s, &batch), -EPIPE);
    assert_int_equal(batch.len, 0);
}

/* A DMA write of 4 KiB of @id's bytes, as a server answers a read. */
static int dma_write(VupOutbox *o, uint16_t id)
{
    struct {
        VupDmaAccess a;
        uint8_t data[4096];
    } __attribute__((packed)) w = {
        .a = { .address = 0x100000 + 4096 * id, .count = 4096 },
    };
    VupHeader h = { .msg_id = id, .command = VUP_CMD_DMA_WRITE,
                    .flags = VUP_FLAG_NO_REPLY };

    memset(w.data, id, sizeof(w.data));
    return vup_outbox_add(o, &h, &w, sizeof(w));
}

static void test_outbox_grows_one_send(void **state)
{
    VupStream s = VUP_STREAM_PLAIN(sv[0]);
    VupOutbox o;

    vup_outbox_init(&o, 256 * 1024);
    assert_null(o.buf);                         /* nothing until used */
    for (uint16_t i = 0; i < 20; i++) {         /* 82 KiB: past 64 */
        assert_int_equal(dma_write(&o, i), 0);
    }
    assert_int_equal(o.count, 20);
    assert_true(o.cap >= o.len && o.len > 64 * 1024);
    assert_int_equal(send_calls, 0);
    assert_int_equal(vup_stream_send_outbox(&s, &o), 0);
    assert_int_equal(send_calls, 1);
    assert_int_equal(o.len, 0);
    assert_int_equal(o.count, 0);

    for (uint16_t i = 0; i < 20; i++) {
        VupMsg m;
        VupDmaAccess a;

        assert_int_equal(vup_recv_msg(sv[1], &m, 8192, 0), 0);
        assert_int_equal(m.hdr.msg_id, i);
        assert_int_equal(m.hdr.command, VUP_CMD_DMA_WRITE);
        assert_int_equal(m.hdr.msg_size,
                         sizeof(VupHeader) + sizeof(a) + 4096);
        memcpy(&a, m.payload, sizeof(a));
        assert_int_equal(a.address, 0x100000 + 4096 * i);
        assert_int_equal(m.payload[sizeof(a)], (uint8_t)i);
        assert_int_equal(m.payload[sizeof(a) + 4095], (uint8_t)i);
        vup_msg_clear(&m);
    }
    /* Empty: no send. */
    assert_int_equal(vup_stream_send_outbox(&s, &o), 0);
    assert_int_equal(send_calls, 1);
    vup_outbox_free(&o);
    assert_null(o.buf);
}

static void test_outbox_limit(void **state)
{
    VupOutbox o;
    VupHeader h = { .command = VUP_CMD_DMA_WRITE };
    static uint8_t big[16 * 1024];
    unsigned n = 0;
    int ret;

    vup_outbox_init(&o, 16 * 1024);
    while ((ret = dma_write(&o, n)) == 0) {
        n++;
    }
    assert_int_equal(ret, -ENOSPC);
    assert_int_equal(n, 16 * 1024 / (sizeof(VupHeader) + 16 + 4096));
    assert_int_equal(o.count, n);
    assert_true(o.cap <= 16 * 1024);
    /* Bigger than the limit: never fits, and nothing changes. */
    o.len = o.count = 0;
    assert_int_equal(vup_outbox_add(&o, &h, big, sizeof(big)), -ENOSPC);
    assert_int_equal(o.len, 0);
    /* A payload without its bytes. */
    assert_int_equal(vup_outbox_add(&o, &h, NULL, 8), -EINVAL);
    vup_outbox_free(&o);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_one_send_in_order, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_full_batch, setup, teardown),
        cmocka_unit_test_setup_teardown(test_peer_gone, setup, teardown),
        cmocka_unit_test_setup_teardown(test_outbox_grows_one_send, setup,
                                        teardown),
        cmocka_unit_test_setup_teardown(test_outbox_limit, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
