/*
 * PCI config space emulation for device models.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "pci.h"

/* Standard header offsets (PCI Local Bus 3.0, type 0). */
#define PCI_VENDOR_ID           0x00
#define PCI_DEVICE_ID           0x02
#define PCI_COMMAND             0x04
#define PCI_STATUS              0x06
#define PCI_REVISION_ID         0x08
#define PCI_CLASS_DEVICE        0x0a
#define PCI_CACHE_LINE_SIZE     0x0c
#define PCI_LATENCY_TIMER       0x0d
#define PCI_BASE_ADDRESS_0      0x10
#define PCI_SUBSYSTEM_VENDOR_ID 0x2c
#define PCI_SUBSYSTEM_ID        0x2e
#define PCI_CAPABILITY_LIST     0x34
#define PCI_INTERRUPT_LINE      0x3c
#define PCI_INTERRUPT_PIN       0x3d
#define PCI_CAP_START           0x40
#define PCI_EXT_CAP_START       0x100   /* the first extended capability */

#define PCI_COMMAND_WRITABLE    0x0547  /* IO MEM MASTER PARITY SERR INTX */
#define PCI_STATUS_CAP_LIST     0x0010
#define PCI_STATUS_W1C          0xf900

#define MSI_FLAGS               2
#define MSI_FLAGS_ENABLE        0x0001
#define MSI_FLAGS_QMASK         0x000e
#define MSI_FLAGS_QSIZE         0x0070
#define MSI_FLAGS_64BIT         0x0080
#define MSI_ADDRESS_LO          4
#define MSI_ADDRESS_HI          8
#define MSI_DATA_64             12
#define MSI_CAP_SIZE_64         14

#define MSIX_FLAGS              2
#define MSIX_FLAGS_MASKALL      0x4000
#define MSIX_FLAGS_ENABLE       0x8000
#define MSIX_TABLE              4
#define MSIX_PBA                8
#define MSIX_CAP_SIZE           12

/* The PCI Express capability, version 2 (PCIe Base, 7.5.3). */
#define EXP_FLAGS               2
#define EXP_FLAGS_VERS2         0x0002
#define EXP_DEVCAP              4
#define EXP_DEVCAP_RBER         0x00008000  /* role-based errors: v2 must */
#define EXP_DEVCTL              8
#define EXP_DEVCTL_WRITABLE     0x78ff      /* error enables, RO, payload,
                                               no snoop, read request */
#define EXP_DEVSTA              10
#define EXP_DEVSTA_W1C          0x000f      /* the error detected bits */
#define EXP_LNKCAP              12
#define EXP_LNKSTA              18
#define EXP_LNK_X1_2_5GT        0x0011      /* width 1, speed 2.5 GT/s */
#define EXP_CAP_SIZE_V2         0x3c

/* An extended capability's header: id 15:0, version 19:16, next 31:20. */
#define EXT_CAP_HEADER(id, ver, next) \
    ((uint32_t)(id) | ((uint32_t)(ver) << 16) | ((uint32_t)(next) << 20))

static void set_word(uint8_t *p, uint16_t v)
{
    p[0] = v;
    p[1] = v >> 8;
}

static void set_long(uint8_t *p, uint32_t v)
{
    set_word(p, v);
    set_word(p + 2, v >> 16);
}

uint16_t dm_pci_get_word(const DmPci *pci, unsigned offset)
{
    return pci->config[offset] | (pci->config[offset + 1] << 8);
}

uint32_t dm_pci_get_long(const DmPci *pci, unsigned offset)
{
    return dm_pci_get_word(pci, offset) |
           ((uint32_t)dm_pci_get_word(pci, offset + 2) << 16);
}

void dm_pci_set_word(DmPci *pci, unsigned offset, uint16_t val)
{
    set_word(pci->config + offset, val);
}

void dm_pci_set_long(DmPci *pci, unsigned offset, uint32_t val)
{
    set_long(pci->config + offset, val);
}

void dm_pci_init(DmPci *pci, uint16_t vendor, uint16_t device,
                 uint8_t revision, uint16_t class_code)
{
    memset(pci, 0, sizeof(*pci));
    set_word(pci->config + PCI_VENDOR_ID, vendor);
    set_word(pci->config + PCI_DEVICE_ID, device);
    pci->config[PCI_REVISION_ID] = revision;
    set_word(pci->config + PCI_CLASS_DEVICE, class_code);
    set_word(pci->wmask + PCI_COMMAND, PCI_COMMAND_WRITABLE);
    set_word(pci->w1cmask + PCI_STATUS, PCI_STATUS_W1C);
    pci->wmask[PCI_CACHE_LINE_SIZE] = 0xff;
    pci->wmask[PCI_LATENCY_TIMER] = 0xff;
    pci->wmask[PCI_INTERRUPT_LINE] = 0xff;
    pci->next_cap = PCI_CAP_START;
    pci->size = DM_PCI_CONFIG_SIZE;
}

unsigned dm_pci_config_size(const DmPci *pci)
{
    return pci->size == DM_PCIE_CONFIG_SIZE ? DM_PCIE_CONFIG_SIZE
                                            : DM_PCI_CONFIG_SIZE;
}

void dm_pci_set_subsystem(DmPci *pci, uint16_t vendor, uint16_t id)
{
    set_word(pci->config + PCI_SUBSYSTEM_VENDOR_ID, vendor);
    set_word(pci->config + PCI_SUBSYSTEM_ID, id);
}

void dm_pci_set_interrupt_pin(DmPci *pci, uint8_t pin)
{
    pci->config[PCI_INTERRUPT_PIN] = pin;
}

int dm_pci_set_bar(DmPci *pci, unsigned bar, uint64_t size, uint8_t type)
{
    bool is64 = type & DM_PCI_BAR_MEM64;
    uint64_t mask;
    unsigned off = PCI_BASE_ADDRESS_0 + 4 * bar;

    if (bar >= DM_PCI_NUM_BARS || (is64 && bar == DM_PCI_NUM_BARS - 1) ||
        size == 0 || (size & (size - 1)) ||
        size < ((type & DM_PCI_BAR_IO) ? 4 : 16) ||
        ((type & DM_PCI_BAR_IO) && (size > 256 || is64)) ||
        (!is64 && size > (UINT64_C(1) << 31))) {
        return -EINVAL;
    }
    pci->bar_size[bar] = size;
    mask = ~(size - 1);
    pci->config[off] = type;
    set_long(pci->wmask + off, (uint32_t)mask & ~0xfu);
    if (type & DM_PCI_BAR_IO) {
        set_long(pci->wmask + off, (uint32_t)mask & ~0x3u);
    }
    if (is64) {
        set_long(pci->wmask + off + 4, mask >> 32);
    }
    return 0;
}

int dm_pci_add_capability(DmPci *pci, uint8_t id, uint8_t size)
{
    unsigned off = pci->next_cap;
    unsigned p;

    if (size < 2 || off + size > DM_PCI_CONFIG_SIZE) {
        return -ENOSPC;
    }
    pci->config[off] = id;
    pci->config[off + 1] = 0;
    /* Link it at the end of the list. */
    if (!pci->config[PCI_CAPABILITY_LIST]) {
        pci->config[PCI_CAPABILITY_LIST] = off;
    } else {
        for (p = pci->config[PCI_CAPABILITY_LIST]; pci->config[p + 1];
             p = pci->config[p + 1]) {
            continue;
        }
        pci->config[p + 1] = off;
    }
    set_word(pci->config + PCI_STATUS,
             dm_pci_get_word(pci, PCI_STATUS) | PCI_STATUS_CAP_LIST);
    pci->next_cap = (off + size + 3) & ~3u;
    return off;
}

int dm_pci_add_ext_capability(DmPci *pci, uint16_t id, uint8_t version,
                              unsigned size)
{
    unsigned off = pci->next_ext_cap;

    if (pci->size != DM_PCIE_CONFIG_SIZE || version > 0xf || size < 4 ||
        size > DM_PCIE_CONFIG_SIZE) {
        return -EINVAL;
    }
    if (off + size > DM_PCIE_CONFIG_SIZE) {
        return -ENOSPC;
    }
    set_long(pci->config + off, EXT_CAP_HEADER(id, version, 0));
    /* Link it at the end; the first one is the head, at 0x100. */
    if (pci->last_ext_cap) {
        uint32_t prev = dm_pci_get_long(pci, pci->last_ext_cap);

        set_long(pci->config + pci->last_ext_cap,
                 (prev & 0x000fffff) | EXT_CAP_HEADER(0, 0, off));
    }
    pci->last_ext_cap = off;
    pci->next_ext_cap = (off + size + 3) & ~3u;
    return off;
}

int dm_pci_pcie_init(DmPci *pci, uint8_t type)
{
    int off;

    if (pci->exp_cap) {
        return -EEXIST;
    }
    if (type > 0xf) {
        return -EINVAL;
    }
    off = dm_pci_add_capability(pci, DM_PCI_CAP_ID_EXP, EXP_CAP_SIZE_V2);
    if (off < 0) {
        return off;
    }
    set_word(pci->config + off + EXP_FLAGS, EXP_FLAGS_VERS2 | (type << 4));
    set_long(pci->config + off + EXP_DEVCAP, EXP_DEVCAP_RBER);
    set_word(pci->wmask + off + EXP_DEVCTL, EXP_DEVCTL_WRITABLE);
    set_word(pci->w1cmask + off + EXP_DEVSTA, EXP_DEVSTA_W1C);
    set_long(pci->config + off + EXP_LNKCAP, EXP_LNK_X1_2_5GT);
    set_word(pci->config + off + EXP_LNKSTA, EXP_LNK_X1_2_5GT);
    pci->exp_cap = off;
    /*
     * The extended space reads as zeros, an empty list, until the model
     * adds extended capabilities.
     */
    pci->size = DM_PCIE_CONFIG_SIZE;
    pci->next_ext_cap = PCI_EXT_CAP_START;
    return off;
}

int dm_pci_msi_init(DmPci *pci, unsigned vectors)
{
    int off;
    unsigned log2 = 0;

    if (vectors == 0 || vectors > 32 || (vectors & (vectors - 1))) {
        return -EINVAL;
    }
    while ((1u << log2) < vectors) {
        log2++;
    }
    off = dm_pci_add_capability(pci, DM_PCI_CAP_ID_MSI, MSI_CAP_SIZE_64);
    if (off < 0) {
        return off;
    }
    set_word(pci->config + off + MSI_FLAGS, MSI_FLAGS_64BIT | (log2 << 1));
    set_word(pci->wmask + off + MSI_FLAGS, MSI_FLAGS_ENABLE | MSI_FLAGS_QSIZE);
    set_long(pci->wmask + off + MSI_ADDRESS_LO, 0xfffffffc);
    set_long(pci->wmask + off + MSI_ADDRESS_HI, 0xffffffff);
    set_word(pci->wmask + off + MSI_DATA_64, 0xffff);
    pci->msi_cap = off;
    pci->msi_vectors = vectors;
    return off;
}

int dm_pci_msix_init(DmPci *pci, unsigned vectors, unsigned table_bar,
                     uint32_t table_offset, unsigned pba_bar,
                     uint32_t pba_offset)
{
    int off;

    if (vectors == 0 || vectors > 2048 || table_bar >= DM_PCI_NUM_BARS ||
        pba_bar >= DM_PCI_NUM_BARS || (table_offset & 7) ||
        (pba_offset & 7) ||
        (uint64_t)table_offset + vectors * 16 > pci->bar_size[table_bar] ||
        (uint64_t)pba_offset + (vectors + 63) / 64 * 8 >
            pci->bar_size[pba_bar]) {
        return -EINVAL;
    }
    off = dm_pci_add_capability(pci, DM_PCI_CAP_ID_MSIX, MSIX_CAP_SIZE);
    if (off < 0) {
        return off;
    }
    set_word(pci->config + off + MSIX_FLAGS, vectors - 1);
    set_word(pci->wmask + off + MSIX_FLAGS,
             MSIX_FLAGS_ENABLE | MSIX_FLAGS_MASKALL);
    set_long(pci->config + off + MSIX_TABLE, table_offset | table_bar);
    set_long(pci->config + off + MSIX_PBA, pba_offset | pba_bar);
    pci->msix_cap = off;
    pci->msix_vectors = vectors;
    return off;
}

void dm_pci_finalize(DmPci *pci)
{
    memcpy(pci->reset_config, pci->config, sizeof(pci->config));
}

void dm_pci_reset(DmPci *pci)
{
    memcpy(pci->config, pci->reset_config, sizeof(pci->config));
}

void dm_pci_set_config_hook(DmPci *pci, uint8_t offset, uint8_t len,
                            DmPciConfigHook *hook, void *opaque)
{
    pci->hook = hook;
    pci->hook_opaque = opaque;
    pci->hook_offset = offset;
    pci->hook_len = len;
}

static bool hooked(const DmPci *pci, uint32_t offset, uint32_t len)
{
    return pci->hook && offset < pci->hook_offset + pci->hook_len &&
           pci->hook_offset < offset + len;
}

void dm_pci_config_read(DmPci *pci, uint32_t offset, void *buf,
                        uint32_t len)
{
    if (hooked(pci, offset, len)) {
        pci->hook(pci->hook_opaque, false, offset, len);
    }
    memcpy(buf, pci->config + offset, len);
}

void dm_pci_config_write(DmPci *pci, uint32_t offset, const void *buf,
                         uint32_t len)
{
    const uint8_t *val = buf;

    for (uint32_t i = 0; i < len; i++) {
        uint32_t a = offset + i;
        uint8_t w = pci->wmask[a], c = pci->w1cmask[a];

        pci->config[a] = (pci->config[a] & ~w) | (val[i] & w);
        pci->config[a] &= ~(val[i] & c);
    }
    if (hooked(pci, offset, len)) {
        pci->hook(pci->hook_opaque, true, offset, len);
    }
}
