/*
 * membar-check: runs inside the guest (dm.run=membar-check).  A Linux
 * guest's own loads and stores on a vCPU (not qtest's) to dm-remote's
 * membar: BAR2 is the model's memory, mapped into the guest on one host,
 * trapped across hosts; BAR0's registers show what the model reads.  Lines
 * starting DM-MEMBAR are for the host's test (tests/guest/membar.sh):
 *   DM-MEMBAR sparse 0|1       BAR2's first page is registers
 *   DM-MEMBAR guest-to-model ok|bad    the model reads the guest's stores
 *   DM-MEMBAR model-to-guest ok|bad    the guest reads the model's
 *   DM-MEMBAR sum ok|bad       the model's sum of its memory
 *   DM-MEMBAR ns-per-access N  informational (mapped is memory speed)
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define REG_ID      0x00
#define REG_ADDR    0x08
#define REG_DATA    0x10
#define REG_SUM     0x18
#define PAGE        4096
#define TIMED       20000

static char dev_dir[300];

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

/* Find membar (1b36:10fe) and turn on its memory decoding. */
static int find_device(void)
{
    DIR *d = opendir("/sys/bus/pci/devices");
    struct dirent *e;

    while (d && (e = readdir(d))) {
        if (e->d_name[0] != '.' && read_hex(e->d_name, "vendor") == 0x1b36 &&
            read_hex(e->d_name, "device") == 0x10fe) {
            char path[600];
            int fd;

            snprintf(dev_dir, sizeof(dev_dir), "/sys/bus/pci/devices/%s",
                     e->d_name);
            closedir(d);
            snprintf(path, sizeof(path), "%s/enable", dev_dir);
            fd = open(path, O_WRONLY);
            if (fd < 0 || write(fd, "1", 1) != 1) {
                perror(path);
            }
            if (fd >= 0) {
                close(fd);
            }
            return 0;
        }
    }
    if (d) {
        closedir(d);
    }
    printf("DM-MEMBAR no-device\n");
    return -1;
}

static volatile uint32_t *map_bar(int bar, size_t *size)
{
    char path[600];
    struct stat st;
    void *p;
    int fd;

    snprintf(path, sizeof(path), "%s/resource%d", dev_dir, bar);
    fd = open(path, O_RDWR | O_SYNC);
    if (fd < 0 || fstat(fd, &st) < 0) {
        perror(path);
        return NULL;
    }
    *size = st.st_size;
    p = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    close(fd);
    if (p == MAP_FAILED) {
        perror(path);
        return NULL;
    }
    return p;
}

static volatile uint32_t *regs, *mem;

static uint32_t model_word(uint32_t addr)
{
    regs[REG_ADDR / 4] = addr;
    return regs[REG_DATA / 4];
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

int main(void)
{
    size_t regs_size, size;
    uint32_t base, sum = 0;
    bool ok = true;
    int64_t t0;

    if (find_device() < 0 || !(regs = map_bar(0, &regs_size)) ||
        !(mem = map_bar(2, &size))) {
        return 1;
    }
    if (regs[REG_ID / 4] != 0x6d656d62) {
        printf("DM-MEMBAR bad-id %08x\n", regs[REG_ID / 4]);
        return 1;
    }
    base = mem[0x20 / 4] == 0xc0de0020 ? PAGE : 0;
    printf("DM-MEMBAR sparse %d\n", base != 0);

    /* A store per page, then what the model reads there. */
    for (uint32_t off = base; off < size; off += PAGE) {
        mem[off / 4 + 1] = 0xa5000000 | off;
    }
    for (uint32_t off = base; off < size; off += PAGE) {
        if (model_word(off + 4) != (0xa5000000 | off)) {
            ok = false;
        }
        sum += 0xa5000000 | off;
    }
    printf("DM-MEMBAR guest-to-model %s\n", ok ? "ok" : "bad");
    printf("DM-MEMBAR sum %s\n", regs[REG_SUM / 4] == sum ? "ok" : "bad");

    /* The model stores, the guest loads right after. */
    ok = true;
    for (uint32_t off = base; off < size; off += PAGE) {
        regs[REG_ADDR / 4] = off + 8;
        regs[REG_DATA / 4] = 0x5a000000 | off;
        if (mem[off / 4 + 2] != (0x5a000000 | off)) {
            ok = false;
        }
    }
    printf("DM-MEMBAR model-to-guest %s\n", ok ? "ok" : "bad");

    t0 = now_ns();
    for (unsigned i = 0; i < TIMED; i++) {
        mem[(base + (i * 64) % (size - base)) / 4] = i;
    }
    printf("DM-MEMBAR ns-per-access %lld\n",
           (long long)((now_ns() - t0) / TIMED));
    return 0;
}
