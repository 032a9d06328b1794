/*
 * libFuzzer target: a dm-remote session (dm-remote/core/session.c) fed
 * a vfio-user message stream, against one model (FUZZ_MODEL, fixed at
 * build time: one target per model; FUZZ_IMAGE: a disk image for it).
 *
 * The session, the device and the model are the product's own code,
 * driven as dm-remote serve drives them: the session's socket is one end
 * of a socketpair and its events come from the real event loop; a
 * thread writes the input into the other end and throws the replies
 * away.  Guest memory is a memfd whose first bytes come from the input,
 * mapped by a DMA_MAP the harness sends with the descriptor (the input
 * cannot carry one), so that ring walks read what the fuzzer wrote.
 *
 * Input:
 *   byte 0      flags: bit 0 UNIX (descriptors, plain stream) or TCP
 *               (buffered stream); bit 1 the harness sends a VERSION
 *               first (bit 3: offering dm_vq_fetch); bit 2 it maps
 *               guest memory (UNIX only); bits 4-5 the DMA layout
 *   bytes 1-2   n, little-endian: then n bytes of guest memory
 *   the rest    the message stream, as a client would send it
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <semaphore.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vup/caps.h"
#include "vup/msg.h"
#include "device.h"
#include "log.h"
#include "loop.h"
#include "props.h"
#include "session.h"

#ifndef FUZZ_MODEL
#error "FUZZ_MODEL: the model's spec, e.g. \"edu\""
#endif

#define GUEST_BASE 0x100000ULL
#define GUEST_SIZE (256 * 1024)

#define F_UNIX      0x01
#define F_VERSION   0x02
#define F_MAP       0x04
#define F_VQ_FETCH  0x08

static char image_path[] = "/tmp/fuzz-session-image-XXXXXX";
static int image_fd = -1;
static char spec[256];

/*
 * The client's end, served by one thread for the whole run (a thread
 * per input costs more than the input: its stack mapped and unmapped).
 */
typedef struct Feeder {
    sem_t go, done;
    int fd;
    const uint8_t *data;
    size_t len;
    size_t sent;                /* by the main thread, before the loop */
} Feeder;

static Feeder feeder;

typedef struct Fuzz {
    DmLoop *loop;
    DmSession *s;
    bool gone;
} Fuzz;

static void remove_image(void)
{
    unlink(image_path);
}

static void *feeder_thread(void *opaque);

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    pthread_t thread;

    /* A bad message is logged; millions of them only slow the run. */
    dm_log_level = getenv("FUZZ_VERBOSE") ? DM_LOG_DEBUG : DM_LOG_ERROR;
    image_fd = mkstemp(image_path);
    if (image_fd < 0) {
        perror("mkstemp");
        abort();
    }
    atexit(remove_image);
    if (sem_init(&feeder.go, 0, 0) < 0 || sem_init(&feeder.done, 0, 0) < 0 ||
        pthread_create(&thread, NULL, feeder_thread, NULL) != 0) {
        abort();
    }
#ifdef FUZZ_IMAGE
    snprintf(spec, sizeof(spec), "%s,file=%s", FUZZ_MODEL, image_path);
#else
    snprintf(spec, sizeof(spec), "%s", FUZZ_MODEL);
#endif
    return 0;
}

/* Write the input, then read (and drop) whatever comes back until EOF. */
static void feed(Feeder *f)
{
    size_t done = f->sent;
    bool shut = done == f->len;     /* then the main thread shut it */
    static char sink[65536];

    for (;;) {
        struct pollfd p = {
            .fd = f->fd,
            .events = POLLIN | (shut ? 0 : POLLOUT),
        };

        if (!shut && done == f->len) {
            shutdown(f->fd, SHUT_WR);
            shut = true;
            continue;
        }
        if (poll(&p, 1, -1) < 0) {
            if (errno == EINTR) {
                continue;
            }
            break;
        }
        if (p.revents & POLLIN) {
            ssize_t n = recv(f->fd, sink, sizeof(sink), MSG_DONTWAIT);

            if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
                break;          /* the session is gone */
            }
        }
        if (!shut && (p.revents & (POLLOUT | POLLERR | POLLHUP))) {
            ssize_t n = send(f->fd, f->data + done, f->len - done,
                             MSG_DONTWAIT | MSG_NOSIGNAL);

            if (n > 0) {
                done += n;
            } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
                done = f->len;  /* the session closed: stop writing */
            }
        }
    }
}

static void *feeder_thread(void *opaque)
{
    sigset_t all;

    /*
     * libFuzzer's signals (SIGALRM for -timeout, SIGUSR1, ...) go to the
     * thread that runs the input.  Taken here they broke sem_wait() with
     * EINTR: the feeder fed an input twice or a closed socket, out of
     * step with the inputs (units of 15 s, then a hang), and the timeout
     * never fired.
     */
    sigfillset(&all);
    pthread_sigmask(SIG_BLOCK, &all, NULL);
    for (;;) {
        while (sem_wait(&feeder.go) < 0 && errno == EINTR) {
        }
        feed(&feeder);
        sem_post(&feeder.done);
    }
    return NULL;
}

/* As the server's client_readable, one message per event. */
static void readable(void *opaque, int fd, short revents)
{
    Fuzz *z = opaque;

    if (!dm_session_handle_one(z->s)) {
        z->gone = true;
        dm_loop_del_fd(z->loop, fd);
        dm_loop_quit(z->loop, 0);
    }
}

static bool pending(void *opaque, int fd)
{
    Fuzz *z = opaque;

    return vup_stream_pending(&z->s->stream) > 0 ||
           dm_session_has_deferred(z->s);
}

static int claim(void *owner, DmSession *s, bool can_wait)
{
    dm_session_promote(s);
    return 0;
}

static int activate(void *owner, DmSession *s)
{
    return -EBUSY;              /* already the device's client */
}

static void send_version(int fd, bool vq_fetch)
{
    char json[192];
    uint8_t buf[sizeof(VupHeader) + sizeof(VupVersion) + sizeof(json)];
    VupHeader h = { .msg_id = 0x7000, .command = VUP_CMD_VERSION };
    VupVersion v = { .major = VUP_VERSION_MAJOR, .minor = 0 };
    int n = snprintf(json, sizeof(json),
                     "{\"capabilities\":{\"max_msg_fds\":16,"
                     "\"dm_irq_messages\":true,\"dm_applied\":true,"
                     "\"dm_vq_fetch\":%s}}",
                     vq_fetch ? "true" : "false") + 1;

    h.msg_size = sizeof(h) + sizeof(v) + n;
    memcpy(buf, &h, sizeof(h));
    memcpy(buf + sizeof(h), &v, sizeof(v));
    memcpy(buf + sizeof(h) + sizeof(v), json, n);
    if (send(fd, buf, h.msg_size, MSG_NOSIGNAL) != (ssize_t)h.msg_size) {
        abort();
    }
}

static void send_map(int fd, int memfd)
{
    struct {
        VupHeader h;
        VupDmaMap m;
    } __attribute__((packed)) msg = {
        .h = { .msg_id = 0x7001, .command = VUP_CMD_DMA_MAP,
               .msg_size = sizeof(msg) },
        .m = { .argsz = sizeof(VupDmaMap),
               .flags = VUP_DMA_MAP_FLAG_READ | VUP_DMA_MAP_FLAG_WRITE,
               .address = GUEST_BASE, .size = GUEST_SIZE },
    };
    union {
        char buf[CMSG_SPACE(sizeof(int))];
        struct cmsghdr align;
    } ctrl;
    struct iovec iov = { .iov_base = &msg, .iov_len = sizeof(msg) };
    struct msghdr mh = {
        .msg_iov = &iov, .msg_iovlen = 1,
        .msg_control = ctrl.buf, .msg_controllen = sizeof(ctrl.buf),
    };
    struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &memfd, sizeof(int));
    if (sendmsg(fd, &mh, MSG_NOSIGNAL) != sizeof(msg)) {
        abort();
    }
}

static int guest_memory(const uint8_t *data, size_t len)
{
    int fd = memfd_create("fuzz-guest", MFD_CLOEXEC);

    if (fd < 0 || ftruncate(fd, GUEST_SIZE) < 0 ||
        (len && pwrite(fd, data, len, 0) != (ssize_t)len)) {
        abort();
    }
    return fd;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static const DmDmaLayout layouts[] = {
        DM_DMA_LAYOUT_AUTO, DM_DMA_LAYOUT_SPEC, DM_DMA_LAYOUT_QEMU,
        DM_DMA_LAYOUT_AUTO,
    };
    static const DmBinding any;
    DmModelArgs args = { 0 };
    DmDevice dev;
    Fuzz z = { 0 };
    char err[256], *name;
    uint8_t flags;
    size_t memlen;
    int sv[2], memfd = -1;
    bool fds;

    if (size < 3) {
        return -1;
    }
    flags = data[0];
    memlen = data[1] | data[2] << 8;
    data += 3;
    size -= 3;
    if (memlen > size) {
        memlen = size;
    }
    fds = flags & F_UNIX;

    /* A fresh, zeroed disk each time: runs do not depend on each other. */
    if (ftruncate(image_fd, 0) < 0 || ftruncate(image_fd, 64 * 1024) < 0) {
        abort();
    }
    memset(&dev, 0, sizeof(dev));
    z.loop = dm_loop_new();
    if (dm_props_split(spec, &name, &args.props, err, sizeof(err)) < 0 ||
        dm_device_realize(&dev, dm_model_find(name), z.loop, &args) < 0) {
        fprintf(stderr, "cannot realize %s: %s\n", spec, err);
        abort();
    }
    free(name);

    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) < 0) {
        abort();
    }
    z.s = dm_session_new(&dev, sv[0], layouts[(flags >> 4) & 3], fds, &any);
    z.s->claim = claim;
    z.s->activate = activate;
    z.s->owner = &z;
    if (flags & F_VERSION) {
        send_version(sv[1], flags & F_VQ_FETCH);
        if (fds && (flags & F_MAP)) {
            memfd = guest_memory(data, memlen);
            send_map(sv[1], memfd);
        }
    }
    if (dm_loop_add_fd(z.loop, sv[0], POLLIN, readable, &z) < 0) {
        abort();
    }
    dm_loop_set_pending(z.loop, sv[0], pending);

    feeder.fd = sv[1];
    feeder.data = data + memlen;
    feeder.len = size - memlen;
    /*
     * What fits in the socket goes in now: the session then runs without
     * waiting for the feeder to be scheduled (on a busy machine that wait
     * cost more than the input), which only takes the replies and the rest.
     */
    feeder.sent = 0;
    while (feeder.sent < feeder.len) {
        ssize_t n = send(sv[1], feeder.data + feeder.sent,
                         feeder.len - feeder.sent,
                         MSG_DONTWAIT | MSG_NOSIGNAL);

        if (n <= 0) {
            break;
        }
        feeder.sent += n;
    }
    if (feeder.sent == feeder.len) {
        shutdown(sv[1], SHUT_WR);
    }
    sem_post(&feeder.go);
    dm_loop_run(z.loop);
    dm_session_free(z.s);       /* closes sv[0]: the feeder sees EOF */
    /* A signal of libFuzzer's (its timer) is EINTR: wait on. */
    while (sem_wait(&feeder.done) < 0 && errno == EINTR) {
    }

    close(sv[1]);
    if (memfd >= 0) {
        close(memfd);
    }
    dm_device_unrealize(&dev);
    dm_props_free(&args.props);
    dm_loop_free(z.loop);
    return 0;
}
