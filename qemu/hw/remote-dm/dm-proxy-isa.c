/*
 * dm-proxy-isa: fixed port I/O and an ISA interrupt line served by a
 * remote device model over vfio-user: the patent's IN/OUT case, e.g. a
 * UART at 0x3f8 with IRQ 4.
 *
 *   -device dm-proxy-isa,server=unix:PATH[,iobase=N][,irq=N][,timeout=MS]
 *                        [,rtc=on]
 *
 * On the wire the model is a vfio "platform" device: region 0 is the port
 * range, IRQ index 0 the line (level, automasked: lowered here after the
 * next port read, then unmasked, as VFIO does for PCI INTx at any
 * access).  iobase
 * and irq default to what the model advertises (docs/protocol.md).
 * rtc=on: the model (mc146818) replaces the machine's own real-time
 * clock at its ports (dm-proxy-rtc.c).
 *
 * Threads: port accesses run in the trapping thread; everything else in
 * the main loop with the big QEMU lock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/main-loop.h"
#include "qemu/module.h"
#include "hw/irq.h"
#include "hw/isa/isa.h"
#include "hw/qdev-properties.h"
#include "migration/vmstate.h"
#include "qom/object.h"
#include "hw/remote-dm/dm-proxy.h"
#include "hw/remote-dm/dm-proxy-rtc.h"
#include "vup/dm-ext.h"
#include "trace.h"

#define TYPE_DM_PROXY_ISA "dm-proxy-isa"
OBJECT_DECLARE_SIMPLE_TYPE(DMProxyISAState, DM_PROXY_ISA)

#define DM_PROXY_ISA_MAX_PORTS  0x100

struct DMProxyISAState {
    ISADevice parent_obj;

    char *server;
    DMProxyIds ids;
    uint32_t timeout_ms;
    uint32_t hold_ms;           /* a lost model: an access waits for it */
    uint32_t poll_us;
    bool posted_writes;
    int32_t iobase;             /* -1: the model's default */
    int32_t irq;                /* -1: the model's default */
    bool rtc;                   /* replace the machine's mc146818 */

    DMProxy proxy;
    DMProxyRtc rtc_state;
    bool proxy_up;
    MemoryRegion io;
    DMProxyLine line;
};

static uint64_t dm_proxy_isa_read(void *opaque, hwaddr addr, unsigned size)
{
    DMProxyISAState *s = opaque;
    uint64_t val = dm_proxy_region_read(&s->proxy, 0, addr, size);

    trace_dm_proxy_isa_read(s->proxy.id, addr, size, val);
    dm_proxy_line_eoi(&s->line);
    return val;
}

static void dm_proxy_isa_write(void *opaque, hwaddr addr, uint64_t val,
                               unsigned size)
{
    DMProxyISAState *s = opaque;

    trace_dm_proxy_isa_write(s->proxy.id, addr, size, val);
    dm_proxy_region_write(&s->proxy, 0, addr, val, size, s->posted_writes);
    /*
     * No end of interrupt at a write: ISA lines are edge-triggered at the
     * PIC and IOAPIC, and a handler's first access is often a write (the
     * RTC's index port) made while the model's line is still high.
     * Unmasking then would signal it again, and lowering and raising our
     * line is a new edge: a second, spurious interrupt.  The handler's
     * read of the status (the RTC's register C, the UART's IIR) that
     * follows ends it.
     */
}

static const MemoryRegionOps dm_proxy_isa_ops = {
    .read = dm_proxy_isa_read,
    .write = dm_proxy_isa_write,
    .endianness = DEVICE_LITTLE_ENDIAN,
    .valid = { .min_access_size = 1, .max_access_size = 4 },
    .impl = { .min_access_size = 1, .max_access_size = 4 },
};

static void dm_proxy_isa_lost(void *opaque, DMProxy *p)
{
    DMProxyISAState *s = opaque;

    dm_proxy_line_drop(&s->line);
}

static bool dm_proxy_isa_replay(void *opaque, DMProxy *p, Error **errp)
{
    DMProxyISAState *s = opaque;

    if (s->line.wired && dm_proxy_line_wire(&s->line) < 0) {
        error_setg(errp, "the model did not take our interrupt");
        return false;
    }
    return true;
}

static void dm_proxy_isa_request(void *opaque, DMProxy *p, VupMsg *m)
{
    dm_proxy_reply_error(p, m, ENOTSUP);    /* no DMA on this bus */
}

/* An interrupt told by message: as if its eventfd had fired. */
static void dm_proxy_isa_irq(void *opaque, unsigned index, unsigned sub)
{
    DMProxyISAState *s = opaque;

    if (index == 0 && sub == 0) {
        dm_proxy_line_fire(&s->line);
    }
}

/* The model's events: an RTC's clock set by the guest (RTC_CHANGE). */
static void dm_proxy_isa_event(void *opaque, uint32_t type, int64_t value)
{
    DMProxyISAState *s = opaque;

    if (s->rtc) {
        dm_proxy_rtc_event(&s->rtc_state, type, value);
    }
}

static const DMProxyOps dm_proxy_isa_proxy_ops = {
    .request = dm_proxy_isa_request,
    .replay = dm_proxy_isa_replay,
    .lost = dm_proxy_isa_lost,
    .irq = dm_proxy_isa_irq,
    .event = dm_proxy_isa_event,
};

/* Region 0's size and the model's advertised defaults. */
static bool dm_proxy_isa_region(DMProxyISAState *s, uint64_t *ret_size,
                                int64_t *ret_iobase, int64_t *ret_irq,
                                Error **errp)
{
    VupRegionInfo req = { .argsz = sizeof(VupRegionInfo) +
                                   sizeof(VupRegionInfoCapDmIsa) };
    VupRegionInfo info;
    VupRegionInfoCapDmIsa cap;
    VupMsg m;
    int ret = dm_proxy_call(&s->proxy, VUP_CMD_DEVICE_GET_REGION_INFO, &req,
                            sizeof(req), NULL, 0, &m);

    if (ret < 0) {
        error_setg(errp, "the model has no port region: %s", strerror(-ret));
        return false;
    }
    memcpy(&info, m.payload, sizeof(info));
    *ret_size = info.size;
    *ret_iobase = *ret_irq = -1;
    /* One capability is all we look for; check it lies in the reply. */
    if ((info.flags & VUP_REGION_INFO_FLAG_CAPS) && info.cap_offset &&
        info.cap_offset <= m.payload_len &&
        m.payload_len - info.cap_offset >= sizeof(cap)) {
        memcpy(&cap, m.payload + info.cap_offset, sizeof(cap));
        if (cap.header.id == VUP_REGION_INFO_CAP_DM_ISA) {
            *ret_iobase = cap.iobase;
            *ret_irq = cap.irq;
        }
    }
    vup_msg_clear(&m);
    return true;
}

static void dm_proxy_isa_unrealize(DeviceState *dev)
{
    DMProxyISAState *s = DM_PROXY_ISA(dev);

    dm_proxy_line_cleanup(&s->line);
    if (s->proxy_up) {
        dm_proxy_cleanup(&s->proxy);
        s->proxy_up = false;
    }
}

static void dm_proxy_isa_realize(DeviceState *dev, Error **errp)
{
    DMProxyISAState *s = DM_PROXY_ISA(dev);
    ISADevice *isa = ISA_DEVICE(dev);
    VupDeviceInfo info = { .argsz = sizeof(info) };
    int64_t iobase, irq;
    uint64_t size;
    VupMsg m;

    /* What the machine lacks is said before any connection is tried. */
    if (s->rtc && !dm_proxy_rtc_find(&s->rtc_state, errp)) {
        goto fail;
    }
    if (!dm_proxy_init(&s->proxy, TYPE_DM_PROXY_ISA,
                       dev->id ? dev->id : TYPE_DM_PROXY_ISA,
                       s->server, s->timeout_ms, s->poll_us, &s->ids,
                       &dm_proxy_isa_proxy_ops, s, errp)) {
        goto fail;
    }
    s->proxy_up = true;
    s->proxy.hold_ms = s->hold_ms;
    if (dm_proxy_call(&s->proxy, VUP_CMD_DEVICE_GET_INFO, &info,
                      sizeof(info), NULL, 0, &m) < 0) {
        error_setg(errp, "DEVICE_GET_INFO failed");
        goto fail;
    }
    memcpy(&info, m.payload, sizeof(info));
    vup_msg_clear(&m);
    if ((info.flags & VUP_DEVICE_FLAG_PCI) || info.num_regions < 1) {
        error_setg(errp, "the model at %s is not a platform device "
                   "(dm-proxy-pci serves PCI devices)", s->server);
        goto fail;
    }
    if (!dm_proxy_isa_region(s, &size, &iobase, &irq, errp)) {
        goto fail;
    }
    if (size == 0 || size > DM_PROXY_ISA_MAX_PORTS) {
        error_setg(errp, "the model's port range of %" PRIu64 " ports is "
                   "not usable (1..%d)", size, DM_PROXY_ISA_MAX_PORTS);
        goto fail;
    }
    if (s->rtc) {
        dm_proxy_rtc_take_over(&s->rtc_state, &iobase);
    }
    iobase = s->iobase >= 0 ? s->iobase : iobase;
    irq = s->irq >= 0 ? s->irq : irq;
    if (iobase < 0 || iobase + size > 0x10000) {
        error_setg(errp, iobase < 0 ? "iobase not given and the model "
                   "advertises none" : "iobase 0x%" PRIx64 " out of range",
                   iobase);
        goto fail;
    }
    if (info.num_irqs && (irq < 0 || irq >= ISA_NUM_IRQS)) {
        error_setg(errp, irq < 0 ? "irq not given and the model advertises "
                   "none" : "irq %" PRId64 " out of range (0..15)", irq);
        goto fail;
    }
    s->iobase = iobase;
    s->irq = info.num_irqs ? irq : -1;

    memory_region_init_io(&s->io, OBJECT(s), &dm_proxy_isa_ops, s,
                          TYPE_DM_PROXY_ISA, size);
    /* The trapping vCPU waits for the model without the BQL. */
    memory_region_enable_lockless_io(&s->io);
    isa_register_ioport(isa, &s->io, iobase);
    if (s->irq >= 0) {
        if (!dm_proxy_line_init(&s->line, &s->proxy, 0,
                                isa_get_irq(isa, s->irq), errp)) {
            goto fail;
        }
    }
    return;

fail:
    error_prepend(errp, "%s: ", TYPE_DM_PROXY_ISA);
    dm_proxy_isa_unrealize(dev);
}

static void dm_proxy_isa_reset(DeviceState *dev)
{
    DMProxyISAState *s = DM_PROXY_ISA(dev);

    dm_proxy_line_drop(&s->line);
    if (s->proxy_up) {
        dm_proxy_call(&s->proxy, VUP_CMD_DEVICE_RESET, NULL, 0, NULL, 0,
                      NULL);
        dm_proxy_rtc_sync_cmos(&s->rtc_state, &s->proxy);
    }
}

/* The device state lives in the model; nothing here needs migrating. */
static const VMStateDescription vmstate_dm_proxy_isa = {
    .name = TYPE_DM_PROXY_ISA,
    .version_id = 1,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_END_OF_LIST()
    },
};

static const Property dm_proxy_isa_properties[] = {
    DEFINE_PROP_STRING("server", DMProxyISAState, server),
    DEFINE_DM_PROXY_ID_PROPERTIES(DMProxyISAState, ids),
    DEFINE_PROP_INT32("iobase", DMProxyISAState, iobase, -1),
    DEFINE_PROP_INT32("irq", DMProxyISAState, irq, -1),
    DEFINE_PROP_UINT32("timeout", DMProxyISAState, timeout_ms, 5000),
    DEFINE_PROP_UINT32("hold", DMProxyISAState, hold_ms, 5000),
    DEFINE_PROP_UINT32("poll-us", DMProxyISAState, poll_us, 50),
    DEFINE_PROP_BOOL("posted-writes", DMProxyISAState, posted_writes, true),
    DEFINE_PROP_BOOL("rtc", DMProxyISAState, rtc, false),
};

static void dm_proxy_isa_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);

    dc->realize = dm_proxy_isa_realize;
    dc->unrealize = dm_proxy_isa_unrealize;
    device_class_set_legacy_reset(dc, dm_proxy_isa_reset);
    dc->vmsd = &vmstate_dm_proxy_isa;
    device_class_set_props(dc, dm_proxy_isa_properties);
    dc->desc = "ISA ports and IRQ served by a remote device model "
               "(vfio-user)";
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo dm_proxy_isa_info = {
    .name = TYPE_DM_PROXY_ISA,
    .parent = TYPE_ISA_DEVICE,
    .instance_size = sizeof(DMProxyISAState),
    .class_init = dm_proxy_isa_class_init,
};

static void dm_proxy_isa_register_types(void)
{
    type_register_static(&dm_proxy_isa_info);
}

type_init(dm_proxy_isa_register_types)
