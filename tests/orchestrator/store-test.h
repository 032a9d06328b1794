/*
 * What the store's unit tests (test-events.c, test-load.c,
 * test-platforms.c, test-placements.c) share: the store they run
 * against, ORCH_TEST_STORE (with-etcd.sh sets it) or else a SQLite file
 * in a temporary directory removed after the run.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_TEST_STORE_TEST_H
#define ORCH_TEST_STORE_TEST_H

#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <cmocka.h>

#include "store.h"

/* The run's store spec, and the store the default set-up opened. */
extern char *store_test_spec;
extern OrchStore *store_test_store;

/* Open store_test_store on the run's spec / close it. */
int store_test_setup(void **state);
int store_test_teardown(void **state);

/* Run @tests as a group named after the spec; cmocka's exit status. */
int store_test_run(const char *name, const struct CMUnitTest *tests,
                   size_t count, CMFixtureFunction setup,
                   CMFixtureFunction teardown);

#endif
