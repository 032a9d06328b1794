/*
 * What every benchmark program needs: a monotonic clock and the median
 * of a batch of samples.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <stdint.h>
#include <stdlib.h>
#include <time.h>

static inline int64_t bench_now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static inline int bench_cmp(const void *a, const void *b)
{
    int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

    return (x > y) - (x < y);
}

/* The median of @n samples (sorts them). */
static inline int64_t bench_median(int64_t *samples, size_t n)
{
    qsort(samples, n, sizeof(samples[0]), bench_cmp);
    return samples[n / 2];
}

#endif /* BENCH_UTIL_H */
