/*
 * membar: a test device for mappable regions (dm_device_add_mappable),
 * the smallest model whose BAR is plain memory, as a framebuffer's is.
 *
 * BAR2, size= bytes of 32-bit prefetchable memory: the memory.  With
 * sparse=off the whole BAR is mappable; with sparse=on its first page is
 * registers instead (4-byte reads give 0xc0de0000 | offset, writes are
 * dropped) and the rest is mappable, which the client learns from a
 * sparse-mmap capability.
 *
 * BAR0, 4 KiB of registers, the model's side of the memory:
 *   0x00 (RO) identification 0x6d656d62 ("memb")
 *   0x08 (RW) ADDR: an offset into BAR2
 *   0x10 (RW) DATA: the 4 bytes at ADDR as the model reads them through
 *             its pointer; a write stores them there through it
 *   0x18 (RO) SUM: the sum of BAR2's mappable 32-bit words, as the model
 *             reads them (what a scan-out would see)
 * An ADDR outside the mappable memory (or not 4-byte aligned) reads
 * DATA as all ones and drops a write.
 *
 * With guest-only=on the memory is the guest's alone
 * (dm_device_mappable_guest_only): a client across hosts may keep it
 * and send its dirty pages, and the model never writes it (a DATA
 * write is dropped), as a framebuffer's model.
 *
 * No interrupts, no DMA.  A client that maps BAR2 reaches the memory
 * without a message; one that does not (over TCP) reaches the same
 * memory by REGION_READ/WRITE: the registers must agree either way.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <string.h>

#include "log.h"
#include "model.h"
#include "pci.h"

#define MEMBAR_ID           0x6d656d62
#define MEMBAR_REGS_SIZE    4096
#define MEMBAR_PAGE         4096
#define MEMBAR_TRAPPED      0xc0de0000u

#define REG_ID      0x00
#define REG_ADDR    0x08
#define REG_DATA    0x10
#define REG_SUM     0x18

typedef struct MembarState {
    uint64_t size;              /* size= */
    bool sparse;                /* sparse= */
    bool guest_only;            /* guest-only= */
    uint8_t *mem;               /* the mappable part of BAR2 */
    uint64_t mem_offset;        /* where it starts in BAR2 */
    uint64_t mem_size;
    uint64_t addr;
} MembarState;

/* The model's pointer to BAR2's @addr, 4 bytes; NULL outside memory. */
static uint8_t *membar_word(MembarState *s, uint64_t addr)
{
    if (addr % 4 || addr < s->mem_offset ||
        addr - s->mem_offset > s->mem_size - 4) {
        return NULL;
    }
    return s->mem + (addr - s->mem_offset);
}

static uint64_t membar_regs_read(void *opaque, uint64_t addr, unsigned size)
{
    MembarState *s = opaque;
    uint8_t *w;
    uint32_t v, sum = 0;

    switch (addr) {
    case REG_ID:
        return MEMBAR_ID;
    case REG_ADDR:
        return s->addr;
    case REG_DATA:
        w = membar_word(s, s->addr);
        if (!w) {
            return UINT32_MAX;
        }
        memcpy(&v, w, sizeof(v));
        return le32toh(v);
    case REG_SUM:
        for (uint64_t i = 0; i < s->mem_size; i += 4) {
            memcpy(&v, s->mem + i, sizeof(v));
            sum += le32toh(v);
        }
        return sum;
    default:
        return 0;
    }
}

static void membar_regs_write(void *opaque, uint64_t addr, uint64_t val,
                              unsigned size)
{
    MembarState *s = opaque;
    uint8_t *w;
    uint32_t v;

    switch (addr) {
    case REG_ADDR:
        s->addr = val;
        break;
    case REG_DATA:
        w = s->guest_only ? NULL : membar_word(s, s->addr);
        if (w) {
            v = htole32(val);
            memcpy(w, &v, sizeof(v));
        }
        break;
    }
}

static const DmRegionOps membar_regs_ops = {
    .read = membar_regs_read,
    .write = membar_regs_write,
    .valid = { .min_access_size = 4, .max_access_size = 8 },
};

/* BAR2 outside the mappable memory: sparse=on's first page. */
static uint64_t membar_trapped_read(void *opaque, uint64_t addr,
                                    unsigned size)
{
    return MEMBAR_TRAPPED | addr;
}

static void membar_trapped_write(void *opaque, uint64_t addr, uint64_t val,
                                 unsigned size)
{
}

static const DmRegionOps membar_mem_ops = {
    .read = membar_trapped_read,
    .write = membar_trapped_write,
    .impl = { .max_access_size = 4 },
};

static int membar_realize(DmDevice *dev)
{
    MembarState *s = dm_device_state(dev);
    DmPci *pci = dm_device_pci(dev);
    int ret;

    if (s->size < 2 * MEMBAR_PAGE || (s->size & (s->size - 1))) {
        dm_error("membar: size=0x%llx is not a power of two of at least "
                 "8 KiB", (unsigned long long)s->size);
        return -EINVAL;
    }
    s->mem_offset = s->sparse ? MEMBAR_PAGE : 0;
    s->mem_size = s->size - s->mem_offset;
    /* Red Hat's QEMU test IDs, another device number than edu's. */
    dm_pci_init(pci, 0x1b36, 0x10fe, 0x01, 0x0580);
    ret = dm_pci_set_bar(pci, 0, MEMBAR_REGS_SIZE, DM_PCI_BAR_MEM32);
    if (ret >= 0) {
        ret = dm_pci_set_bar(pci, 2, s->size,
                             DM_PCI_BAR_MEM32 | DM_PCI_BAR_PREFETCH);
    }
    if (ret < 0) {
        return ret;
    }
    dm_device_init_region(dev, VUP_PCI_BAR0_REGION_INDEX, MEMBAR_REGS_SIZE,
                          &membar_regs_ops, s);
    dm_device_init_region(dev, VUP_PCI_BAR0_REGION_INDEX + 2, s->size,
                          &membar_mem_ops, s);
    s->mem = dm_device_add_mappable(dev, VUP_PCI_BAR0_REGION_INDEX + 2,
                                    s->mem_offset, s->mem_size);
    if (!s->mem) {
        return -ENOMEM;
    }
    if (s->guest_only &&
        dm_device_mappable_guest_only(dev, VUP_PCI_BAR0_REGION_INDEX + 2,
                                      s->mem_offset, NULL, NULL) < 0) {
        return -EINVAL;
    }
    return 0;
}

static void membar_reset(DmDevice *dev)
{
    MembarState *s = dm_device_state(dev);

    s->addr = 0;
}

static const DmProp membar_props[] = {
    DM_PROP_UINT64("size", MembarState, size, "0x10000", 0x2000, 0x10000000,
                   "BAR2's size: a power of two, 8 KiB to 256 MiB"),
    DM_PROP_BOOLEAN("sparse", MembarState, sparse, "off",
                    "BAR2's first page is registers, the rest mappable"),
    DM_PROP_BOOLEAN("guest-only", MembarState, guest_only, "off",
                    "the memory is the guest's: the model never writes "
                    "it, a client may send its dirty pages"),
    DM_PROP_END,
};

static const DmModel dm_model_membar = {
    .name = "membar",
    .description = "test device: a BAR of plain memory the client may map",
    .bus = DM_BUS_PCI,
    .state_size = sizeof(MembarState),
    .props = membar_props,
    .realize = membar_realize,
    .reset = membar_reset,
};
DM_MODEL_REGISTER(dm_model_membar)
