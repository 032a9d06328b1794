/*
 * dm-proxy-isa,rtc=on: a remote mc146818 model replaces the machine's
 * own real-time clock.
 *
 * The machine's RTC stays: its CMOS array is where QEMU's machine code
 * writes what the firmware reads (memory size, boot order, disk
 * geometry, CPU count: hw/i386/pc.c, x86-common.c), its ACPI description
 * (PNP0B00) stays in the DSDT and the machine keeps its pointer.  Only
 * its ports leave the I/O space, so that ours answer at 0x70; it never
 * raises its interrupt since nothing reaches its registers.  At each
 * reset, before the firmware runs, the bytes of its CMOS that changed
 * since we last looked go to the model, written through the ports as the
 * firmware would (so the model's own file keeps the guest's settings,
 * and only what the machine set overrides them).
 *
 * Threads: main loop with the big QEMU lock.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "hw/isa/isa.h"
#include "hw/rtc/mc146818rtc.h"
#include "hw/rtc/mc146818rtc_regs.h"
#include "hw/remote-dm/dm-proxy-rtc.h"
#include "qapi/qapi-events-misc.h"
#include "vup/dm-ext.h"
#include "trace.h"

/* The clock's own bytes: the model keeps its time, not the machine's. */
static bool dm_proxy_rtc_clock_byte(unsigned i)
{
    return i <= RTC_REG_D || i == RTC_CENTURY;
}

bool dm_proxy_rtc_find(DMProxyRtc *r, Error **errp)
{
    bool ambiguous = false;
    Object *o = object_resolve_path_type("", TYPE_MC146818_RTC, &ambiguous);

    if (!o) {
        error_setg(errp, "rtc=on: %s",
                   ambiguous ? "the machine has more than one mc146818"
                             : "the machine has no mc146818 to replace");
        return false;
    }
    r->local = MC146818_RTC(o);
    memset(r->sent_valid, 0, sizeof(r->sent_valid));
    return true;
}

void dm_proxy_rtc_take_over(DMProxyRtc *r, int64_t *iobase)
{
    if (r->local->io.container) {
        memory_region_del_subregion(r->local->io.container, &r->local->io);
    }
    *iobase = r->local->io_base;
}

void dm_proxy_rtc_sync_cmos(DMProxyRtc *r, DMProxy *p)
{
    unsigned n = 0;

    if (!r->local) {
        return;
    }
    for (unsigned i = 0; i < DM_PROXY_RTC_CMOS_SIZE; i++) {
        uint8_t v = r->local->cmos_data[i];

        if (dm_proxy_rtc_clock_byte(i) ||
            (r->sent_valid[i] && r->sent[i] == v)) {
            continue;
        }
        /* Index, then data: posted, in order, ahead of any later access. */
        dm_proxy_region_write(p, 0, 0, i, 1, true);
        dm_proxy_region_write(p, 0, 1, v, 1, true);
        r->sent[i] = v;
        r->sent_valid[i] = true;
        n++;
    }
    trace_dm_proxy_rtc_sync_cmos(p->id, n);
}

void dm_proxy_rtc_event(DMProxyRtc *r, uint32_t type, int64_t value)
{
    g_autofree char *path = NULL;

    if (type != VUP_DM_EVENT_RTC_CHANGE || !r->local) {
        return;
    }
    path = object_get_canonical_path(OBJECT(r->local));
    qapi_event_send_rtc_change(value, path);
}
