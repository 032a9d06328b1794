/*
 * rtc-bench: inside the guest, the RTC's periodic interrupt and the cost
 * of a CMOS read, programmed straight at the ports (Linux's own RTC core
 * emulates periodic interrupts with hrtimers and never asks the chip).
 *
 *   rtc-bench RATE_HZ SECONDS   periodic interrupts at RATE_HZ (2..8192,
 *                               a power of two) for SECONDS: IRQ 8's
 *                               count in /proc/interrupts, per second
 *   rtc-bench reads N           N reads of the seconds register
 *   rtc-bench jitter RATE_HZ SECONDS
 *                               periodic interrupts, their arrival polled:
 *                               the spread of the intervals between them,
 *                               in microseconds
 *
 * Prints "RTC-BENCH key value" lines.  Static: it runs from the test
 * guest's initramfs (bench/run-rtc-bench.sh).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/io.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static unsigned char cmos_read(unsigned char reg)
{
    outb(reg, 0x70);
    return inb(0x71);
}

static void cmos_write(unsigned char reg, unsigned char val)
{
    outb(reg, 0x70);
    outb(val, 0x71);
}

/* IRQ 8's count over every CPU, or -1. */
static long irq8(void)
{
    FILE *f = fopen("/proc/interrupts", "r");
    char line[512];
    long n = -1;

    while (f && fgets(line, sizeof(line), f)) {
        char *p = line, *end;

        while (*p == ' ') {
            p++;
        }
        if (strncmp(p, "8:", 2)) {
            continue;
        }
        n = 0;
        for (p += 2;; p = end) {
            long v = strtol(p, &end, 10);

            if (end == p) {
                break;
            }
            n += v;
        }
    }
    if (f) {
        fclose(f);
    }
    return n;
}

/* Register A's rate select for @hz (2..8192, a power of two), or 0. */
static int rate_select(int hz)
{
    for (int r = 3; r <= 15; r++) {
        if (32768 >> (r - 1) == hz) {
            return r;
        }
    }
    return 0;
}

/* Interrupts at @hz for @secs: IRQ 8's count per second. */
static void periodic_rate(int hz, int rs, int secs)
{
    unsigned char a = cmos_read(0x0a), b = cmos_read(0x0b);
    long c0, c1;
    double t0, t;

    cmos_write(0x0a, (a & 0xf0) | rs);
    c0 = irq8();
    t0 = now();
    cmos_write(0x0b, b | 0x40);
    sleep(secs);
    cmos_write(0x0b, b & ~0x40);
    t = now() - t0;
    c1 = irq8();
    cmos_read(0x0c);
    cmos_write(0x0a, a);
    printf("RTC-BENCH rate %d %.1f\n", hz, (c1 - c0) / t);
}

/*
 * Interrupts at @hz for @secs, their arrival seen by polling IRQ 8's
 * count (the chip sets its flag only while the interrupt is on, and the
 * kernel's handler clears it): the standard deviation and the largest
 * deviation of the intervals from the period.  A poll costs tens of
 * microseconds under TCG: that is the floor.
 */
static void periodic_jitter(int hz, int rs, int secs)
{
    unsigned char a = cmos_read(0x0a), b = cmos_read(0x0b);
    double period = 1.0 / hz, last = -1, end, sum2 = 0, worst = 0;
    long n = 0, count, seen;

    cmos_write(0x0a, (a & 0xf0) | rs);
    seen = irq8();
    cmos_write(0x0b, b | 0x40);
    end = now() + secs;
    while (now() < end) {
        count = irq8();
        if (count == seen) {
            continue;
        }
        if (count == seen + 1) {
            double t = now();

            if (last >= 0) {
                double dev = fabs(t - last - period);

                sum2 += dev * dev;
                worst = dev > worst ? dev : worst;
                n++;
            }
            last = t;
        } else {
            last = -1;          /* missed one: start a new interval */
        }
        seen = count;
    }
    cmos_write(0x0b, b & ~0x40);
    cmos_read(0x0c);
    cmos_write(0x0a, a);
    printf("RTC-BENCH jitter %d %.1f %.1f %ld\n", hz,
           n ? sqrt(sum2 / n) * 1e6 : -1.0, worst * 1e6, n);
}

int main(int argc, char **argv)
{
    int jitter = argc == 4 && !strcmp(argv[1], "jitter");
    int hz, secs, rs;

    if ((argc != 3 && !jitter) || ioperm(0x70, 2, 1) < 0) {
        fprintf(stderr, "usage: rtc-bench RATE_HZ SECONDS | reads N | "
                "jitter RATE_HZ SECONDS (as root)\n");
        return 2;
    }
    if (!strcmp(argv[1], "reads")) {
        long n = atol(argv[2]);
        double t0 = now();

        for (long i = 0; i < n; i++) {
            cmos_read(0x00);
        }
        printf("RTC-BENCH read-us %.2f\n", (now() - t0) * 1e6 / n);
        return 0;
    }
    hz = atoi(argv[1 + jitter]);
    secs = atoi(argv[2 + jitter]);
    rs = rate_select(hz);
    if (!rs || secs <= 0) {
        fprintf(stderr, "rtc-bench: rate %d Hz not one of 2..8192\n", hz);
        return 2;
    }
    if (jitter) {
        periodic_jitter(hz, rs, secs);
    } else {
        periodic_rate(hz, rs, secs);
    }
    return 0;
}
