/*
 * The input link's sender (input-sender.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib.h>

#include "vup/address.h"
#include "input-sender.h"

/* A batch: what one key or pointer event makes, its SYN included. */
#define LINK_MAX_EVENTS 16

struct DmInputSender {
    pthread_mutex_t lock;
    struct sockaddr_un sun;
    int fd;                     /* -1: not connected */
    uint64_t sent, dropped;
};

int dm_input_sender_check_addr(const char *val, char *err, size_t errlen)
{
    VupAddress a;

    if (vup_address_parse(val, &a, err, errlen) < 0) {
        return -EINVAL;
    }
    if (a.kind != VUP_ADDRESS_UNIX) {
        snprintf(err, errlen, "an input link is unix:PATH");
        return -EINVAL;
    }
    return 0;
}

DmInputSender *dm_input_sender_new(const char *addr)
{
    DmInputSender *l = g_new0(DmInputSender, 1);
    VupAddress a;

    if (vup_address_parse(addr, &a, NULL, 0) < 0 ||
        a.kind != VUP_ADDRESS_UNIX) {
        g_free(l);
        return NULL;
    }
    pthread_mutex_init(&l->lock, NULL);
    l->sun.sun_family = AF_UNIX;
    g_strlcpy(l->sun.sun_path, a.path, sizeof(l->sun.sun_path));
    l->fd = -1;
    return l;
}

void dm_input_sender_free(DmInputSender *l)
{
    if (!l) {
        return;
    }
    if (l->fd >= 0) {
        close(l->fd);
    }
    pthread_mutex_destroy(&l->lock);
    g_free(l);
}

/*
 * A non-blocking connect: on a UNIX socket it succeeds or fails at once
 * (EAGAIN when the listener's backlog is full), it never waits.
 */
static bool link_connect(DmInputSender *l)
{
    l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (l->fd < 0) {
        return false;
    }
    if (connect(l->fd, (struct sockaddr *)&l->sun, sizeof(l->sun)) < 0) {
        close(l->fd);
        l->fd = -1;
        return false;
    }
    return true;
}

static void link_close(DmInputSender *l)
{
    close(l->fd);
    l->fd = -1;
}

bool dm_input_sender_send(DmInputSender *l, const DmInputEvent *ev, unsigned n)
{
    uint8_t buf[LINK_MAX_EVENTS * 8];
    size_t len = 0;
    bool ok = false;

    if (n >= LINK_MAX_EVENTS) {
        n = LINK_MAX_EVENTS - 1;
    }
    for (unsigned i = 0; i <= n; i++) {
        /* The last record is EV_SYN/SYN_REPORT: all zeros. */
        uint16_t type = htole16(i < n ? ev[i].type : 0);
        uint16_t code = htole16(i < n ? ev[i].code : 0);
        uint32_t value = htole32(i < n ? (uint32_t)ev[i].value : 0);

        memcpy(buf + len, &type, 2);
        memcpy(buf + len + 2, &code, 2);
        memcpy(buf + len + 4, &value, 4);
        len += 8;
    }

    pthread_mutex_lock(&l->lock);
    /* Two tries: a model that restarted left us a dead socket. */
    for (int attempt = 0; attempt < 2 && !ok; attempt++) {
        ssize_t r;

        if (l->fd < 0 && !link_connect(l)) {
            break;
        }
        r = send(l->fd, buf, len, MSG_DONTWAIT | MSG_NOSIGNAL);
        if (r == (ssize_t)len) {
            ok = true;
        } else if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            break;              /* the model is behind: drop, keep link */
        } else {
            /*
             * A short write leaves half a record in the stream: the only
             * way back to a record boundary is a new connection (the
             * model takes the newest).  Errors: the peer went away.
             */
            link_close(l);
            if (r > 0) {
                break;
            }
        }
    }
    if (ok) {
        l->sent++;
    } else {
        l->dropped++;
    }
    pthread_mutex_unlock(&l->lock);
    return ok;
}

void dm_input_sender_stats(DmInputSender *l, uint64_t *sent, uint64_t *dropped)
{
    pthread_mutex_lock(&l->lock);
    *sent = l->sent;
    *dropped = l->dropped;
    pthread_mutex_unlock(&l->lock);
}
