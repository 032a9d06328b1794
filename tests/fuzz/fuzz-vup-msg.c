/*
 * libFuzzer target: libvup's framing (msg.c, buffered.c) and the checks
 * and decoders every received message goes through (vup_check_command,
 * vup_check_reply, vup_payload_swap, vup_version_parse).
 *
 * Input: byte 0 picks the reader and seeds the sizes in which the bytes
 * arrive; the rest is the byte stream.  Readers:
 *   0  vup_stream_recv_msg on a layered stream (as TLS), short reads
 *   1  vup_stream_recv_some on a layered stream, -EAGAIN between pieces
 *      (the pre-VERSION path of a session)
 *   2  vup_stream_recv_msg on a UNIX socketpair (recvmsg, SCM_RIGHTS)
 *   3  vup_buffered_stream over a socketpair (the TCP path)
 * Messages are read until the stream fails; each whole one is checked.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vup/buffered.h"
#include "vup/caps.h"
#include "vup/msg.h"
#include "vup/wire.h"

/* Small enough that a socketpair holds a whole input. */
#define MAX_INPUT 65536
#define MAX_MSG (sizeof(VupHeader) + 70000)

typedef struct Source {
    const uint8_t *data;
    size_t len, pos;
    uint32_t rng;
    bool eagain;                /* reader 1: say -EAGAIN now and then */
} Source;

static uint32_t next_rand(Source *src)
{
    src->rng = src->rng * 1103515245u + 12345u;
    return src->rng >> 16;
}

static ssize_t src_recv(void *opaque, void *buf, size_t len)
{
    Source *src = opaque;
    size_t n;

    if (src->eagain && next_rand(src) % 4 == 0) {
        return -EAGAIN;
    }
    if (src->pos == src->len) {
        return 0;
    }
    n = 1 + next_rand(src) % 64;
    if (n > len) {
        n = len;
    }
    if (n > src->len - src->pos) {
        n = src->len - src->pos;
    }
    memcpy(buf, src->data + src->pos, n);
    src->pos += n;
    return n;
}

static ssize_t src_send(void *opaque, const void *buf, size_t len)
{
    return len;
}

static const VupStreamOps src_ops = { .send = src_send, .recv = src_recv };

/* What a server and a client do with a message once it is whole. */
static void check(VupMsg *m)
{
    VupHeader req = m->hdr;
    uint16_t major, minor;
    VupCaps caps;
    char err[160];
    uint8_t *copy;

    vup_check_command(m);
    req.flags = VUP_FLAG_TYPE_COMMAND;
    vup_check_reply(m, &req);
    vup_command_name(m->hdr.command);
    if (m->hdr.command == VUP_CMD_VERSION) {
        vup_version_parse(m->payload, m->payload_len, &major, &minor, &caps,
                          err, sizeof(err));
    }
    /* Both directions of the byte-order layer (a big-endian host's). */
    if (m->payload_len) {
        copy = malloc(m->payload_len);
        memcpy(copy, m->payload, m->payload_len);
        for (int reply = 0; reply < 2; reply++) {
            vup_payload_swap(m->hdr.command, reply, true, copy,
                             m->payload_len);
            vup_payload_swap(m->hdr.command, reply, false, copy,
                             m->payload_len);
        }
        free(copy);
    }
    vup_header_swap(&req);
}

static void read_layered(Source *src, bool some)
{
    VupStream s = { .fd = -1, .ops = &src_ops, .opaque = src };
    VupMsgReader r;
    VupMsg m;
    int ret;

    vup_reader_init(&r);
    for (unsigned i = 0; i < 10000; i++) {
        if (some) {
            ret = vup_stream_recv_some(&s, &r, MAX_MSG, 0);
            if (ret == -EAGAIN) {
                continue;
            }
            if (ret == 0 || ret == -EBADMSG) {
                check(&r.msg);
                vup_msg_clear(&r.msg);
                vup_reader_init(&r);
                continue;
            }
            break;              /* the reader is cleared */
        }
        ret = vup_stream_recv_msg(&s, &m, MAX_MSG, 0);
        if (ret < 0 && ret != -EBADMSG) {
            break;
        }
        check(&m);
        vup_msg_clear(&m);
    }
    vup_reader_clear(&r);
}

static void read_socket(const uint8_t *data, size_t len, bool buffered)
{
    VupBuffered b;
    VupStream s;
    VupMsg m;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        abort();
    }
    /* The input fits in the socket's buffer: no writer thread needed. */
    if (len && send(sv[1], data, len, MSG_NOSIGNAL) != (ssize_t)len) {
        abort();
    }
    close(sv[1]);
    s = buffered ? vup_buffered_stream(&b, sv[0]) : VUP_STREAM_PLAIN(sv[0]);
    for (;;) {
        int ret = vup_stream_recv_msg(&s, &m, MAX_MSG, VUP_MAX_FDS);

        if (ret < 0 && ret != -EBADMSG) {
            break;
        }
        check(&m);
        vup_msg_clear(&m);
    }
    close(sv[0]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    Source src;

    if (size < 1 || size > MAX_INPUT) {
        return -1;
    }
    src = (Source) { .data = data + 1, .len = size - 1, .rng = data[0] };
    switch (data[0] & 3) {
    case 0:
        read_layered(&src, false);
        break;
    case 1:
        src.eagain = true;
        read_layered(&src, true);
        break;
    case 2:
        read_socket(data + 1, size - 1, false);
        break;
    case 3:
        read_socket(data + 1, size - 1, true);
        break;
    }
    return 0;
}
