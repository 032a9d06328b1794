/*
 * mmio-bench: runs inside the guest.  Times trapped MMIO accesses to a
 * PCI BAR from user space: the cost a guest driver pays per register
 * access, whatever serves the device (local model or remote).
 *
 *   mmio-bench [VENDOR:DEVICE [BAR]]     default 1234:11e8 (edu), BAR 0
 *
 * Reads offset 0 and posted writes to offset 4 (edu's liveness register),
 * in batches; prints the median per access of the batches' averages:
 *   MMIO-READ-NS <n>
 *   MMIO-WRITE-NS <n>
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#define BATCHES     201
#define PER_BATCH   50

static unsigned read_hex(const char *dir, const char *file)
{
    char path[512], buf[32] = "";
    FILE *f;

    snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/%s", dir, file);
    f = fopen(path, "r");
    if (!f) {
        return 0;
    }
    if (!fgets(buf, sizeof(buf), f)) {
        buf[0] = 0;
    }
    fclose(f);
    return strtoul(buf, NULL, 16);
}

static volatile uint32_t *map_bar(unsigned vendor, unsigned device, int bar)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    struct dirent *e;
    char path[512];
    void *p;
    int fd;

    if (!d) {
        perror("mmio-bench: /sys/bus/pci/devices");
        return NULL;
    }
    while ((e = readdir(d))) {
        if (e->d_name[0] == '.' || read_hex(e->d_name, "vendor") != vendor ||
            read_hex(e->d_name, "device") != device) {
            continue;
        }
        /* No driver binds it: turn on memory decoding ourselves. */
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/enable",
                 e->d_name);
        fd = open(path, O_WRONLY);
        if (fd < 0 || write(fd, "1", 1) != 1) {
            perror(path);
        }
        if (fd >= 0) {
            close(fd);
        }
        snprintf(path, sizeof(path), "/sys/bus/pci/devices/%s/resource%d",
                 e->d_name, bar);
        closedir(d);
        fd = open(path, O_RDWR | O_SYNC);
        if (fd < 0) {
            perror(path);
            return NULL;
        }
        p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
        close(fd);
        if (p == MAP_FAILED) {
            perror("mmio-bench: mmap");
            return NULL;
        }
        return p;
    }
    closedir(d);
    fprintf(stderr, "mmio-bench: no device %04x:%04x\n", vendor, device);
    return NULL;
}

int main(int argc, char **argv)
{
    unsigned vendor = 0x1234, device = 0x11e8;
    int bar = argc > 2 ? atoi(argv[2]) : 0;
    static int64_t rd[BATCHES], wr[BATCHES];
    volatile uint32_t *regs;
    uint32_t sink = 0;

    if (argc > 1 && sscanf(argv[1], "%x:%x", &vendor, &device) != 2) {
        fprintf(stderr, "usage: mmio-bench [VENDOR:DEVICE [BAR]]\n");
        return 2;
    }
    regs = map_bar(vendor, device, bar);
    if (!regs) {
        return 1;
    }
    /* Sanity: the device answers like edu before we time it. */
    regs[1] = 0x5a5a5a5a;
    if (regs[1] != ~0x5a5a5a5au) {
        fprintf(stderr, "mmio-bench: liveness check failed: 0x%x\n",
                regs[1]);
        return 1;
    }
    for (int b = 0; b < BATCHES; b++) {
        int64_t t0 = bench_now_ns();

        for (int i = 0; i < PER_BATCH; i++) {
            sink += regs[0];
        }
        rd[b] = (bench_now_ns() - t0) / PER_BATCH;
    }
    for (int b = 0; b < BATCHES; b++) {
        int64_t t0 = bench_now_ns();

        for (int i = 0; i < PER_BATCH; i++) {
            regs[1] = i;
        }
        wr[b] = (bench_now_ns() - t0) / PER_BATCH;
    }
    /* A read after the posted writes sees the last one. */
    if (regs[1] != ~(uint32_t)(PER_BATCH - 1)) {
        fprintf(stderr, "mmio-bench: posted writes lost: 0x%x\n", regs[1]);
        return 1;
    }
    printf("MMIO-READ-NS %lld\nMMIO-WRITE-NS %lld\n",
           (long long)bench_median(rd, BATCHES),
           (long long)bench_median(wr, BATCHES));
    return sink == 0xdeadbeef;  /* keep the reads */
}
