/*
 * A model in-process, without QEMU or a socket: a fake link (a buffer
 * standing in for guest RAM, a record of the interrupts sent) attached
 * to a realized device, and a loop to run its timers and work.  For the
 * model tests (test-models.c, test-virtio-blk.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef MODEL_RIG_H
#define MODEL_RIG_H

#include <stdbool.h>
#include <stdint.h>

#include "device.h"

#define RIG_RAM_BASE 0x100000
#define RIG_RAM_SIZE 0x40000

typedef struct FakeLink FakeLink;

struct FakeLink {
    /* Guest addresses RIG_RAM_BASE...; page-aligned on the host, as
     * guest RAM is (cache=none's tests choose their alignment). */
    uint8_t ram[RIG_RAM_SIZE] __attribute__((aligned(4096)));
    bool shared;                /* dm_dma_iov gives host pointers */
    /* When shared: but not from here on (a window without an fd), or 0. */
    uint64_t unshared_from;
    unsigned iovs_given;        /* its pieces, when it did */
    /* DM_VQ_FETCH as the client answers it; NULL: not offered. */
    int (*vq_fetch)(FakeLink *l, const VupDmVqFetch *req, void **reply,
                    size_t *len);
    unsigned vq_fetches;
    /* DM_VQ_RINGS taken (a client with dm_vq_push): the last, how many. */
    bool vq_push;
    VupDmVqRings rings;
    unsigned rings_told;
    unsigned rings_asked;       /* told or not */
    /* DM_VQ_RECHECK taken (with vq_push and vq_recheck): the last. */
    bool vq_recheck;
    VupDmVqRecheck recheck;
    unsigned rechecks;
    unsigned vcpus;             /* what the client says (dm_vcpus) */
    const char *accel;          /* and (dm_accel): NULL for "" */
    unsigned irqs_sent;         /* DM_IRQ messages */
    /* Writes are posted (TCP): known applied only by a later reply. */
    bool posted;
    unsigned used_idx_reads;    /* DMA reads at used_idx_at, if not 0 */
    uint64_t used_idx_at;
    unsigned last_index, last_sub;
};

typedef struct Rig {
    DmLoop *loop;
    DmDevice dev;
    DmModelArgs args;
    FakeLink link;
} Rig;

/* Realize "MODEL[,prop=value...]" and attach the fake link (asserts). */
Rig *rig_new(const char *spec);
/* The same, as "dm-remote serve --state-file=@state_file" does. */
Rig *rig_new_state(const char *spec, const char *state_file);
void rig_free(Rig *r);
/* The client goes away (dm_device_detach), and comes back with its
 * memory as it was (attached again, interrupts rewired). */
void rig_detach(Rig *r);
void rig_reattach(Rig *r);

/* Host pointer of guest address @addr in the fake RAM. */
void *rig_ram(Rig *r, uint64_t addr);

/* Region accesses as the session makes them. */
uint64_t rig_read(Rig *r, unsigned region, uint64_t addr, unsigned size);
void rig_write(Rig *r, unsigned region, uint64_t addr, uint64_t val,
               unsigned size);

/* Run the loop until @done(r) or 5 s (a bound, not a check). */
void rig_run_until(Rig *r, bool (*done)(Rig *r));
/* Run the loop for @ms milliseconds. */
void rig_run_for(Rig *r, int ms);

#endif /* MODEL_RIG_H */
