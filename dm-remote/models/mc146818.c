/*
 * mc146818: the PC's real-time clock and its 128 bytes of CMOS memory,
 * at ports 0x70 (index) and 0x71 (data), interrupt on ISA IRQ 8.
 *
 * A vfio "platform" device: region 0 is the two ports, IRQ index 0 the
 * line (level: high while register C says IRQF, lowered by reading C).
 *
 * The time runs on the model API's VM clock: it stands still while the
 * VM is paused and goes on from where it was after a migration, so the
 * guest never sees its time jump or run backwards.  The guest's time is
 * the VM clock plus an offset, set from base= at start and moved by the
 * guest when it sets the clock.  Two VM timers make the interrupts: the
 * periodic one (register A's rate, absolute deadlines so that ticks do
 * not drift) and the once-a-second update, which sets the update-ended
 * and alarm flags.  Time registers are computed when read.
 *
 * nvram=FILE keeps the CMOS bytes that are not the clock (the firmware's
 * settings, QEMU's memory size and boot order) across a model restart.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "model.h"

#define RTC_PORTS       2
#define CMOS_SIZE       128
#define NS_PER_SEC      1000000000LL

/* Clock and calendar registers. */
#define REG_SEC         0x00
#define REG_SEC_ALARM   0x01
#define REG_MIN         0x02
#define REG_MIN_ALARM   0x03
#define REG_HOUR        0x04
#define REG_HOUR_ALARM  0x05
#define REG_WDAY        0x06
#define REG_MDAY        0x07
#define REG_MONTH       0x08
#define REG_YEAR        0x09
#define REG_A           0x0a
#define REG_B           0x0b
#define REG_C           0x0c
#define REG_D           0x0d
#define REG_SHUTDOWN    0x0f    /* why the last reset: 0xfe, a suspend */
#define SHUTDOWN_S3     0xfe
#define REG_CENTURY     0x32    /* where the PC's firmware and ACPI look */

#define A_UIP           0x80    /* an update is about to happen */
#define A_DV_MASK       0x70
#define A_DV_NORMAL     0x20    /* 32.768 kHz time base, running */
#define A_RS_MASK       0x0f

#define B_SET           0x80    /* updates stopped: the guest sets the time */
#define B_PIE           0x40
#define B_AIE           0x20
#define B_UIE           0x10
#define B_SQWE          0x08
#define B_DM_BINARY     0x04
#define B_24H           0x02
#define B_DSE           0x01

#define C_IRQF          0x80
#define C_PF            0x40
#define C_AF            0x20
#define C_UF            0x10

#define D_VRT           0x80    /* the battery is good */

#define HOUR_PM         0x80    /* 12-hour mode */
#define ALARM_ANY       0xc0    /* an alarm byte >= this matches anything */

/* UIP is set this long before each update: 8 periods of 32768 Hz. */
#define UIP_NS          (8 * NS_PER_SEC / 32768)
/* Out of divider reset, the first update comes half a second later. */
#define DV_RESTART_NS   (NS_PER_SEC / 2)

typedef struct Rtc {
    DmDevice *dev;
    uint8_t cmos[CMOS_SIZE];
    uint8_t index;
    /* The guest's time, in ns since the epoch: VM clock + offset_ns. */
    int64_t offset_ns;
    int64_t last_vm_ns;         /* the VM clock when last looked at */
    int64_t base_ns;            /* base= as a time, for rtc_check_new_vm */
    bool base_follows_host;     /* base=utc|localtime: the host's now */
    DmVmTimer periodic, update;
    int64_t periodic_next;      /* VM ns of the next tick; -1: off */
    int64_t periodic_last;      /* VM ns of the last tick, or of its start */
    int64_t periodic_period;    /* the period periodic_next was set with */
    uint64_t periodic_ticks;    /* for the dump */
    int nvram_fd;
    /* properties */
    const char *base;
    const char *nvram;
    uint64_t iobase;
    uint64_t irq;
} Rtc;

/* ---- Time ---- */

/*
 * The years the clock keeps (base= and what the guest sets): its time in
 * nanoseconds since the epoch then fits an int64_t with room to spare.
 */
#define RTC_YEAR_MIN    1900
#define RTC_YEAR_MAX    2199

/*
 * Sums of guest-controlled times (the VM clock a client reports, the
 * offset a guest set): saturated, never an overflow.
 */
static int64_t sat_add(int64_t a, int64_t b)
{
    int64_t s;

    if (__builtin_add_overflow(a, b, &s)) {
        return b > 0 ? INT64_MAX : INT64_MIN;
    }
    return s;
}

static int64_t sat_sub(int64_t a, int64_t b)
{
    int64_t s;

    if (__builtin_sub_overflow(a, b, &s)) {
        return b < 0 ? INT64_MAX : INT64_MIN;
    }
    return s;
}

static int64_t rtc_vm_ns(Rtc *r)
{
    return dm_vm_clock_read(dm_device_vm_clock(r->dev));
}

static int64_t rtc_guest_ns(Rtc *r)
{
    return sat_add(rtc_vm_ns(r), r->offset_ns);
}

static void rtc_periodic_update(Rtc *r);
static void rtc_update_arm(Rtc *r);

/* base=: the guest's time, in ns since the epoch, for a VM starting now. */
static int64_t rtc_base_now_ns(Rtc *r)
{
    struct timespec ts;
    struct tm tm;

    if (!r->base_follows_host) {
        return r->base_ns;
    }
    clock_gettime(CLOCK_REALTIME, &ts);
    if (!strcmp(r->base, "localtime")) {
        localtime_r(&ts.tv_sec, &tm);
        ts.tv_sec += tm.tm_gmtoff;
    }
    return ts.tv_sec * NS_PER_SEC + ts.tv_nsec;
}

/*
 * A VM clock that went back is another VM's (a new QEMU counts from 0;
 * one that migrated, or that reconnects, goes on from where it was): its
 * time starts at base= again, as a local RTC's does when QEMU starts.
 */
static void rtc_check_new_vm(Rtc *r)
{
    int64_t now = rtc_vm_ns(r);

    if (now < r->last_vm_ns) {
        r->offset_ns = sat_sub(rtc_base_now_ns(r), now);
        r->last_vm_ns = now;
        rtc_periodic_update(r);
        rtc_update_arm(r);
        return;
    }
    r->last_vm_ns = now;
}

static bool rtc_binary(const Rtc *r)
{
    return r->cmos[REG_B] & B_DM_BINARY;
}

static uint8_t to_reg(const Rtc *r, unsigned v)
{
    return rtc_binary(r) ? v : ((v / 10) << 4) | (v % 10);
}

/* A register's value as a number; -1 for a BCD digit above 9. */
static int from_reg(const Rtc *r, uint8_t v)
{
    if (rtc_binary(r)) {
        return v;
    }
    if ((v & 0x0f) > 9 || (v >> 4) > 9) {
        return -1;
    }
    return (v >> 4) * 10 + (v & 0x0f);
}

static uint8_t hour_to_reg(const Rtc *r, unsigned h24)
{
    unsigned h12;

    if (r->cmos[REG_B] & B_24H) {
        return to_reg(r, h24);
    }
    h12 = h24 % 12 ? h24 % 12 : 12;
    return to_reg(r, h12) | (h24 >= 12 ? HOUR_PM : 0);
}

static int hour_from_reg(const Rtc *r, uint8_t v)
{
    int h;

    if (r->cmos[REG_B] & B_24H) {
        return from_reg(r, v);
    }
    h = from_reg(r, v & ~HOUR_PM);
    if (h < 1 || h > 12) {
        return -1;
    }
    return (h % 12) + ((v & HOUR_PM) ? 12 : 0);
}

/* Write the guest's current time into the clock registers. */
static void rtc_fill_time(Rtc *r)
{
    time_t t = rtc_guest_ns(r) / NS_PER_SEC;
    struct tm tm;

    gmtime_r(&t, &tm);
    r->cmos[REG_SEC] = to_reg(r, tm.tm_sec);
    r->cmos[REG_MIN] = to_reg(r, tm.tm_min);
    r->cmos[REG_HOUR] = hour_to_reg(r, tm.tm_hour);
    r->cmos[REG_WDAY] = to_reg(r, tm.tm_wday + 1);
    r->cmos[REG_MDAY] = to_reg(r, tm.tm_mday);
    r->cmos[REG_MONTH] = to_reg(r, tm.tm_mon + 1);
    r->cmos[REG_YEAR] = to_reg(r, tm.tm_year % 100);
    r->cmos[REG_CENTURY] = to_reg(r, (tm.tm_year + 1900) / 100);
}

/*
 * The guest set its clock to @t: tell the VM's management, as QEMU's own
 * RTC does with QMP's RTC_CHANGE, the new offset in seconds from what
 * base= gives now (the host's clock, or the base date run on with the
 * VM's).  QEMU rate-limits the QMP event; nothing to do here.
 */
static void rtc_tell_change(Rtc *r, time_t t)
{
    int64_t ref_ns = r->base_follows_host ? rtc_base_now_ns(r)
                                          : sat_add(r->base_ns, rtc_vm_ns(r));

    dm_device_event(r->dev, VUP_DM_EVENT_RTC_CHANGE,
                    (int64_t)t - ref_ns / NS_PER_SEC);
}

/*
 * Take the time the guest wrote into the registers: it is @into_ns into
 * that second now.  Nonsense (a BCD digit of 10, month 13) is taken as
 * far as timegm normalises it, as a chip would roll over.
 */
static void rtc_take_time(Rtc *r, int64_t into_ns)
{
    struct tm tm = { 0 };
    int century = from_reg(r, r->cmos[REG_CENTURY]);
    int year = from_reg(r, r->cmos[REG_YEAR]);
    time_t t;

    tm.tm_sec = from_reg(r, r->cmos[REG_SEC]);
    tm.tm_min = from_reg(r, r->cmos[REG_MIN]);
    tm.tm_hour = hour_from_reg(r, r->cmos[REG_HOUR]);
    tm.tm_mday = from_reg(r, r->cmos[REG_MDAY]);
    tm.tm_mon = from_reg(r, r->cmos[REG_MONTH]) - 1;
    if (tm.tm_sec < 0 || tm.tm_min < 0 || tm.tm_hour < 0 || tm.tm_mday < 0 ||
        tm.tm_mon < -1 || year < 0) {
        dm_debug("mc146818: the guest wrote a time that is not one; kept "
                 "the clock as it was");
        return;
    }
    /* Without a sane century byte, years 00-69 are 20xx. */
    if (century < 19 || century > 99) {
        century = year < 70 ? 20 : 19;
    }
    tm.tm_year = century * 100 + year - 1900;
    t = timegm(&tm);
    if (tm.tm_year < RTC_YEAR_MIN - 1900 || tm.tm_year > RTC_YEAR_MAX - 1900) {
        dm_debug("mc146818: the guest wrote a time in %d, outside the "
                 "years %d-%d the clock keeps; kept the clock as it was",
                 tm.tm_year + 1900, RTC_YEAR_MIN, RTC_YEAR_MAX);
        return;
    }
    r->offset_ns = sat_sub((int64_t)t * NS_PER_SEC + into_ns, rtc_vm_ns(r));
    rtc_tell_change(r, t);
}

/* ---- Interrupts ---- */

static void rtc_update_irq(Rtc *r)
{
    uint8_t c = r->cmos[REG_C];
    uint8_t b = r->cmos[REG_B];

    /* A flag interrupts only while its enable bit is set. */
    if (((c & C_PF) && (b & B_PIE)) || ((c & C_AF) && (b & B_AIE)) ||
        ((c & C_UF) && (b & B_UIE))) {
        if (!(r->cmos[REG_C] & C_IRQF)) {
            r->cmos[REG_C] |= C_IRQF;
            dm_irq_raise(r->dev, 0);
        }
    }
}

/*
 * The divider chain runs for the three time bases the chip was made for
 * (DV 000, 001, 010: 4.19 MHz, 1.05 MHz, 32.768 kHz; a PC has the last,
 * and drivers that write a rate alone leave DV 000); 11x holds it in
 * reset, the rest are test modes, stopped here.
 */
static bool dv_running(uint8_t reg_a)
{
    return (reg_a & A_DV_MASK) <= A_DV_NORMAL;
}

static bool rtc_running(const Rtc *r)
{
    return dv_running(r->cmos[REG_A]);
}

/* The periodic rate's period in ns (register A), or 0: none. */
static int64_t rtc_period_ns(const Rtc *r)
{
    unsigned rs = r->cmos[REG_A] & A_RS_MASK;

    if (rs == 0) {
        return 0;
    }
    if (rs <= 2) {
        rs += 7;                /* rates 1 and 2 are 256 and 128 Hz */
    }
    /* 32768 Hz >> (rs - 1) */
    return (NS_PER_SEC << (rs - 1)) / 32768;
}

/*
 * Start, stop or re-time the periodic interrupt after register A or B
 * changed.  Started, the first tick is a period on; a new rate counts
 * from the last tick (a tick at once if that is more than the new period
 * ago), as the divider chain does, so that a driver switching rates
 * after each interrupt measures each rate's own period.
 */
static void rtc_periodic_update(Rtc *r)
{
    int64_t period = rtc_period_ns(r);
    int64_t now = rtc_vm_ns(r);

    if (!period || !(r->cmos[REG_B] & B_PIE) || !rtc_running(r)) {
        r->periodic_next = -1;
        dm_vm_timer_del(&r->periodic);
        return;
    }
    if (r->periodic_next < 0) {
        r->periodic_last = now;
        r->periodic_next = now + period;
    } else if (period != r->periodic_period) {
        r->periodic_next = r->periodic_last + period;
        if (r->periodic_next < now) {
            r->periodic_next = now;
        }
    }
    r->periodic_period = period;
    dm_vm_timer_mod_abs(&r->periodic, r->periodic_next);
}

static void rtc_periodic_tick(void *opaque)
{
    Rtc *r = opaque;
    int64_t period = rtc_period_ns(r);
    int64_t now = rtc_vm_ns(r);

    if (r->periodic_next < 0 || !period) {
        return;
    }
    r->periodic_ticks++;
    r->cmos[REG_C] |= C_PF;
    rtc_update_irq(r);
    /*
     * The next tick a period after this one, on the same phase; ticks a
     * stopped VM missed (a clock report that jumped) are not replayed.
     */
    r->periodic_last = r->periodic_next;
    r->periodic_next += period;
    if (r->periodic_next <= now) {
        r->periodic_last = now - (now - r->periodic_last) % period;
        r->periodic_next = r->periodic_last + period;
    }
    r->periodic_period = period;
    dm_vm_timer_mod_abs(&r->periodic, r->periodic_next);
}

/* Does alarm byte @alarm match @now (both as the guest reads them)? */
static bool alarm_match(uint8_t alarm, uint8_t now)
{
    return alarm >= ALARM_ANY || alarm == now;
}

/*
 * The update timer: fires at each second of the guest's time (while the
 * clock runs and the guest is not setting it): update-ended, and the
 * alarm when the time matches it.
 */
static void rtc_update_arm(Rtc *r)
{
    int64_t g = rtc_guest_ns(r);
    int64_t next_sec = g / NS_PER_SEC + 1;

    if (!rtc_running(r) || (r->cmos[REG_B] & B_SET)) {
        dm_vm_timer_del(&r->update);
        return;
    }
    if (next_sec > INT64_MAX / NS_PER_SEC) {
        dm_vm_timer_del(&r->update);        /* the end of time */
        return;
    }
    dm_vm_timer_mod_abs(&r->update,
                        sat_sub(next_sec * NS_PER_SEC, r->offset_ns));
}

static void rtc_update_tick(void *opaque)
{
    Rtc *r = opaque;

    rtc_fill_time(r);
    r->cmos[REG_C] |= C_UF;
    if (alarm_match(r->cmos[REG_SEC_ALARM], r->cmos[REG_SEC]) &&
        alarm_match(r->cmos[REG_MIN_ALARM], r->cmos[REG_MIN]) &&
        alarm_match(r->cmos[REG_HOUR_ALARM], r->cmos[REG_HOUR])) {
        r->cmos[REG_C] |= C_AF;
    }
    rtc_update_irq(r);
    rtc_update_arm(r);
}

/* ---- CMOS memory and its file ---- */

static bool is_clock_byte(unsigned i)
{
    return i <= REG_D || i == REG_CENTURY;
}

static void nvram_store(Rtc *r, unsigned i)
{
    if (r->nvram_fd >= 0 && !is_clock_byte(i) &&
        pwrite(r->nvram_fd, &r->cmos[i], 1, i) != 1) {
        dm_warn("mc146818: cannot write %s: %m", r->nvram);
    }
}

/* The file's bytes into CMOS memory (a new file gets ours). */
static int nvram_open(Rtc *r)
{
    uint8_t buf[CMOS_SIZE];
    ssize_t n;

    if (!r->nvram || !*r->nvram) {
        return 0;
    }
    r->nvram_fd = open(r->nvram, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
    if (r->nvram_fd < 0) {
        dm_error("mc146818: cannot open %s: %m", r->nvram);
        return -errno;
    }
    n = pread(r->nvram_fd, buf, sizeof(buf), 0);
    if (n == CMOS_SIZE) {
        for (unsigned i = 0; i < CMOS_SIZE; i++) {
            if (!is_clock_byte(i)) {
                r->cmos[i] = buf[i];
            }
        }
        return 0;
    }
    if (n != 0) {
        dm_error("mc146818: %s is %zd bytes, not %d: not a CMOS image",
                 r->nvram, n, CMOS_SIZE);
        close(r->nvram_fd);
        r->nvram_fd = -1;
        return -EINVAL;
    }
    if (pwrite(r->nvram_fd, r->cmos, CMOS_SIZE, 0) != CMOS_SIZE) {
        dm_error("mc146818: cannot write %s: %m", r->nvram);
        return -EIO;
    }
    return 0;
}

/* ---- Registers ---- */

static uint8_t rtc_read_data(Rtc *r)
{
    unsigned i = r->index;
    uint8_t v;

    switch (i) {
    case REG_SEC: case REG_MIN: case REG_HOUR: case REG_WDAY:
    case REG_MDAY: case REG_MONTH: case REG_YEAR: case REG_CENTURY:
        if (!(r->cmos[REG_B] & B_SET) && rtc_running(r)) {
            rtc_fill_time(r);
        }
        return r->cmos[i];
    case REG_A:
        v = r->cmos[REG_A] & ~A_UIP;
        if (rtc_running(r) && !(r->cmos[REG_B] & B_SET) &&
            NS_PER_SEC - rtc_guest_ns(r) % NS_PER_SEC <= UIP_NS) {
            v |= A_UIP;
        }
        return v;
    case REG_C:
        /* Read to clear: the line goes down with IRQF. */
        v = r->cmos[REG_C];
        r->cmos[REG_C] = 0;
        if (v & C_IRQF) {
            dm_irq_lower(r->dev, 0);
        }
        return v;
    case REG_D:
        return D_VRT;
    default:
        return r->cmos[i];
    }
}

static void rtc_write_time_reg(Rtc *r, unsigned i, uint8_t v)
{
    bool live = !(r->cmos[REG_B] & B_SET);

    if (live && rtc_running(r)) {
        rtc_fill_time(r);       /* the other fields as they are now */
    }
    r->cmos[i] = v;
    if (live) {
        rtc_take_time(r, 0);
        rtc_update_arm(r);
    }
}

static void rtc_write_data(Rtc *r, uint8_t v)
{
    unsigned i = r->index;
    uint8_t old;

    switch (i) {
    case REG_SEC: case REG_MIN: case REG_HOUR: case REG_WDAY:
    case REG_MDAY: case REG_MONTH: case REG_YEAR: case REG_CENTURY:
        rtc_write_time_reg(r, i, v);
        break;
    case REG_A:
        old = r->cmos[REG_A];
        r->cmos[REG_A] = v & ~A_UIP;
        if ((old ^ v) & A_DV_MASK) {
            if (!rtc_running(r) && dv_running(old)) {
                rtc_fill_time(r);   /* held where it is */
            } else if (rtc_running(r) && !dv_running(old)) {
                /* The divider runs again: an update half a second on. */
                rtc_take_time(r, DV_RESTART_NS);
            }
            rtc_update_arm(r);
        }
        rtc_periodic_update(r);
        break;
    case REG_B:
        old = r->cmos[REG_B];
        if ((v & B_SET) && !(old & B_SET) && rtc_running(r)) {
            rtc_fill_time(r);       /* frozen for the guest to change */
        }
        if (v & B_SET) {
            v &= ~B_UIE;            /* the datasheet: SET clears UIE */
        }
        if ((v ^ old) & (B_DM_BINARY | B_24H)) {
            /* The registers change format: recompute them in the new. */
            if (!(old & B_SET) && rtc_running(r)) {
                r->cmos[REG_B] = v;
                rtc_fill_time(r);
            }
        }
        r->cmos[REG_B] = v;
        if ((old & B_SET) && !(v & B_SET)) {
            rtc_take_time(r, 0);
        }
        rtc_update_arm(r);
        rtc_periodic_update(r);
        rtc_update_irq(r);
        break;
    case REG_C:
    case REG_D:
        break;                  /* read-only */
    default:
        r->cmos[i] = v;
        nvram_store(r, i);
        break;
    }
}

static uint64_t rtc_read(void *opaque, uint64_t addr, unsigned size)
{
    Rtc *r = opaque;

    rtc_check_new_vm(r);
    /* The index port is write-only: the bus floats. */
    return addr == 0 ? 0xff : rtc_read_data(r);
}

static void rtc_write(void *opaque, uint64_t addr, uint64_t val,
                      unsigned size)
{
    Rtc *r = opaque;

    rtc_check_new_vm(r);
    if (addr == 0) {
        r->index = val & (CMOS_SIZE - 1);  /* bit 7 gates NMI: not ours */
    } else {
        rtc_write_data(r, val);
    }
}

/* Byte ports: a wider access reaches us as bytes. */
static const DmRegionOps rtc_ops = {
    .read = rtc_read,
    .write = rtc_write,
    .impl.max_access_size = 1,
};

/* ---- Life ---- */

/* base=utc|localtime|DATE: the guest's time at the VM clock's start. */
static int rtc_parse_base(const char *base, time_t *ret, char *err,
                          size_t errlen)
{
    time_t now = time(NULL);
    struct tm tm;
    const char *end;

    if (!strcmp(base, "utc")) {
        *ret = now;
        return 0;
    }
    if (!strcmp(base, "localtime")) {
        localtime_r(&now, &tm);
        *ret = now + tm.tm_gmtoff;
        return 0;
    }
    memset(&tm, 0, sizeof(tm));
    end = strptime(base, "%Y-%m-%dT%H:%M:%S", &tm);
    if (!end || *end) {
        memset(&tm, 0, sizeof(tm));
        end = strptime(base, "%Y-%m-%d", &tm);
    }
    if (!end || *end || tm.tm_year < RTC_YEAR_MIN - 1900 ||
        tm.tm_year > RTC_YEAR_MAX - 1900) {
        snprintf(err, errlen, "bad base '%s': utc, localtime, YYYY-MM-DD or "
                 "YYYY-MM-DDTHH:MM:SS, years %d to %d", base, RTC_YEAR_MIN,
                 RTC_YEAR_MAX);
        return -EINVAL;
    }
    *ret = timegm(&tm);
    return 0;
}

static int rtc_check_base(const char *val, char *err, size_t errlen)
{
    time_t t;

    return rtc_parse_base(val, &t, err, errlen);
}

static void rtc_reset(DmDevice *dev)
{
    Rtc *r = dm_device_state(dev);

    /* The time and the memory live on (battery); interrupts are off. */
    rtc_check_new_vm(r);
    r->cmos[REG_B] &= ~(B_PIE | B_AIE | B_UIE | B_SQWE);
    /* The shutdown status byte, but for a guest's suspend (0xfe). */
    if (r->cmos[REG_SHUTDOWN] != SHUTDOWN_S3) {
        r->cmos[REG_SHUTDOWN] = 0;
        nvram_store(r, REG_SHUTDOWN);
    }
    r->cmos[REG_C] = 0;
    dm_irq_lower(dev, 0);
    rtc_periodic_update(r);
    rtc_update_arm(r);
}

static void rtc_save(DmDevice *dev, DmStateOut *out)
{
    Rtc *r = dm_device_state(dev);

    dm_state_put(out, r->cmos, sizeof(r->cmos));
    dm_state_put_u64(out, r->index);
    dm_state_put_u64(out, (uint64_t)r->offset_ns);
}

static void rtc_load(DmDevice *dev, DmStateIn *in, uint32_t version)
{
    Rtc *r = dm_device_state(dev);
    uint8_t cmos[CMOS_SIZE];
    uint64_t index, offset;

    dm_state_get(in, cmos, sizeof(cmos));
    index = dm_state_get_u64(in);
    offset = dm_state_get_u64(in);
    if (index >= CMOS_SIZE) {
        dm_state_fail(in);
        return;
    }
    memcpy(r->cmos, cmos, sizeof(cmos));
    r->index = index;
    r->offset_ns = (int64_t)offset;
    r->last_vm_ns = rtc_vm_ns(r);
    rtc_periodic_update(r);
    rtc_update_arm(r);
}

static void rtc_dump(DmDevice *dev)
{
    Rtc *r = dm_device_state(dev);
    time_t t = rtc_guest_ns(r) / NS_PER_SEC;
    struct tm tm;
    char when[32];

    gmtime_r(&t, &tm);
    strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%S", &tm);
    dm_info("mc146818: guest time %s, A 0x%02x B 0x%02x C 0x%02x, periodic "
            "%lld ns (%llu ticks), index 0x%02x", when, r->cmos[REG_A],
            r->cmos[REG_B], r->cmos[REG_C], (long long)rtc_period_ns(r),
            (unsigned long long)r->periodic_ticks, r->index);
}

static int rtc_realize(DmDevice *dev)
{
    Rtc *r = dm_device_state(dev);
    char err[160];
    time_t base;
    int ret;

    /* First: unrealize, which a failure below calls, undoes these. */
    r->dev = dev;
    r->nvram_fd = -1;
    r->periodic_next = -1;
    dm_vm_timer_init(&r->periodic, dm_device_vm_clock(dev),
                     rtc_periodic_tick, r);
    dm_vm_timer_init(&r->update, dm_device_vm_clock(dev), rtc_update_tick, r);
    if (rtc_parse_base(r->base, &base, err, sizeof(err)) < 0) {
        dm_error("mc146818: %s", err);
        return -EINVAL;
    }
    dm_device_init_region(dev, 0, RTC_PORTS, &rtc_ops, r);
    dm_device_set_isa_defaults(dev, 0, r->iobase, r->irq);
    ret = dm_device_init_irq(dev, 0, 1, VUP_IRQ_INFO_EVENTFD |
                             VUP_IRQ_INFO_MASKABLE | VUP_IRQ_INFO_AUTOMASKED);
    if (ret < 0) {
        return ret;
    }
    /* Power-on: running at 1024 Hz rate, 24-hour BCD, as PC firmware sets. */
    r->cmos[REG_A] = A_DV_NORMAL | 0x06;
    r->cmos[REG_B] = B_24H;
    r->cmos[REG_D] = D_VRT;
    ret = nvram_open(r);
    if (ret < 0) {
        return ret;
    }
    r->base_follows_host = !strcmp(r->base, "utc") ||
                           !strcmp(r->base, "localtime");
    r->base_ns = (int64_t)base * NS_PER_SEC;
    r->last_vm_ns = rtc_vm_ns(r);
    r->offset_ns = sat_sub(r->base_ns, r->last_vm_ns);
    rtc_fill_time(r);
    rtc_update_arm(r);
    return 0;
}

static void rtc_unrealize(DmDevice *dev)
{
    Rtc *r = dm_device_state(dev);

    dm_vm_timer_destroy(&r->periodic);
    dm_vm_timer_destroy(&r->update);
    if (r->nvram_fd >= 0) {
        close(r->nvram_fd);
    }
}

static const DmProp rtc_props[] = {
    DM_PROP_STRING_CHECKED("base", Rtc, base, "utc", rtc_check_base,
                           "the guest's time at start: utc, localtime, "
                           "YYYY-MM-DD or YYYY-MM-DDTHH:MM:SS, 1900 to "
                           "2199 (as QEMU's -rtc base=)"),
    DM_PROP_FILENAME("nvram", Rtc, nvram, false,
                     "a file that keeps the CMOS memory (not the clock) "
                     "across restarts; made if missing"),
    DM_PROP_UINT64("iobase", Rtc, iobase, "0x70", 0, 0xfffe,
                   "I/O port the client maps it at unless told otherwise"),
    DM_PROP_UINT64("irq", Rtc, irq, "8", 0, 15,
                   "ISA IRQ line the client wires unless told otherwise"),
    DM_PROP_END,
};

static const DmModel dm_model_mc146818 = {
    .name = "mc146818",
    .description = "the PC's real-time clock and CMOS memory (nvram=)",
    .bus = DM_BUS_PLATFORM,
    .state_size = sizeof(Rtc),
    .props = rtc_props,
    .realize = rtc_realize,
    .reset = rtc_reset,
    .state_version = 1,
    .save = rtc_save,
    .load = rtc_load,
    .dump = rtc_dump,
    .unrealize = rtc_unrealize,
};
DM_MODEL_REGISTER(dm_model_mc146818)
