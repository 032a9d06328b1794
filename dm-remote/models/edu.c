/*
 * edu: register-compatible with QEMU's hw/misc/edu.c (the educational PCI
 * device), so that the same driver and the same tests work against both.
 *
 * BAR0, 1 MiB of MMIO:
 *   0x00 (RO) identification 0x010000ed      0x04 (RW) liveness: ~value
 *   0x08 (RW) factorial                      0x20 (RW) status: 0x01
 *             computing, 0x80 raise an interrupt when the factorial is done
 *   0x24 (RO) interrupt status               0x60 (WO) raise interrupt
 *   0x64 (WO) acknowledge interrupt          0x80/0x88/0x90/0x98 DMA
 *             source, destination, count, command (1 start, 2 to RAM,
 *             4 interrupt 0x100 when done); its buffer sits at 0x40000.
 * Interrupts go out as MSI once the client wired it, else as INTx.
 *
 * "edu-msix" is the same device with an MSI-X capability too (one vector,
 * table at 0x80000 and PBA at 0x81000 of BAR0, far from the registers),
 * for clients' MSI-X paths; QEMU's edu has none.
 *
 * With pcie=on either one is a PCI Express endpoint (QEMU's edu is
 * conventional): a PCI Express capability, 4096 bytes of config space
 * and a Device Serial Number extended capability at 0x100 holding
 * serial=, for clients' PCI Express paths.
 *
 * Unlike QEMU's, the factorial is done at once (there is no guest-visible
 * difference: software polls the status register either way), and the
 * DMA runs 100 ms of VM time after the command (the VM clock, see
 * model.h: it does not run while the VM is paused).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "model.h"
#include "pci.h"

#define EDU_BAR_SIZE        (1024 * 1024)
#define FACT_IRQ            0x00000001
#define DMA_IRQ             0x00000100
#define DMA_START           0x40000
#define DMA_SIZE            4096
#define DMA_DELAY_NS        (100 * 1000 * 1000)

#define EDU_STATUS_COMPUTING    0x01
#define EDU_STATUS_IRQFACT      0x80
#define EDU_DMA_RUN             0x1
#define EDU_DMA_TO_PCI          0x2     /* direction bit: buffer -> RAM */
#define EDU_DMA_IRQ             0x4

typedef struct EduState {
    DmDevice *dev;
    uint32_t addr4;
    uint32_t fact;
    uint32_t status;
    uint32_t irq_status;
    struct {
        uint64_t src, dst, cnt, cmd;
    } dma;
    DmVmTimer dma_timer;        /* on the VM clock, as in QEMU */
    uint64_t dma_mask;          /* property, as QEMU's edu */
    bool pcie;                  /* property: a PCI Express endpoint */
    uint64_t serial;            /* property: its Device Serial Number */
    uint8_t dma_buf[DMA_SIZE];
} EduState;

static void edu_raise_irq(EduState *edu, uint32_t val)
{
    edu->irq_status |= val;
    if (edu->irq_status) {
        dm_irq_raise(edu->dev, 0);
    }
}

static void edu_lower_irq(EduState *edu, uint32_t val)
{
    edu->irq_status &= ~val;
    if (!edu->irq_status) {
        dm_irq_lower(edu->dev, 0);
    }
}

/* Is [start, start + size) inside the DMA buffer?  Overflow-safe. */
static bool edu_in_buffer(uint64_t start, uint64_t size)
{
    return start >= DMA_START && size <= DMA_SIZE &&
           start - DMA_START <= DMA_SIZE - size;
}

static void edu_dma_timer(void *opaque)
{
    EduState *edu = opaque;
    bool to_ram = edu->dma.cmd & EDU_DMA_TO_PCI;
    uint64_t buf = to_ram ? edu->dma.src : edu->dma.dst;
    uint64_t ram = (to_ram ? edu->dma.dst : edu->dma.src) & edu->dma_mask;
    int ret;

    if (!(edu->dma.cmd & EDU_DMA_RUN)) {
        return;
    }
    if (!edu_in_buffer(buf, edu->dma.cnt)) {
        dm_warn("edu: DMA range 0x%llx+0x%llx outside the buffer, ignoring",
                (unsigned long long)buf, (unsigned long long)edu->dma.cnt);
    } else if (to_ram) {
        ret = dm_dma_write(edu->dev, ram, edu->dma_buf + (buf - DMA_START),
                           edu->dma.cnt);
        if (ret < 0) {
            dm_warn("edu: DMA write to 0x%llx failed: %s, ignoring",
                    (unsigned long long)ram, strerror(-ret));
        }
    } else {
        ret = dm_dma_read(edu->dev, ram, edu->dma_buf + (buf - DMA_START),
                          edu->dma.cnt);
        if (ret < 0) {
            dm_warn("edu: DMA read from 0x%llx failed: %s, ignoring",
                    (unsigned long long)ram, strerror(-ret));
        }
    }
    edu->dma.cmd &= ~EDU_DMA_RUN;
    if (edu->dma.cmd & EDU_DMA_IRQ) {
        edu_raise_irq(edu, DMA_IRQ);
    }
}

/*
 * n! in 32 bits, wrapping as QEMU's edu computes it.  From 34! on it has
 * 32 factors of 2 (17 + 8 + 4 + 2 + 1), so it is 0: without that, a
 * guest's 0xffffffff was 4 billion multiplications in the event loop
 * (a second and more of a stalled device, as often as it liked).
 */
static uint32_t factorial(uint32_t n)
{
    uint32_t r = 1;

    if (n >= 34) {
        return 0;
    }
    while (n > 1) {
        r *= n--;
    }
    return r;
}

static uint64_t edu_mmio_read(void *opaque, uint64_t addr, unsigned size)
{
    EduState *edu = opaque;

    if (addr < 0x80 && size != 4) {
        return ~0ULL;
    }
    switch (addr) {
    case 0x00:
        return 0x010000edu;
    case 0x04:
        return edu->addr4;
    case 0x08:
        return edu->fact;
    case 0x20:
        return edu->status;
    case 0x24:
        return edu->irq_status;
    case 0x80:
        return edu->dma.src;
    case 0x88:
        return edu->dma.dst;
    case 0x90:
        return edu->dma.cnt;
    case 0x98:
        return edu->dma.cmd;
    }
    return ~0ULL;
}

static void edu_dma_reg_write(EduState *edu, uint64_t *reg, uint64_t val)
{
    if (!(edu->dma.cmd & EDU_DMA_RUN)) {
        *reg = val;
    }
}

static void edu_mmio_write(void *opaque, uint64_t addr, uint64_t val,
                           unsigned size)
{
    EduState *edu = opaque;

    if (addr < 0x80 && size != 4) {
        return;
    }
    switch (addr) {
    case 0x04:
        edu->addr4 = ~(uint32_t)val;
        break;
    case 0x08:
        if (edu->status & EDU_STATUS_COMPUTING) {
            break;
        }
        edu->fact = factorial((uint32_t)val);
        if (edu->status & EDU_STATUS_IRQFACT) {
            edu_raise_irq(edu, FACT_IRQ);
        }
        break;
    case 0x20:
        if (val & EDU_STATUS_IRQFACT) {
            edu->status |= EDU_STATUS_IRQFACT;
        } else {
            edu->status &= ~EDU_STATUS_IRQFACT;
        }
        break;
    case 0x60:
        edu_raise_irq(edu, (uint32_t)val);
        break;
    case 0x64:
        edu_lower_irq(edu, (uint32_t)val);
        break;
    case 0x80:
        edu_dma_reg_write(edu, &edu->dma.src, val);
        break;
    case 0x88:
        edu_dma_reg_write(edu, &edu->dma.dst, val);
        break;
    case 0x90:
        edu_dma_reg_write(edu, &edu->dma.cnt, val);
        break;
    case 0x98:
        if (!(val & EDU_DMA_RUN) || (edu->dma.cmd & EDU_DMA_RUN)) {
            break;
        }
        edu->dma.cmd = val;
        dm_vm_timer_mod(&edu->dma_timer, DMA_DELAY_NS);
        break;
    }
}

/* As QEMU's edu: 4-byte registers below 0x80, 4 or 8 bytes above. */
static const DmRegionOps edu_mmio_ops = {
    .read = edu_mmio_read,
    .write = edu_mmio_write,
    .valid = { .min_access_size = 4, .max_access_size = 8 },
};

static void edu_reset(DmDevice *dev)
{
    EduState *edu = dm_device_state(dev);

    dm_vm_timer_del(&edu->dma_timer);
    edu->addr4 = 0;
    edu->fact = 0;
    edu->status = 0;
    edu->irq_status = 0;
    memset(&edu->dma, 0, sizeof(edu->dma));
    memset(edu->dma_buf, 0, sizeof(edu->dma_buf));
}

static void edu_save(DmDevice *dev, DmStateOut *out)
{
    EduState *edu = dm_device_state(dev);
    DmVmTimer *t = &edu->dma_timer;

    dm_state_put_u64(out, edu->addr4);
    dm_state_put_u64(out, edu->fact);
    dm_state_put_u64(out, edu->status);
    dm_state_put_u64(out, edu->irq_status);
    dm_state_put_u64(out, edu->dma.src);
    dm_state_put_u64(out, edu->dma.dst);
    dm_state_put_u64(out, edu->dma.cnt);
    dm_state_put_u64(out, edu->dma.cmd);
    /* A DMA in progress: what is left of its delay, in VM time. */
    dm_state_put_u64(out, dm_vm_timer_pending(t) ?
                     t->deadline_vm_ns - dm_vm_clock_read(t->clock) + 1 : 0);
    dm_state_put(out, edu->dma_buf, sizeof(edu->dma_buf));
}

static void edu_load(DmDevice *dev, DmStateIn *in, uint32_t version)
{
    EduState *edu = dm_device_state(dev);
    uint64_t left;

    edu->addr4 = dm_state_get_u64(in);
    edu->fact = dm_state_get_u64(in);
    edu->status = dm_state_get_u64(in) & EDU_STATUS_IRQFACT;
    edu->irq_status = dm_state_get_u64(in);
    edu->dma.src = dm_state_get_u64(in);
    edu->dma.dst = dm_state_get_u64(in);
    edu->dma.cnt = dm_state_get_u64(in);
    edu->dma.cmd = dm_state_get_u64(in);
    left = dm_state_get_u64(in);
    dm_state_get(in, edu->dma_buf, sizeof(edu->dma_buf));
    if (left > DMA_DELAY_NS + 1) {
        dm_state_fail(in);
        return;
    }
    if (left) {
        dm_vm_timer_mod(&edu->dma_timer, left - 1);
    } else {
        edu->dma.cmd &= ~EDU_DMA_RUN;
    }
    if (edu->irq_status) {
        dm_irq_raise(dev, 0);
    }
}

/* PCI Express: the capability, then the serial number at 0x100. */
static int edu_pcie_init(EduState *edu, DmPci *pci)
{
    int ret = dm_pci_pcie_init(pci, DM_PCI_EXP_TYPE_ENDPOINT);

    if (ret >= 0) {
        /* Header, then the serial's lower and upper dwords. */
        ret = dm_pci_add_ext_capability(pci, DM_PCI_EXT_CAP_ID_DSN, 1, 12);
    }
    if (ret >= 0) {
        dm_pci_set_long(pci, ret + 4, (uint32_t)edu->serial);
        dm_pci_set_long(pci, ret + 8, edu->serial >> 32);
    }
    return ret;
}

static int edu_realize_common(DmDevice *dev, bool msix)
{
    EduState *edu = dm_device_state(dev);
    DmPci *pci = dm_device_pci(dev);
    int ret;

    edu->dev = dev;
    dm_vm_timer_init(&edu->dma_timer, dm_device_vm_clock(dev), edu_dma_timer,
                     edu);

    /* IDs as QEMU gives its edu device. */
    dm_pci_init(pci, 0x1234, 0x11e8, 0x10, 0x00ff);
    dm_pci_set_subsystem(pci, 0x1af4, 0x1100);
    dm_pci_set_interrupt_pin(pci, 1);
    /* The capability helpers return an offset (>= 0) or -errno. */
    ret = dm_pci_set_bar(pci, 0, EDU_BAR_SIZE, DM_PCI_BAR_MEM32);
    if (ret >= 0) {
        ret = dm_pci_msi_init(pci, 1);
    }
    if (ret >= 0 && msix) {
        ret = dm_pci_msix_init(pci, 1, 0, 0x80000, 0, 0x81000);
    }
    if (ret >= 0 && edu->pcie) {
        ret = edu_pcie_init(edu, pci);
    }
    if (ret < 0) {
        return ret;
    }
    dm_device_init_region(dev, VUP_PCI_BAR0_REGION_INDEX, EDU_BAR_SIZE,
                          &edu_mmio_ops, edu);
    ret = dm_device_init_irq(dev, VUP_PCI_INTX_IRQ_INDEX, 1,
                             VUP_IRQ_INFO_EVENTFD | VUP_IRQ_INFO_MASKABLE |
                             VUP_IRQ_INFO_AUTOMASKED);
    if (ret == 0) {
        ret = dm_device_init_irq(dev, VUP_PCI_MSI_IRQ_INDEX, 1,
                                 VUP_IRQ_INFO_EVENTFD |
                                 VUP_IRQ_INFO_NORESIZE);
    }
    if (ret == 0 && msix) {
        ret = dm_device_init_irq(dev, VUP_PCI_MSIX_IRQ_INDEX, 1,
                                 VUP_IRQ_INFO_EVENTFD |
                                 VUP_IRQ_INFO_NORESIZE);
    }
    return ret;
}

static int edu_realize(DmDevice *dev)
{
    return edu_realize_common(dev, false);
}

static int edu_msix_realize(DmDevice *dev)
{
    return edu_realize_common(dev, true);
}

static void edu_unrealize(DmDevice *dev)
{
    EduState *edu = dm_device_state(dev);

    dm_vm_timer_destroy(&edu->dma_timer);
}

static const DmProp edu_props[] = {
    DM_PROP_UINT64("dma_mask", EduState, dma_mask, "0xfffffff", 0,
                   UINT64_MAX, "mask applied to DMA addresses in RAM (as "
                   "QEMU's edu: 28 bits)"),
    DM_PROP_BOOLEAN("pcie", EduState, pcie, "off", "a PCI Express endpoint "
                    "(4096 bytes of config space) with a Device Serial "
                    "Number capability"),
    DM_PROP_UINT64("serial", EduState, serial, "0x00000000000011e8", 0,
                   UINT64_MAX, "the Device Serial Number, with pcie=on"),
    DM_PROP_END,
};

static const DmModel dm_model_edu = {
    .name = "edu",
    .description = "QEMU's educational PCI device (factorial, IRQs, DMA)",
    .bus = DM_BUS_PCI,
    .state_size = sizeof(EduState),
    .props = edu_props,
    .realize = edu_realize,
    .reset = edu_reset,
    .state_version = 1,
    .save = edu_save,
    .load = edu_load,
    .unrealize = edu_unrealize,
};
DM_MODEL_REGISTER(dm_model_edu)

static const DmModel dm_model_edu_msix = {
    .name = "edu-msix",
    .description = "edu with an MSI-X capability as well (one vector)",
    .bus = DM_BUS_PCI,
    .state_size = sizeof(EduState),
    .props = edu_props,
    .realize = edu_msix_realize,
    .reset = edu_reset,
    .state_version = 1,
    .save = edu_save,
    .load = edu_load,
    .unrealize = edu_unrealize,
};
DM_MODEL_REGISTER(dm_model_edu_msix)
