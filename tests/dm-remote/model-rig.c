/*
 * A model in-process through a fake link (see model-rig.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model-rig.h"
#include "pci.h"

static bool in_ram(uint64_t addr, uint64_t len)
{
    return addr >= RIG_RAM_BASE && len <= RIG_RAM_SIZE &&
           addr - RIG_RAM_BASE <= RIG_RAM_SIZE - len;
}

static int fake_dma(void *opaque, uint64_t addr, void *buf, uint64_t len,
                    bool write)
{
    FakeLink *l = opaque;

    if (!in_ram(addr, len)) {
        return -EFAULT;
    }
    if (write) {
        memcpy(l->ram + (addr - RIG_RAM_BASE), buf, len);
    } else {
        memcpy(buf, l->ram + (addr - RIG_RAM_BASE), len);
        if (l->used_idx_at && addr == l->used_idx_at) {
            __atomic_fetch_add(&l->used_idx_reads, 1, __ATOMIC_RELAXED);
        }
    }
    return 0;
}

static bool fake_posted(void *opaque, uint64_t addr)
{
    return ((FakeLink *)opaque)->posted;
}

static int fake_dma_iov(void *opaque, uint64_t addr, uint64_t len,
                        bool write, struct iovec *iov, unsigned max_iov)
{
    FakeLink *l = opaque;
    uint64_t unshared = __atomic_load_n(&l->unshared_from, __ATOMIC_ACQUIRE);

    if (!l->shared) {
        return -ENOTSUP;
    }
    if (!in_ram(addr, len)) {
        return -EFAULT;
    }
    if (unshared && addr + len > unshared) {
        return -ENOTSUP;
    }
    if (max_iov < 1) {
        return -ENOBUFS;
    }
    iov[0].iov_base = l->ram + (addr - RIG_RAM_BASE);
    iov[0].iov_len = len;
    /* Atomic: I/O threads (virtio-blk's iothread=on) count here too. */
    __atomic_fetch_add(&l->iovs_given, 1, __ATOMIC_RELAXED);
    return 1;
}

static void fake_send_irq(void *opaque, unsigned index, unsigned sub)
{
    FakeLink *l = opaque;

    l->irqs_sent++;
    l->last_index = index;
    l->last_sub = sub;
}

static int fake_vq_fetch(void *opaque, const VupDmVqFetch *req,
                         void **reply, size_t *len)
{
    FakeLink *l = opaque;

    if (!l->vq_fetch || l->shared) {
        return -ENOTSUP;
    }
    l->vq_fetches++;
    return l->vq_fetch(l, req, reply, len);
}

static int fake_vq_rings(void *opaque, const VupDmVqRings *r)
{
    FakeLink *l = opaque;

    l->rings_asked++;
    if (!l->vq_push || l->shared) {
        return -ENOTSUP;
    }
    l->rings = *r;
    l->rings_told++;
    return 0;
}

static int fake_vq_recheck(void *opaque, const VupDmVqRecheck *r)
{
    FakeLink *l = opaque;

    if (!l->vq_push || !l->vq_recheck || l->shared) {
        return -ENOTSUP;
    }
    l->recheck = *r;
    l->rechecks++;
    return 0;
}

static unsigned fake_client_vcpus(void *opaque)
{
    return ((FakeLink *)opaque)->vcpus;
}

static const char *fake_client_accel(void *opaque)
{
    const FakeLink *l = opaque;

    return l->accel ? l->accel : "";
}

static const DmLinkOps fake_link_ops = {
    .client_vcpus = fake_client_vcpus,
    .client_accel = fake_client_accel,
    .dma = fake_dma,
    .dma_iov = fake_dma_iov,
    .send_irq = fake_send_irq,
    .vq_fetch = fake_vq_fetch,
    .vq_rings = fake_vq_rings,
    .vq_recheck = fake_vq_recheck,
    .posted = fake_posted,
};

Rig *rig_new(const char *spec)
{
    return rig_new_state(spec, NULL);
}

Rig *rig_new_state(const char *spec, const char *state_file)
{
    Rig *r = aligned_alloc(4096, sizeof(*r));
    char err[256], *name;

    assert_non_null(r);
    memset(r, 0, sizeof(*r));
    r->args.state_file = state_file;
    r->loop = dm_loop_new();
    assert_int_equal(dm_props_split(spec, &name, &r->args.props, err,
                                    sizeof(err)), 0);
    assert_int_equal(dm_device_realize(&r->dev, dm_model_find(name), r->loop,
                                       &r->args), 0);
    free(name);
    dm_device_attach(&r->dev, &fake_link_ops, &r->link);
    return r;
}

void rig_detach(Rig *r)
{
    dm_device_detach(&r->dev);
}

void rig_reattach(Rig *r)
{
    dm_device_attach(&r->dev, &fake_link_ops, &r->link);
    dm_device_irqs_changed(&r->dev);
}

void rig_free(Rig *r)
{
    dm_device_detach(&r->dev);
    dm_device_unrealize(&r->dev);
    dm_props_free(&r->args.props);
    dm_loop_free(r->loop);
    free(r);
}

void *rig_ram(Rig *r, uint64_t addr)
{
    return r->link.ram + (addr - RIG_RAM_BASE);
}

/* The session's bounds check, then its dispatch: config space or ops. */
static bool rig_is_config(Rig *r, unsigned region, uint64_t addr,
                          unsigned size)
{
    assert_true(region < r->dev.num_regions);
    assert_true(addr + size <= r->dev.regions[region].size);
    return r->dev.pci && region == VUP_PCI_CONFIG_REGION_INDEX;
}

uint64_t rig_read(Rig *r, unsigned region, uint64_t addr, unsigned size)
{
    uint64_t v = 0;

    if (rig_is_config(r, region, addr, size)) {
        dm_pci_config_read(r->dev.pci, addr, &v, size);
    } else {
        dm_device_region_read(&r->dev, region, addr, &v, size);
    }
    return v;
}

void rig_write(Rig *r, unsigned region, uint64_t addr, uint64_t val,
               unsigned size)
{
    if (rig_is_config(r, region, addr, size)) {
        dm_pci_config_write(r->dev.pci, addr, &val, size);
    } else {
        dm_device_region_write(&r->dev, region, addr, &val, size);
    }
}

static void stop_loop(void *loop)
{
    dm_loop_quit(loop, 0);
}

void rig_run_for(Rig *r, int ms)
{
    DmTimer stop;

    dm_timer_init(&stop, r->loop, stop_loop, r->loop);
    dm_timer_mod(&stop, ms * 1000000LL);
    dm_loop_run(r->loop);
    dm_timer_del(&stop);
}

void rig_run_until(Rig *r, bool (*done)(Rig *r))
{
    int64_t end = dm_clock_ns() + 5000000000LL;

    while (!done(r) && dm_clock_ns() < end) {
        rig_run_for(r, 10);
    }
}
