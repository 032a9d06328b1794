/*
 * PCI config space emulation for device models: IDs, BAR sizing, the
 * command and status registers, and a capability list with MSI and
 * MSI-X.  Conventional PCI: 256 bytes.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_PCI_H
#define DM_PCI_H

#include <stdbool.h>
#include <stdint.h>

#define DM_PCI_CONFIG_SIZE      256
#define DM_PCI_NUM_BARS         6

/* BAR types, as in the low bits of the register. */
#define DM_PCI_BAR_MEM32        0x0
#define DM_PCI_BAR_IO           0x1
#define DM_PCI_BAR_MEM64        0x4
#define DM_PCI_BAR_PREFETCH     0x8

#define DM_PCI_CAP_ID_MSI       0x05
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

struct DmPci {
    uint8_t config[DM_PCI_CONFIG_SIZE];
    uint8_t wmask[DM_PCI_CONFIG_SIZE];      /* bits the client may set */
    uint8_t w1cmask[DM_PCI_CONFIG_SIZE];    /* write 1 to clear */
    uint8_t reset_config[DM_PCI_CONFIG_SIZE];
    uint64_t bar_size[DM_PCI_NUM_BARS];
    unsigned next_cap;          /* where the next capability goes */
    uint8_t msi_cap;            /* offset, 0 when absent */
    uint8_t msix_cap;
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

#endif /* DM_PCI_H */
