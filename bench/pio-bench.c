/*
 * pio-bench: runs inside the guest.  Times trapped port I/O: IN from the
 * scratch register of the UART at 0x3f8 (offset 7), whatever serves it
 * (QEMU's isa-serial or a remote uart16550 behind dm-proxy-isa).
 *
 *   pio-bench        prints PIO-READ-NS <median> and PIO-WRITE-NS <median>
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/io.h>
#include <time.h>

#include "bench-util.h"

#define PORT        (0x3f8 + 7)
#define BATCHES     201
#define PER_BATCH   50

int main(void)
{
    static int64_t rd[BATCHES], wr[BATCHES];
    unsigned sink = 0;

    if (ioperm(0x3f8, 8, 1) < 0) {
        perror("pio-bench: ioperm");
        return 1;
    }
    outb(0x5a, PORT);
    if (inb(PORT) != 0x5a) {
        fprintf(stderr, "pio-bench: no UART scratch register at 0x3f8\n");
        return 1;
    }
    for (int b = 0; b < BATCHES; b++) {
        int64_t t0 = bench_now_ns();

        for (int i = 0; i < PER_BATCH; i++) {
            sink += inb(PORT);
        }
        rd[b] = (bench_now_ns() - t0) / PER_BATCH;
    }
    for (int b = 0; b < BATCHES; b++) {
        int64_t t0 = bench_now_ns();

        for (int i = 0; i < PER_BATCH; i++) {
            outb(i, PORT);
        }
        wr[b] = (bench_now_ns() - t0) / PER_BATCH;
    }
    if (inb(PORT) != PER_BATCH - 1) {
        fprintf(stderr, "pio-bench: writes lost\n");
        return 1;
    }
    printf("PIO-READ-NS %lld\nPIO-WRITE-NS %lld\n",
           (long long)bench_median(rd, BATCHES),
           (long long)bench_median(wr, BATCHES));
    return sink == 0xdeadbeef;
}
