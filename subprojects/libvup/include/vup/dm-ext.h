/*
 * qemu-dm's extensions to vfio-user (docs/protocol.md), apart from the
 * spec's messages in vup/proto.h: capabilities offered in VERSION (each
 * is used only when both sides offer it), commands in 0x7f00..0x7fff
 * and a region capability.  A peer without them (libvfio-user, QEMU's
 * vfio-user-pci) simply takes the standard path.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VUP_DM_EXT_H
#define VUP_DM_EXT_H

#include <stdint.h>

#include "vup/proto.h"

/* ---- Capabilities and commands, negotiated in VERSION ---- */

/*
 * Capability key: the identifiers of the architecture and an access token,
 * sent by the client ({"vm": ..., "hypervisor": ..., "client_platform":
 * ..., "device_model": ..., "server_platform": ..., "token": ...}).
 */
#define VUP_CAP_DM_IDS              "dm_ids"

/* Capability key: the peer sends / accepts VUP_CMD_DM_IRQ messages. */
#define VUP_CAP_DM_IRQ_MESSAGES     "dm_irq_messages"

/*
 * An interrupt as a message, server to client, always with NO_REPLY: for
 * transports that cannot pass eventfds (TCP).  Same meaning as a write to
 * the vector's eventfd.
 */
#define VUP_CMD_DM_IRQ              0x7f01

typedef struct VUP_PACKED VupDmIrq {
    uint32_t index;
    uint32_t sub;
} VupDmIrq;
VUP_CHECK_SIZE(VupDmIrq, 8);

/* SET_IRQS data type: signal these vectors with VUP_CMD_DM_IRQ. */
#define VUP_IRQ_SET_DATA_DM_MESSAGE (1u << 31)

/*
 * Capability key, told by the client (not negotiated): how many vCPUs
 * its VM has, 1..1024, so that a model may size itself to the guest (a
 * disk's request queues, one per vCPU as QEMU's virtio-blk-pci does).
 */
#define VUP_CAP_DM_VCPUS            "dm_vcpus"
#define VUP_DM_VCPUS_MAX            1024

/*
 * Capability key, told by the client (not negotiated): the accelerator
 * its VM runs on ("kvm", "tcg", ...: QEMU's name for it), 1..15 bytes of
 * [a-z0-9_-].  What an interrupt costs the guest depends on it (a trip
 * through QEMU's main loop and the TCG vCPU's, or an irqfd), so a model
 * may tune for it (virtio-blk's irq_delay_us=auto).
 */
#define VUP_CAP_DM_ACCEL            "dm_accel"   /* VUP_DM_ACCEL_MAX: caps.h */

/*
 * Capability key: standby sessions, for migration.  A client that offers
 * it may be accepted while another client is served: as a *standby* (the
 * server says so by offering it back), it may only ask for the device's
 * description (GET_INFO, GET_REGION_INFO, GET_IRQ_INFO, reads of the PCI
 * config region); anything else gets EBUSY.  The migration target of a
 * VM connects so, while the source still runs.
 */
#define VUP_CAP_DM_STANDBY          "dm_standby"

/*
 * Client to server, no payload: make this standby session the active one.
 * Answered at once: success once the active client has gone (its session
 * becomes this one, with the device's state), EBUSY while it is still
 * there (the client retries).  Success on an active session.
 */
#define VUP_CMD_DM_ACTIVATE         0x7f02

/*
 * Capability key: the VM clock.  A client that offers it tells the
 * server, with VUP_CMD_DM_VM_STATE, whenever its VM starts or stops
 * running and what its VM clock reads, so that the models' timers
 * follow the guest's time: stopped while it is paused, continued on the
 * migration target where the source left off.
 */
#define VUP_CAP_DM_VM_CLOCK         "dm_vm_clock"

/*
 * Client to server, usually with NO_REPLY: the VM now runs (or not) and
 * its clock reads vm_clock_ns (QEMU's QEMU_CLOCK_VIRTUAL).  Sent after
 * VERSION and at every change of run state.
 */
#define VUP_CMD_DM_VM_STATE         0x7f03

typedef struct VUP_PACKED VupDmVmState {
    uint32_t running;           /* 0 or 1 */
    uint32_t reserved;          /* 0 */
    uint64_t vm_clock_ns;
} VupDmVmState;
VUP_CHECK_SIZE(VupDmVmState, 16);

/*
 * Capability key: doorbells without descriptors.  Over a transport that
 * cannot pass fds (TCP), a server answers GET_REGION_IO_FDS of a client
 * that offered it with the region's doorbells (ioeventfd entries) whose
 * fd_index is VUP_IO_FD_INDEX_NONE: writes there are kicks, which the
 * client sends at once instead of gathering them with other posted
 * writes.  Without it such a server answers count 0.
 */
#define VUP_CAP_DM_DOORBELLS        "dm_doorbells"

/* fd_index of a GET_REGION_IO_FDS entry that comes without a descriptor. */
#define VUP_IO_FD_INDEX_NONE        0xffffffffu

/*
 * Capability key: guest memory by messages, in fewer round trips.  A
 * client that offers it (i) serves VUP_CMD_DM_VQ_FETCH, (ii) takes
 * DMA_WRITE with NO_REPLY: no answer, applied in stream order, so a
 * later DMA_READ or DM_VQ_FETCH sees it, and (iii) VUP_CMD_DM_VQ_IRQ.  A server uses them only where
 * memory is not shared (TCP); a client without them gets plain
 * DMA_READ/DMA_WRITE with replies.  docs/protocol.md has the rationale.
 */
#define VUP_CAP_DM_VQ_FETCH         "dm_vq_fetch"

/*
 * Server to client: take up to max_chains chains of a split virtqueue
 * from entry last_avail of its available ring, in one exchange: the
 * client reads the available index, walks each chain (indirect tables
 * too when flags says so) and returns its buffers and the bytes of its
 * readable ones.  It stops early, without an error, at the first chain
 * it will not walk (any rule broken, more than max_segs buffers, a
 * buffer outside guest RAM) or when the reply would exceed the
 * negotiated max_data_xfer_size: the server walks that one itself with
 * DMA_READ and finds out why.  The client checks nothing else for the
 * server, which checks everything again (a peer is not trusted either).
 */
#define VUP_CMD_DM_VQ_FETCH         0x7f04

#define VUP_DM_VQ_FETCH_F_INDIRECT  (1u << 0)   /* INDIRECT_DESC negotiated */

typedef struct VUP_PACKED VupDmVqFetch {
    uint64_t desc;              /* guest address of the descriptor table */
    uint64_t avail;             /* ... of the available ring */
    uint16_t size;              /* entries, a power of 2, <= 32768 */
    uint16_t last_avail;        /* the first entry of the ring to take */
    uint16_t max_chains;        /* take at most this many */
    uint16_t flags;             /* VUP_DM_VQ_FETCH_F_* */
    uint32_t max_segs;          /* buffers one chain may have */
    uint32_t max_data;          /* readable bytes to send, all chains */
} VupDmVqFetch;
VUP_CHECK_SIZE(VupDmVqFetch, 32);

/*
 * The reply: this header, then nchains times a VupDmVqChain, its nsegs
 * VupDmVqSeg and its data_len bytes padded to 8.  data_len is the sum
 * of the readable buffers' lengths, or 0 when they did not fit in
 * max_data (the server then reads them itself).
 */
typedef struct VUP_PACKED VupDmVqFetchReply {
    uint16_t avail_idx;         /* the available index the client read */
    uint16_t nchains;
    uint32_t reserved;
} VupDmVqFetchReply;
VUP_CHECK_SIZE(VupDmVqFetchReply, 8);

typedef struct VUP_PACKED VupDmVqChain {
    uint16_t head;
    uint16_t nsegs;
    uint16_t nout;              /* the first nout buffers are readable */
    uint16_t reserved;
    uint32_t data_len;
    uint32_t reserved2;
} VupDmVqChain;
VUP_CHECK_SIZE(VupDmVqChain, 16);

#define VUP_DM_VQ_SEG_F_WRITE       (1u << 0)   /* device-writable */

typedef struct VUP_PACKED VupDmVqSeg {
    uint64_t addr;
    uint32_t len;
    uint32_t flags;             /* VUP_DM_VQ_SEG_F_* */
} VupDmVqSeg;
VUP_CHECK_SIZE(VupDmVqSeg, 16);

/*
 * Server to client, NO_REPLY, with dm_vq_fetch: signal vector sub of
 * MSI-X/MSI index as VUP_CMD_DM_IRQ would, but only if the driver wants
 * the interrupt, which the client reads in guest memory after applying
 * what came before on the stream (the used index): with EVENT_IDX if
 * vring_need_event(used_event, new_used, old_used), else unless the
 * available ring's flags say NO_INTERRUPT.  Signalled anyway when that
 * memory cannot be read.  Saves the server a round trip per interrupt.
 */
#define VUP_CMD_DM_VQ_IRQ           0x7f05

#define VUP_DM_VQ_IRQ_F_EVENT_IDX   (1u << 0)

typedef struct VUP_PACKED VupDmVqIrq {
    uint32_t index;
    uint32_t sub;
    uint64_t avail;             /* the queue's available ring */
    uint16_t size;
    uint16_t old_used;          /* the used index at the last interrupt */
    uint16_t new_used;          /* the used index now */
    uint16_t flags;             /* VUP_DM_VQ_IRQ_F_* */
} VupDmVqIrq;
VUP_CHECK_SIZE(VupDmVqIrq, 24);

/*
 * Capability key, with dm_vq_fetch: chains pushed with the kick.  The
 * server tells the client where a queue's rings are (DM_VQ_RINGS); on a
 * kick of that queue's doorbell the client walks the new chains as it
 * would for a fetch and sends them with the kick (DM_VQ_KICK), so that
 * a request costs no fetch's round trip.  Either side may do without:
 * the server then fetches as before.
 */
#define VUP_CAP_DM_VQ_PUSH          "dm_vq_push"

/*
 * Server to client, NO_REPLY: the rings of the queue behind the doorbell
 * at offset of region, to walk on its kicks from ring entry last_avail
 * on, with the limits of a fetch (max_chains, max_segs, max_data:
 * VupDmVqFetch's).  size 0 forgets them.  cookie (not 0) comes back
 * with each push: the server drops a push of rings it no longer has.
 * The client ignores a message it does not like (no such doorbell, a
 * bad size or flag): its kicks then go plain.
 */
#define VUP_CMD_DM_VQ_RINGS         0x7f09

#define VUP_DM_VQ_RINGS_F_INDIRECT  (1u << 0)   /* INDIRECT_DESC negotiated */

typedef struct VUP_PACKED VupDmVqRings {
    uint32_t region;
    uint32_t cookie;
    uint64_t offset;            /* the doorbell's, in region */
    uint64_t desc;
    uint64_t avail;
    uint16_t size;              /* a power of 2, <= 32768; 0: forget */
    uint16_t last_avail;
    uint16_t max_chains;
    uint16_t flags;             /* VUP_DM_VQ_RINGS_F_* */
    uint32_t max_segs;
    uint32_t max_data;
} VupDmVqRings;
VUP_CHECK_SIZE(VupDmVqRings, 48);

/*
 * Client to server, NO_REPLY: the doorbell at offset of region rang
 * (what a REGION_WRITE there says), and here are the chains from ring
 * entry first on: after this header, a DM_VQ_FETCH reply's bytes
 * (VupDmVqFetchReply, then its chains), each chain with all its readable
 * bytes.  The server takes the chains it has not taken yet (by ring
 * index: a chain it fetched meanwhile is not taken twice), drops a push
 * whose cookie is not the queue's or that starts past its next entry,
 * and checks the rest as a fetch's reply.
 */
#define VUP_CMD_DM_VQ_KICK          0x7f0a

typedef struct VUP_PACKED VupDmVqKick {
    uint32_t region;
    uint32_t cookie;            /* DM_VQ_RINGS' */
    uint64_t offset;            /* the doorbell's, in region */
    uint16_t first;             /* the ring entry of the first chain */
    uint16_t reserved;          /* 0 */
    uint32_t reserved2;         /* 0 */
} VupDmVqKick;
VUP_CHECK_SIZE(VupDmVqKick, 24);

/*
 * Server to client, NO_REPLY, with dm_vq_push: after applying what came
 * before it on the stream (the server's avail_event write), and a full
 * barrier, the client reads the available index of the rings told
 * under cookie for the doorbell at offset of region; if it is not
 * last_avail, the client rings that doorbell: a DM_VQ_KICK with the
 * chains from last_avail on, or a plain REGION_WRITE kick when it
 * pushes none (rings it does not have, a chain too big).  The server's
 * look for chains made available unkicked, without a round trip.
 */
#define VUP_CMD_DM_VQ_RECHECK       0x7f0b

typedef struct VUP_PACKED VupDmVqRecheck {
    uint32_t region;
    uint32_t cookie;            /* DM_VQ_RINGS' */
    uint64_t offset;            /* the doorbell's, in region */
    uint16_t last_avail;        /* the next ring entry the server takes */
    uint16_t reserved;          /* 0 */
    uint32_t reserved2;         /* 0 */
} VupDmVqRecheck;
VUP_CHECK_SIZE(VupDmVqRecheck, 24);

/* ---- Events for the client's management (dm_events) ---- */

/*
 * Capability key: the client takes VUP_CMD_DM_EVENT messages.  Something
 * happened in the device that the VM's management hears of from a local
 * device (QEMU's QMP events), such as the guest setting its real-time
 * clock.
 */
#define VUP_CAP_DM_EVENTS           "dm_events"

/* Server to client, NO_REPLY: VupDmEvent. */
#define VUP_CMD_DM_EVENT            0x7f06

/* The guest set the RTC: value = its new offset in seconds from base=. */
#define VUP_DM_EVENT_RTC_CHANGE     1

typedef struct VUP_PACKED VupDmEvent {
    uint32_t type;              /* VUP_DM_EVENT_* */
    uint32_t reserved;          /* 0 */
    int64_t value;
} VupDmEvent;
VUP_CHECK_SIZE(VupDmEvent, 16);

/* ---- A framebuffer kept by the client (dm_dirty_pages) ---- */

/*
 * Capability key: a mappable area the client cannot map (no fds over
 * TCP, or it chose not to) may be kept in the client's own memory, the
 * guest's accesses served there, and the pages the guest dirtied sent
 * to the server with VUP_CMD_DM_DIRTY_PAGES at a bounded rate.  Only
 * areas the model never writes (VUP_REGION_INFO_CAP_DM_DIRTY lists
 * them): the client's copy is then the only truth the guest writes.
 */
#define VUP_CAP_DM_DIRTY_PAGES      "dm_dirty_pages"

/*
 * Client to server, with a reply (empty; an error for a bad message,
 * which changes nothing): VupDmDirtyPages, nruns VupDmDirtyRun, then
 * the runs' bytes in the same order, nothing else.  Every run lies in
 * one area of the region's VUP_REGION_INFO_CAP_DM_DIRTY, its offset and
 * size multiples of page_size (4096, the server's page).  A client
 * waits for the reply before the next one: one in flight.
 */
#define VUP_CMD_DM_DIRTY_PAGES      0x7f08

#define VUP_DM_DIRTY_PAGE_SIZE      4096
#define VUP_DM_DIRTY_MAX_RUNS       4096        /* per message */

typedef struct VUP_PACKED VupDmDirtyPages {
    uint32_t region;
    uint32_t nruns;             /* 1..VUP_DM_DIRTY_MAX_RUNS */
    uint32_t page_size;         /* VUP_DM_DIRTY_PAGE_SIZE */
    uint32_t reserved;          /* 0 */
} VupDmDirtyPages;
VUP_CHECK_SIZE(VupDmDirtyPages, 16);

typedef struct VUP_PACKED VupDmDirtyRun {
    uint64_t offset;            /* in the region */
    uint64_t size;              /* bytes, > 0 */
} VupDmDirtyRun;
VUP_CHECK_SIZE(VupDmDirtyRun, 16);

/* ---- Controls from the client's management (dm_controls) ---- */

/*
 * Capability key: the server takes VUP_CMD_DM_CONTROL messages.  The VM's
 * management changes something of the device that it changes on a local
 * device through QMP, such as a network card's link (`set_link`): never
 * the guest's to ask, so not a register.
 */
#define VUP_CAP_DM_CONTROLS         "dm_controls"

/*
 * Client to server, with a reply (no payload): VupDmControl.  ENOTSUP:
 * the device has no such control; EINVAL: a value it does not take.
 */
#define VUP_CMD_DM_CONTROL          0x7f07

/* A network card's link: value 1 up, 0 down. */
#define VUP_DM_CONTROL_LINK         1

typedef struct VUP_PACKED VupDmControl {
    uint32_t type;              /* VUP_DM_CONTROL_* */
    uint32_t reserved;          /* 0 */
    uint64_t value;
} VupDmControl;
VUP_CHECK_SIZE(VupDmControl, 16);

/* ---- Posted writes a lost server never applied (dm_applied) ---- */

/*
 * Capability key: the server tells which of the client's messages it has
 * applied.  A posted write (NO_REPLY) has no answer: a server killed, or
 * a link cut, with writes in the socket or in its own buffers loses them
 * without a word, and the guest's driver, which believes them done, waits
 * for good (a virtio status written during a reset, a UART's IER).  With
 * it the client keeps the posted writes no reply has confirmed yet (a
 * reply to a later call confirms them: the server handles a session's
 * messages in order), and after connecting again sends those the server
 * says it has not applied, in order, with their msg_ids.
 */
#define VUP_CAP_DM_APPLIED          "dm_applied"

/*
 * Client to server, with a reply, right after VERSION (for a standby:
 * after DM_ACTIVATE) and before anything else: "I am @client; what is
 * the last message of mine you applied?"  @client is the client's own
 * random tag, the same for as long as it drives the device (its
 * reconnections included); flags and last_id are 0.  The reply has the
 * same layout: @client echoed, VUP_DM_APPLIED_F_KNOWN in flags when the
 * device's record belongs to this client, with last_id the msg_id of the
 * last message of it the device applied (and kept, for a server started
 * again on the state it saved).  Without the flag the client sends
 * nothing again: the device does not know this client.  From this
 * message on the device records the client's messages as it applies
 * them.
 */
#define VUP_CMD_DM_APPLIED          0x7f0c

#define VUP_DM_APPLIED_F_KNOWN      (1u << 0)

typedef struct VUP_PACKED VupDmApplied {
    uint64_t client;
    uint32_t flags;             /* VUP_DM_APPLIED_F_*; 0 in the request */
    uint16_t last_id;           /* with F_KNOWN; 0 in the request */
    uint16_t reserved;          /* 0 */
} VupDmApplied;
VUP_CHECK_SIZE(VupDmApplied, 16);

/* ---- Region capability (GET_REGION_INFO's chain) ---- */

/*
 * Where a platform device's port range and interrupt line sit by default
 * on an ISA bus.
 */
#define VUP_REGION_INFO_CAP_DM_ISA 0xdd01

typedef struct VUP_PACKED VupRegionInfoCapDmIsa {
    VupInfoCapHeader header;
    uint32_t iobase;
    uint32_t irq;
} VupRegionInfoCapDmIsa;
VUP_CHECK_SIZE(VupRegionInfoCapDmIsa, 16);

/*
 * The areas of a region the client may keep and send as dirty pages
 * (dm_dirty_pages): the layout of VUP_REGION_INFO_CAP_SPARSE_MMAP
 * (nr_areas, then VupSparseMmapArea each), sent only to a client that
 * negotiated the extension, over any transport.
 */
#define VUP_REGION_INFO_CAP_DM_DIRTY 0xdd02

#endif /* VUP_DM_EXT_H */
