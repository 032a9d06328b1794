/*
 * One client connection: the server side of vfio-user for one device.
 *
 * Runs in the event loop's thread.  A session may wait for the client's
 * reply to a DMA_READ/DMA_WRITE it sent; while waiting it keeps serving
 * the client's own requests, so that a client blocked on a region read
 * cannot deadlock with us.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_SESSION_H
#define DM_SESSION_H

#include <stdbool.h>

#include <glib.h>
#include <stdint.h>

#include "vup/batch.h"
#include "vup/buffered.h"
#include "vup/caps.h"
#include "device.h"
#include "dma.h"
#include "tls.h"

typedef struct DmSession DmSession;

/* How DMA_READ/DMA_WRITE data is laid out (see docs/protocol.md). */
typedef enum DmDmaLayout {
    DM_DMA_LAYOUT_AUTO,         /* decide from the client's VERSION */
    DM_DMA_LAYOUT_SPEC,         /* data at payload offset 16 */
    DM_DMA_LAYOUT_QEMU,         /* QEMU 10.2's client: offset 12 */
} DmDmaLayout;

/* Who may connect: identifiers a client must present ("" = any). */
typedef struct DmBinding {
    const char *ids[VUP_ID_COUNT];      /* VUP_ID_TOKEN: the access token */
} DmBinding;

typedef struct DmSessionStats {
    uint64_t requests;
    uint64_t errors;
    uint64_t dma_messages;
    uint64_t dirty_bytes;       /* DM_DIRTY_PAGES payloads applied */
} DmSessionStats;

struct DmSession {
    DmDevice *dev;
    int sock;
    bool standby;               /* not the device's client (yet) */
    /*
     * At VERSION: give @s the device if free (s->standby cleared), else
     * make it the standby client if @can_wait and that slot is free;
     * 0, or -EBUSY.
     */
    int (*claim)(void *owner, DmSession *s, bool can_wait);
    /* DM_ACTIVATE: make standby @s active; 0, or -EBUSY while another is. */
    int (*activate)(void *owner, DmSession *s);
    void *owner;
    DmTlsSession *tls;          /* NULL: plain */
    VupStream stream;           /* the socket, or TLS over it */
    VupBuffered rbuf;           /* TCP: whole messages per recv() */
    /*
     * Posted messages (DMA writes, used-ring writes, interrupts) gathered
     * until the loop is about to wait (dm_session_flush()): one send per
     * round instead of one per message.  Every other send goes behind them.
     */
    VupOutbox outbox;
    bool greeting;              /* TLS required, handshake not done */
    bool refuse_plain;          /* a plain client on a TLS server */
    /*
     * Until the session is the device's client (before VERSION, or as a
     * standby) the socket is non-blocking and what arrives is kept here
     * until a whole message is in: such a peer, slow or silent, never
     * holds up the loop (and the served client).
     */
    VupMsgReader hello;
    int64_t accepted_ns;        /* dm_clock_ns(): VERSION is due soon */
    bool versioned;             /* VERSION done */
    unsigned client_vcpus;      /* what the client said (dm_vcpus), or 0 */
    char client_accel[VUP_DM_ACCEL_MAX + 1];    /* (dm_accel), or "" */
    int reported_running;       /* its last DM_VM_STATE running, or -1 */
    bool broken;                /* stream unusable: close it */
    /*
     * A posted DMA write went out and no interrupt message since: the
     * next interrupt must follow it in the stream (session_link_irq_in_band).
     */
    bool posted_unfenced;
    VupCaps caps;               /* negotiated */
    uint64_t applied_client;    /* its DM_APPLIED tag; 0: not told */
    DmDmaLayout dma_layout;
    bool fds_ok;                /* UNIX socket: descriptors can travel */
    const DmBinding *binding;
    DmDmaTable dma;
    uint16_t next_id;
    /*
     * The client's requests that came while we waited for a DMA reply:
     * served once the model's access is over, never inside it (a model
     * is not re-entered in the middle of a ring walk).
     */
    GQueue deferred;
    unsigned read_depth;        /* reads served inside DMA waits */
    DmSessionStats stats;
};

/*
 * A session on connected @sock, without the device until its VERSION
 * (see claim).  A standby client (e.g. a migration target) may only read
 * the device's description until dm_session_promote(); a client that did
 * not offer dm_standby gets EBUSY at VERSION while another one is served.
 */
DmSession *dm_session_new(DmDevice *dev, int sock, DmDmaLayout layout,
                          bool fds_ok, const DmBinding *binding);

/*
 * Send the posted messages gathered (the loop calls it before it waits,
 * the server before it spins on the socket): 0, or a negative errno and
 * the session is broken.
 */
int dm_session_flush(DmSession *s);

/* Requests deferred during a DMA wait, to be served by handle_one. */
bool dm_session_has_deferred(const DmSession *s);

/* The active client has gone: the standby one takes the device. */
void dm_session_promote(DmSession *s);

/* Require TLS on this session: dm_session_greet() before messages. */
void dm_session_require_tls(DmSession *s);

/*
 * Carry the TLS handshake on with what has arrived, verifying the client:
 * 0 once the session is ready for messages; -EAGAIN to be called again
 * when the socket is writable (@ret_want_write) or readable; another
 * -errno with a message in @err on failure (then free the session).  A
 * plain vfio-user client gets an EPROTONOSUPPORT reply to its first
 * message.
 */
int dm_session_greet(DmSession *s, DmTlsCreds *creds, bool *ret_want_write,
                     char *err, size_t errlen);

/* Release DMA windows and IRQ fds, close the socket; device state stays. */
void dm_session_free(DmSession *s);

/*
 * Receive and handle one message; false once the session must end.
 * Before VERSION, and for a standby client, this never waits: it takes
 * what has arrived and handles the message once whole (call again when
 * the socket is readable).
 */
bool dm_session_handle_one(DmSession *s);

#endif /* DM_SESSION_H */
