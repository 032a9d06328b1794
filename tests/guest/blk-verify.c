/*
 * blk-verify: runs inside the guest.  A write-and-verify load on a block
 * device while the host kills and restarts the model behind it.
 *
 *   blk-verify DEVICE THREADS BLOCKS_PER_THREAD WRITES_PER_THREAD
 *
 * Each thread owns BLOCKS_PER_THREAD 4 KiB blocks (thread t: blocks
 * t*B ... t*B+B-1) and writes them in turn, O_DIRECT, write k going to
 * block k % B as its round k / B; every block carries a header (magic,
 * block, round) and a body derived from both.  After each write it
 * fdatasync()s, and reads back the block it wrote before (which the
 * device acknowledged) to check it still holds what was written.  At the
 * end every block must hold its last round.  Lines for the host:
 *   DM-VERIFY progress N       (every 32 writes, all threads together)
 *   DM-VERIFY done writes=N ioerr=E bad=B
 * The final content is deterministic, so the host checks the image too.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define BLOCK 4096
#define MAGIC 0x646d7665726966ULL      /* "dmverif" */

static const char *device;
static unsigned nthreads, blocks, writes;
static unsigned long total_writes, ioerr, bad;
static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;

/* The content of @block at @round: header, then a pattern of both. */
static void fill(uint8_t *buf, uint64_t block, uint64_t round)
{
    uint64_t *w = (uint64_t *)buf;

    w[0] = MAGIC;
    w[1] = block;
    w[2] = round;
    for (unsigned i = 3; i < BLOCK / 8; i++) {
        w[i] = (block << 40) ^ (round << 20) ^ i;
    }
}

/* pread/pwrite the whole block, retrying what the driver failed (EIO). */
static int io(int fd, uint8_t *buf, uint64_t block, int write)
{
    for (int tries = 0; tries < 50; tries++) {
        ssize_t n = write ? pwrite(fd, buf, BLOCK, block * BLOCK)
                          : pread(fd, buf, BLOCK, block * BLOCK);

        if (n == BLOCK && (!write || fdatasync(fd) == 0)) {
            return 0;
        }
        pthread_mutex_lock(&lock);
        ioerr++;
        pthread_mutex_unlock(&lock);
        fprintf(stderr, "blk-verify: %s block %llu: %s\n",
                write ? "write" : "read", (unsigned long long)block,
                n < 0 ? strerror(errno) : "short");
        usleep(100000);
    }
    return -1;
}

static void check(int fd, uint8_t *buf, uint64_t block, uint64_t round)
{
    static __thread uint8_t want[BLOCK] __attribute__((aligned(BLOCK)));

    fill(want, block, round);
    if (io(fd, buf, block, 0) < 0 || memcmp(buf, want, BLOCK)) {
        pthread_mutex_lock(&lock);
        bad++;
        pthread_mutex_unlock(&lock);
        fprintf(stderr, "blk-verify: block %llu is not round %llu (has "
                "round %llu)\n", (unsigned long long)block,
                (unsigned long long)round,
                (unsigned long long)((uint64_t *)buf)[2]);
    }
}

static void *worker(void *arg)
{
    unsigned t = (uintptr_t)arg;
    uint8_t *buf;
    int fd = open(device, O_RDWR | O_DIRECT);

    if (fd < 0 || posix_memalign((void **)&buf, BLOCK, BLOCK)) {
        perror("blk-verify: open");
        exit(1);
    }
    for (unsigned k = 0; k < writes; k++) {
        uint64_t block = (uint64_t)t * blocks + k % blocks;

        fill(buf, block, k / blocks);
        if (io(fd, buf, block, 1) < 0) {
            break;
        }
        if (k >= 1) {
            unsigned p = k - 1;

            check(fd, buf, (uint64_t)t * blocks + p % blocks, p / blocks);
        }
        pthread_mutex_lock(&lock);
        if (++total_writes % 32 == 0) {
            printf("DM-VERIFY progress %lu\n", total_writes);
            fflush(stdout);
        }
        pthread_mutex_unlock(&lock);
    }
    /* Every block of ours holds its last round. */
    for (unsigned b = 0; b < blocks && b < writes; b++) {
        unsigned last = writes - 1 - ((writes - 1 - b) % blocks);

        check(fd, buf, (uint64_t)t * blocks + b, last / blocks);
    }
    close(fd);
    free(buf);
    return NULL;
}

int main(int argc, char **argv)
{
    pthread_t th[64];

    if (argc != 5) {
        fprintf(stderr, "usage: blk-verify DEVICE THREADS BLOCKS_PER_THREAD "
                "WRITES_PER_THREAD\n");
        return 2;
    }
    device = argv[1];
    nthreads = atoi(argv[2]);
    blocks = atoi(argv[3]);
    writes = atoi(argv[4]);
    if (nthreads < 1 || nthreads > 64 || blocks < 1 || writes < 1) {
        fprintf(stderr, "blk-verify: bad arguments\n");
        return 2;
    }
    for (unsigned t = 0; t < nthreads; t++) {
        pthread_create(&th[t], NULL, worker, (void *)(uintptr_t)t);
    }
    for (unsigned t = 0; t < nthreads; t++) {
        pthread_join(th[t], NULL);
    }
    printf("DM-VERIFY done writes=%lu ioerr=%lu bad=%lu\n", total_writes,
           ioerr, bad);
    return bad || ioerr ? 1 : 0;
}
