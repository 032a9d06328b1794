/*
 * QMP's RTC_CHANGE when the guest sets its real-time clock, one body,
 * three back ends:
 *   local       the pc machine's own mc146818
 *   remote      dm-remote's mc146818 in its place (dm-proxy-isa,rtc=on),
 *               the event told by a DM_EVENT message (dm_events)
 *   remote-tcp  the same over TCP loopback
 * The guest sets the clock a day ahead (binary, 24-hour, under SET) and
 * the event says so: offset 86400 s from base= (the host's clock), in
 * the name of the machine's RTC object.  Upstream's rtc-test (run by
 * tests/upstream-qtest.sh against both) covers the chip itself.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "libqtest.h"
#include "qobject/qdict.h"

#include "dm-qtest-util.h"

#define INDEX       0x70
#define DATA        0x71
#define SEC         0x00
#define MIN         0x02
#define HOUR        0x04
#define WDAY        0x06
#define MDAY        0x07
#define MONTH       0x08
#define YEAR        0x09
#define REG_B       0x0b
#define REG_C       0x0c
#define CENTURY     0x32

#define B_SET       0x80
#define B_BINARY    0x04
#define B_24H       0x02

#define DAY         (24 * 60 * 60)

enum { LOCAL, REMOTE, REMOTE_TCP };

static void cmos_write(QTestState *qts, uint8_t reg, uint8_t val)
{
    qtest_outb(qts, INDEX, reg);
    qtest_outb(qts, DATA, val);
}

static uint8_t cmos_read(QTestState *qts, uint8_t reg)
{
    qtest_outb(qts, INDEX, reg);
    return qtest_inb(qts, DATA);
}

/* The QOM type of the object at @path. */
static char *qom_type(QTestState *qts, const char *path)
{
    QDict *rsp = qtest_qmp(qts, "{'execute': 'qom-get', 'arguments': "
                           "{'path': %s, 'property': 'type'}}", path);
    char *type = g_strdup(qdict_get_try_str(rsp, "return"));

    qobject_unref(rsp);
    return type;
}

static void test_rtc_change(const void *data)
{
    int backend = GPOINTER_TO_INT(data);
    DmRemote *remote = NULL;
    QTestState *qts;
    QDict *ev, *evdata;
    time_t t = time(NULL) + DAY;
    struct tm tm;
    int64_t offset;
    g_autofree char *type = NULL;

    if (backend == LOCAL) {
        qts = qtest_init("-machine pc -nodefaults");
    } else {
        remote = backend == REMOTE_TCP ? dm_remote_start_tcp("mc146818", NULL)
                                       : dm_remote_start("mc146818", NULL);
        qts = qtest_initf("-machine pc -nodefaults "
                          "-device dm-proxy-isa,server=%s,rtc=on",
                          remote->connect);
    }

    gmtime_r(&t, &tm);
    cmos_write(qts, REG_B, B_SET | B_BINARY | B_24H);
    cmos_write(qts, SEC, tm.tm_sec);
    cmos_write(qts, MIN, tm.tm_min);
    cmos_write(qts, HOUR, tm.tm_hour);
    cmos_write(qts, WDAY, tm.tm_wday + 1);
    cmos_write(qts, MDAY, tm.tm_mday);
    cmos_write(qts, MONTH, tm.tm_mon + 1);
    cmos_write(qts, YEAR, tm.tm_year % 100);
    cmos_write(qts, CENTURY, (tm.tm_year + 1900) / 100);
    cmos_write(qts, REG_B, B_BINARY | B_24H);   /* SET off: the clock runs */
    /* A read sends the posted writes before it (remote). */
    g_assert_cmphex(cmos_read(qts, REG_B), ==, B_BINARY | B_24H);

    ev = qtest_qmp_eventwait_ref(qts, "RTC_CHANGE");
    evdata = qdict_get_qdict(ev, "data");
    g_assert_nonnull(evdata);
    offset = qdict_get_int(evdata, "offset");
    /* A day, give or take the seconds the test took. */
    g_assert_cmpint(offset, >=, DAY - 5);
    g_assert_cmpint(offset, <=, DAY + 5);
    /* The machine's RTC object, remote or not. */
    type = qom_type(qts, qdict_get_str(evdata, "qom-path"));
    g_assert_cmpstr(type, ==, "mc146818rtc");
    qobject_unref(ev);

    qtest_quit(qts);
    if (remote) {
        dm_remote_stop(remote);
    }
}

int main(int argc, char **argv)
{
    static const char *const backends[] = {
        [LOCAL] = "local", [REMOTE] = "remote", [REMOTE_TCP] = "remote-tcp",
    };

    g_test_init(&argc, &argv, NULL);
    for (int b = 0; b < G_N_ELEMENTS(backends); b++) {
        g_autofree char *path = g_strdup_printf("/dm/rtc/%s/rtc-change",
                                                backends[b]);

        qtest_add_data_func(path, GINT_TO_POINTER(b), test_rtc_change);
    }
    return g_test_run();
}
