/*
 * The client end of one vfio-user connection to a remote device model.
 *
 * A vCPU (or the main loop, under qtest) that traps on a proxied region
 * sends its request and reads the reply itself, with the big QEMU lock
 * not required: one transaction is on the wire at a time, serialised by
 * DMProxy.lock.  A server request that arrives meanwhile (DMA_READ /
 * DMA_WRITE) is handled by whoever is reading.  When nobody is, the main
 * loop's fd handler reads it.
 *
 * Faults: a dead server, a broken stream or a reply that does not come
 * within the timeout marks the proxy disconnected (one log line and a
 * QMP event); accesses then fail at once (reads return all-ones), and
 * the main loop reconnects with backoff and lets the device replay its
 * setup.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_REMOTE_DM_DM_PROXY_H
#define HW_REMOTE_DM_DM_PROXY_H

#include "qemu/event_notifier.h"
#include "qemu/queue.h"
#include "hw/irq.h"
#include "qemu/thread.h"
#include "qemu/timer.h"
#include "block/aio.h"
#include "vup/address.h"
#include "vup/batch.h"
#include "vup/buffered.h"
#include "vup/caps.h"
#include "vup/proto.h"
#include "vup/msg.h"
#include "qemu/notify.h"
#include "system/memory.h"
#include "system/runstate.h"
#include "crypto/tlscreds.h"
#include "crypto/tlssession.h"

typedef struct DMProxy DMProxy;

/*
 * How long the round trips to the model took (a request sent, its reply
 * waited for): a log2 histogram in microseconds, bucket i counting those
 * of at most 2^i us (and more than 2^(i-1)), the last one those beyond
 * 2^(DM_PROXY_LAT_BOUNDS-1) us (about 1 s).  An array of counters, so
 * that the trapping thread pays a clock read and two increments: written
 * under DMProxy.lock, read without it by QMP (each count tear-free).
 */
#define DM_PROXY_LAT_BOUNDS     21
typedef struct DMProxyLatency {
    uint64_t buckets[DM_PROXY_LAT_BOUNDS + 1];
    uint64_t sum_ns;
} DMProxyLatency;

/*
 * Who we are, as told to the model in VERSION (qemu-dm extension): the
 * identifiers of the architecture and the id of a secret object holding
 * the access token; and how the connection is made (TLS, TCP congestion
 * control).  Properties of both proxy devices.
 */
typedef struct DMProxyIds {
    char *vm;
    char *hypervisor;
    char *client_platform;
    char *device_model;
    char *server_platform;
    char *token_secret;
    char *tls_creds;            /* a tls-creds-x509 object, endpoint=client */
    char *tls_hostname;         /* checked in the server's certificate */
    char *tcp_congestion;       /* tcp: only; NULL: the host's default */
} DMProxyIds;

#define DEFINE_DM_PROXY_ID_PROPERTIES(_state, _f)                           \
    DEFINE_PROP_STRING("vm-id", _state, _f.vm),                            \
    DEFINE_PROP_STRING("hypervisor-id", _state, _f.hypervisor),            \
    DEFINE_PROP_STRING("client-platform-id", _state, _f.client_platform),  \
    DEFINE_PROP_STRING("device-model-id", _state, _f.device_model),        \
    DEFINE_PROP_STRING("server-platform-id", _state, _f.server_platform),  \
    DEFINE_PROP_STRING("token-secret", _state, _f.token_secret),         \
    DEFINE_PROP_STRING("tls-creds", _state, _f.tls_creds),               \
    DEFINE_PROP_STRING("tls-hostname", _state, _f.tls_hostname),         \
    DEFINE_PROP_STRING("tcp-congestion", _state, _f.tcp_congestion)

typedef struct DMProxyDoorbell DMProxyDoorbell;

typedef struct DMProxyOps {
    /* A command from the server (DMA_READ/DMA_WRITE): reply to it. */
    void (*request)(void *opaque, DMProxy *p, VupMsg *msg);
    /* request serves DM_VQ_FETCH and posted DMA_WRITE: offer them. */
    bool vq_fetch;
    /* The device may keep guest-only areas and send dirty pages. */
    bool dirty_pages;
    /*
     * Optional, with vq_fetch: offer dm_vq_push, and on a kick of @d
     * (whose rings the model told, d->ring) append the DM_VQ_KICK's
     * payload with the new chains to @out: false for a plain kick.
     * The trapping thread, p->lock held.
     */
    bool (*vq_push)(void *opaque, DMProxy *p, DMProxyDoorbell *d,
                    GByteArray *out);
    /* Connected again after a fault: replay DMA maps, IRQ wiring... */
    bool (*replay)(void *opaque, DMProxy *p, Error **errp);
    /* The connection is gone (main loop). */
    void (*lost)(void *opaque, DMProxy *p);
    /*
     * Vector @sub of IRQ @index fired, told by a DM_IRQ message rather
     * than its eventfd (main loop): do what the eventfd handler does.
     */
    void (*irq)(void *opaque, unsigned index, unsigned sub);
    /*
     * Optional: the VM stopped and the model has finished its requests
     * in flight (main loop).  What it wrote in place, in shared guest
     * memory, was never seen by dirty logging: say it is dirty now, so
     * that a migration's last pass carries it.
     */
    void (*stopped)(void *opaque, DMProxy *p);
    /*
     * Optional: an event for the VM's management (VUP_CMD_DM_EVENT,
     * vup/dm-ext.h), main loop.  Unknown types are the device's to drop.
     */
    void (*event)(void *opaque, uint32_t type, int64_t value);
} DMProxyOps;

/*
 * A doorbell of the model (GET_REGION_IO_FDS, an ioeventfd entry): a
 * write there only says "look".  With the model's eventfd, the write
 * signals it (no message); without (TCP, dm_doorbells) it goes out at
 * once instead of waiting in the posted batch.
 */
#define DM_PROXY_MAX_DOORBELLS 64

/*
 * The rings behind a doorbell, as the model told them (DM_VQ_RINGS), to
 * push the new chains with its kicks (dm_vq_push).
 */
typedef struct DMProxyVqRing {
    bool valid;
    uint32_t cookie;
    uint64_t desc, avail;
    uint16_t size;
    uint16_t pushed;            /* the next ring entry to push */
    uint16_t max_chains;
    uint16_t flags;             /* VUP_DM_VQ_RINGS_F_* */
    uint32_t max_segs, max_data;
} DMProxyVqRing;

struct DMProxyDoorbell {
    uint32_t region;
    uint64_t offset;
    uint32_t size;              /* 1, 2, 4, 8, or 0: any width */
    bool datamatch;             /* only a write of @data rings it */
    uint64_t data;
    bool has_fd;
    EventNotifier notifier;     /* the model's eventfd, when has_fd */
    bool registered;            /* with the memory core (KVM's ioeventfd) */
    DMProxyVqRing ring;         /* without an eventfd: rings to push */
};

/*
 * A mappable area of a model's region (VFIO_REGION_INFO_FLAG_MMAP, one
 * host): our MAP_SHARED mapping of the model's memory, put into the
 * guest's view of the region as a RAM device by the proxy device.
 */
#define DM_PROXY_MAX_MMAP_AREAS 8     /* per region */

typedef struct DMProxyMmapArea {
    uint64_t offset;            /* in the region */
    uint64_t size;
    void *ptr;                  /* NULL: not mapped */
    MemoryRegion mr;            /* the device's, over the trapped region */
    bool mr_on;                 /* mr made (it lives as long as the device) */
} DMProxyMmapArea;

/*
 * A mappable area the model declared the guest's alone, which we cannot
 * or will not map (TCP, mmap=off): kept here in RAM, the guest's
 * accesses served from it, the pages it dirtied sent to the model at a
 * bounded rate (dm_dirty_pages, dm-proxy-dirty.c).
 */
#define DM_PROXY_DIRTY_FPS_DEFAULT  30
#define DM_PROXY_DIRTY_FPS_MAX      120

typedef struct DMProxyDirtyArea {
    uint64_t offset;            /* in the region */
    uint64_t size;
    MemoryRegion mr;            /* RAM, the device's, over the trapped one */
    bool mr_on;
} DMProxyDirtyArea;

typedef struct DMProxyDirty {
    DMProxy *proxy;
    uint32_t region;
    unsigned n;                 /* 0: nothing kept, the region traps */
    DMProxyDirtyArea areas[DM_PROXY_MAX_MMAP_AREAS];
    uint32_t fps;
    QEMUTimer *timer;
    uint8_t *buf;               /* one message */
    bool warned;                /* a send failed: said once */
    uint64_t bytes;             /* page bytes sent, for traces */
} DMProxyDirty;

/*
 * The posted region writes no reply has confirmed yet, kept to be sent
 * again to a model that lost them (dm_applied, dm-proxy-applied.c).  A
 * write when it is full is made a call instead, whose reply confirms
 * them all: one round trip per DM_PROXY_UNCONFIRMED_MAX posted writes
 * at worst (a guest that never reads).
 */
#define DM_PROXY_UNCONFIRMED_MAX 256

typedef struct DMProxyPosted {
    uint16_t msg_id;
    uint8_t len;
    uint64_t conn;              /* the connection it went out on */
    uint8_t payload[sizeof(VupRegionAccess) + 8];
} DMProxyPosted;

typedef struct DMProxyUnconfirmed {
    DMProxyPosted ents[DM_PROXY_UNCONFIRMED_MAX];
    unsigned head, count;
    uint64_t overflows;         /* the oldest dropped: a race of vCPUs */
} DMProxyUnconfirmed;

typedef enum DMProxyState {
    DM_PROXY_DISCONNECTED,
    DM_PROXY_CONNECTED,
} DMProxyState;

struct DMProxy {
    char *id;                   /* the device's id, for messages */
    const char *type;           /* the proxy device's QOM type */
    QLIST_ENTRY(DMProxy) next;  /* all proxies, for query-remote-devices */
    char *fault;                /* why the connection was lost */
    char *server;               /* "unix:PATH" or "tcp:HOST:PORT" */
    char *tcp_congestion;       /* set on each TCP connection; NULL: none */
    VupAddress addr;            /* @server, parsed */
    bool fds_ok;                /* descriptors can travel (UNIX socket) */
    uint32_t timeout_ms;
    int64_t spin_ns;            /* poll for a reply this long, then sleep */
    const DMProxyOps *ops;
    void *opaque;

    QCryptoTLSCreds *tls_creds; /* NULL: plain */
    char *tls_hostname;

    QemuMutex lock;             /* held for a whole transaction */
    int fd;                     /* -1 when disconnected */
    QCryptoTLSSession *tls;     /* over fd, when tls_creds */
    VupStream stream;           /* fd, or TLS over it */
    VupBuffered rbuf;           /* TCP: a reply per recv(), not two */
    char *tls_error;            /* the last TLS failure, for messages */
    DMProxyState state;
    uint16_t next_id;
    VupCaps caps;               /* negotiated */
    char ids[VUP_ID_COUNT][VUP_ID_MAX + 1];     /* what we present */

    QEMUBH *lost_bh;            /* report a fault in the main loop */
    QEMUBH *irq_bh;             /* deliver DM_IRQ messages */
    QEMUBH *drain_bh;           /* read what the stream holds (TLS, TCP) */
    uint64_t irq_pending[3];    /* DM_IRQ seen: bit sub of index */
    /*
     * The main loop's fd handler is reading (p->lock held): it delivers
     * the interrupts itself once it lets go of the lock, with no bottom
     * half's wake-up and extra round of the loop in between.
     */
    bool irq_inline;
    QEMUTimer *reconnect_timer;
    int64_t backoff_ms;

    /*
     * While a lost model comes back, a vCPU's access waits for it (in
     * @back) until @hold_until_ns (REALTIME; 0: fail at once), instead
     * of reading all-ones: a UART's LSR of 0xff says "data ready", and
     * the guest would take 0xff bytes.  @ready: connected and the setup
     * replayed.  p->lock held.
     */
    uint32_t hold_ms;
    int64_t hold_until_ns;
    bool ready;
    QemuCond back;

    /*
     * The main loop's watch of the socket, for what the server sends on
     * its own (interrupts, DMA requests, a hang-up).  While the vCPUs make
     * calls it is off: each reply would otherwise wake the main loop,
     * which then contends with the vCPU (measured under the BQL: 11 us per
     * read without the watch, 23-35 us with it).  A call reads whatever
     * the server sent before its reply; quiet_timer puts the watch back
     * once no call came for DM_PROXY_QUIET_NS.
     */
    bool watching;              /* the fd handler is installed */
    QEMUTimer *quiet_timer;
    int64_t last_call_ns;       /* QEMU_CLOCK_REALTIME */

    /*
     * Posted commands (writes, unmasks) wait in @posted and leave
     * together: in front of the next call's request, or sent by the
     * flusher thread, woken when the batch stops being empty.  A posted
     * write costs its vCPU a copy instead of a send (4.6 us over TCP),
     * and a burst of them one send.  p->lock held.
     */
    VupBatch posted;
    QemuThread flusher;
    QemuEvent flush_ev;
    bool flusher_quit;

    /*
     * Migration (dm-proxy-migration.c).  A migration target connects as a
     * standby: it reads the device's description while the source still
     * drives the model, defers everything else, and takes the model over
     * when it starts running.  The source lets go once migration is done.
     */
    bool standby;               /* our session waits for DM_ACTIVATE */
    bool released;              /* handed over to a migration target */
    VMChangeStateEntry *vmstate_entry;
    NotifierWithReturn migration_notifier;

    /*
     * Interrupts by message held while the guest is busy
     * (dm-proxy-irq-hold.c): up to @irq_hold_us after the first, raised
     * at once when a vCPU goes idle.  0: raised as they come.
     */
    uint32_t irq_hold_us;
    QEMUTimer *irq_hold_timer;  /* and vcpu_idle registered, or NULL */
    Notifier vcpu_idle;

    /* The VM clock told to the model (dm-proxy-vmclock.c). */
    VMChangeStateEntry *vm_clock_entry;
    QEMUTimer *vm_clock_tick;   /* qtest: report the stepped clock */
    int64_t vm_clock_reported;  /* qtest: the clock the model was told */
    struct DMProxyLine *line;   /* the device's level line, if it has one */

    /*
     * The model's doorbells (dm-proxy-doorbell.c): changed in the main
     * loop and read by the trapping thread, both under p->lock;
     * @ndoorbells is also read without it, to skip the lookup.
     */
    DMProxyDoorbell doorbells[DM_PROXY_MAX_DOORBELLS];
    unsigned ndoorbells;
    /*
     * Posted commands go out at once, not gathered: an eventfd that the
     * kernel signals (KVM) must not overtake the writes before it.
     */
    bool post_now;

    /*
     * dm_applied (dm-proxy-applied.c): our tag for the model's record,
     * the connection's number (++ at each), and what waits for a reply
     * to confirm it.  p->lock held.
     */
    uint64_t client_tag;
    uint64_t conn;
    DMProxyUnconfirmed unconfirmed;
    uint64_t resent;            /* posted writes sent again */

    /* Counters for info remote-devices. */
    uint64_t requests;
    uint64_t errors;
    uint64_t reconnects;
    uint64_t kicks;             /* doorbells rung by eventfd */
    uint64_t mapped;            /* bytes of the model's regions mapped */
    DMProxyLatency latency;     /* of the round trips (dm_proxy_call) */
};

/* Parse @server, connect and negotiate; false with @errp set on failure. */
bool dm_proxy_init(DMProxy *p, const char *type, const char *id,
                   const char *server, uint32_t timeout_ms, uint32_t poll_us,
                   const DMProxyIds *ids, const DMProxyOps *ops,
                   void *opaque, Error **errp);
void dm_proxy_cleanup(DMProxy *p);

/*
 * Parse server= with libvup's one address parser (unix:PATH,
 * tcp:HOST:PORT, tcp:[IPV6]:PORT); false with @errp set, naming what
 * is wrong.
 */
bool dm_proxy_parse_server(const char *server, VupAddress *ret_addr,
                           Error **errp);

bool dm_proxy_connected(DMProxy *p);

/*
 * dm_applied (dm-proxy-applied.c).  _init: our tag, at realize.  _room:
 * may a region write be posted (else it is made a call).  _add: a posted
 * region write sent (p->lock held).  _confirm: a reply to the call
 * @reply_id came, on this connection (p->lock held).  _resume: after a
 * connection and the device's replay, before the guest's accesses: ask
 * the model and send again what it lost; false with @errp when the
 * model fails to answer.
 */
void dm_proxy_unconfirmed_init(DMProxy *p);
bool dm_proxy_unconfirmed_room(DMProxy *p);
void dm_proxy_unconfirmed_add(DMProxy *p, uint16_t msg_id,
                              const void *payload, size_t len);
void dm_proxy_unconfirmed_confirm(DMProxy *p, uint16_t reply_id);
bool dm_proxy_applied_resume(DMProxy *p, Error **errp);

/* Send a posted message as made earlier (its @msg_id); p->lock held. */
int dm_proxy_send_posted(DMProxy *p, uint16_t cmd, uint16_t msg_id,
                         const void *payload, size_t len);

/* The proxy of the device named @id (its qdev id), or NULL. */
DMProxy *dm_proxy_find(const char *id);

/*
 * Set a control of the remote device (VUP_DM_CONTROL_*, dm_controls;
 * dm-proxy-control.c): false with @errp saying why (not connected, a
 * model that takes no controls or not this one, a value refused).
 */
bool dm_proxy_control(DMProxy *p, uint32_t type, uint64_t value,
                      Error **errp);

/*
 * Send a command and wait for its reply.  Returns 0 with @reply filled
 * (the caller clears it; may be NULL), or -errno: the server's error, or
 * -ENOTCONN / -ETIMEDOUT / -EPIPE when the connection failed.
 */
int dm_proxy_call(DMProxy *p, uint16_t cmd, const void *payload, size_t len,
                  const int *fds, unsigned nfds, VupMsg *reply);

/* Send a command that asks for no reply (a posted write). */
int dm_proxy_post(DMProxy *p, uint16_t cmd, const void *payload, size_t len);
/* The same with p->lock held; @now: send it, and what waits, at once. */
int dm_proxy_post_locked(DMProxy *p, uint16_t cmd, const void *payload,
                         size_t len, bool now);

/*
 * A guest access to @region of the device (1, 2, 4 or 8 bytes, little
 * endian).  A failed read gives all-ones.  A posted write does not wait.
 */
uint64_t dm_proxy_region_read(DMProxy *p, uint32_t region, uint64_t addr,
                              unsigned size);
void dm_proxy_region_write(DMProxy *p, uint32_t region, uint64_t addr,
                           uint64_t val, unsigned size, bool posted);

/*
 * DEVICE_SET_IRQS: wire @count eventfds @fds to vectors @start.. of IRQ
 * @index, or with @fds NULL and @count 0 disable the whole index.
 */
int dm_proxy_set_irqs(DMProxy *p, unsigned index, unsigned start,
                      unsigned count, const int *fds);

/* Posted UNMASK of a level line: the end of its interrupt (VFIO's EOI). */
void dm_proxy_unmask_irq(DMProxy *p, unsigned index, unsigned sub);

/*
 * A level-triggered line of the model (PCI INTx, a platform IRQ), with
 * VFIO's semantics: the model's eventfd (or DM_IRQ message) raises
 * @irq; the guest's next access to the device lowers it and unmasks the
 * model's line, which fires again if still high.
 */
typedef struct DMProxyLine {
    DMProxy *proxy;
    unsigned index;             /* IRQ index of the line, vector 0 */
    qemu_irq irq;
    EventNotifier notifier;
    bool wired;
    bool pending;               /* raised, waiting for the guest's EOI */
} DMProxyLine;

/* Set up @l and hand its eventfd to the model (main loop). */
bool dm_proxy_line_init(DMProxyLine *l, DMProxy *p, unsigned index,
                        qemu_irq irq, Error **errp);
/* Hand the eventfd to the model again (after a reconnection). */
int dm_proxy_line_wire(DMProxyLine *l);
/* After each guest access to the device: the end of the interrupt. */
void dm_proxy_line_eoi(DMProxyLine *l);
/* Lower a raised line without telling the model (reset, lost model). */
void dm_proxy_line_drop(DMProxyLine *l);
/* The model signalled the line with a DM_IRQ message. */
void dm_proxy_line_fire(DMProxyLine *l);
/*
 * Take a signal of @p's line now instead of from the main loop's handler
 * (main loop): after a call the model answered, what it raised before
 * its reply is then visible at once, as a local device's would be.
 */
void dm_proxy_line_poll(DMProxy *p);
void dm_proxy_line_cleanup(DMProxyLine *l);

/* The stream is unusable: report, reconnect later; p->lock held. */
void dm_proxy_fault(DMProxy *p, const char *why);

/* Close the socket and its TLS session; p->lock held. */
void dm_proxy_close(DMProxy *p);

/* Send the posted commands waiting (see DMProxy.posted); p->lock held. */
int dm_proxy_flush_posted(DMProxy *p);

/*
 * Doorbells (dm-proxy-doorbell.c), main loop.  Ask the model for those
 * of @region (@size bytes) and keep the sound ones: how many.  A model
 * that offers none, refuses (upstream-like: ENOSYS, EINVAL) or is a
 * standby's leaves its kicks as messages.
 */
unsigned dm_proxy_doorbells_fetch(DMProxy *p, uint32_t region,
                                  uint64_t size);
/* Forget them, closing their eventfds (unregistered first). */
void dm_proxy_doorbells_clear(DMProxy *p);
/*
 * A guest write of @val (@size bytes) at @addr of @region: when it is a
 * doorbell's, ring it (the eventfd, after the posted writes before it;
 * or @msg, @len bytes of REGION_WRITE, sent at once when @posted) and
 * return true.  Any thread.
 */
bool dm_proxy_doorbell_write(DMProxy *p, uint32_t region, uint64_t addr,
                             uint64_t val, unsigned size, const void *msg,
                             size_t len, bool posted);

/*
 * Mappable regions (dm-proxy-mmap.c), main loop.  Ask the model how
 * @region (@size bytes) may be mapped and map it: up to @max areas into
 * @areas, how many (0: the region stays trapped).  Any doubt about what
 * the model sends (an area outside the region or not page-aligned, a
 * descriptor that is not a sealed memory file or too small) refuses the
 * whole region with a warning.
 */
unsigned dm_proxy_mmap_map(DMProxy *p, uint32_t region, uint64_t size,
                           DMProxyMmapArea *areas, unsigned max);
/*
 * After a reconnection: map the (new) model's memory in place of the
 * old, at the same addresses, when it offers the same @n areas; false
 * (warned, the old memory replaced by anonymous memory) otherwise.
 */
bool dm_proxy_mmap_remap(DMProxy *p, uint32_t region, uint64_t size,
                         DMProxyMmapArea *areas, unsigned n);
/* Unmap the first @n of @areas. */
void dm_proxy_mmap_unmap(DMProxyMmapArea *areas, unsigned n);

/*
 * The areas of @m's region capability @id with the sparse-mmap layout
 * (VUP_REGION_INFO_CAP_SPARSE_MMAP, VUP_REGION_INFO_CAP_DM_DIRTY) into
 * @areas (up to @max): how many, 0 without it, -1 malformed (*@why).
 */
int dm_proxy_region_cap_areas(const VupMsg *m, const VupRegionInfo *info,
                              uint16_t id, VupSparseMmapArea *areas,
                              unsigned max, const char **why);
/* Are @areas (@n) inside @rsize bytes, page-aligned, apart? */
bool dm_proxy_mmap_areas_ok(const VupSparseMmapArea *areas, unsigned n,
                            uint64_t rsize, const char **why);

/*
 * Dirty pages (dm-proxy-dirty.c), main loop.  When the session has
 * dm_dirty_pages and @fps is not 0, keep the areas of @region (@size
 * bytes) that the model declares the guest's in RAM of @owner, over
 * @container, and send their dirty pages @fps times a second; an area
 * for which @clashes says it covers what must trap is not kept.  How
 * many areas are kept (0: the region stays trapped).
 */
unsigned dm_proxy_dirty_start(DMProxyDirty *d, DMProxy *p, Object *owner,
                              MemoryRegion *container, uint32_t region,
                              uint64_t size, uint32_t fps,
                              bool (*clashes)(void *opaque, uint64_t offset,
                                              uint64_t size),
                              void *opaque);
/* Connected again, or a standby activated: send everything at once. */
void dm_proxy_dirty_resync(DMProxyDirty *d);
/* The device goes: stop sending, take the RAM out of the guest's view. */
void dm_proxy_dirty_stop(DMProxyDirty *d, MemoryRegion *container);

/* Migration (dm-proxy-migration.c). */
void dm_proxy_migration_init(DMProxy *p);
void dm_proxy_migration_cleanup(DMProxy *p);
/* May @cmd go to the model now?  1 yes, 0 deferred (pretend done), -errno */
int dm_proxy_migration_gate(DMProxy *p, uint16_t cmd, const void *payload,
                            bool wants_reply);
/* Reconnect now (main loop); for a source whose migration failed. */
void dm_proxy_reconnect_now(DMProxy *p);

/*
 * The VM clock (dm-proxy-vmclock.c): tell the model whether the VM runs
 * and where its clock is (posted; nothing without dm_vm_clock).
 */
void dm_proxy_vm_clock_init(DMProxy *p);
void dm_proxy_vm_clock_sync(DMProxy *p);
/*
 * qtest: before a guest access, report a clock the test stepped since the
 * last report, and after a read take the line the model raised (see
 * dm-proxy-vmclock.c).  Nothing when the clock follows the host.
 */
void dm_proxy_vm_clock_before_access(DMProxy *p);
void dm_proxy_vm_clock_after_access(DMProxy *p);
void dm_proxy_vm_clock_cleanup(DMProxy *p);

/*
 * Interrupts by message held while the guest's vCPUs are busy
 * (dm-proxy-irq-hold.c).  _parse: irq-hold-us, "auto" (or NULL: -1) or
 * 0..DM_PROXY_IRQ_HOLD_MAX_US, false with @errp set.  _init: up to @us
 * (0: never; -1: auto, DM_PROXY_IRQ_HOLD_AUTO_US under TCG; only under
 * TCG), from realize; _cleanup.  dm_proxy_irq_hold(): whether the
 * interrupts pending now wait (a timer or an idle vCPU raises them);
 * BQL held.
 */
#define DM_PROXY_IRQ_HOLD_AUTO_US 200
#define DM_PROXY_IRQ_HOLD_MAX_US  1000000
bool dm_proxy_irq_hold_parse(const char *spec, int64_t *ret_us,
                             Error **errp);
void dm_proxy_irq_hold_init(DMProxy *p, int64_t us);
bool dm_proxy_irq_hold(DMProxy *p);
void dm_proxy_irq_hold_cleanup(DMProxy *p);
/* Raise the interrupts pending (DM_IRQ, DM_VQ_IRQ); BQL held. */
void dm_proxy_irq_raise(DMProxy *p);

/* TLS (dm-proxy-tls.c): creds from @ids, session per connection. */
bool dm_proxy_tls_setup(DMProxy *p, const DMProxyIds *ids, Error **errp);
bool dm_proxy_tls_start(DMProxy *p, Error **errp);
void dm_proxy_tls_end(DMProxy *p);
void dm_proxy_tls_cleanup(DMProxy *p);

/* Reply to a server request, from DMProxyOps.request. */
void dm_proxy_reply(DMProxy *p, const VupMsg *req, const void *payload,
                    size_t len);
void dm_proxy_reply_error(DMProxy *p, const VupMsg *req, int err);

/*
 * Vector @sub of IRQ @index fired (a DM_IRQ, or a DM_VQ_IRQ whose driver
 * wants it): delivered through DMProxyOps.irq from the main loop.  Any
 * thread, p->lock held.
 */
void dm_proxy_irq_deliver(DMProxy *p, uint32_t index, uint32_t sub);

/* Is [addr, addr + len) guest RAM the device may reach (dm-proxy-pci.c)? */
bool dm_proxy_pci_dma_is_ram(PCIDevice *pdev, uint64_t addr, uint64_t len,
                             bool is_write);
/*
 * pci_dma_read(), but an aligned 2-, 4- or 8-byte field in one load: the
 * guest may move a ring index while we read it, and memcpy of 2 bytes
 * (glibc: byte 0, then bytes 0-1) can return half the old and half the
 * new value (dm-proxy-pci.c).
 */
MemTxResult dm_proxy_pci_dma_read(PCIDevice *pdev, uint64_t addr, void *buf,
                                  uint64_t len);
/* Answer DM_VQ_FETCH from the ring in @pdev's memory (dm-proxy-vq-fetch.c). */
void dm_proxy_vq_fetch(DMProxy *p, PCIDevice *pdev, VupMsg *m);
/* DM_VQ_IRQ: deliver the interrupt if the driver wants it (same file). */
void dm_proxy_vq_irq(DMProxy *p, PCIDevice *pdev, VupMsg *m);
/* DM_VQ_RINGS: learn the rings behind a doorbell (same file; p->lock). */
void dm_proxy_vq_rings(DMProxy *p, VupMsg *m);
/* DM_VQ_RECHECK: look at a queue for the model, kick if chains came. */
void dm_proxy_vq_recheck(DMProxy *p, PCIDevice *pdev, VupMsg *m);
/* DMProxyOps.vq_push for a PCI device's memory (same file). */
bool dm_proxy_vq_push(DMProxy *p, PCIDevice *pdev, DMProxyDoorbell *d,
                      GByteArray *out);

#endif /* HW_REMOTE_DM_DM_PROXY_H */
