/*
 * blk-bench: runs inside the guest.  Throughput of a block device as a
 * guest application sees it, whatever serves the device (QEMU's own
 * virtio-blk or the remote model): O_DIRECT, so that every access goes
 * to the device and not to the guest's page cache.
 *
 *   blk-bench DEVICE [SECONDS [WARMUP_MS]]     default 3 s after 500 ms
 *
 * Queue depth N is N threads, each with one synchronous pread/pwrite in
 * flight: simple, and the block layer sees N requests at once as it
 * would from N processes.  Tests, in this order: 4 KiB random read and
 * random write at QD1 and QD32, 1 MiB sequential read and write at QD1.
 * Random offsets are 4 KiB aligned over the whole device; sequential
 * ones wrap at its end.  Each test prints
 *   BLK-BENCH <test> IOPS <n> MBPS <x.y> ... IRQ-PER-REQ <x.yy>
 * counting only the requests that completed in the timed window (after
 * the warm-up); IRQ-PER-REQ: the interrupts of virtio devices (every
 * line of /proc/interrupts naming one) in that window, per request.  A
 * short read or write, or an error, stops the program with
 * BLK-BENCH-ERROR and exit status 1: no numbers from a broken disk.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <errno.h>
#include <fcntl.h>
#include <linux/fs.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "bench-util.h"

#define MAX_QD  32
/* Completion times kept per test, shared by its threads; past it, later
 * requests go uncounted in the latency figures (not in IOPS). */
#define MAX_SAMPLES (1 << 19)

typedef struct Test {
    const char *name;
    size_t bs;
    int qd;
    bool write;
    bool random;
} Test;

static const Test tests[] = {
    { "randread-4k-qd1",   4096,    1,      false, true },
    { "randread-4k-qd32",  4096,    MAX_QD, false, true },
    { "randwrite-4k-qd1",  4096,    1,      true,  true },
    { "randwrite-4k-qd32", 4096,    MAX_QD, true,  true },
    { "seqread-1m-qd1",    1 << 20, 1,      false, false },
    { "seqwrite-1m-qd1",   1 << 20, 1,      true,  false },
};

typedef struct Worker {
    pthread_t thread;
    const Test *test;
    int fd;
    uint64_t size;          /* of the device, bytes */
    uint64_t seed;
    void *buf;
    _Atomic uint64_t done;  /* requests completed */
    int64_t *lat;           /* completion times in the timed window, ns */
    size_t nlat, maxlat;
} Worker;

static atomic_bool stop;
static atomic_bool timing;      /* in the timed window */
static atomic_int failed;

/* xorshift64: enough to scatter offsets, and each thread has its own. */
static uint64_t next_rand(uint64_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 7;
    *s ^= *s << 17;
    return *s;
}

static void *worker_run(void *opaque)
{
    Worker *w = opaque;
    const Test *t = w->test;
    uint64_t blocks = w->size / t->bs, off = 0;
    int64_t start = bench_now_ns(), end;

    while (!atomic_load_explicit(&stop, memory_order_relaxed)) {
        ssize_t n;

        if (t->random) {
            off = next_rand(&w->seed) % blocks * t->bs;
        }
        n = t->write ? pwrite(w->fd, w->buf, t->bs, off)
                     : pread(w->fd, w->buf, t->bs, off);
        /* One clock read per request: its end is the next one's start. */
        end = bench_now_ns();
        if (atomic_load_explicit(&timing, memory_order_relaxed) &&
            w->nlat < w->maxlat) {
            w->lat[w->nlat++] = end - start;
        }
        start = end;
        if (n != (ssize_t)t->bs) {
            printf("BLK-BENCH-ERROR %s at %llu: %s\n", t->name,
                   (unsigned long long)off,
                   n < 0 ? strerror(errno) : "short transfer");
            atomic_store(&failed, 1);
            atomic_store(&stop, true);
            break;
        }
        atomic_fetch_add_explicit(&w->done, 1, memory_order_relaxed);
        if (!t->random) {
            off = (off + t->bs) % (blocks * t->bs);
        }
    }
    return NULL;
}

static uint64_t total_done(Worker *w, int n)
{
    uint64_t sum = 0;

    for (int i = 0; i < n; i++) {
        sum += atomic_load(&w[i].done);
    }
    return sum;
}

/*
 * The interrupts taken so far by virtio devices, every CPU: how many
 * completions one interrupt brings is much of a device's cost to a
 * guest at depth (each one an entry into the guest's handler).
 */
static uint64_t virtio_irqs(void)
{
    FILE *f = fopen("/proc/interrupts", "r");
    char line[1024];
    uint64_t sum = 0;

    if (!f) {
        return 0;
    }
    while (fgets(line, sizeof(line), f)) {
        char *p = strchr(line, ':');

        if (!p || !strstr(line, "virtio")) {
            continue;
        }
        for (p++;;) {
            char *end;
            unsigned long long n = strtoull(p, &end, 10);

            if (end == p) {
                break;
            }
            sum += n;
            p = end;
        }
    }
    fclose(f);
    return sum;
}

/*
 * The guest's own accounting from /proc/stat: where its CPU went (user,
 * system, hard and soft interrupts, idle: ticks of all CPUs) and how
 * many interrupts and context switches it took.  A device whose
 * requests make the guest work shows here, not in IOPS alone.
 */
typedef struct GuestStat {
    unsigned long long usr, sys, irq, sirq, idle, intr, ctxt;
} GuestStat;

static void guest_stat(GuestStat *g)
{
    FILE *f = fopen("/proc/stat", "r");
    char line[4096];
    unsigned long long v[8] = { 0 };

    memset(g, 0, sizeof(*g));
    if (!f) {
        return;
    }
    while (fgets(line, sizeof(line), f)) {
        if (sscanf(line, "cpu %llu %llu %llu %llu %llu %llu %llu %llu", &v[0],
                   &v[1], &v[2], &v[3], &v[4], &v[5], &v[6], &v[7]) == 8) {
            g->usr = v[0] + v[1];
            g->sys = v[2];
            g->idle = v[3] + v[4];
            g->irq = v[5];
            g->sirq = v[6];
        } else {
            sscanf(line, "intr %llu", &g->intr);
            sscanf(line, "ctxt %llu", &g->ctxt);
        }
    }
    fclose(f);
}

static void sleep_ms(long ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {
    }
}

static int run_test(const Test *t, int fd, uint64_t size, long secs,
                    long warmup_ms)
{
    static Worker w[MAX_QD];
    static int64_t lat[MAX_SAMPLES];
    uint64_t c0, c1, all, i0, i1;
    GuestStat g0, g1;
    double ticks;
    int64_t t0, t1;
    size_t nlat = 0;
    double s, med = 0, p99 = 0;

    atomic_store(&stop, false);
    atomic_store(&timing, false);
    for (int i = 0; i < t->qd; i++) {
        w[i] = (Worker){ .test = t, .fd = fd, .size = size,
                         .seed = 0x9e3779b97f4a7c15ull * (i + 1),
                         .lat = lat + i * (MAX_SAMPLES / t->qd),
                         .maxlat = MAX_SAMPLES / t->qd };
        atomic_store(&w[i].done, 0);
        if (posix_memalign(&w[i].buf, 4096, t->bs)) {
            fprintf(stderr, "blk-bench: out of memory\n");
            return -1;
        }
        /* Not zeros: a device that drops writes shows in the check. */
        memset(w[i].buf, 0xa5 ^ i, t->bs);
        if (pthread_create(&w[i].thread, NULL, worker_run, &w[i])) {
            fprintf(stderr, "blk-bench: pthread_create failed\n");
            exit(1);
        }
    }
    sleep_ms(warmup_ms);
    c0 = total_done(w, t->qd);
    i0 = virtio_irqs();
    guest_stat(&g0);
    t0 = bench_now_ns();
    atomic_store(&timing, true);
    sleep_ms(secs * 1000);
    atomic_store(&timing, false);
    c1 = total_done(w, t->qd);
    t1 = bench_now_ns();
    i1 = virtio_irqs();
    guest_stat(&g1);
    atomic_store(&stop, true);
    for (int i = 0; i < t->qd; i++) {
        pthread_join(w[i].thread, NULL);
        free(w[i].buf);
    }
    if (atomic_load(&failed)) {
        return -1;
    }
    all = total_done(w, t->qd);
    /* The workers' samples, packed together. */
    for (int i = 0; i < t->qd; i++) {
        memmove(lat + nlat, w[i].lat, w[i].nlat * sizeof(lat[0]));
        nlat += w[i].nlat;
    }
    if (nlat) {
        med = bench_median(lat, nlat) / 1e3;      /* sorts them */
        p99 = lat[nlat * 99 / 100] / 1e3;
    }
    s = (t1 - t0) / 1e9;
    ticks = (g1.usr - g0.usr) + (g1.sys - g0.sys) + (g1.irq - g0.irq) +
            (g1.sirq - g0.sirq) + (g1.idle - g0.idle);
    ticks = ticks > 0 ? ticks / 100 : 1;                /* percent */
    printf("BLK-BENCH %s IOPS %.0f MBPS %.1f LAT-US %.1f P99-US %.1f "
           "BYTES %llu IRQ-PER-REQ %.2f GUEST-USR %.0f GUEST-SYS %.0f "
           "GUEST-IRQ %.0f GUEST-SIRQ %.0f GUEST-IDLE %.0f "
           "INTR-PER-REQ %.2f CTXT-PER-REQ %.2f\n", t->name, (c1 - c0) / s,
           (c1 - c0) * (double)t->bs / s / 1e6, med, p99,
           (unsigned long long)(all * t->bs),
           c1 > c0 ? (double)(i1 - i0) / (c1 - c0) : 0.0,
           (g1.usr - g0.usr) / ticks, (g1.sys - g0.sys) / ticks,
           (g1.irq - g0.irq) / ticks, (g1.sirq - g0.sirq) / ticks,
           (g1.idle - g0.idle) / ticks,
           c1 > c0 ? (double)(g1.intr - g0.intr) / (c1 - c0) : 0.0,
           c1 > c0 ? (double)(g1.ctxt - g0.ctxt) / (c1 - c0) : 0.0);
    fflush(stdout);
    return 0;
}

/* Before timing anything: what we write through O_DIRECT reads back. */
static int check_device(int fd, uint64_t size)
{
    uint8_t *a, *b;
    uint64_t off = size / 2 & ~4095ull;
    int ok;

    if (posix_memalign((void **)&a, 4096, 4096) ||
        posix_memalign((void **)&b, 4096, 4096)) {
        return -1;
    }
    for (int i = 0; i < 4096; i++) {
        a[i] = i * 7 + 1;
    }
    memset(b, 0, 4096);
    ok = pwrite(fd, a, 4096, off) == 4096 && pread(fd, b, 4096, off) == 4096
         && !memcmp(a, b, 4096);
    free(a);
    free(b);
    return ok ? 0 : -1;
}

int main(int argc, char **argv)
{
    long secs = argc > 2 ? atol(argv[2]) : 3;
    long warmup_ms = argc > 3 ? atol(argv[3]) : 500;
    uint64_t size = 0;
    int fd;

    if (argc < 2 || secs <= 0 || warmup_ms < 0) {
        fprintf(stderr, "usage: blk-bench DEVICE [SECONDS [WARMUP_MS]]\n");
        return 2;
    }
    fd = open(argv[1], O_RDWR | O_DIRECT);
    if (fd < 0) {
        printf("BLK-BENCH-ERROR open %s: %s\n", argv[1], strerror(errno));
        return 1;
    }
    if (ioctl(fd, BLKGETSIZE64, &size) < 0 || size < (4u << 20)) {
        printf("BLK-BENCH-ERROR %s: no size, or under 4 MiB\n", argv[1]);
        return 1;
    }
    if (check_device(fd, size) < 0) {
        printf("BLK-BENCH-ERROR %s: a block written does not read back\n",
               argv[1]);
        return 1;
    }
    printf("BLK-BENCH-SIZE %llu\n", (unsigned long long)size);
    for (size_t i = 0; i < sizeof(tests) / sizeof(tests[0]); i++) {
        if (run_test(&tests[i], fd, size, secs, warmup_ms) < 0) {
            return 1;
        }
    }
    close(fd);
    return 0;
}
