/*
 * Posted writes a lost model never applied (the dm_applied extension,
 * docs/protocol.md).  A posted write has no answer: one still in the
 * socket, or in our batch, when the model is killed or the link cut is
 * gone, and the driver that made it waits for good (a virtio status
 * written during a reset, a UART's IER).  So the proxy keeps each posted
 * region write until a reply to a later call on the same connection
 * confirms it (the model handles a session's messages in order), and
 * when it is connected again asks the model (DM_APPLIED) which was the
 * last message of ours it applied, and sends the ones after it again, in
 * order, before any access of the guest.
 *
 * Threads: the vCPUs add and the call that reads a reply confirms,
 * under p->lock; the main loop resumes, at each connection, while the
 * guest's accesses wait (p->ready is false).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/error-report.h"
#include "qemu/guest-random.h"
#include "qemu/lockable.h"
#include "hw/remote-dm/dm-proxy.h"
#include "vup/dm-ext.h"
#include "trace.h"

/* Is message @a before message @b?  (msg_ids wrap at 16 bits.) */
static bool id_before(uint16_t a, uint16_t b)
{
    return (int16_t)(a - b) < 0;
}

static DMProxyPosted *entry(DMProxyUnconfirmed *u, unsigned i)
{
    return &u->ents[(u->head + i) % DM_PROXY_UNCONFIRMED_MAX];
}

static void drop_first(DMProxyUnconfirmed *u)
{
    u->head = (u->head + 1) % DM_PROXY_UNCONFIRMED_MAX;
    u->count--;
}

void dm_proxy_unconfirmed_init(DMProxy *p)
{
    /* Ours for as long as we drive the device: any value but 0. */
    do {
        qemu_guest_getrandom_nofail(&p->client_tag, sizeof(p->client_tag));
    } while (!p->client_tag);
}

bool dm_proxy_unconfirmed_room(DMProxy *p)
{
    return qatomic_read(&p->unconfirmed.count) < DM_PROXY_UNCONFIRMED_MAX;
}

void dm_proxy_unconfirmed_add(DMProxy *p, uint16_t msg_id,
                              const void *payload, size_t len)
{
    DMProxyUnconfirmed *u = &p->unconfirmed;
    DMProxyPosted *e;

    if (!p->caps.dm_applied) {
        return;
    }
    if (len > sizeof(e->payload)) {
        return;                 /* no region write of ours is bigger */
    }
    if (u->count == DM_PROXY_UNCONFIRMED_MAX) {
        /* Two vCPUs past dm_proxy_unconfirmed_room at once: rare. */
        drop_first(u);
        u->overflows++;
    }
    e = entry(u, u->count);
    e->msg_id = msg_id;
    e->conn = p->conn;
    e->len = len;
    memcpy(e->payload, payload, len);
    qatomic_set(&u->count, u->count + 1);
}

void dm_proxy_unconfirmed_confirm(DMProxy *p, uint16_t reply_id)
{
    DMProxyUnconfirmed *u = &p->unconfirmed;

    /* Only what went out on this connection: a reply is its alone. */
    while (u->count && entry(u, 0)->conn == p->conn &&
           id_before(entry(u, 0)->msg_id, reply_id)) {
        drop_first(u);
    }
}

bool dm_proxy_applied_resume(DMProxy *p, Error **errp)
{
    DMProxyUnconfirmed *u = &p->unconfirmed;
    VupDmApplied q = { .client = p->client_tag }, a;
    unsigned resent = 0, dropped = 0;
    VupMsg m;
    int ret;

    if (!p->caps.dm_applied) {
        return true;
    }
    ret = dm_proxy_call(p, VUP_CMD_DM_APPLIED, &q, sizeof(q), NULL, 0, &m);
    if (ret < 0) {
        error_setg(errp, "%s did not say what it applied: %s", p->server,
                   strerror(-ret));
        return false;
    }
    memcpy(&a, m.payload, sizeof(a));
    vup_msg_clear(&m);
    if (a.client != p->client_tag || (a.flags & ~VUP_DM_APPLIED_F_KNOWN) ||
        a.reserved) {
        error_setg(errp, "%s answered DM_APPLIED with another client's "
                   "record, or flags it should not", p->server);
        return false;
    }

    QEMU_LOCK_GUARD(&p->lock);
    while (u->count && entry(u, 0)->conn != p->conn) {
        DMProxyPosted *e = entry(u, 0);

        if (!(a.flags & VUP_DM_APPLIED_F_KNOWN) ||
            !id_before(a.last_id, e->msg_id)) {
            /*
             * Applied; or a model that does not know us (started afresh,
             * or another client's since): what it lost went with all the
             * rest of the device, and is not ours to make up.
             */
            drop_first(u);
            dropped++;
            continue;
        }
        /* Sent again as it was, its msg_id kept: the ring stays in order. */
        if (dm_proxy_send_posted(p, VUP_CMD_REGION_WRITE, e->msg_id,
                                 e->payload, e->len) < 0) {
            error_setg(errp, "%s: lost again while sending what it had "
                       "not applied", p->server);
            return false;
        }
        e->conn = p->conn;
        /* To the back, now this connection's: still unconfirmed. */
        {
            DMProxyPosted copy = *e;

            drop_first(u);
            *entry(u, u->count) = copy;
            u->count++;
        }
        resent++;
    }
    trace_dm_proxy_applied(p->id, !!(a.flags & VUP_DM_APPLIED_F_KNOWN),
                           a.last_id, resent, dropped);
    if (resent) {
        info_report("dm-proxy %s: sent %u posted write(s) again that %s had "
                    "not applied", p->id, resent, p->server);
        p->resent += resent;
    }
    return true;
}
