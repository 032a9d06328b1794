/*
 * Interrupt wiring: the one owner of a device's IRQ table (irq.h).
 *
 * Runs in the event loop's thread, but for dm_irq_signal_direct (an
 * I/O thread's): what it reads (triggers, masks, pending bits) changes
 * under the table's lock, and what the loop alone reads does not take it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "irq.h"
#include "log.h"

/* @index's table if @sub is one of its vectors, else NULL. */
static DmIrqIndex *irq_vector(DmIrqTable *t, unsigned index, unsigned sub)
{
    DmIrqIndex *x;

    if (index >= t->num_indexes) {
        return NULL;
    }
    x = &t->index[index];
    return sub < x->count ? x : NULL;
}


int dm_irq_init_index(DmIrqTable *t, unsigned index, uint32_t count,
                      uint32_t info_flags)
{
    DmIrqIndex *x;

    if (index >= DM_MAX_IRQ_INDEXES || count > DM_MAX_IRQS_PER_INDEX) {
        return -EINVAL;
    }
    x = &t->index[index];
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
    if (index + 1 > t->num_indexes) {
        t->num_indexes = index + 1;
    }
    return 0;
}

int dm_irq_fill_pci(DmIrqTable *t)
{
    for (unsigned i = 0; i < VUP_PCI_NUM_IRQS; i++) {
        int ret;

        if (t->index[i].trigger_fd) {
            continue;           /* the model's own */
        }
        ret = dm_irq_init_index(t, i, i >= VUP_PCI_ERR_IRQ_INDEX ? 1 : 0,
                                VUP_IRQ_INFO_EVENTFD);
        if (ret < 0) {
            return ret;
        }
    }
    return 0;
}

void dm_irq_reset(DmIrqTable *t)
{
    pthread_mutex_lock(&t->lock);
    for (unsigned i = 0; i < t->num_indexes; i++) {
        DmIrqIndex *x = &t->index[i];

        if (!x->trigger_fd) {
            continue;
        }
        memset(x->pending, 0, x->count * sizeof(bool));
        memset(x->masked, 0, x->count * sizeof(bool));
        memset(x->level, 0, x->count * sizeof(bool));
    }
    pthread_mutex_unlock(&t->lock);
}

void dm_irq_release_all(DmIrqTable *t)
{
    pthread_mutex_lock(&t->lock);
    for (unsigned i = 0; i < t->num_indexes; i++) {
        DmIrqIndex *x = &t->index[i];

        for (uint32_t j = 0; x->trigger_fd && j < x->count; j++) {
            if (x->trigger_fd[j] >= 0) {
                close(x->trigger_fd[j]);
            }
            x->trigger_fd[j] = DM_IRQ_FD_NONE;
            x->masked[j] = false;
        }
    }
    pthread_mutex_unlock(&t->lock);
}

void dm_irq_free(DmIrqTable *t)
{
    dm_irq_release_all(t);
    for (unsigned i = 0; i < DM_MAX_IRQ_INDEXES; i++) {
        DmIrqIndex *x = &t->index[i];

        free(x->trigger_fd);
        free(x->masked);
        free(x->pending);
        free(x->level);
        *x = (DmIrqIndex) { 0 };
    }
    t->num_indexes = 0;
}

unsigned dm_irq_num_indexes(const DmIrqTable *t)
{
    return t->num_indexes;
}

int dm_irq_info(const DmIrqTable *t, unsigned index, uint32_t *count,
                uint32_t *flags)
{
    if (index >= t->num_indexes) {
        return -EINVAL;
    }
    *count = t->index[index].count;
    *flags = t->index[index].info_flags;
    return 0;
}

/* Wire one vector to @fd (owned from now on). */
static void set_trigger(DmIrqTable *t, unsigned index, unsigned sub, int fd)
{
    DmIrqIndex *x = irq_vector(t, index, sub);
    bool due;

    if (!x) {
        if (fd >= 0) {
            close(fd);
        }
        return;
    }
    pthread_mutex_lock(&t->lock);
    if (x->trigger_fd[sub] >= 0) {
        close(x->trigger_fd[sub]);
    }
    x->trigger_fd[sub] = fd;
    due = fd != DM_IRQ_FD_NONE && x->pending[sub] && !x->masked[sub];
    pthread_mutex_unlock(&t->lock);
    /* An interrupt raised before it was wired is delivered now. */
    if (due) {
        dm_irq_signal(t, index, sub);
    }
}

void dm_irq_set_triggers(DmIrqTable *t, unsigned index, uint32_t start,
                         uint32_t count, const int *fds)
{
    for (uint32_t i = 0; i < count; i++) {
        set_trigger(t, index, start + i, fds ? fds[i] : DM_IRQ_FD_NONE);
    }
}

void dm_irq_set_messages(DmIrqTable *t, unsigned index, uint32_t start,
                         uint32_t count)
{
    for (uint32_t i = 0; i < count; i++) {
        set_trigger(t, index, start + i, DM_IRQ_FD_MESSAGE);
    }
}

void dm_irq_mask(DmIrqTable *t, unsigned index, unsigned sub)
{
    DmIrqIndex *x = irq_vector(t, index, sub);

    if (x) {
        pthread_mutex_lock(&t->lock);
        x->masked[sub] = true;
        pthread_mutex_unlock(&t->lock);
    }
}

void dm_irq_unmask(DmIrqTable *t, unsigned index, unsigned sub)
{
    DmIrqIndex *x = irq_vector(t, index, sub);
    bool due;

    if (!x) {
        return;
    }
    pthread_mutex_lock(&t->lock);
    x->masked[sub] = false;
    due = x->pending[sub] || x->level[sub];
    pthread_mutex_unlock(&t->lock);
    if (due) {
        dm_irq_signal(t, index, sub);
    }
}

bool dm_irq_message_ready(const DmIrqTable *t, unsigned index,
                          unsigned sub)
{
    DmIrqIndex *x = irq_vector((DmIrqTable *)t, index, sub);

    return x && !x->masked[sub] && x->trigger_fd[sub] == DM_IRQ_FD_MESSAGE &&
           t->send;
}

void dm_irq_signal(DmIrqTable *t, unsigned index, unsigned sub)
{
    DmIrqIndex *x = irq_vector(t, index, sub);
    uint64_t one = 1;

    if (!x) {
        return;
    }
    pthread_mutex_lock(&t->lock);
    if (x->masked[sub] || x->trigger_fd[sub] == DM_IRQ_FD_NONE ||
        (x->trigger_fd[sub] == DM_IRQ_FD_MESSAGE && !t->send)) {
        x->pending[sub] = true;
        pthread_mutex_unlock(&t->lock);
        return;
    }
    x->pending[sub] = false;
    if (x->trigger_fd[sub] == DM_IRQ_FD_MESSAGE ||
        (t->send && t->in_band && t->in_band(t->send_opaque))) {
        t->send(t->send_opaque, index, sub);
    } else if (write(x->trigger_fd[sub], &one, sizeof(one)) != sizeof(one)) {
        dm_warn("cannot signal irq %u.%u: %m, ignoring", index, sub);
    }
    if (x->info_flags & VUP_IRQ_INFO_AUTOMASKED) {
        x->masked[sub] = true;  /* until the client unmasks it */
    }
    pthread_mutex_unlock(&t->lock);
}

bool dm_irq_signal_direct(DmIrqTable *t, unsigned sub)
{
    static const unsigned order[] = { VUP_PCI_MSIX_IRQ_INDEX,
                                      VUP_PCI_MSI_IRQ_INDEX };
    uint64_t one = 1;
    bool done = false;

    pthread_mutex_lock(&t->lock);
    /* As dm_irq_raise: MSI-X when a vector of it is wired, else MSI. */
    for (unsigned i = 0; i < 2; i++) {
        DmIrqIndex *x = irq_vector(t, order[i], sub);

        if (!dm_irq_msg_wired(t, order[i])) {
            continue;
        }
        if (x && !x->masked[sub] && x->trigger_fd[sub] >= 0 &&
            !(x->info_flags & VUP_IRQ_INFO_AUTOMASKED) &&
            write(x->trigger_fd[sub], &one, sizeof(one)) == sizeof(one)) {
            x->pending[sub] = false;
            done = true;
        }
        break;
    }
    pthread_mutex_unlock(&t->lock);
    return done;
}

void dm_irq_set_level(DmIrqTable *t, unsigned index, unsigned sub,
                      bool level)
{
    DmIrqIndex *x = irq_vector(t, index, sub);
    bool rising;

    if (!x) {
        return;
    }
    rising = level && !x->level[sub];
    x->level[sub] = level;
    if (rising) {
        dm_irq_signal(t, index, sub);
    } else if (!level) {
        x->pending[sub] = false;
    }
}

bool dm_irq_level(const DmIrqTable *t, unsigned index, unsigned sub)
{
    return index < t->num_indexes &&
           sub < t->index[index].count &&
           t->index[index].level[sub];
}

/* Has the client wired a vector of @index? */
bool dm_irq_msg_wired(const DmIrqTable *t, unsigned index)
{
    const DmIrqIndex *x = index < t->num_indexes ? &t->index[index] : NULL;

    for (uint32_t i = 0; x && i < x->count; i++) {
        if (x->trigger_fd[i] != DM_IRQ_FD_NONE) {
            return true;
        }
    }
    return false;
}




/* Append " N" for each vector of @idx with @bits set, up to a line's worth. */
static void list_vectors(char *buf, size_t len, const DmIrqIndex *idx,
                         const bool *bits)
{
    size_t used = strlen(buf);

    for (uint32_t i = 0; bits && i < idx->count && used + 12 < len; i++) {
        if (bits[i]) {
            used += snprintf(buf + used, len - used, " %u", i);
        }
    }
}

void dm_irq_dump(const DmIrqTable *t)
{
    for (unsigned n = 0; n < t->num_indexes; n++) {
        const DmIrqIndex *idx = &t->index[n];
        unsigned fds = 0, msgs = 0;
        char masked[160] = "", pending[160] = "", level[160] = "";

        if (!idx->count) {
            continue;
        }
        for (uint32_t i = 0; i < idx->count; i++) {
            fds += idx->trigger_fd[i] >= 0;
            msgs += idx->trigger_fd[i] == DM_IRQ_FD_MESSAGE;
        }
        list_vectors(masked, sizeof(masked), idx, idx->masked);
        list_vectors(pending, sizeof(pending), idx, idx->pending);
        list_vectors(level, sizeof(level), idx, idx->level);
        dm_info("irq index %u: %u vectors, %u by eventfd, %u by message, "
                "masked:%s, pending:%s, level high:%s", n, idx->count, fds,
                msgs, *masked ? masked : " none",
                *pending ? pending : " none", *level ? level : " none");
    }
}
