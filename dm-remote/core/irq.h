/*
 * Interrupt wiring of a device: per index (INTx, MSI, MSI-X, ERR, REQ
 * or a platform device's lines) each vector's trigger (an eventfd, a
 * DM_IRQ message or nothing), its mask, a pending bit for what was
 * raised while masked or unwired, and the level of level-triggered
 * lines.  This file alone touches that state: the session wires and
 * masks through the calls below (after checking the protocol), models
 * raise and lower through dm_irq_raise/dm_irq_lower (model.h, in
 * device.c, above this file).  It knows nothing of the device: the
 * table's send hook, set while a client is attached, carries DM_IRQ
 * messages.
 *
 * Every call ignores an index or vector out of range.  All of it runs
 * in the event loop's thread, except dm_irq_signal_direct, which a
 * model's I/O thread may call: the table's lock keeps a vector's
 * eventfd, mask and pending bit whole between the two (the loop changes
 * them when the client wires or masks, the I/O thread reads them).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_IRQ_H
#define DM_IRQ_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "vup/proto.h"


#define DM_MAX_IRQ_INDEXES VUP_PCI_NUM_IRQS
#define DM_MAX_IRQS_PER_INDEX 2048

/* A vector's trigger: an eventfd, unwired, or DM_IRQ messages. */
#define DM_IRQ_FD_NONE    (-1)
#define DM_IRQ_FD_MESSAGE (-2)

/* One IRQ index: per-vector triggers, masks, pending bits and levels. */
typedef struct DmIrqIndex {
    uint32_t count;
    uint32_t info_flags;        /* VUP_IRQ_INFO_* */
    int *trigger_fd;            /* count entries, DM_IRQ_FD_NONE when unset */
    bool *masked;
    bool *pending;              /* raised while masked or unwired */
    bool *level;                /* level-triggered lines: current level */
} DmIrqIndex;

/* A device's indexes; in DmDevice, read and written by irq.c only. */
/* Sends a DM_IRQ message for a vector wired that way (the client's link). */
typedef void DmIrqSend(void *opaque, unsigned index, unsigned sub);

typedef struct DmIrqTable {
    DmIrqIndex index[DM_MAX_IRQ_INDEXES];
    unsigned num_indexes;
    DmIrqSend *send;            /* NULL: no client, messages wait */
    /* Optional: true sends an eventfd's vector by message this time. */
    bool (*in_band)(void *opaque);
    void *send_opaque;
    /*
     * Held while a vector's trigger, mask or pending bit is read or
     * changed (zeroed, it is an unlocked mutex, as glibc's initializer).
     */
    pthread_mutex_t lock;
} DmIrqTable;

/* Set up @index with @count vectors: 0, -EINVAL, -EEXIST or -ENOMEM. */
int dm_irq_init_index(DmIrqTable *t, unsigned index, uint32_t count,
                      uint32_t info_flags);
/* Would vector @sub of @index go out now as a DM_IRQ message? */
bool dm_irq_message_ready(const DmIrqTable *t, unsigned index,
                          unsigned sub);
/* Has the client wired a vector of @index (for MSI and MSI-X)? */
bool dm_irq_msg_wired(const DmIrqTable *t, unsigned index);

/* ---- The table's life (device.c) ---- */

/*
 * PCI devices have all five indexes: the ones the model did not set up
 * get ERR and REQ one vector each (QEMU's client warns otherwise), the
 * rest none.  0 or -errno.
 */
int dm_irq_fill_pci(DmIrqTable *t);
/* Device reset: no vector masked, pending or high; wiring stays. */
void dm_irq_reset(DmIrqTable *t);
/* SIGUSR1: each index's wiring, masked and pending vectors, logged. */
void dm_irq_dump(const DmIrqTable *t);
/* Unrealize: close every eventfd and free the table. */
void dm_irq_free(DmIrqTable *t);

/* ---- What the session asks ---- */

unsigned dm_irq_num_indexes(const DmIrqTable *t);
/* @index's vector count and VUP_IRQ_INFO_* flags: 0, or -EINVAL. */
int dm_irq_info(const DmIrqTable *t, unsigned index, uint32_t *count,
                uint32_t *flags);

/*
 * Wire vectors [start, start + count) of @index: fds[i] is an eventfd
 * (the table owns it from now on), DM_IRQ_FD_NONE or DM_IRQ_FD_MESSAGE;
 * @fds NULL unwires them all.  An old eventfd is closed; a vector
 * raised before it was wired is signalled now (unless masked).  An
 * eventfd for a vector out of range is closed.
 */
void dm_irq_set_triggers(DmIrqTable *t, unsigned index, uint32_t start,
                         uint32_t count, const int *fds);
/* Wire every vector of [start, start + count) to DM_IRQ messages. */
void dm_irq_set_messages(DmIrqTable *t, unsigned index, uint32_t start,
                         uint32_t count);

/* The client masks / unmasks a vector; unmasking re-signals a pending
 * one or a line still high. */
void dm_irq_mask(DmIrqTable *t, unsigned index, unsigned sub);
void dm_irq_unmask(DmIrqTable *t, unsigned index, unsigned sub);

/* Signal vector @sub of @index if wired and not masked, else mark it
 * pending.  Automasked indexes mask the vector until it is unmasked. */
void dm_irq_signal(DmIrqTable *t, unsigned index, unsigned sub);

/*
 * From a model's I/O thread: signal MSI-X (or MSI) vector @sub through
 * its eventfd if the client wired it to one and it is not masked: true.
 * False, and nothing done, otherwise (a vector by messages, masked, not
 * wired, INTx): the loop raises it (dm_irq_raise) instead.
 */
bool dm_irq_signal_direct(DmIrqTable *t, unsigned sub);

/*
 * Level of a level-triggered line (PCI INTx, a platform device's IRQ):
 * a rising edge signals the client unless masked; a line still high
 * when the client unmasks it signals again.
 */
void dm_irq_set_level(DmIrqTable *t, unsigned index, unsigned sub,
                      bool level);
/* The line's current level (tests, diagnostics). */
bool dm_irq_level(const DmIrqTable *t, unsigned index, unsigned sub);

/* The client went: close every eventfd and unmask; levels and pending
 * bits stay for the next client. */
void dm_irq_release_all(DmIrqTable *t);

#endif /* DM_IRQ_H */
