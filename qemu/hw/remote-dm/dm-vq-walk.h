/*
 * The fork's walk of a split virtqueue for DM_VQ_FETCH, in plain C: the
 * guest's ring in, the reply's bytes out.  dm-proxy-vq-fetch.c runs it
 * on guest memory through pci_dma_read; tests/fuzz/fuzz-vq-walk.c on a
 * memory the fuzzer fills (issue 22: the fork's side of the protocol).
 * No QEMU header here, so that both can build it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_VQ_WALK_H
#define DM_VQ_WALK_H

#include <stdbool.h>
#include <stdint.h>

#include <glib.h>

#include "vup/dm-ext.h"

/* Buffers of one chain we walk, whatever the model allows. */
#define DM_VQ_WALK_MAX_SEGS     1024

typedef struct DmVqWalkOps {
    /* Read guest memory: false if [addr, addr + len) cannot be read. */
    bool (*read)(void *opaque, uint64_t addr, void *buf, uint64_t len);
    /* Is [addr, addr + len) guest RAM the model may @write (or read)? */
    bool (*is_ram)(void *opaque, uint64_t addr, uint64_t len, bool write);
} DmVqWalkOps;

/*
 * Answer @req (in host order, as libvup delivers it): the reply's bytes
 * (little-endian, as sent), at most @limit of them (the client's
 * max_data_xfer_size), in a new array in *@out.  0, -EINVAL for a
 * request that breaks the protocol's rules, or -EFAULT when the
 * available index cannot be read.  The walk stops
 * quietly at the first chain that breaks a rule: the model then walks
 * that one itself.  *@avail_idx gets the available index read.
 */
int dm_vq_walk_fetch(const DmVqWalkOps *ops, void *opaque,
                     const VupDmVqFetch *req, uint64_t limit,
                     GByteArray **out, uint16_t *avail_idx);
/*
 * The same for chains pushed with a kick (DM_VQ_KICK): every chain with
 * all its readable bytes; the walk stops before the first chain whose
 * bytes do not fit in max_data or @limit (the model fetches that one).
 */
int dm_vq_walk_push(const DmVqWalkOps *ops, void *opaque,
                    const VupDmVqFetch *req, uint64_t limit,
                    GByteArray **out, uint16_t *avail_idx);

#endif /* DM_VQ_WALK_H */
