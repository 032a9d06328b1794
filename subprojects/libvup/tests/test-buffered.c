/*
 * The read-buffered stream (vup/buffered.h): whole messages out of one
 * recv(), pending bytes seen as readable, big payloads, EOF and timeouts.
 * recv() is wrapped (-Wl,--wrap=recv) to count the system calls.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vup/buffered.h"

#define MAX_SIZE (4 * VUP_BUFFERED_SIZE)

static int recv_calls;

ssize_t __real_recv(int fd, void *buf, size_t len, int flags);
ssize_t __wrap_recv(int fd, void *buf, size_t len, int flags)
{
    recv_calls++;
    return __real_recv(fd, buf, len, flags);
}

typedef struct Pair {
    int a, b;                   /* a: plain sender, b: buffered receiver */
    VupBuffered buf;
    VupStream sb;
} Pair;

static int setup(void **state)
{
    Pair *p = calloc(1, sizeof(*p));
    int sv[2];

    if (!p || socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return -1;
    }
    p->a = sv[0];
    p->b = sv[1];
    p->sb = vup_buffered_stream(&p->buf, p->b);
    recv_calls = 0;
    *state = p;
    return 0;
}

static int teardown(void **state)
{
    Pair *p = *state;

    if (p->a >= 0) {
        close(p->a);
    }
    close(p->b);
    free(p);
    return 0;
}

static void send_one(int fd, uint16_t id, const void *payload, size_t len)
{
    VupHeader h = { .msg_id = id, .command = VUP_CMD_REGION_READ };

    assert_int_equal(vup_send_msg(fd, &h, payload, len, NULL, 0), 0);
}

/* Two small messages already queued come out of a single recv(). */
static void test_two_messages_one_recv(void **state)
{
    Pair *p = *state;
    uint8_t x[24], y[20];
    VupMsg m;

    memset(x, 0xaa, sizeof(x));
    memset(y, 0x55, sizeof(y));
    send_one(p->a, 1, x, sizeof(x));
    send_one(p->a, 2, y, sizeof(y));

    assert_int_equal(vup_stream_recv_msg(&p->sb, &m, MAX_SIZE, 0), 0);
    assert_int_equal(m.hdr.msg_id, 1);
    assert_int_equal(m.payload_len, sizeof(x));
    assert_memory_equal(m.payload, x, sizeof(x));
    vup_msg_clear(&m);
    /* The second is held: readable although the socket is empty. */
    assert_true(vup_stream_readable(&p->sb));
    assert_true(vup_stream_spin_readable(&p->sb, 0));

    assert_int_equal(vup_stream_recv_msg(&p->sb, &m, MAX_SIZE, 0), 0);
    assert_int_equal(m.hdr.msg_id, 2);
    assert_memory_equal(m.payload, y, sizeof(y));
    vup_msg_clear(&m);
    assert_int_equal(recv_calls, 1);
    assert_false(vup_stream_readable(&p->sb));
}

/* A payload larger than the buffer: its start from the buffer, the rest
 * read straight into place. */
static void test_big_payload(void **state)
{
    Pair *p = *state;
    size_t len = 2 * VUP_BUFFERED_SIZE + 123;
    uint8_t *big = malloc(len);
    VupMsg m;

    for (size_t i = 0; i < len; i++) {
        big[i] = (uint8_t)(i * 7);
    }
    send_one(p->a, 9, big, len);
    send_one(p->a, 10, NULL, 0);
    assert_int_equal(vup_stream_recv_msg(&p->sb, &m, MAX_SIZE, 0), 0);
    assert_int_equal(m.payload_len, len);
    assert_memory_equal(m.payload, big, len);
    vup_msg_clear(&m);
    assert_int_equal(vup_stream_recv_msg(&p->sb, &m, MAX_SIZE, 0), 0);
    assert_int_equal(m.hdr.msg_id, 10);
    assert_int_equal(m.payload_len, 0);
    vup_msg_clear(&m);
    free(big);
}

/* What the buffered stream sends, a plain reader reads whole. */
static void test_send(void **state)
{
    Pair *p = *state;
    VupHeader h = { .msg_id = 3, .command = VUP_CMD_REGION_WRITE };
    uint8_t data[40];
    VupMsg m;
    int fd = 0;

    memset(data, 0x11, sizeof(data));
    assert_int_equal(vup_stream_send_msg(&p->sb, &h, data, sizeof(data),
                                         NULL, 0), 0);
    assert_int_equal(vup_recv_msg(p->a, &m, MAX_SIZE, 0), 0);
    assert_int_equal(m.hdr.msg_id, 3);
    assert_memory_equal(m.payload, data, sizeof(data));
    vup_msg_clear(&m);
    /* No descriptor can travel this way. */
    assert_int_equal(vup_stream_send_msg(&p->sb, &h, NULL, 0, &fd, 1),
                     -EINVAL);
}

/* As GnuTLS reads a record: its 5-byte header, then its body. */
static void test_record_reads(void **state)
{
    Pair *p = *state;
    uint8_t rec[5 + 40], got[sizeof(rec)];
    VupBuffered raw;

    for (size_t i = 0; i < sizeof(rec); i++) {
        rec[i] = (uint8_t)i;
    }
    assert_int_equal(write(p->a, rec, sizeof(rec)), (ssize_t)sizeof(rec));
    vup_buffered_init(&raw, p->b);
    assert_int_equal(vup_buffered_read(&raw, got, 5), 5);
    assert_int_equal(vup_buffered_held(&raw), sizeof(rec) - 5);
    assert_int_equal(vup_buffered_read(&raw, got + 5, sizeof(rec) - 5),
                     (ssize_t)(sizeof(rec) - 5));
    assert_memory_equal(got, rec, sizeof(rec));
    assert_int_equal(recv_calls, 1);
    assert_int_equal(vup_buffered_held(&raw), 0);
}

static void test_eof_and_timeout(void **state)
{
    Pair *p = *state;
    struct timeval tv = { .tv_usec = 10000 };
    uint8_t half[8] = { 0 };
    VupMsg m;

    setsockopt(p->b, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(vup_stream_recv_msg(&p->sb, &m, MAX_SIZE, 0), -EAGAIN);
    assert_int_equal(write(p->a, half, sizeof(half)), (ssize_t)sizeof(half));
    close(p->a);
    p->a = -1;
    assert_int_equal(vup_stream_recv_msg(&p->sb, &m, MAX_SIZE, 0), -EPROTO);
    assert_int_equal(vup_stream_recv_msg(&p->sb, &m, MAX_SIZE, 0),
                     -ECONNRESET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_two_messages_one_recv),
        T(test_big_payload),
        T(test_send),
        T(test_record_reads),
        T(test_eof_and_timeout),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
