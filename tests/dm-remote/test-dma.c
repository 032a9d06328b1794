/*
 * The client's DMA windows (dm-remote/core/dma.c): map, overlap, exact
 * unmap, lookup, bounds, and windows backed by a file (memfd); and the
 * copy to and from mapped guest memory, which never tears a ring index
 * a guest writes meanwhile.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>
#include <cmocka.h>

#include "dma.h"

#define RW (VUP_DMA_MAP_FLAG_READ | VUP_DMA_MAP_FLAG_WRITE)

static VupDmaMap req(uint64_t addr, uint64_t size, uint64_t offset,
                     uint32_t flags)
{
    return (VupDmaMap) { .argsz = sizeof(VupDmaMap), .flags = flags,
                         .offset = offset, .address = addr, .size = size };
}

static int map(DmDmaTable *t, uint64_t addr, uint64_t size)
{
    VupDmaMap r = req(addr, size, 0, RW);

    return dm_dma_map(t, &r, -1);
}

/* Windows without an fd: found by any address inside, never overlapping. */
static void test_map_find(void **unused)
{
    DmDmaTable t = { 0 };
    VupDmaMap r;

    assert_int_equal(map(&t, 0x1000, 0x1000), 0);
    assert_int_equal(map(&t, 0x3000, 0x2000), 0);
    assert_null(dm_dma_find(&t, 0xfff));
    assert_int_equal(dm_dma_find(&t, 0x1000)->iova, 0x1000);
    assert_int_equal(dm_dma_find(&t, 0x1fff)->iova, 0x1000);
    assert_null(dm_dma_find(&t, 0x2000));
    assert_int_equal(dm_dma_find(&t, 0x4fff)->size, 0x2000);
    assert_null(dm_dma_find(&t, 0x5000));
    assert_null(dm_dma_find(&t, 0x3000)->host);     /* messages */
    assert_int_equal(dm_dma_find(&t, 0x3000)->fd, -1);

    /* Overlaps, at either end or around. */
    assert_int_equal(map(&t, 0x1800, 0x1000), -EEXIST);
    assert_int_equal(map(&t, 0x2800, 0x1000), -EEXIST);
    assert_int_equal(map(&t, 0, 0x10000), -EEXIST);
    assert_int_equal(map(&t, 0x2000, 0x1000), 0);   /* the gap exactly */

    /* Bad requests. */
    assert_int_equal(map(&t, 0x10000, 0), -EINVAL);
    assert_int_equal(map(&t, UINT64_MAX - 0xfff, 0x2000), -EINVAL);
    r = req(0x10000, 0x1000, 0, RW | 0x100);
    assert_int_equal(dm_dma_map(&t, &r, -1), -EINVAL);
    assert_int_equal(t.n, 3);
    dm_dma_unmap_all(&t);
    assert_int_equal(t.n, 0);
    assert_null(dm_dma_find(&t, 0x1000));
}

/* Unmap takes exactly a window; the others stay. */
static void test_unmap(void **unused)
{
    DmDmaTable t = { 0 };

    assert_int_equal(map(&t, 0x1000, 0x1000), 0);
    assert_int_equal(map(&t, 0x2000, 0x1000), 0);
    assert_int_equal(dm_dma_unmap(&t, 0x1000, 0x800), -ENOENT);
    assert_int_equal(dm_dma_unmap(&t, 0x1000, 0x2000), -ENOENT);
    assert_int_equal(dm_dma_unmap(&t, 0x1000, 0x1000), 0);
    assert_null(dm_dma_find(&t, 0x1000));
    assert_non_null(dm_dma_find(&t, 0x2000));
    assert_int_equal(dm_dma_unmap(&t, 0x1000, 0x1000), -ENOENT);
    assert_int_equal(map(&t, 0x1000, 0x1000), 0);   /* free again */
    dm_dma_unmap_all(&t);
}

/* No more than DM_DMA_MAX_MAPS windows. */
static void test_limit(void **unused)
{
    DmDmaTable t = { 0 };

    for (unsigned i = 0; i < DM_DMA_MAX_MAPS; i++) {
        assert_int_equal(map(&t, (uint64_t)i << 12, 0x1000), 0);
    }
    assert_int_equal(map(&t, (uint64_t)DM_DMA_MAX_MAPS << 12, 0x1000),
                     -ENOSPC);
    dm_dma_unmap_all(&t);
}

/* A window in a file: mapped at its offset, and only inside the file. */
static void test_file_window(void **unused)
{
    DmDmaTable t = { 0 };
    int fd = memfd_create("dma", MFD_CLOEXEC);
    const DmDmaRegion *w;
    VupDmaMap r;
    int other;

    assert_true(fd >= 0);
    assert_int_equal(ftruncate(fd, 0x3000), 0);
    assert_int_equal(pwrite(fd, "guest", 5, 0x1000), 5);

    r = req(0x100000, 0x1000, 0x3000, RW);          /* past the end */
    assert_int_equal(dm_dma_map(&t, &r, fd), -EINVAL);
    r = req(0x100000, 0x3000, 0x1000, RW);          /* runs past it */
    assert_int_equal(dm_dma_map(&t, &r, fd), -EINVAL);
    r = req(0x100000, 0x2000, 0x1000, RW);
    assert_int_equal(dm_dma_map(&t, &r, fd), 0);    /* the table owns fd */
    w = dm_dma_find(&t, 0x100000);
    assert_non_null(w);
    assert_non_null(w->host);
    assert_memory_equal(w->host, "guest", 5);
    memcpy((char *)w->host + 0x1000, "model", 5);   /* shared both ways */
    {
        char buf[5];

        assert_int_equal(pread(fd, buf, 5, 0x2000), 5);
        assert_memory_equal(buf, "model", 5);
    }

    /* Not a regular file: refused. */
    other = open("/dev/null", O_RDWR | O_CLOEXEC);
    assert_true(other >= 0);
    r = req(0x200000, 0x1000, 0, RW);
    assert_int_equal(dm_dma_map(&t, &r, other), -EINVAL);
    close(other);

    assert_int_equal(dm_dma_unmap(&t, 0x100000, 0x2000), 0);
    assert_int_equal(fcntl(fd, F_GETFD), -1);       /* closed with it */
    dm_dma_unmap_all(&t);
}

/*
 * A vCPU that writes a ring index between any two of our accesses to it:
 * the page is inaccessible, each access faults, the "guest" writes the
 * next of two values whose bytes all differ, and the access runs one
 * instruction with the trap flag set (x86-64) before the page closes
 * again.  A copy made of two loads reads a mix of both.
 */
#ifdef __x86_64__
static uint8_t *guest_page;
static size_t field_len;
static unsigned guest_writes;

static void guest_write(void)
{
    static const uint64_t vals[2] = { 0x00000000000000ffULL,
                                      0xffffffffffffff00ULL };
    uint64_t v = vals[guest_writes++ % 2];

    memcpy(guest_page, &v, field_len);      /* little-endian: low bytes */
}

static void on_segv(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;

    if ((uint8_t *)si->si_addr < guest_page ||
        (uint8_t *)si->si_addr >= guest_page + getpagesize()) {
        signal(SIGSEGV, SIG_DFL);           /* a real fault: crash */
        return;
    }
    mprotect(guest_page, getpagesize(), PROT_READ | PROT_WRITE);
    guest_write();
    uc->uc_mcontext.gregs[REG_EFL] |= 0x100;      /* TF: one step */
}

static void on_trap(int sig, siginfo_t *si, void *ctx)
{
    ucontext_t *uc = ctx;

    uc->uc_mcontext.gregs[REG_EFL] &= ~0x100;
    mprotect(guest_page, getpagesize(), PROT_NONE);
}

static void test_copy_not_torn(void **unused)
{
    struct sigaction segv = { .sa_sigaction = on_segv,
                              .sa_flags = SA_SIGINFO };
    struct sigaction trap = { .sa_sigaction = on_trap,
                              .sa_flags = SA_SIGINFO };
    struct sigaction old_segv, old_trap;
    static const size_t lens[] = { 2, 4, 8 };

    guest_page = mmap(NULL, getpagesize(), PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert_true(guest_page != MAP_FAILED);
    assert_int_equal(sigaction(SIGSEGV, &segv, &old_segv), 0);
    assert_int_equal(sigaction(SIGTRAP, &trap, &old_trap), 0);
    for (unsigned i = 0; i < 3; i++) {
        uint64_t got = 0, low = 0xff, high = ~0xffULL;

        field_len = lens[i];
        guest_writes = 0;
        guest_write();
        mprotect(guest_page, getpagesize(), PROT_NONE);
        dm_dma_copy(&got, guest_page, field_len);
        mprotect(guest_page, getpagesize(), PROT_READ | PROT_WRITE);
        assert_true(guest_writes >= 2);     /* it was watched */
        if (field_len < 8) {
            high &= (1ULL << (8 * field_len)) - 1;
        }
        /* One of the values the guest wrote, not a mix of two. */
        assert_true(got == low || got == high);
    }
    sigaction(SIGSEGV, &old_segv, NULL);
    sigaction(SIGTRAP, &old_trap, NULL);
    munmap(guest_page, getpagesize());
}
#else
static void test_copy_not_torn(void **unused)
{
    skip();                     /* the single step is x86-64's trap flag */
}
#endif

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_map_find),
        cmocka_unit_test(test_unmap),
        cmocka_unit_test(test_limit),
        cmocka_unit_test(test_file_window),
        cmocka_unit_test(test_copy_not_torn),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
