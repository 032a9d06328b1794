/*
 * A virtio-blk driver for the in-process model tests: what Linux's
 * virtio_pci and virtio_blk drivers do at start, and requests through a
 * split ring (queue 0) in the rig's fake guest RAM.  Shared by the tests
 * of each back end (test-virtio-blk.c, test-virtio-blk-nbd.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BLK_DRIVER_H
#define BLK_DRIVER_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "model-rig.h"
#include "../../dm-remote/virtio/virtio-pci.h"

#define RAM_BASE    RIG_RAM_BASE
#define QSIZE       16
#define DESC        (RAM_BASE + 0x0000)
#define AVAIL       (RAM_BASE + 0x1000)
#define USED        (RAM_BASE + 0x2000)
#define HDR         (RAM_BASE + 0x3000)
#define DATA        (RAM_BASE + 0x4000)
#define STATUS      (RAM_BASE + 0x3f00)

/* The model on the rig, its image, and the driver's avail index. */
typedef struct Blk {
    Rig *rig;
    DmDevice *dev;
    char img[64];
    uint16_t avail_idx;
    unsigned window;    /* PCI_CFG capability BAR accesses go through, or 0 */
} Blk;

#define BAR4 (VUP_PCI_BAR0_REGION_INDEX + DM_VIRTIO_BAR)

/* The request types and statuses the tests use (virtio 1.2 5.2.6). */
#define BLK_T_IN            0
#define BLK_T_OUT           1
#define BLK_T_FLUSH         4
#define BLK_T_DISCARD       11
#define BLK_T_WRITE_ZEROES  13
#define BLK_F_RO            5
#define BLK_F_FLUSH         9
#define BLK_F_DISCARD       13
#define BLK_F_WRITE_ZEROES  14

/* Config space accesses, as the session makes them. */
uint32_t cfg_rd(Blk *r, unsigned off, unsigned size);
void cfg_wr(Blk *r, unsigned off, uint32_t v, unsigned size);
/* Point the PCI_CFG capability's window at @len bytes at @off of BAR @bar. */
void window_set(Blk *r, uint8_t bar, uint32_t off, uint32_t len);
/* BAR4, directly or through the window when r->window is set. */
uint32_t rd(Blk *r, uint64_t off, unsigned size);
void wr(Blk *r, uint64_t off, uint32_t v, unsigned size);
/* Host pointer of guest address @addr; a copy into it. */
void *at(Blk *r, uint64_t addr);
void put(Blk *r, uint64_t addr, const void *p, size_t n);

/* Reset, negotiate @want (of what is offered), set up queue 0: the
 * features the device offered. */
uint64_t driver_init(Blk *r, uint64_t want);
void desc(Blk *r, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
          uint16_t next);
uint16_t used_idx(Blk *r);
/* Make head 0 available (no kick): the used index that says it is done. */
uint16_t offer_head0(Blk *r);
/* Run the loop until the used index is @want (bounded). */
void wait_used_idx(Blk *r, uint16_t want);
/* Make head 0 available, kick, run the loop until it is used (bounded). */
void kick_and_wait(Blk *r);
/* The descriptors of a request as request() makes them, not offered. */
void request_prepare(Blk *r, uint32_t type, uint64_t sector, uint32_t len,
                     bool data_in);
/* A request of @type at @sector with @len data bytes at DATA: its status. */
uint8_t request(Blk *r, uint32_t type, uint64_t sector, uint32_t len,
                bool data_in);
/* DISCARD or WRITE_ZEROES of one range: its status. */
uint8_t request_range(Blk *r, uint32_t type, uint64_t sector,
                      uint32_t sectors, uint32_t flags);

#endif /* BLK_DRIVER_H */
