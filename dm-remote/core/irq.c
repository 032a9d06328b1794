/*
 * Interrupt wiring: the one owner of a device's IRQ table (irq.h).
 *
 * Runs in the event loop's thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "device.h"
#include "irq.h"
#include "log.h"

/* @index's table if @sub is one of its vectors, else NULL. */
static DmIrqIndex *irq_vector(DmDevice *dev, unsigned index, unsigned sub)
{
    DmIrqIndex *x;

    if (index >= dev->irqs.num_indexes) {
        return NULL;
    }
    x = &dev->irqs.index[index];
    return sub < x->count ? x : NULL;
}

int dm_device_init_irq(DmDevice *dev, unsigned index, uint32_t count,
                       uint32_t info_flags)
{
    DmIrqIndex *x;

    if (index >= DM_MAX_IRQ_INDEXES || count > DM_MAX_IRQS_PER_INDEX) {
        return -EINVAL;
    }
    x = &dev->irqs.index[index];
    if (x->trigger_fd) {
        return -EEXIST;
    }
    x->count = count;
    x->info_flags = info_flags;
    /* One spare entry so that a count of 0 still allocates. */
    x->trigger_fd = malloc(count * sizeof(int) + 1);
    x->masked = calloc(count + 1, sizeof(bool));
    x->pending = calloc(count + 1, sizeof(bool));
    x->level = calloc(count + 1, sizeof(bool));
    if (!x->trigger_fd || !x->masked || !x->pending || !x->level) {
        return -ENOMEM;
    }
    for (uint32_t i = 0; i < count; i++) {
        x->trigger_fd[i] = DM_IRQ_FD_NONE;
    }
    if (index + 1 > dev->irqs.num_indexes) {
        dev->irqs.num_indexes = index + 1;
    }
    return 0;
}

int dm_irq_fill_pci(DmDevice *dev)
{
    for (unsigned i = 0; i < VUP_PCI_NUM_IRQS; i++) {
        int ret;

        if (dev->irqs.index[i].trigger_fd) {
            continue;           /* the model's own */
        }
        ret = dm_device_init_irq(dev, i, i >= VUP_PCI_ERR_IRQ_INDEX ? 1 : 0,
                                 VUP_IRQ_INFO_EVENTFD);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

void dm_irq_reset(DmDevice *dev)
{
    for (unsigned i = 0; i < dev->irqs.num_indexes; i++) {
        DmIrqIndex *x = &dev->irqs.index[i];

        if (!x->trigger_fd) {
            continue;
        }
        memset(x->pending, 0, x->count * sizeof(bool));
        memset(x->masked, 0, x->count * sizeof(bool));
        memset(x->level, 0, x->count * sizeof(bool));
    }
}

void dm_irq_release_all(DmDevice *dev)
{
    for (unsigned i = 0; i < dev->irqs.num_indexes; i++) {
        DmIrqIndex *x = &dev->irqs.index[i];

        for (uint32_t j = 0; x->trigger_fd && j < x->count; j++) {
            if (x->trigger_fd[j] >= 0) {
                close(x->trigger_fd[j]);
            }
            x->trigger_fd[j] = DM_IRQ_FD_NONE;
            x->masked[j] = false;
        }
    }
}

void dm_irq_free(DmDevice *dev)
{
    dm_irq_release_all(dev);
    for (unsigned i = 0; i < DM_MAX_IRQ_INDEXES; i++) {
        DmIrqIndex *x = &dev->irqs.index[i];

        free(x->trigger_fd);
        free(x->masked);
        free(x->pending);
        free(x->level);
        *x = (DmIrqIndex) { 0 };
    }
    dev->irqs.num_indexes = 0;
}

unsigned dm_irq_num_indexes(const DmDevice *dev)
{
    return dev->irqs.num_indexes;
}

int dm_irq_info(const DmDevice *dev, unsigned index, uint32_t *count,
                uint32_t *flags)
{
    if (index >= dev->irqs.num_indexes) {
        return -EINVAL;
    }
    *count = dev->irqs.index[index].count;
    *flags = dev->irqs.index[index].info_flags;
    return 0;
}

/* Wire one vector to @fd (owned from now on). */
static void set_trigger(DmDevice *dev, unsigned index, unsigned sub, int fd)
{
    DmIrqIndex *x = irq_vector(dev, index, sub);

    if (!x) {
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    if (x->trigger_fd[sub] >= 0) {
        close(x->trigger_fd[sub]);
    }
    x->trigger_fd[sub] = fd;
    /* An interrupt raised before it was wired is delivered now. */
    if (fd != DM_IRQ_FD_NONE && x->pending[sub] && !x->masked[sub]) {
        dm_irq_signal(dev, index, sub);
    }
}

void dm_irq_set_triggers(DmDevice *dev, unsigned index, uint32_t start,
                         uint32_t count, const int *fds)
{
    for (uint32_t i = 0; i < count; i++) {
        set_trigger(dev, index, start + i, fds ? fds[i] : DM_IRQ_FD_NONE);
    }
}

void dm_irq_set_messages(DmDevice *dev, unsigned index, uint32_t start,
                         uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        set_trigger(dev, index, start + i, DM_IRQ_FD_MESSAGE);
    }
}

void dm_irq_mask(DmDevice *dev, unsigned index, unsigned sub)
{
    DmIrqIndex *x = irq_vector(dev, index, sub);

    if (x) {
        x->masked[sub] = true;
    }
}

void dm_irq_unmask(DmDevice *dev, unsigned index, unsigned sub)
{
    DmIrqIndex *x = irq_vector(dev, index, sub);

    if (!x) {
        return;
    }
    x->masked[sub] = false;
    if (x->pending[sub] || x->level[sub]) {
        dm_irq_signal(dev, index, sub);
    }
}

void dm_irq_signal(DmDevice *dev, unsigned index, unsigned sub)
{
    DmIrqIndex *x = irq_vector(dev, index, sub);
    uint64_t one = 1;

    if (!x) {
        return;
    }
    if (x->masked[sub] || x->trigger_fd[sub] == DM_IRQ_FD_NONE ||
        (x->trigger_fd[sub] == DM_IRQ_FD_MESSAGE && !dev->link)) {
        x->pending[sub] = true;
        return;
    }
    x->pending[sub] = false;
    if (x->trigger_fd[sub] == DM_IRQ_FD_MESSAGE) {
        dev->link->send_irq(dev->link_opaque, index, sub);
    } else if (write(x->trigger_fd[sub], &one, sizeof(one)) != sizeof(one)) {
        dm_warn("cannot signal irq %u.%u: %m, ignoring", index, sub);
    }
    if (x->info_flags & VUP_IRQ_INFO_AUTOMASKED) {
        x->masked[sub] = true;  /* until the client unmasks it */
    }
}

void dm_irq_set_level(DmDevice *dev, unsigned index, unsigned sub,
                      bool level)
{
    DmIrqIndex *x = irq_vector(dev, index, sub);
    bool rising;

    if (!x) {
        return;
    }
    rising = level && !x->level[sub];
    x->level[sub] = level;
    if (rising) {
        dm_irq_signal(dev, index, sub);
    } else if (!level) {
        x->pending[sub] = false;
    }
}

bool dm_irq_level(const DmDevice *dev, unsigned index, unsigned sub)
{
    return index < dev->irqs.num_indexes &&
           sub < dev->irqs.index[index].count &&
           dev->irqs.index[index].level[sub];
}

/* Has the client wired a vector of message-interrupt index @index? */
static bool msg_irq_wired(DmDevice *dev, unsigned index)
{
    DmIrqIndex *x = irq_vector(dev, index, 0);

    if (!dev->is_pci || !x) {
        return false;
    }
    for (uint32_t i = 0; i < x->count; i++) {
        if (x->trigger_fd[i] != DM_IRQ_FD_NONE) {
            return true;
        }
    }
    return false;
}

bool dm_irq_uses_messages(DmDevice *dev)
{
    return msg_irq_wired(dev, VUP_PCI_MSIX_IRQ_INDEX) ||
           msg_irq_wired(dev, VUP_PCI_MSI_IRQ_INDEX);
}

void dm_irq_raise(DmDevice *dev, unsigned vector)
{
    if (msg_irq_wired(dev, VUP_PCI_MSIX_IRQ_INDEX)) {
        dm_irq_signal(dev, VUP_PCI_MSIX_IRQ_INDEX, vector);
    } else if (msg_irq_wired(dev, VUP_PCI_MSI_IRQ_INDEX)) {
        dm_irq_signal(dev, VUP_PCI_MSI_IRQ_INDEX, vector);
    } else {
        /* INTx for PCI, line 0 of a platform device: the same index. */
        dm_irq_set_level(dev, 0, 0, true);
    }
}

void dm_irq_lower(DmDevice *dev, unsigned vector)
{
    if (!msg_irq_wired(dev, VUP_PCI_MSIX_IRQ_INDEX) &&
        !msg_irq_wired(dev, VUP_PCI_MSI_IRQ_INDEX)) {
        dm_irq_set_level(dev, 0, 0, false);
    }
}
