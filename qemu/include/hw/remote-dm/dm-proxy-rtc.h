/*
 * A remote mc146818 in place of the machine's own (dm-proxy-isa,rtc=on).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_REMOTE_DM_DM_PROXY_RTC_H
#define HW_REMOTE_DM_DM_PROXY_RTC_H

#include "hw/remote-dm/dm-proxy.h"

typedef struct MC146818RtcState MC146818RtcState;

#define DM_PROXY_RTC_CMOS_SIZE 128

typedef struct DMProxyRtc {
    MC146818RtcState *local;    /* the machine's, ports unmapped */
    /* What the model was last given of the local CMOS bytes. */
    uint8_t sent[DM_PROXY_RTC_CMOS_SIZE];
    bool sent_valid[DM_PROXY_RTC_CMOS_SIZE];
} DMProxyRtc;

/* Find the machine's mc146818: false with @errp set when it has none. */
bool dm_proxy_rtc_find(DMProxyRtc *r, Error **errp);
/*
 * Take it out of the port space (after dm_proxy_rtc_find): our proxy
 * answers there instead, at the port base it had (in @iobase).
 */
void dm_proxy_rtc_take_over(DMProxyRtc *r, int64_t *iobase);
/*
 * At a reset, before the firmware runs: hand the model the CMOS bytes
 * the machine's code wrote into its own RTC (memory size, boot order,
 * disk geometry, CPU count) and that changed since the last time.
 */
void dm_proxy_rtc_sync_cmos(DMProxyRtc *r, DMProxy *p);
/*
 * The model's event @type (VUP_DM_EVENT_*): the guest set the clock,
 * @value seconds from base=: QMP's RTC_CHANGE, in the name of the
 * machine's RTC object, as a local RTC sends it.
 */
void dm_proxy_rtc_event(DMProxyRtc *r, uint32_t type, int64_t value);

#endif
