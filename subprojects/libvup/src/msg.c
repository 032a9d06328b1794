/*
 * vfio-user message framing over a stream socket.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <time.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include "vup/msg.h"
#include "vup/wire.h"

void vup_msg_init(VupMsg *msg)
{
    memset(msg, 0, sizeof(*msg));
    for (unsigned i = 0; i < VUP_MAX_FDS; i++) {
        msg->fds[i] = -1;
    }
}

static void close_fds(VupMsg *msg)
{
    for (unsigned i = 0; i < msg->nfds; i++) {
        if (msg->fds[i] >= 0) {
            close(msg->fds[i]);
            msg->fds[i] = -1;
        }
    }
}

void vup_msg_clear(VupMsg *msg)
{
    close_fds(msg);
    free(msg->payload);
    vup_msg_init(msg);
}

int vup_msg_take_fd(VupMsg *msg, unsigned i)
{
    int fd;

    if (i >= msg->nfds) {
        return -1;
    }
    fd = msg->fds[i];
    msg->fds[i] = -1;
    return fd;
}

/*
 * Keep the descriptors of one control message.  Past @max_fds they are
 * closed at once and the message is marked bad.
 */
static void collect_fds(VupMsg *msg, struct msghdr *mh, unsigned max_fds,
                        bool *bad)
{
    struct cmsghdr *cm;

    if (mh->msg_flags & MSG_CTRUNC) {
        *bad = true;            /* the kernel dropped what did not fit */
    }
    for (cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
        size_t n;
        int *fds = (int *)CMSG_DATA(cm);

        if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS) {
            *bad = true;
            continue;
        }
        n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
        for (size_t i = 0; i < n; i++) {
            int fd;

            memcpy(&fd, fds + i, sizeof(fd));
            if (msg->nfds < max_fds && msg->nfds < VUP_MAX_FDS) {
                msg->fds[msg->nfds++] = fd;
            } else {
                close(fd);
                *bad = true;
            }
        }
    }
}

/* Read exactly @len bytes from a layered stream (no descriptors). */
/*
 * With a deadline, wait until bytes can be read without blocking, or
 * -EAGAIN once the deadline has passed.
 */
static int wait_deadline(const VupStream *s)
{
    struct pollfd p = { .fd = s->fd, .events = POLLIN };
    struct timespec ts;
    int64_t left;
    int ret;

    if (!s->deadline_ns || (s->ops && s->ops->pending &&
                            s->ops->pending(s->opaque) > 0)) {
        return 0;
    }
    for (;;) {
        clock_gettime(CLOCK_MONOTONIC, &ts);
        left = s->deadline_ns - (ts.tv_sec * 1000000000LL + ts.tv_nsec);
        if (left <= 0) {
            return -EAGAIN;
        }
        ret = poll(&p, 1, (int)((left + 999999) / 1000000));
        if (ret > 0) {
            return 0;           /* data, EOF or an error: recv tells */
        }
        if (ret < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

static int recv_full_layered(const VupStream *s, void *buf, size_t len,
                             bool started)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = wait_deadline(s);

        if (n < 0) {
            return (int)n;
        }
        n = s->ops->recv(s->opaque, (char *)buf + done, len - done);

        if (n == -EINTR) {
            continue;
        }
        if (n < 0) {
            return (int)n;
        }
        if (n == 0) {
            return (started || done > 0) ? -EPROTO : -ECONNRESET;
        }
        done += n;
    }
    return 0;
}

/*
 * Read exactly @len bytes into @buf.  @started says whether bytes of this
 * message were read before, to tell a clean EOF from a truncated one.
 */
static int recv_full(const VupStream *s, VupMsg *msg, void *buf, size_t len,
                     bool started, unsigned max_fds, bool *bad)
{
    size_t done = 0;

    if (s->ops) {
        return recv_full_layered(s, buf, len, started);
    }
    while (done < len) {
        union {
            char buf[CMSG_SPACE(VUP_MAX_FDS * sizeof(int))];
            struct cmsghdr align;
        } ctrl;
        struct iovec iov = {
            .iov_base = (char *)buf + done,
            .iov_len = len - done,
        };
        struct msghdr mh = {
            .msg_iov = &iov,
            .msg_iovlen = 1,
            .msg_control = ctrl.buf,
            .msg_controllen = sizeof(ctrl.buf),
        };
        ssize_t n = wait_deadline(s);

        if (n < 0) {
            return (int)n;
        }
        n = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            return -errno;
        }
        if (mh.msg_controllen > 0 || (mh.msg_flags & MSG_CTRUNC)) {
            collect_fds(msg, &mh, max_fds, bad);
        }
        if (n == 0) {
            return (started || done > 0) ? -EPROTO : -ECONNRESET;
        }
        done += n;
    }
    return 0;
}

int vup_recv_msg(int sock, VupMsg *msg, uint32_t max_msg_size,
                 unsigned max_fds)
{
    VupStream s = VUP_STREAM_PLAIN(sock);

    return vup_stream_recv_msg(&s, msg, max_msg_size, max_fds);
}

/*
 * A message's header is in: put it in host order, check its size against
 * @max_msg_size before anything is allocated, and allocate the payload.
 */
static int header_received(VupMsg *msg, uint32_t max_msg_size)
{
    if (!VUP_HOST_IS_LE) {
        vup_header_swap(&msg->hdr);     /* the wire is little-endian */
    }
    if (msg->hdr.msg_size < sizeof(VupHeader)) {
        return -EPROTO;
    }
    if (msg->hdr.msg_size > max_msg_size) {
        return -EMSGSIZE;
    }
    msg->payload_len = msg->hdr.msg_size - sizeof(VupHeader);
    if (msg->payload_len > 0) {
        msg->payload = malloc(msg->payload_len);
        if (!msg->payload) {
            return -ENOMEM;
        }
    }
    return 0;
}

/*
 * A whole message is in: its payload in host order; with @bad (too many
 * or truncated descriptors) its fds are closed and it is -EBADMSG, a bad
 * message on a stream that can still be trusted.
 */
static int payload_received(VupMsg *msg, bool bad)
{
    if (!VUP_HOST_IS_LE && msg->payload_len) {
        vup_payload_swap(msg->hdr.command,
                         (msg->hdr.flags & VUP_FLAG_TYPE_MASK) ==
                         VUP_FLAG_TYPE_REPLY, true, msg->payload,
                         msg->payload_len);
    }
    if (bad) {
        close_fds(msg);
        msg->nfds = 0;
        return -EBADMSG;
    }
    return 0;
}

int vup_stream_recv_msg(const VupStream *s, VupMsg *msg,
                        uint32_t max_msg_size, unsigned max_fds)
{
    bool bad = false;
    int ret;

    vup_msg_init(msg);
    if (max_msg_size > VUP_MAX_MSG_SIZE) {
        max_msg_size = VUP_MAX_MSG_SIZE;
    }

    ret = recv_full(s, msg, &msg->hdr, sizeof(msg->hdr), false,
                    max_fds, &bad);
    if (ret < 0) {
        goto fail;
    }
    ret = header_received(msg, max_msg_size);
    if (ret < 0) {
        goto fail;
    }
    if (msg->payload_len > 0) {
        ret = recv_full(s, msg, msg->payload, msg->payload_len, true,
                        max_fds, &bad);
        if (ret < 0) {
            goto fail;
        }
    }

    return payload_received(msg, bad);

fail:
    vup_msg_clear(msg);
    return ret;
}

void vup_reader_init(VupMsgReader *r)
{
    vup_msg_init(&r->msg);
    r->got = 0;
    r->bad = false;
}

void vup_reader_clear(VupMsgReader *r)
{
    vup_msg_clear(&r->msg);
    r->got = 0;
    r->bad = false;
}

/* One read of at most @len bytes that never waits: bytes, 0 at EOF, -errno. */
static ssize_t recv_nowait(const VupStream *s, VupMsg *msg, void *buf,
                           size_t len, unsigned max_fds, bool *bad)
{
    union {
        char buf[CMSG_SPACE(VUP_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = { .iov_base = buf, .iov_len = len };
    struct msghdr mh = {
        .msg_iov = &iov,
        .msg_iovlen = 1,
        .msg_control = ctrl.buf,
        .msg_controllen = sizeof(ctrl.buf),
    };
    ssize_t n;

    if (s->ops) {
        do {
            n = s->ops->recv(s->opaque, buf, len);
        } while (n == -EINTR);
        return n == -EWOULDBLOCK ? -EAGAIN : n;
    }
    do {
        n = recvmsg(s->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
    } while (n < 0 && errno == EINTR);
    if (n < 0) {
        return errno == EWOULDBLOCK ? -EAGAIN : -errno;
    }
    if (mh.msg_controllen > 0 || (mh.msg_flags & MSG_CTRUNC)) {
        collect_fds(msg, &mh, max_fds, bad);
    }
    return n;
}

int vup_stream_recv_some(const VupStream *s, VupMsgReader *r,
                         uint32_t max_msg_size, unsigned max_fds)
{
    VupMsg *msg = &r->msg;
    int ret;

    if (max_msg_size > VUP_MAX_MSG_SIZE) {
        max_msg_size = VUP_MAX_MSG_SIZE;
    }
    for (;;) {
        uint8_t *dst;
        size_t want;
        ssize_t n;

        if (r->got < sizeof(msg->hdr)) {
            dst = (uint8_t *)&msg->hdr + r->got;
            want = sizeof(msg->hdr) - r->got;
        } else if (r->got - sizeof(msg->hdr) < msg->payload_len) {
            dst = msg->payload + (r->got - sizeof(msg->hdr));
            want = msg->payload_len - (r->got - sizeof(msg->hdr));
        } else {
            break;              /* whole */
        }
        n = recv_nowait(s, msg, dst, want, max_fds, &r->bad);
        if (n == -EAGAIN) {
            return -EAGAIN;
        }
        if (n <= 0) {
            ret = n < 0 ? (int)n : r->got ? -EPROTO : -ECONNRESET;
            goto fail;
        }
        r->got += n;
        if (r->got != sizeof(msg->hdr)) {
            continue;
        }
        /* The header is complete: validate its size before allocating. */
        ret = header_received(msg, max_msg_size);
        if (ret < 0) {
            goto fail;
        }
    }
    return payload_received(msg, r->bad);

fail:
    vup_reader_clear(r);
    return ret;
}

int vup_stream_send_bytes(const VupStream *s, const void *buf, size_t len)
{
    const uint8_t *p = buf;

    for (size_t done = 0; done < len;) {
        ssize_t n = s->ops ? s->ops->send(s->opaque, p + done, len - done)
                           : send(s->fd, p + done, len - done, MSG_NOSIGNAL);

        if (!s->ops && n < 0) {
            n = -errno;
        }
        if (n == -EINTR) {
            continue;
        }
        if (n <= 0) {
            return n < 0 ? (int)n : -EPIPE;
        }
        done += n;
    }
    return 0;
}

/*
 * Send @iov whole through a layered stream, gathered into one buffer so
 * that a small message is one TLS record rather than two.
 */
static int send_layered(const VupStream *s, const struct iovec *iov,
                        int iovcnt)
{
    /* Every region access and reply fits; per thread, never re-entered. */
    static __thread uint8_t small[512];
    size_t total = 0, done = 0;
    uint8_t *buf = small;
    int ret;

    for (int i = 0; i < iovcnt; i++) {
        total += iov[i].iov_len;
    }
    if (total > sizeof(small)) {
        buf = malloc(total);
        if (!buf) {
            return -ENOMEM;
        }
    }
    for (int i = 0; i < iovcnt; i++) {
        memcpy(buf + done, iov[i].iov_base, iov[i].iov_len);
        done += iov[i].iov_len;
    }
    ret = vup_stream_send_bytes(s, buf, total);
    if (buf != small) {
        free(buf);
    }
    return ret;
}

int vup_send_msg(int sock, const VupHeader *hdr, const void *payload,
                 size_t len, const int *fds, unsigned nfds)
{
    VupStream s = VUP_STREAM_PLAIN(sock);

    return vup_stream_send_msg(&s, hdr, payload, len, fds, nfds);
}

int vup_stream_send_msg(const VupStream *s, const VupHeader *hdr,
                        const void *payload, size_t len, const int *fds,
                        unsigned nfds)
{
    union {
        char buf[CMSG_SPACE(VUP_MAX_FDS * sizeof(int))];
        struct cmsghdr align;
    } ctrl;
    VupHeader h = *hdr;
    struct iovec iov[2] = {
        { .iov_base = &h, .iov_len = sizeof(h) },
        { .iov_base = (void *)payload, .iov_len = len },
    };
    struct msghdr mh = {
        .msg_iov = iov,
        .msg_iovlen = len ? 2 : 1,
    };
    uint8_t *wire = NULL;
    int ret;

    if (nfds > VUP_MAX_FDS || len > VUP_MAX_MSG_SIZE - sizeof(h) ||
        (len && !payload) || (nfds && s->ops)) {
        return -EINVAL;
    }
    h.msg_size = sizeof(h) + len;
    if (!VUP_HOST_IS_LE) {
        /* The wire is little-endian: convert a copy. */
        if (len) {
            wire = malloc(len);
            if (!wire) {
                return -ENOMEM;
            }
            memcpy(wire, payload, len);
            vup_payload_swap(h.command, (h.flags & VUP_FLAG_TYPE_MASK) ==
                             VUP_FLAG_TYPE_REPLY, false, wire, len);
            iov[1].iov_base = wire;
        }
        vup_header_swap(&h);
    }

    if (nfds > 0) {
        struct cmsghdr *cm;

        memset(&ctrl, 0, sizeof(ctrl));
        mh.msg_control = ctrl.buf;
        mh.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
        cm = CMSG_FIRSTHDR(&mh);
        cm->cmsg_level = SOL_SOCKET;
        cm->cmsg_type = SCM_RIGHTS;
        cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
        memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
    }

    ret = 0;
    if (s->ops) {
        ret = send_layered(s, iov, mh.msg_iovlen);
        mh.msg_iovlen = 0;
    }
    while (mh.msg_iovlen > 0) {
        ssize_t n = sendmsg(s->fd, &mh, MSG_NOSIGNAL);

        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            ret = -errno;
            break;
        }
        /* Descriptors travel with the first byte only. */
        mh.msg_control = NULL;
        mh.msg_controllen = 0;
        while (mh.msg_iovlen > 0 && (size_t)n >= mh.msg_iov->iov_len) {
            n -= mh.msg_iov->iov_len;
            mh.msg_iov++;
            mh.msg_iovlen--;
        }
        if (mh.msg_iovlen > 0) {
            mh.msg_iov->iov_base = (char *)mh.msg_iov->iov_base + n;
            mh.msg_iov->iov_len -= n;
        }
    }
    free(wire);
    return ret;
}

int vup_stream_send_reply(const VupStream *s, const VupHeader *req,
                          const void *payload, size_t len)
{
    VupHeader h = {
        .msg_id = req->msg_id,
        .command = req->command,
        .flags = VUP_FLAG_TYPE_REPLY,
    };

    return vup_stream_send_msg(s, &h, payload, len, NULL, 0);
}

int vup_stream_send_error(const VupStream *s, const VupHeader *req, int err)
{
    VupHeader h = {
        .msg_id = req->msg_id,
        .command = req->command,
        .flags = VUP_FLAG_TYPE_REPLY | VUP_FLAG_ERROR,
        .error_no = err > 0 ? err : EINVAL,
    };

    return vup_stream_send_msg(s, &h, NULL, 0, NULL, 0);
}

int vup_send_error(int sock, const VupHeader *req, int err)
{
    VupStream s = VUP_STREAM_PLAIN(sock);

    return vup_stream_send_error(&s, req, err);
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * INT64_C(1000000000) + ts.tv_nsec;
}

size_t vup_stream_pending(const VupStream *s)
{
    return s->ops ? s->ops->pending(s->opaque) : 0;
}

bool vup_stream_readable(const VupStream *s)
{
    struct pollfd p = { .fd = s->fd, .events = POLLIN };

    if (vup_stream_pending(s) > 0) {
        return true;
    }
    return poll(&p, 1, 0) > 0;
}

bool vup_spin_readable(int sock, int64_t budget_ns)
{
    VupStream s = VUP_STREAM_PLAIN(sock);

    return vup_stream_spin_readable(&s, budget_ns);
}

bool vup_stream_spin_readable(const VupStream *s, int64_t budget_ns)
{
    struct pollfd p = { .fd = s->fd, .events = POLLIN };
    int64_t deadline;

    if (vup_stream_pending(s) > 0) {
        return true;            /* already received, nothing to wait for */
    }
    if (budget_ns <= 0) {
        return false;
    }
    deadline = now_ns() + budget_ns;
    do {
        if (poll(&p, 1, 0) > 0) {
            return true;        /* data, EOF or an error: let recv say */
        }
        sched_yield();          /* a peer on this CPU gets to run */
    } while (now_ns() < deadline);
    return false;
}

int vup_check_command(const VupMsg *msg)
{
    const VupCommandInfo *info;

    if ((msg->hdr.flags & VUP_FLAG_TYPE_MASK) != VUP_FLAG_TYPE_COMMAND ||
        (msg->hdr.flags & ~VUP_FLAG_KNOWN_MASK) ||
        (msg->hdr.flags & VUP_FLAG_ERROR)) {
        return -EINVAL;
    }
    info = vup_command_info(msg->hdr.command);
    if (!info) {
        return -ENOSYS;
    }
    if (msg->payload_len < info->min_request) {
        return -EINVAL;
    }
    return 0;
}

int vup_check_reply(const VupMsg *msg, const VupHeader *req)
{
    const VupCommandInfo *info = vup_command_info(req->command);

    if ((msg->hdr.flags & VUP_FLAG_TYPE_MASK) != VUP_FLAG_TYPE_REPLY ||
        msg->hdr.command != req->command || msg->hdr.msg_id != req->msg_id) {
        return -EINVAL;
    }
    if (msg->hdr.flags & VUP_FLAG_ERROR) {
        return msg->hdr.error_no > 0 && msg->hdr.error_no < 4096 ?
               -(int)msg->hdr.error_no : -EIO;
    }
    if (info && msg->payload_len < info->min_reply) {
        return -EINVAL;
    }
    return 0;
}
