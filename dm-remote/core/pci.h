/*
 * PCI config space emulation for device models: IDs, BAR sizing, the
 * command and status registers, and a capability list with MSI and
 * MSI-X.  Conventional PCI: 256 bytes; a model that declares itself PCI
 * Express (dm_pci_pcie_init) has 4096, with extended capabilities from
 * 0x100 on.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_PCI_H
#define DM_PCI_H

#include <stdbool.h>
#include <stdint.h>

#define DM_PCI_CONFIG_SIZE      256     /* conventional */
#define DM_PCIE_CONFIG_SIZE     4096    /* PCI Express */
#define DM_PCI_NUM_BARS         6

/* BAR types, as in the low bits of the register. */
#define DM_PCI_BAR_MEM32        0x0
#define DM_PCI_BAR_IO           0x1
#define DM_PCI_BAR_MEM64        0x4
#define DM_PCI_BAR_PREFETCH     0x8

#define DM_PCI_CAP_ID_MSI       0x05
#define DM_PCI_CAP_ID_EXP       0x10    /* PCI Express */
#define DM_PCI_CAP_ID_MSIX      0x11

/*
 * A model's handler for a part of its config space whose bytes are not
 * plain memory (virtio's PCI_CFG access window): called before a read
 * that overlaps the part is copied out, so that it can fill the bytes,
 * and after a write that overlaps it has landed.  @offset and @len are
 * the access's.
 */
typedef void DmPciConfigHook(void *opaque, bool write, uint32_t offset,
                             uint32_t len);

/* Device/port types of the PCI Express capability. */
#define DM_PCI_EXP_TYPE_ENDPOINT        0x0
#define DM_PCI_EXP_TYPE_LEG_END         0x1
#define DM_PCI_EXP_TYPE_RC_END          0x9

/* Extended capability IDs (PCIe Base, 7.6). */
#define DM_PCI_EXT_CAP_ID_DSN   0x0003  /* Device Serial Number */

/* Room for PCI Express; a conventional device uses the first 256. */
struct DmPci {
    uint8_t config[DM_PCIE_CONFIG_SIZE];
    uint8_t wmask[DM_PCIE_CONFIG_SIZE];     /* bits the client may set */
    uint8_t w1cmask[DM_PCIE_CONFIG_SIZE];   /* write 1 to clear */
    uint8_t reset_config[DM_PCIE_CONFIG_SIZE];
    uint64_t bar_size[DM_PCI_NUM_BARS];
    unsigned size;              /* DM_PCI_CONFIG_SIZE or DM_PCIE_... */
    unsigned next_cap;          /* where the next capability goes */
    unsigned next_ext_cap;      /* the next extended one, 0: none yet */
    unsigned last_ext_cap;      /* the extended list's tail, 0: empty */
    uint8_t msi_cap;            /* offset, 0 when absent */
    uint8_t msix_cap;
    uint8_t exp_cap;
    unsigned msi_vectors;
    unsigned msix_vectors;
    DmPciConfigHook *hook;      /* for [hook_offset, + hook_len) */
    void *hook_opaque;
    uint8_t hook_offset, hook_len;
};
typedef struct DmPci DmPci;

void dm_pci_init(DmPci *pci, uint16_t vendor, uint16_t device,
                 uint8_t revision, uint16_t class_code);
void dm_pci_set_subsystem(DmPci *pci, uint16_t vendor, uint16_t id);
void dm_pci_set_interrupt_pin(DmPci *pci, uint8_t pin);

/* @size a power of two (>= 16 for memory, >= 4 for I/O). */
int dm_pci_set_bar(DmPci *pci, unsigned bar, uint64_t size, uint8_t type);

/* Reserve @size bytes for capability @id; its offset or -ENOSPC. */
int dm_pci_add_capability(DmPci *pci, uint8_t id, uint8_t size);

/*
 * Declare the device PCI Express: a version 2 PCI Express capability of
 * device/port @type (DM_PCI_EXP_TYPE_*), x1 at 2.5 GT/s, and 4096 bytes
 * of config space.  Its offset or -errno (-EEXIST the second time).
 */
int dm_pci_pcie_init(DmPci *pci, uint8_t type);

/*
 * Reserve @size bytes (header included, >= 4) in the extended config
 * space for extended capability @id, @version, linked at the end of the
 * list that starts at 0x100.  Its offset, -EINVAL before
 * dm_pci_pcie_init or with a bad @size or @version, or -ENOSPC.
 */
int dm_pci_add_ext_capability(DmPci *pci, uint16_t id, uint8_t version,
                              unsigned size);

/* 256, or 4096 once PCI Express: the config region's size. */
unsigned dm_pci_config_size(const DmPci *pci);

/* MSI with @vectors (1..32, a power of two), 64-bit addresses. */
int dm_pci_msi_init(DmPci *pci, unsigned vectors);
/* MSI-X with @vectors; table and PBA inside BARs. */
int dm_pci_msix_init(DmPci *pci, unsigned vectors, unsigned table_bar,
                     uint32_t table_offset, unsigned pba_bar,
                     uint32_t pba_offset);

/* One hook per device, for [@offset, + @len) (inside the 256 bytes). */
void dm_pci_set_config_hook(DmPci *pci, uint8_t offset, uint8_t len,
                            DmPciConfigHook *hook, void *opaque);

/* Snapshot the power-on state; call once the model set everything. */
void dm_pci_finalize(DmPci *pci);
void dm_pci_reset(DmPci *pci);

/* Accesses of the config region; bounds already checked by the caller. */
void dm_pci_config_read(DmPci *pci, uint32_t offset, void *buf,
                        uint32_t len);
void dm_pci_config_write(DmPci *pci, uint32_t offset, const void *buf,
                         uint32_t len);

uint16_t dm_pci_get_word(const DmPci *pci, unsigned offset);
uint32_t dm_pci_get_long(const DmPci *pci, unsigned offset);
/* For a model's own capability registers (@offset from the helpers). */
void dm_pci_set_word(DmPci *pci, unsigned offset, uint16_t val);
void dm_pci_set_long(DmPci *pci, unsigned offset, uint32_t val);

#endif /* DM_PCI_H */
