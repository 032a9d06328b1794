/*
 * The data buffers kept for the next request (core/bufpool.c): sizes,
 * alignment, reuse, the bound on what is kept, buffers out of the
 * classes and from malloc, and two threads at once.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "bufpool.h"

static void test_sizes(void **unused)
{
    static const struct { size_t len, cap; } cases[] = {
        { 0, 4096 }, { 1, 4096 }, { 4096, 4096 }, { 4097, 8192 },
        { 65535, 65536 }, { 1 << 20, 1 << 20 }, { (1 << 20) + 1, 2 << 20 },
        { 4 << 20, 4 << 20 },
        /* Past the classes: its own size, rounded to 4 KiB. */
        { (4 << 20) + 1, (4 << 20) + 4096 }, { 5 << 20, 5 << 20 },
    };
    DmBufPool pool;

    dm_bufpool_init(&pool, 64 << 20);
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        size_t cap = 0;
        uint8_t *b = dm_bufpool_get(&pool, cases[i].len, &cap);

        assert_non_null(b);
        assert_int_equal(cap, cases[i].cap);
        assert_int_equal((uintptr_t)b % DM_BUFPOOL_ALIGN, 0);
        memset(b, 0x5a, cap);           /* all of it is ours (ASan) */
        dm_bufpool_put(&pool, b, cap);
    }
    /* The ones past the classes were freed, not kept. */
    assert_int_equal(pool.kept, 4096 + 8192 + 65536 + (1 << 20) +
                                (2 << 20) + (4 << 20));
    assert_null(dm_bufpool_get(&pool, SIZE_MAX - 100, &(size_t){ 0 }));
    dm_bufpool_destroy(&pool);
}

static void test_reuse(void **unused)
{
    DmBufPool pool;
    size_t cap, cap2;
    void *a, *b, *c;

    dm_bufpool_init(&pool, 16 << 20);
    a = dm_bufpool_get(&pool, 1 << 20, &cap);
    dm_bufpool_put(&pool, a, cap);
    /* The next request of that class gets the same memory back. */
    b = dm_bufpool_get(&pool, (1 << 20) - 512, &cap2);
    assert_ptr_equal(a, b);
    assert_int_equal(cap2, 1 << 20);
    assert_int_equal(pool.kept, 0);
    /* Another class does not. */
    c = dm_bufpool_get(&pool, 4096, &cap);
    assert_ptr_not_equal(c, b);
    assert_int_equal(pool.allocated, 2);
    assert_int_equal(pool.reused, 1);
    dm_bufpool_put(&pool, c, cap);
    dm_bufpool_put(&pool, b, cap2);
    /* A buffer from malloc (cap 0) is freed, and NULL is nothing. */
    dm_bufpool_put(&pool, malloc(20), 0);
    dm_bufpool_put(&pool, NULL, 4096);
    assert_int_equal(pool.kept, 4096 + (1 << 20));
    dm_bufpool_destroy(&pool);
}

static void test_bound(void **unused)
{
    DmBufPool pool;
    void *b[5];
    size_t cap[5];

    dm_bufpool_init(&pool, 3 << 20);
    for (int i = 0; i < 5; i++) {
        b[i] = dm_bufpool_get(&pool, 1 << 20, &cap[i]);
        assert_non_null(b[i]);
    }
    for (int i = 0; i < 5; i++) {
        dm_bufpool_put(&pool, b[i], cap[i]);
    }
    /* Three kept, two freed: never more than the bound. */
    assert_int_equal(pool.kept, 3 << 20);
    for (int i = 0; i < 3; i++) {
        b[i] = dm_bufpool_get(&pool, 1 << 20, &cap[i]);
    }
    assert_int_equal(pool.reused, 3);
    assert_int_equal(pool.kept, 0);
    b[3] = dm_bufpool_get(&pool, 1 << 20, &cap[3]);
    assert_int_equal(pool.allocated, 6);
    for (int i = 0; i < 4; i++) {
        dm_bufpool_put(&pool, b[i], cap[i]);
    }
    dm_bufpool_destroy(&pool);
}

typedef struct Hammer {
    DmBufPool *pool;
    uint8_t tag;                /* each thread's own */
} Hammer;

/* Gets and puts of mixed sizes, each buffer checked to be its own. */
static void *hammer(void *opaque)
{
    Hammer *h = opaque;
    DmBufPool *pool = h->pool;
    uint8_t tag = h->tag;

    for (int i = 0; i < 20000; i++) {
        size_t len = (size_t)4096 << (i % 6), cap;
        uint8_t *b = dm_bufpool_get(pool, len, &cap);

        if (!b) {
            return (void *)1;
        }
        memset(b, tag, len);
        for (size_t j = 0; j < len; j += 512) {
            if (b[j] != tag) {
                return (void *)1;           /* shared with the other */
            }
        }
        dm_bufpool_put(pool, b, cap);
    }
    return NULL;
}

static void test_threads(void **unused)
{
    DmBufPool pool;
    Hammer h[2] = { { &pool, 0x11 }, { &pool, 0x22 } };
    pthread_t t[2];
    void *ret;

    dm_bufpool_init(&pool, 1 << 20);
    for (int i = 0; i < 2; i++) {
        assert_int_equal(pthread_create(&t[i], NULL, hammer, &h[i]), 0);
    }
    for (int i = 0; i < 2; i++) {
        pthread_join(t[i], &ret);
        assert_null(ret);
    }
    assert_true(pool.kept <= 1 << 20);
    assert_true(pool.reused > 0);
    dm_bufpool_destroy(&pool);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_sizes),
        cmocka_unit_test(test_reuse),
        cmocka_unit_test(test_bound),
        cmocka_unit_test(test_threads),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
