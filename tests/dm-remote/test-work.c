/*
 * Asynchronous work: functions run off the loop, completions on it, in
 * the order they finished; drain (quiesce) waits for everything,
 * including work a completion queues.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <unistd.h>
#include <cmocka.h>

#include "loop.h"
#include "work.h"

#define N 64

typedef struct Job {
    DmWork w;
    int value;
    int result;
    bool ran_off_loop;
    bool done_on_loop;
    int requeue;                /* submit again this many times */
} Job;

static pthread_t loop_thread;
static DmLoop *loop;
static DmWorkPool *pool;
static int completed;

static void job_fn(DmWork *w)
{
    Job *j = (Job *)w;

    j->ran_off_loop = !pthread_equal(pthread_self(), loop_thread);
    usleep(1000 * (j->value % 3));      /* finish out of order */
    j->result = j->value * 2;
}

static void job_done(DmWork *w)
{
    Job *j = (Job *)w;

    j->done_on_loop = pthread_equal(pthread_self(), loop_thread);
    if (j->requeue > 0) {
        j->requeue--;
        assert_int_equal(dm_work_pool_submit(pool, w), 0);
        return;
    }
    if (++completed == N) {
        dm_loop_quit(loop, 0);
    }
}

static int setup(void **unused)
{
    loop_thread = pthread_self();
    loop = dm_loop_new();
    pool = dm_work_pool_new(loop, 4);
    completed = 0;
    return loop && pool ? 0 : -1;
}

static int teardown(void **unused)
{
    dm_work_pool_free(pool);
    dm_loop_free(loop);
    return 0;
}

static void submit_all(Job *jobs, int requeue)
{
    for (int i = 0; i < N; i++) {
        jobs[i] = (Job) { .value = i, .requeue = requeue };
        jobs[i].w.fn = job_fn;
        jobs[i].w.done = job_done;
        assert_int_equal(dm_work_pool_submit(pool, &jobs[i].w), 0);
    }
}

static void check_all(Job *jobs)
{
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].result, i * 2);
        assert_true(jobs[i].ran_off_loop);
        assert_true(jobs[i].done_on_loop);
    }
}

/* Completions arrive through the loop. */
static void test_loop_completes(void **unused)
{
    Job jobs[N];

    submit_all(jobs, 0);
    assert_int_equal(dm_work_pool_in_flight(pool), N);
    assert_int_equal(dm_loop_run(loop), 0);
    assert_int_equal(completed, N);
    assert_int_equal(dm_work_pool_in_flight(pool), 0);
    check_all(jobs);
}

/* Drain returns only when nothing is left, requeued work included. */
static void test_drain(void **unused)
{
    Job jobs[N];

    submit_all(jobs, 2);
    dm_work_pool_drain(pool);
    assert_int_equal(dm_work_pool_in_flight(pool), 0);
    assert_int_equal(completed, N);
    check_all(jobs);
    for (int i = 0; i < N; i++) {
        assert_int_equal(jobs[i].requeue, 0);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_loop_completes, setup, teardown),
        cmocka_unit_test_setup_teardown(test_drain, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
