/*
 * vfio-user message framing over a stream socket.
 *
 * One whole message at a time, with file descriptors as SCM_RIGHTS on
 * UNIX sockets.  Short reads and writes are handled here; callers see
 * whole messages or an error.
 *
 * Two kinds of failure, as in QEMU's hw/vfio-user/proxy.c:
 *  - the *stream* can no longer be trusted (EOF, a header whose size is
 *    below the header or above the negotiated maximum, an I/O error):
 *    the caller must close the connection;
 *  - *this message* is bad but was consumed whole (too many fds,
 *    truncated control data): vup_recv_msg() returns -EBADMSG with the
 *    header and payload filled in and every received fd closed, so that
 *    the caller can send an error reply and go on.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VUP_MSG_H
#define VUP_MSG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "vup/proto.h"

/* Hard cap on descriptors in one message, whatever was negotiated. */
#define VUP_MAX_FDS 16

/* Hard cap on a message's size, whatever was negotiated (64 MiB + hdr). */
#define VUP_MAX_MSG_SIZE (64u * 1024 * 1024 + 4096)

/*
 * The byte stream under the framing.  Plain: the socket itself, with
 * SCM_RIGHTS.  Layered (TLS): @ops move the bytes and no descriptor can
 * travel.  The int-socket functions below are the plain case.
 */
typedef struct VupStreamOps {
    /* Send up to @len bytes: how many, or -errno (-EAGAIN: timed out). */
    ssize_t (*send)(void *opaque, const void *buf, size_t len);
    /* Receive up to @len bytes: how many, 0 at EOF, or -errno. */
    ssize_t (*recv)(void *opaque, void *buf, size_t len);
    /* Bytes already received from the socket but not yet returned. */
    size_t (*pending)(void *opaque);
} VupStreamOps;

typedef struct VupStream {
    int fd;                     /* the socket, for poll() */
    const VupStreamOps *ops;    /* NULL: plain socket */
    void *opaque;
    /*
     * CLOCK_MONOTONIC ns, 0 for none: receiving a message waits no longer
     * than this (-EAGAIN), however slowly its bytes come.  Without it
     * each read waits up to the socket's SO_RCVTIMEO, which a peer that
     * trickles bytes renews every time.
     */
    int64_t deadline_ns;
} VupStream;

#define VUP_STREAM_PLAIN(sock) ((VupStream){ .fd = (sock) })

typedef struct VupMsg {
    VupHeader hdr;
    uint8_t *payload;           /* hdr.msg_size - 16 bytes; NULL if none */
    uint32_t payload_len;
    int fds[VUP_MAX_FDS];       /* -1 once taken or closed */
    unsigned nfds;
} VupMsg;

void vup_msg_init(VupMsg *msg);

/* Free the payload and close every fd the caller did not take. */
void vup_msg_clear(VupMsg *msg);

/* Take ownership of fd @i of @msg; -1 if there is none. */
int vup_msg_take_fd(VupMsg *msg, unsigned i);

/*
 * Receive one whole message into @msg (initialised or cleared).
 * @max_msg_size caps hdr.msg_size (header included); @max_fds caps the
 * descriptors accepted.
 *
 * Returns 0, or -EBADMSG for a bad but consumed message (see above), or
 * another -errno after which the stream is unusable:
 *   -ECONNRESET  the peer closed the connection between messages
 *   -EPROTO      EOF inside a message, or msg_size below the header
 *   -EMSGSIZE    msg_size above @max_msg_size
 */
int vup_recv_msg(int sock, VupMsg *msg, uint32_t max_msg_size,
                 unsigned max_fds);

/*
 * A message gathered a piece at a time, never waiting: for a peer that
 * has not yet said who it is, whose slowness must cost nobody else
 * anything.  The reader holds the message's bytes between calls.
 */
typedef struct VupMsgReader {
    VupMsg msg;
    size_t got;                 /* bytes of it so far: header, then payload */
    bool bad;                   /* see vup_recv_msg()'s -EBADMSG */
} VupMsgReader;

void vup_reader_init(VupMsgReader *r);
/* Drop a partial message: free its payload, close its fds. */
void vup_reader_clear(VupMsgReader *r);

/*
 * Read what has arrived of the next message on @s without waiting: a
 * plain socket is read with MSG_DONTWAIT, a layered stream must be
 * non-blocking underneath (its recv answers -EAGAIN).  Reads never go
 * past the end of the message.  Returns -EAGAIN while the message is
 * incomplete; 0 or -EBADMSG (as vup_recv_msg()) once it is whole in
 * r->msg, which the caller then owns (vup_reader_init() the reader
 * before the next); or another -errno of vup_recv_msg() after which the
 * stream is unusable and the reader is cleared.
 */
int vup_stream_recv_some(const VupStream *s, VupMsgReader *r,
                         uint32_t max_msg_size, unsigned max_fds);

/*
 * Send one message: @hdr (msg_size is filled in from @len), then
 * @payload, with @nfds descriptors attached.  Returns 0 or -errno;
 * any failure leaves the stream unusable.
 */
int vup_send_msg(int sock, const VupHeader *hdr, const void *payload,
                 size_t len, const int *fds, unsigned nfds);

/* Send an error reply to @req with errno @err (positive). */
int vup_send_error(int sock, const VupHeader *req, int err);

/* The same over any stream; descriptors only on a plain one (-EINVAL). */
int vup_stream_recv_msg(const VupStream *s, VupMsg *msg,
                        uint32_t max_msg_size, unsigned max_fds);
int vup_stream_send_msg(const VupStream *s, const VupHeader *hdr,
                        const void *payload, size_t len, const int *fds,
                        unsigned nfds);
int vup_stream_send_reply(const VupStream *s, const VupHeader *req,
                          const void *payload, size_t len);
int vup_stream_send_error(const VupStream *s, const VupHeader *req, int err);
/* Send @len bytes already in wire format, whole; 0 or -errno. */
int vup_stream_send_bytes(const VupStream *s, const void *buf, size_t len);

/*
 * True if a receive would not block: bytes buffered in the stream's layer,
 * or the socket readable (or at EOF, or in error).
 */
bool vup_stream_readable(const VupStream *s);

/*
 * Bytes the stream's layer holds (TLS decrypted ahead, a read buffer):
 * poll() on the fd does not see them, so whoever waits there must drain
 * them first.  0 for a plain socket.
 */
size_t vup_stream_pending(const VupStream *s);

/*
 * Wait up to @budget_ns for @sock to become readable by polling it, and
 * yielding the CPU between polls, instead of sleeping in the kernel.
 * When the peer runs on another CPU, waking a sleeping thread costs far
 * more than a round trip (about 35 us against 4 us measured on a 2-core
 * VM); a short spin keeps the round trip on the fast path.  Returns true
 * if data is ready, false when the budget ran out (the caller then blocks
 * as usual).  A budget of 0 never spins.
 */
bool vup_spin_readable(int sock, int64_t budget_ns);
bool vup_stream_spin_readable(const VupStream *s, int64_t budget_ns);

/*
 * Check a received command against the spec: its type, known flags, a
 * known command and the command's minimum payload.  Returns 0, -ENOSYS
 * for a command the spec lacks, -EINVAL otherwise.
 */
int vup_check_command(const VupMsg *msg);

/*
 * Check a received reply to @req: type, command, id, and either the error
 * flag or the command's minimum reply payload.  Returns 0, -EINVAL for a
 * malformed reply, or the reply's negative errno (-EIO if it gave none).
 */
int vup_check_reply(const VupMsg *msg, const VupHeader *req);

#endif /* VUP_MSG_H */
