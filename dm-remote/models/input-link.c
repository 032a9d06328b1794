/*
 * The input link of the virtio-input models (input-link.h,
 * docs/input-link.md): a listening UNIX socket, one client, records
 * checked and gathered into batches, batches in a bounded queue.
 *
 * The queue is a plain array (a few hundred events of 8 bytes): the
 * guest takes from its front, batches join at its back.  A batch is
 * queued whole once its SYN_REPORT comes, so the guest never sees half
 * of one unless its buffers ran out in the middle (then the rest waits
 * for the next buffers).  When a batch does not fit, the oldest whole
 * batches go first: a viewer's latest keys and moves matter more than
 * old ones.  A batch the guest has begun to take is not dropped whole:
 * its rest goes but its SYN_REPORT stays, so the guest ends it cleanly.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "input-link.h"

#define RECORD_LEN      8
/* Bytes read per turn of the loop: a flood cannot starve the guest. */
#define READ_BUDGET     (RECORD_LEN * 128)

struct InputLink {
    DmLoop *loop;
    char *path;
    int listen_fd;
    DmTimer relisten;           /* accept failed for want of descriptors */
    int client_fd;              /* -1: none */
    InputCheckFn *check;
    InputReadyFn *ready;
    void *opaque;
    /* A record cut by the socket: its first bytes. */
    uint8_t part[RECORD_LEN];
    unsigned part_len;
    /* The batch being gathered, up to its SYN_REPORT. */
    InputEvent *batch;
    unsigned batch_len;
    bool skipping;              /* the batch was too long: to its SYN */
    /* The queue for the guest; the first head_taken of its front batch
     * are already in the guest's hands. */
    InputEvent *q;
    unsigned qlen, max_events;
    unsigned head_taken;
    InputLinkStats st;
};

static bool is_syn(const InputEvent *ev)
{
    return ev->type == INPUT_EV_SYN && ev->code == INPUT_SYN_REPORT;
}

/* Index past the SYN_REPORT ending the batch that starts at @from. */
static unsigned batch_end(const InputLink *l, unsigned from)
{
    while (from < l->qlen && !is_syn(&l->q[from])) {
        from++;
    }
    return from < l->qlen ? from + 1 : l->qlen;
}

static void q_remove(InputLink *l, unsigned from, unsigned to)
{
    memmove(&l->q[from], &l->q[to], (l->qlen - to) * sizeof(l->q[0]));
    l->qlen -= to - from;
}

/* Make room for @n events, dropping the oldest batches: possible? */
static bool make_room(InputLink *l, unsigned n)
{
    while (l->qlen + n > l->max_events) {
        unsigned start = 0, end;

        if (l->head_taken) {
            end = batch_end(l, 0);
            if (end > 1) {
                /* Begun by the guest: keep only its SYN_REPORT. */
                q_remove(l, 0, end - 1);
                l->st.overflow++;
                continue;
            }
            start = end;        /* past the lone SYN kept */
        }
        if (start >= l->qlen) {
            return false;
        }
        q_remove(l, start, batch_end(l, start));
        l->st.overflow++;
    }
    return true;
}

/* A SYN_REPORT ended the batch: into the queue, if it fits at all. */
static void batch_done(InputLink *l)
{
    if (l->batch_len == 1) {
        l->batch_len = 0;       /* a SYN_REPORT alone says nothing */
        return;
    }
    if (!make_room(l, l->batch_len)) {
        l->st.overflow++;
        l->batch_len = 0;
        return;
    }
    memcpy(&l->q[l->qlen], l->batch, l->batch_len * sizeof(l->q[0]));
    l->qlen += l->batch_len;
    l->st.batches++;
    l->batch_len = 0;
    l->ready(l->opaque);
}

static void take_record(InputLink *l, const uint8_t *rec)
{
    InputEvent ev;
    uint16_t t16;
    uint32_t v32;

    memcpy(&t16, rec, 2);
    ev.type = le16toh(t16);
    memcpy(&t16, rec + 2, 2);
    ev.code = le16toh(t16);
    memcpy(&v32, rec + 4, 4);
    ev.value = le32toh(v32);

    if (ev.type == INPUT_EV_SYN) {
        if (!is_syn(&ev) || ev.value != 0) {
            l->st.bad_syn++;
            return;
        }
        if (l->skipping) {
            l->skipping = false;
            l->batch_len = 0;
            return;
        }
        l->batch[l->batch_len++] = ev;
        batch_done(l);
        return;
    }
    switch (l->check(l->opaque, &ev)) {
    case INPUT_OK:
        break;
    case INPUT_UNKNOWN:
        l->st.unknown++;
        return;
    default:
        l->st.range++;
        return;
    }
    if (l->skipping) {
        return;
    }
    /* Room is kept for the SYN_REPORT: a batch fits the queue whole. */
    if (l->batch_len + 1 >= l->max_events) {
        l->st.long_batches++;
        l->skipping = true;
        l->batch_len = 0;
        return;
    }
    l->batch[l->batch_len++] = ev;
    l->st.records++;
}

static void client_close(InputLink *l)
{
    if (l->client_fd < 0) {
        return;
    }
    if (l->part_len) {
        l->st.short_records++;
    }
    dm_loop_del_fd(l->loop, l->client_fd);
    close(l->client_fd);
    l->client_fd = -1;
    /* A batch without its SYN_REPORT never reaches the guest. */
    l->part_len = 0;
    l->batch_len = 0;
    l->skipping = false;
}

static void client_readable(void *opaque, int fd, short revents)
{
    InputLink *l = opaque;
    uint8_t buf[READ_BUDGET];
    ssize_t got = read(fd, buf, sizeof(buf));
    size_t off = 0;

    if (got < 0 && (errno == EAGAIN || errno == EINTR)) {
        return;
    }
    if (got <= 0) {
        client_close(l);
        return;
    }
    while (off < (size_t)got) {
        size_t take = RECORD_LEN - l->part_len;

        if (take > (size_t)got - off) {
            take = got - off;
        }
        memcpy(l->part + l->part_len, buf + off, take);
        l->part_len += take;
        off += take;
        if (l->part_len == RECORD_LEN) {
            l->part_len = 0;
            take_record(l, l->part);
        }
    }
}

static void listen_readable(void *opaque, int fd, short revents);

/* Watch the listening socket again, descriptors permitting. */
static void relisten(void *opaque)
{
    InputLink *l = opaque;

    if (dm_loop_add_fd(l->loop, l->listen_fd, POLLIN, listen_readable,
                       l) < 0) {
        dm_timer_mod(&l->relisten, 100 * 1000 * 1000);
    }
}

static void listen_readable(void *opaque, int fd, short revents)
{
    InputLink *l = opaque;
    int c = accept4(fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

    if (c < 0) {
        if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
            errno == ENOMEM) {
            /*
             * The connection waits in the backlog and the socket stays
             * readable: without a pause the loop would spin on it.
             */
            dm_warn("input link %s: cannot accept (%m), trying again in "
                    "100 ms", l->path);
            dm_loop_del_fd(l->loop, fd);
            dm_timer_mod(&l->relisten, 100 * 1000 * 1000);
        }
        return;
    }
    if (l->client_fd >= 0) {
        dm_info("input link %s: a new client replaces the old one",
                l->path);
        client_close(l);
        l->st.replaced++;
    }
    if (dm_loop_add_fd(l->loop, c, POLLIN, client_readable, l) < 0) {
        close(c);
        return;
    }
    l->client_fd = c;
    l->st.clients++;
}

InputLink *input_link_open(DmLoop *loop, const char *path,
                           unsigned max_events, InputCheckFn *check,
                           InputReadyFn *ready, void *opaque)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    InputLink *l;
    struct stat sb;

    if (strlen(path) >= sizeof(sa.sun_path) || max_events < 2) {
        dm_error("input link: bad path or queue size");
        return NULL;
    }
    strcpy(sa.sun_path, path);
    l = calloc(1, sizeof(*l));
    if (!l) {
        return NULL;
    }
    l->loop = loop;
    dm_timer_init(&l->relisten, loop, relisten, l);
    l->client_fd = -1;
    l->check = check;
    l->ready = ready;
    l->opaque = opaque;
    l->max_events = max_events;
    l->path = strdup(path);
    l->q = calloc(max_events, sizeof(l->q[0]));
    l->batch = calloc(max_events, sizeof(l->batch[0]));
    l->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
                          0);
    if (!l->path || !l->q || !l->batch || l->listen_fd < 0) {
        dm_error("input link %s: %s", path, strerror(errno));
        goto fail;
    }
    /* A socket left by an earlier run of the model is ours to replace. */
    if (lstat(path, &sb) == 0 && S_ISSOCK(sb.st_mode)) {
        unlink(path);
    }
    /* Bound, then 0600, then listening: nobody connects in between. */
    if (bind(l->listen_fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
        chmod(path, 0600) < 0 || listen(l->listen_fd, 4) < 0 ||
        dm_loop_add_fd(loop, l->listen_fd, POLLIN, listen_readable, l) < 0) {
        dm_error("input link %s: %s", path, strerror(errno));
        goto fail;
    }
    return l;

fail:
    if (l->listen_fd >= 0) {
        close(l->listen_fd);
    }
    free(l->path);
    free(l->q);
    free(l->batch);
    free(l);
    return NULL;
}

void input_link_close(InputLink *l)
{
    if (!l) {
        return;
    }
    client_close(l);
    dm_timer_del(&l->relisten);
    dm_loop_del_fd(l->loop, l->listen_fd);
    close(l->listen_fd);
    unlink(l->path);
    free(l->path);
    free(l->q);
    free(l->batch);
    free(l);
}

bool input_link_peek(InputLink *l, InputEvent *ev)
{
    if (!l->qlen) {
        return false;
    }
    *ev = l->q[0];
    return true;
}

void input_link_pop(InputLink *l)
{
    bool syn = is_syn(&l->q[0]);

    q_remove(l, 0, 1);
    l->head_taken = syn ? 0 : l->head_taken + 1;
    l->st.delivered++;
}

unsigned input_link_queued(const InputLink *l)
{
    return l->qlen;
}

void input_link_flush(InputLink *l)
{
    unsigned from = 0;

    while (from < l->qlen) {
        from = batch_end(l, from);
        l->st.reset_dropped++;
    }
    l->qlen = 0;
    l->head_taken = 0;
}

const InputLinkStats *input_link_stats(const InputLink *l)
{
    return &l->st;
}

void input_link_dump(const InputLink *l, const char *who)
{
    const InputLinkStats *s = &l->st;

    dm_info("%s: input link %s: %s, %u events queued (at most %u, %u of "
            "the first batch taken), %u gathered without SYN_REPORT%s",
            who, l->path, l->client_fd >= 0 ? "a client" : "no client",
            l->qlen, l->max_events, l->head_taken, l->batch_len,
            l->skipping ? " (too long: skipped)" : "");
    dm_info("%s: %llu clients (%llu replaced), %llu records in %llu "
            "batches, %llu events to the guest; dropped: %llu unknown, "
            "%llu out of range, %llu bad SYN, %llu short, %llu batches too "
            "long, %llu batches on a full queue, %llu at a reset", who,
            (unsigned long long)s->clients, (unsigned long long)s->replaced,
            (unsigned long long)s->records, (unsigned long long)s->batches,
            (unsigned long long)s->delivered,
            (unsigned long long)s->unknown, (unsigned long long)s->range,
            (unsigned long long)s->bad_syn,
            (unsigned long long)s->short_records,
            (unsigned long long)s->long_batches,
            (unsigned long long)s->overflow,
            (unsigned long long)s->reset_dropped);
}
