/*
 * Unit tests: message framing over a UNIX socketpair, good and malformed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "vup/msg.h"

#define MAX_SIZE 4096

typedef struct Pair {
    int a, b;                   /* a: sender, b: receiver */
    int open_fds;               /* descriptors open before the test */
} Pair;

static int count_open_fds(void)
{
    DIR *d = opendir("/proc/self/fd");
    struct dirent *e;
    int n = 0;

    assert_non_null(d);
    while ((e = readdir(d))) {
        if (e->d_name[0] != '.') {
            n++;
        }
    }
    closedir(d);
    return n - 1;               /* the DIR's own descriptor */
}

static int setup(void **state)
{
    Pair *p = calloc(1, sizeof(*p));
    int sv[2];

    p->open_fds = count_open_fds();
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        return -1;
    }
    p->a = sv[0];
    p->b = sv[1];
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
    /* Every test must leave no descriptor behind. */
    assert_int_equal(count_open_fds(), p->open_fds);
    free(p);
    return 0;
}

static void write_all(int fd, const void *buf, size_t len)
{
    assert_int_equal(write(fd, buf, len), (ssize_t)len);
}

/* Send @nfds copies of @fd with one raw byte run, bypassing libvup. */
static void send_raw_with_fds(int sock, const void *buf, size_t len,
                              int fd, unsigned nfds)
{
    int fds[32];
    union {
        char buf[CMSG_SPACE(sizeof(fds))];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = ctrl.buf,
        .msg_controllen = CMSG_SPACE(nfds * sizeof(int)),
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

    assert_true(nfds <= 32);
    for (unsigned i = 0; i < nfds; i++) {
        fds[i] = fd;
    }
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
    memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
    assert_int_equal(sendmsg(sock, &mh, 0), (ssize_t)len);
}

static void test_round_trip_with_fds(void **state)
{
    Pair *p = *state;
    VupHeader h = { .msg_id = 7, .command = VUP_CMD_DMA_MAP };
    VupDmaMap map = { .argsz = sizeof(map), .address = 0x1000,
                      .size = 0x2000 };
    int efd = eventfd(0, EFD_CLOEXEC);
    int fds[2] = { efd, efd };
    uint64_t v = 1;
    VupMsg m;

    assert_int_equal(vup_send_msg(p->a, &h, &map, sizeof(map), fds, 2), 0);
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 4), 0);
    assert_int_equal(m.hdr.msg_id, 7);
    assert_int_equal(m.hdr.command, VUP_CMD_DMA_MAP);
    assert_int_equal(m.hdr.msg_size, sizeof(VupHeader) + sizeof(map));
    assert_int_equal(m.payload_len, sizeof(map));
    assert_memory_equal(m.payload, &map, sizeof(map));
    assert_int_equal(m.nfds, 2);
    assert_int_equal(vup_check_command(&m), 0);

    /* The received descriptor is a working copy of the eventfd. */
    int got = vup_msg_take_fd(&m, 0);
    assert_true(got >= 0 && got != efd);
    assert_int_equal(fcntl(got, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);
    assert_int_equal(write(got, &v, sizeof(v)), sizeof(v));
    assert_int_equal(read(efd, &v, sizeof(v)), sizeof(v));
    assert_int_equal(v, 1);
    assert_int_equal(vup_msg_take_fd(&m, 0), -1);   /* taken once */
    assert_int_equal(vup_msg_take_fd(&m, 5), -1);   /* out of range */
    close(got);
    close(efd);
    vup_msg_clear(&m);              /* closes the untaken second fd */
}

static void test_empty_payload(void **state)
{
    Pair *p = *state;
    VupHeader h = { .msg_id = 1, .command = VUP_CMD_DEVICE_RESET };
    VupMsg m;

    assert_int_equal(vup_send_msg(p->a, &h, NULL, 0, NULL, 0), 0);
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 1), 0);
    assert_null(m.payload);
    assert_int_equal(m.payload_len, 0);
    assert_int_equal(vup_check_command(&m), 0);
    vup_msg_clear(&m);
}

typedef struct Dribble {
    int fd;
    const uint8_t *buf;
    size_t len;
} Dribble;

static void *dribble_thread(void *opaque)
{
    Dribble *d = opaque;

    /* One byte at a time: every read on the other side is short. */
    for (size_t i = 0; i < d->len; i++) {
        if (write(d->fd, d->buf + i, 1) != 1) {
            break;
        }
        if (i % 7 == 0) {
            usleep(100);
        }
    }
    return NULL;
}

static void test_short_reads(void **state)
{
    Pair *p = *state;
    uint8_t buf[sizeof(VupHeader) + 100];
    VupHeader h = { .msg_id = 3, .command = VUP_CMD_REGION_WRITE,
                    .msg_size = sizeof(buf) };
    Dribble d = { .fd = p->a, .buf = buf, .len = sizeof(buf) };
    pthread_t th;
    VupMsg m;

    memcpy(buf, &h, sizeof(h));
    for (size_t i = sizeof(h); i < sizeof(buf); i++) {
        buf[i] = (uint8_t)i;
    }
    assert_int_equal(pthread_create(&th, NULL, dribble_thread, &d), 0);
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 1), 0);
    pthread_join(th, NULL);
    assert_int_equal(m.payload_len, 100);
    assert_memory_equal(m.payload, buf + sizeof(h), 100);
    vup_msg_clear(&m);
}

static void test_large_message_short_writes(void **state)
{
    Pair *p = *state;
    size_t len = 1024 * 1024;       /* beyond the socket buffer */
    uint8_t *payload = malloc(len);
    VupHeader h = { .msg_id = 9, .command = VUP_CMD_REGION_WRITE };
    VupMsg m;
    pid_t pid;

    for (size_t i = 0; i < len; i++) {
        payload[i] = (uint8_t)(i * 31);
    }
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        _exit(vup_send_msg(p->a, &h, payload, len, NULL, 0) == 0 ? 0 : 1);
    }
    assert_int_equal(vup_recv_msg(p->b, &m, 2 * len, 1), 0);
    assert_int_equal(m.payload_len, len);
    assert_memory_equal(m.payload, payload, len);
    vup_msg_clear(&m);
    free(payload);
    int status;
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_int_equal(status, 0);
}

static void test_clean_eof(void **state)
{
    Pair *p = *state;
    VupMsg m;

    close(p->a);
    p->a = -1;
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 1), -ECONNRESET);
}

static void test_truncated_header(void **state)
{
    Pair *p = *state;
    uint8_t partial[10] = { 0 };
    VupMsg m;

    write_all(p->a, partial, sizeof(partial));
    close(p->a);
    p->a = -1;
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 1), -EPROTO);
    assert_null(m.payload);
}

static void test_truncated_payload(void **state)
{
    Pair *p = *state;
    VupHeader h = { .command = VUP_CMD_REGION_WRITE, .msg_size = 64 };
    VupMsg m;

    write_all(p->a, &h, sizeof(h));
    write_all(p->a, "abc", 3);
    close(p->a);
    p->a = -1;
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 1), -EPROTO);
    assert_null(m.payload);
}

static void test_size_below_header(void **state)
{
    Pair *p = *state;
    VupHeader h = { .command = VUP_CMD_DEVICE_RESET, .msg_size = 8 };
    VupMsg m;

    write_all(p->a, &h, sizeof(h));
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 1), -EPROTO);
}

static void test_size_above_max(void **state)
{
    Pair *p = *state;
    VupHeader h = { .command = VUP_CMD_REGION_WRITE,
                    .msg_size = MAX_SIZE + 1 };
    VupHeader huge = { .command = VUP_CMD_REGION_WRITE,
                       .msg_size = 0xffffffff };
    VupMsg m;

    write_all(p->a, &h, sizeof(h));
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 1), -EMSGSIZE);
    /* The library's own cap holds even if a caller asks for more. */
    write_all(p->a, &huge, sizeof(huge));
    assert_int_equal(vup_recv_msg(p->b, &m, 0xffffffff, 1), -EMSGSIZE);
}

static void test_unknown_command(void **state)
{
    Pair *p = *state;
    VupHeader h = { .msg_id = 42, .command = 0x77 };
    VupMsg m, reply;

    assert_int_equal(vup_send_msg(p->a, &h, "xy", 2, NULL, 0), 0);
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 1), 0);
    assert_int_equal(vup_check_command(&m), -ENOSYS);

    /* The error reply travels back and reads as -ENOSYS. */
    assert_int_equal(vup_send_error(p->b, &m.hdr, ENOSYS), 0);
    assert_int_equal(vup_recv_msg(p->a, &reply, MAX_SIZE, 1), 0);
    assert_int_equal(reply.hdr.flags,
                     VUP_FLAG_TYPE_REPLY | VUP_FLAG_ERROR);
    assert_int_equal(vup_check_reply(&reply, &h), -ENOSYS);
    vup_msg_clear(&reply);
    vup_msg_clear(&m);
}

static void test_short_payload_and_bad_flags(void **state)
{
    Pair *p = *state;
    VupHeader h = { .command = VUP_CMD_REGION_READ };
    VupHeader bad = { .command = VUP_CMD_DEVICE_RESET, .flags = 0x100 };
    VupHeader reply_type = { .command = VUP_CMD_DEVICE_RESET,
                             .flags = VUP_FLAG_TYPE_REPLY };
    VupMsg m;

    /* REGION_READ needs 16 bytes of payload; 8 is malformed. */
    assert_int_equal(vup_send_msg(p->a, &h, "12345678", 8, NULL, 0), 0);
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 1), 0);
    assert_int_equal(vup_check_command(&m), -EINVAL);
    vup_msg_clear(&m);

    assert_int_equal(vup_send_msg(p->a, &bad, NULL, 0, NULL, 0), 0);
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 1), 0);
    assert_int_equal(vup_check_command(&m), -EINVAL);
    vup_msg_clear(&m);

    assert_int_equal(vup_send_msg(p->a, &reply_type, NULL, 0, NULL, 0), 0);
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 1), 0);
    assert_int_equal(vup_check_command(&m), -EINVAL);
    vup_msg_clear(&m);
}

static void test_too_many_fds(void **state)
{
    Pair *p = *state;
    VupHeader h = { .msg_id = 5, .command = VUP_CMD_DEVICE_SET_IRQS,
                    .msg_size = sizeof(VupHeader) + sizeof(VupIrqSet) };
    uint8_t buf[sizeof(VupHeader) + sizeof(VupIrqSet)] = { 0 };
    int efd = eventfd(0, EFD_CLOEXEC);
    VupMsg m;

    memcpy(buf, &h, sizeof(h));
    send_raw_with_fds(p->a, buf, sizeof(buf), efd, 3);
    /* Two accepted at most: the message is bad, all three are closed. */
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 2), -EBADMSG);
    assert_int_equal(m.hdr.msg_id, 5);
    assert_int_equal(m.nfds, 0);
    assert_int_equal(m.payload_len, sizeof(VupIrqSet));
    vup_msg_clear(&m);

    /* The stream is still in step: a good message follows. */
    h.command = VUP_CMD_DEVICE_RESET;
    assert_int_equal(vup_send_msg(p->a, &h, NULL, 0, NULL, 0), 0);
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 2), 0);
    assert_int_equal(m.hdr.command, VUP_CMD_DEVICE_RESET);
    vup_msg_clear(&m);
    close(efd);
}

static void test_unexpected_fds(void **state)
{
    Pair *p = *state;
    VupHeader h = { .command = VUP_CMD_REGION_READ,
                    .msg_size = sizeof(VupHeader) + 16 };
    uint8_t buf[sizeof(VupHeader) + 16] = { 0 };
    int efd = eventfd(0, EFD_CLOEXEC);
    VupMsg m;

    memcpy(buf, &h, sizeof(h));
    send_raw_with_fds(p->a, buf, sizeof(buf), efd, 1);
    /* A receiver that accepts none refuses the message, fd closed. */
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, 0), -EBADMSG);
    assert_int_equal(m.nfds, 0);
    vup_msg_clear(&m);
    close(efd);
}

static void test_truncated_control_data(void **state)
{
    Pair *p = *state;
    VupHeader h = { .command = VUP_CMD_DEVICE_SET_IRQS,
                    .msg_size = sizeof(VupHeader) + sizeof(VupIrqSet) };
    uint8_t buf[sizeof(VupHeader) + sizeof(VupIrqSet)] = { 0 };
    int efd = eventfd(0, EFD_CLOEXEC);
    VupMsg m;

    /* More descriptors than the receive buffer holds: MSG_CTRUNC. */
    memcpy(buf, &h, sizeof(h));
    send_raw_with_fds(p->a, buf, sizeof(buf), efd, VUP_MAX_FDS + 8);
    assert_int_equal(vup_recv_msg(p->b, &m, MAX_SIZE, VUP_MAX_FDS),
                     -EBADMSG);
    assert_int_equal(m.nfds, 0);
    vup_msg_clear(&m);
    close(efd);
}

static void test_send_rejects_bad_arguments(void **state)
{
    Pair *p = *state;
    VupHeader h = { .command = VUP_CMD_DEVICE_RESET };
    int fds[VUP_MAX_FDS + 1] = { 0 };

    assert_int_equal(vup_send_msg(p->a, &h, NULL, 0, fds, VUP_MAX_FDS + 1),
                     -EINVAL);
    assert_int_equal(vup_send_msg(p->a, &h, NULL, 4, NULL, 0), -EINVAL);
}

static void test_check_reply(void **state)
{
    VupHeader req = { .msg_id = 11, .command = VUP_CMD_DEVICE_GET_INFO };
    VupDeviceInfo info = { 0 };
    VupMsg m;

    vup_msg_init(&m);
    m.hdr = (VupHeader) { .msg_id = 11, .command = VUP_CMD_DEVICE_GET_INFO,
                          .flags = VUP_FLAG_TYPE_REPLY };
    m.payload = (uint8_t *)&info;
    m.payload_len = sizeof(info);
    assert_int_equal(vup_check_reply(&m, &req), 0);

    m.payload_len = 8;                          /* short reply */
    assert_int_equal(vup_check_reply(&m, &req), -EINVAL);
    m.payload_len = sizeof(info);
    m.hdr.msg_id = 12;                          /* wrong id */
    assert_int_equal(vup_check_reply(&m, &req), -EINVAL);
    m.hdr.msg_id = 11;
    m.hdr.flags = VUP_FLAG_TYPE_COMMAND;        /* not a reply */
    assert_int_equal(vup_check_reply(&m, &req), -EINVAL);
    m.hdr.flags = VUP_FLAG_TYPE_REPLY | VUP_FLAG_ERROR;
    m.hdr.error_no = 0;                         /* error without errno */
    assert_int_equal(vup_check_reply(&m, &req), -EIO);
    m.hdr.error_no = EINVAL;
    assert_int_equal(vup_check_reply(&m, &req), -EINVAL);
}

/* ---- Layered streams (TLS's place), with a fake layer ---- */

/* XORs every byte and returns at most 3 bytes per receive. */
typedef struct FakeLayer {
    int fd;
    unsigned sends;
    size_t pending;             /* what pending() claims */
    ssize_t recv_error;         /* returned by recv() when non-zero */
} FakeLayer;

static ssize_t fake_send(void *opaque, const void *buf, size_t len)
{
    FakeLayer *l = opaque;
    uint8_t tmp[8192];

    assert_true(len <= sizeof(tmp));
    for (size_t i = 0; i < len; i++) {
        tmp[i] = ((const uint8_t *)buf)[i] ^ 0x5a;
    }
    l->sends++;
    return write(l->fd, tmp, len);
}

static ssize_t fake_recv(void *opaque, void *buf, size_t len)
{
    FakeLayer *l = opaque;
    ssize_t n;

    if (l->recv_error) {
        return l->recv_error;
    }
    n = read(l->fd, buf, len < 3 ? len : 3);
    for (ssize_t i = 0; i < n; i++) {
        ((uint8_t *)buf)[i] ^= 0x5a;
    }
    return n < 0 ? -errno : n;
}

static size_t fake_pending(void *opaque)
{
    return ((FakeLayer *)opaque)->pending;
}

static const VupStreamOps fake_ops = {
    .send = fake_send, .recv = fake_recv, .pending = fake_pending,
};

static VupStream fake_stream(FakeLayer *l, int fd)
{
    *l = (FakeLayer) { .fd = fd };
    return (VupStream) { .fd = fd, .ops = &fake_ops, .opaque = l };
}

static void test_layered_round_trip(void **state)
{
    Pair *p = *state;
    FakeLayer la, lb;
    VupStream sa = fake_stream(&la, p->a), sb = fake_stream(&lb, p->b);
    VupHeader h = { .msg_id = 9, .command = VUP_CMD_REGION_READ };
    uint8_t payload[100];
    VupMsg m;

    for (unsigned i = 0; i < sizeof(payload); i++) {
        payload[i] = i;
    }
    assert_int_equal(vup_stream_send_msg(&sa, &h, payload, sizeof(payload),
                                         NULL, 0), 0);
    /* Header and payload gathered: one record, not two. */
    assert_int_equal(la.sends, 1);
    assert_int_equal(vup_stream_recv_msg(&sb, &m, MAX_SIZE, 0), 0);
    assert_int_equal(m.hdr.msg_id, 9);
    assert_int_equal(m.hdr.msg_size, sizeof(VupHeader) + sizeof(payload));
    assert_int_equal(m.payload_len, sizeof(payload));
    assert_memory_equal(m.payload, payload, sizeof(payload));
    vup_msg_clear(&m);

    /* A message too big for the stack buffer: gathered all the same. */
    {
        static uint8_t big[3000];

        memset(big, 0xa5, sizeof(big));
        assert_int_equal(vup_stream_send_msg(&sa, &h, big, sizeof(big),
                                             NULL, 0), 0);
        assert_int_equal(la.sends, 2);
        assert_int_equal(vup_stream_recv_msg(&sb, &m, MAX_SIZE, 0), 0);
        assert_int_equal(m.payload_len, sizeof(big));
        assert_memory_equal(m.payload, big, sizeof(big));
        vup_msg_clear(&m);
    }

    /* The layer really carried it: the raw bytes are transformed. */
    assert_int_equal(vup_stream_send_error(&sa, &h, EPERM), 0);
    {
        uint8_t raw[sizeof(VupHeader)];
        VupHeader got;

        assert_int_equal(read(p->b, raw, sizeof(raw)), sizeof(raw));
        for (unsigned i = 0; i < sizeof(raw); i++) {
            raw[i] ^= 0x5a;
        }
        memcpy(&got, raw, sizeof(got));
        assert_int_equal(got.error_no, EPERM);
        assert_true(got.flags & VUP_FLAG_ERROR);
    }
}

static void test_layered_refuses_fds(void **state)
{
    Pair *p = *state;
    FakeLayer la;
    VupStream sa = fake_stream(&la, p->a);
    VupHeader h = { .command = VUP_CMD_DMA_MAP };
    int fd = 0;

    assert_int_equal(vup_stream_send_msg(&sa, &h, NULL, 0, &fd, 1),
                     -EINVAL);
    assert_int_equal(la.sends, 0);
}

static void test_layered_eof_and_errors(void **state)
{
    Pair *p = *state;
    FakeLayer lb;
    VupStream sb = fake_stream(&lb, p->b);
    uint8_t half[8] = { 0 };
    VupMsg m;

    lb.recv_error = -EAGAIN;    /* a timed-out receive */
    assert_int_equal(vup_stream_recv_msg(&sb, &m, MAX_SIZE, 0), -EAGAIN);
    lb.recv_error = 0;
    write_all(p->a, half, sizeof(half));    /* half a header, then EOF */
    close(p->a);
    p->a = -1;
    assert_int_equal(vup_stream_recv_msg(&sb, &m, MAX_SIZE, 0), -EPROTO);
    assert_int_equal(vup_stream_recv_msg(&sb, &m, MAX_SIZE, 0),
                     -ECONNRESET);
}

static void test_layered_pending_is_readable(void **state)
{
    Pair *p = *state;
    FakeLayer lb;
    VupStream sb = fake_stream(&lb, p->b);

    assert_false(vup_stream_readable(&sb));    /* nothing anywhere */
    lb.pending = 5;             /* decrypted ahead, socket empty */
    assert_true(vup_stream_readable(&sb));
    assert_true(vup_stream_spin_readable(&sb, 0));
}

/*
 * vup_stream_recv_some: a message a byte at a time, never blocking, and
 * nothing read past its end; bad sizes and EOFs as vup_recv_msg.
 */
static void test_recv_some_piecewise(void **state)
{
    Pair *p = *state;
    VupStream s = VUP_STREAM_PLAIN(p->b);
    VupHeader h = { .msg_id = 7, .command = VUP_CMD_VERSION,
                    .msg_size = sizeof(h) + 5 };
    uint8_t wire[sizeof(h) + 5 + 3];
    VupMsgReader r;
    int efd = eventfd(0, EFD_CLOEXEC);

    memcpy(wire, &h, sizeof(h));
    memcpy(wire + sizeof(h), "hello", 5);
    memcpy(wire + sizeof(h) + 5, "abc", 3);     /* the next message */
    vup_reader_init(&r);
    assert_int_equal(vup_stream_recv_some(&s, &r, MAX_SIZE, 0), -EAGAIN);
    for (size_t i = 0; i < sizeof(h) + 4; i++) {
        write_all(p->a, wire + i, 1);
        assert_int_equal(vup_stream_recv_some(&s, &r, MAX_SIZE, 0), -EAGAIN);
    }
    /* The last byte of the payload and the next message's start. */
    write_all(p->a, wire + sizeof(h) + 4, 4);
    assert_int_equal(vup_stream_recv_some(&s, &r, MAX_SIZE, 0), 0);
    assert_int_equal(r.msg.hdr.msg_id, 7);
    assert_int_equal(r.msg.payload_len, 5);
    assert_memory_equal(r.msg.payload, "hello", 5);
    vup_msg_clear(&r.msg);
    vup_reader_init(&r);
    {
        char rest[8];

        assert_int_equal(recv(p->b, rest, sizeof(rest), MSG_DONTWAIT), 3);
        assert_memory_equal(rest, "abc", 3);
    }

    /* Descriptors with it: the message is whole but bad, fds closed. */
    h.msg_size = sizeof(h);
    send_raw_with_fds(p->a, &h, sizeof(h), efd, 2);
    assert_int_equal(vup_stream_recv_some(&s, &r, MAX_SIZE, 0), -EBADMSG);
    assert_int_equal(r.msg.nfds, 0);
    vup_msg_clear(&r.msg);
    vup_reader_init(&r);
    close(efd);

    /* Over the maximum: refused from the header, nothing allocated. */
    h.msg_size = MAX_SIZE + 1;
    write_all(p->a, &h, sizeof(h));
    assert_int_equal(vup_stream_recv_some(&s, &r, MAX_SIZE, 0), -EMSGSIZE);
    assert_int_equal(r.got, 0);

    /* EOF inside a message, then between messages. */
    h.msg_size = sizeof(h) + 8;
    write_all(p->a, &h, sizeof(h));
    close(p->a);
    p->a = -1;
    assert_int_equal(vup_stream_recv_some(&s, &r, MAX_SIZE, 0), -EPROTO);
    assert_int_equal(vup_stream_recv_some(&s, &r, MAX_SIZE, 0), -ECONNRESET);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
        T(test_round_trip_with_fds),
        T(test_empty_payload),
        T(test_short_reads),
        T(test_large_message_short_writes),
        T(test_clean_eof),
        T(test_truncated_header),
        T(test_truncated_payload),
        T(test_size_below_header),
        T(test_size_above_max),
        T(test_unknown_command),
        T(test_short_payload_and_bad_flags),
        T(test_too_many_fds),
        T(test_unexpected_fds),
        T(test_truncated_control_data),
        T(test_send_rejects_bad_arguments),
        T(test_layered_round_trip),
        T(test_layered_refuses_fds),
        T(test_layered_eof_and_errors),
        T(test_layered_pending_is_readable),
        T(test_recv_some_piecewise),
        cmocka_unit_test(test_check_reply),
#undef T
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
