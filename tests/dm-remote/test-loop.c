/*
 * The event loop (dm-remote/core/loop.c): timers in deadline order,
 * re-armed and deleted; fd handlers; pending buffers; quit's status;
 * poll hooks (descriptors asked for each round, their events after).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "loop.h"

#define MS 1000000LL

typedef struct Rig {
    DmLoop *loop;
    char order[16];
    unsigned fired;
    DmTimer a, b, c, stop;
} Rig;

static void note(Rig *r, char what)
{
    r->order[r->fired++] = what;
}

static void fire_a(void *opaque) { note(opaque, 'a'); }
static void fire_b(void *opaque) { note(opaque, 'b'); }
static void fire_c(void *opaque) { note(opaque, 'c'); }

static void fire_stop(void *opaque)
{
    Rig *r = opaque;

    dm_loop_quit(r->loop, 7);
}

static void rig_init(Rig *r)
{
    memset(r, 0, sizeof(*r));
    r->loop = dm_loop_new();
    assert_non_null(r->loop);
    dm_timer_init(&r->a, r->loop, fire_a, r);
    dm_timer_init(&r->b, r->loop, fire_b, r);
    dm_timer_init(&r->c, r->loop, fire_c, r);
    dm_timer_init(&r->stop, r->loop, fire_stop, r);
}

/* Timers fire once each, earliest deadline first, whatever the order set. */
static void test_timer_order(void **unused)
{
    Rig r;
    int64_t t0;

    rig_init(&r);
    dm_timer_mod(&r.c, 30 * MS);
    dm_timer_mod(&r.a, 10 * MS);
    dm_timer_mod(&r.b, 20 * MS);
    dm_timer_mod(&r.stop, 60 * MS);
    assert_true(dm_timer_pending(&r.a));
    t0 = dm_clock_ns();
    assert_int_equal(dm_loop_run(r.loop), 7);
    assert_true(dm_clock_ns() - t0 >= 60 * MS);
    assert_string_equal(r.order, "abc");
    assert_false(dm_timer_pending(&r.a));
    assert_false(dm_timer_pending(&r.c));
    dm_loop_free(r.loop);
}

/* Re-arming moves the deadline; a deleted timer never fires. */
static void test_timer_mod_del(void **unused)
{
    Rig r;

    rig_init(&r);
    dm_timer_mod(&r.a, 10 * MS);
    dm_timer_mod(&r.b, 20 * MS);
    dm_timer_mod(&r.c, 30 * MS);
    dm_timer_mod(&r.a, 40 * MS);        /* now after c */
    dm_timer_del(&r.b);
    dm_timer_del(&r.b);                 /* twice is harmless */
    assert_false(dm_timer_pending(&r.b));
    dm_timer_mod(&r.stop, 60 * MS);
    dm_loop_run(r.loop);
    assert_string_equal(r.order, "ca");
    dm_loop_free(r.loop);
}

/* A timer re-armed from its own callback fires again. */
typedef struct Repeat {
    DmTimer t;
    DmLoop *loop;
    unsigned left;
} Repeat;

static void fire_repeat(void *opaque)
{
    Repeat *p = opaque;

    if (--p->left) {
        dm_timer_mod(&p->t, MS);
    } else {
        dm_loop_quit(p->loop, 0);
    }
}

static void test_timer_rearm(void **unused)
{
    Repeat p = { .loop = dm_loop_new(), .left = 5 };

    dm_timer_init(&p.t, p.loop, fire_repeat, &p);
    dm_timer_mod(&p.t, 0);
    assert_int_equal(dm_loop_run(p.loop), 0);
    assert_int_equal(p.left, 0);
    dm_loop_free(p.loop);
}

/* An fd's handler runs when it is readable; a pending buffer counts too. */
typedef struct Pipe {
    DmLoop *loop;
    int fds[2];
    unsigned reads;
    bool buffered;
    char got[8];
} Pipe;

static void on_readable(void *opaque, int fd, short revents)
{
    Pipe *p = opaque;

    if (p->buffered) {
        p->buffered = false;            /* served from "the buffer" */
    } else {
        assert_true(revents & POLLIN);
        assert_int_equal(read(fd, p->got, sizeof(p->got)), 3);
    }
    if (++p->reads == 2) {
        dm_loop_quit(p->loop, 0);
    }
}

static bool has_buffered(void *opaque, int fd)
{
    return ((Pipe *)opaque)->buffered;
}

static void test_fd_handler(void **unused)
{
    Pipe p = { .loop = dm_loop_new() };

    assert_int_equal(pipe2(p.fds, O_CLOEXEC | O_NONBLOCK), 0);
    assert_int_equal(dm_loop_add_fd(p.loop, p.fds[0], POLLIN, on_readable,
                                    &p), 0);
    dm_loop_set_pending(p.loop, p.fds[0], has_buffered);
    assert_int_equal(write(p.fds[1], "abc", 3), 3);
    p.buffered = true;                  /* before poll() sees the bytes */
    assert_int_equal(dm_loop_run(p.loop), 0);
    assert_int_equal(p.reads, 2);
    assert_memory_equal(p.got, "abc", 3);
    dm_loop_del_fd(p.loop, p.fds[0]);
    close(p.fds[0]);
    close(p.fds[1]);
    dm_loop_free(p.loop);
}

/* ---- Poll hooks ---- */

typedef struct Hooked {
    DmLoop *loop;
    DmPollHook hook;
    int a[2], b[2], c[2];       /* a: a watch; b: added by it; c: hooked */
    int idx;                    /* c's index this round */
    unsigned prepares, dispatches, a_reads;
    short seen;                 /* what dispatch saw on c */
    int timeout;                /* what prepare asks for */
} Hooked;

static void hooked_prepare(void *opaque, DmPollHook *h, int *timeout_ms)
{
    Hooked *k = opaque;

    k->prepares++;
    k->idx = dm_poll_hook_fd(h, k->c[0], POLLIN);
    if (k->timeout >= 0 && (*timeout_ms < 0 || *timeout_ms > k->timeout)) {
        *timeout_ms = k->timeout;
    }
}

static void hooked_dispatch(void *opaque, DmPollHook *h, bool error)
{
    Hooked *k = opaque;

    k->dispatches++;
    k->seen |= dm_poll_hook_revents(h, k->idx);
    if (k->seen & POLLIN) {
        dm_loop_quit(k->loop, 5);
    }
    if (k->timeout >= 0 && k->dispatches == 3) {
        dm_loop_quit(k->loop, 3);
    }
}

static void on_b(void *opaque, int fd, short revents)
{
}

/* A watch's handler adds a watch: over the space the hook's fds had. */
static void on_a(void *opaque, int fd, short revents)
{
    Hooked *k = opaque;
    char c;

    k->a_reads += read(fd, &c, 1) == 1;
    assert_int_equal(dm_loop_add_fd(k->loop, k->b[0], POLLIN, on_b, k), 0);
}

static void hooked_init(Hooked *k, int timeout)
{
    memset(k, 0, sizeof(*k));
    k->loop = dm_loop_new();
    k->timeout = timeout;
    assert_int_equal(pipe2(k->a, O_CLOEXEC | O_NONBLOCK), 0);
    assert_int_equal(pipe2(k->b, O_CLOEXEC | O_NONBLOCK), 0);
    assert_int_equal(pipe2(k->c, O_CLOEXEC | O_NONBLOCK), 0);
    dm_poll_hook_add(&k->hook, k->loop, hooked_prepare, hooked_dispatch, k);
}

static void hooked_free(Hooked *k)
{
    dm_poll_hook_del(&k->hook);
    for (int i = 0; i < 2; i++) {
        close(k->a[i]);
        close(k->b[i]);
        close(k->c[i]);
    }
    dm_loop_free(k->loop);
}

/*
 * The hook's descriptor is polled with the watches and its events reach
 * dispatch, although the watch that was ready in the same round added a
 * watch where the hook's descriptor sat in the poll array.
 */
static void test_poll_hook_events(void **unused)
{
    Hooked k;

    hooked_init(&k, -1);
    assert_int_equal(dm_loop_add_fd(k.loop, k.a[0], POLLIN, on_a, &k), 0);
    assert_int_equal(write(k.a[1], "x", 1), 1);
    assert_int_equal(write(k.c[1], "y", 1), 1);
    assert_int_equal(dm_loop_run(k.loop), 5);
    assert_int_equal(k.a_reads, 1);
    assert_true(k.seen & POLLIN);
    /* Both were ready in the first round: seen in that round. */
    assert_int_equal(k.dispatches, 1);
    assert_int_equal(k.prepares, 1);
    dm_loop_del_fd(k.loop, k.a[0]);
    dm_loop_del_fd(k.loop, k.b[0]);
    hooked_free(&k);
}

/*
 * Nothing to wait for but the hook's timeout: the loop wakes for it
 * (without it, poll() would sleep forever and the test time out), and
 * nothing is seen on a quiet descriptor.
 */
static void test_poll_hook_timeout(void **unused)
{
    Hooked k;

    hooked_init(&k, 5);
    assert_int_equal(dm_loop_run(k.loop), 3);
    assert_int_equal(k.dispatches, 3);
    assert_int_equal(k.seen, 0);
    hooked_free(&k);
}

/* A hook that is gone is not asked again; a full hook gets -1. */
static void test_poll_hook_del_full(void **unused)
{
    Hooked k;
    DmTimer stop;
    Rig r = { 0 };

    hooked_init(&k, 1);
    r.loop = k.loop;
    k.hook.nfds = 0;
    for (int i = 0; i < DM_POLL_HOOK_MAX_FDS; i++) {
        assert_int_equal(dm_poll_hook_fd(&k.hook, k.c[0], POLLIN), i);
    }
    assert_int_equal(dm_poll_hook_fd(&k.hook, k.c[0], POLLIN), -1);
    dm_poll_hook_del(&k.hook);
    dm_timer_init(&stop, k.loop, fire_stop, &r);
    dm_timer_mod(&stop, 20 * MS);
    assert_int_equal(write(k.c[1], "y", 1), 1);
    assert_int_equal(dm_loop_run(k.loop), 7);
    assert_int_equal(k.prepares, 0);
    assert_int_equal(k.dispatches, 0);
    /* del twice is harmless (hooked_free deletes it again). */
    hooked_free(&k);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_timer_order),
        cmocka_unit_test(test_timer_mod_del),
        cmocka_unit_test(test_timer_rearm),
        cmocka_unit_test(test_fd_handler),
        cmocka_unit_test(test_poll_hook_events),
        cmocka_unit_test(test_poll_hook_timeout),
        cmocka_unit_test(test_poll_hook_del_full),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
