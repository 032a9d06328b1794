/*
 * The store's unit tests' common run (store-test.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <glib.h>

#include "store-test.h"

char *store_test_spec;
OrchStore *store_test_store;

int store_test_setup(void **state)
{
    g_autoptr(GError) err = NULL;

    store_test_store = orch_store_open(store_test_spec, NULL, NULL, NULL,
                                       &err);
    if (!store_test_store) {
        fprintf(stderr, "%s: %s\n", store_test_spec, err->message);
        return -1;
    }
    return 0;
}

int store_test_teardown(void **state)
{
    orch_store_close(store_test_store);
    store_test_store = NULL;
    return 0;
}

int store_test_run(const char *name, const struct CMUnitTest *tests,
                   size_t count, CMFixtureFunction setup,
                   CMFixtureFunction teardown)
{
    const char *env = g_getenv("ORCH_TEST_STORE");
    g_autofree char *tmpl = g_strdup_printf("%s-XXXXXX", name);
    g_autofree char *tmpdir = g_dir_make_tmp(tmpl, NULL);
    g_autofree char *cmd = NULL;
    int rc;

    g_assert(tmpdir);
    store_test_spec = env && *env ? g_strdup(env)
                                  : g_strconcat("sqlite:", tmpdir,
                                                "/store.sqlite", NULL);
    rc = _cmocka_run_group_tests(store_test_spec, tests, count, setup,
                                 teardown);
    cmd = g_strdup_printf("rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) {
        rc = 1;
    }
    g_free(store_test_spec);
    return rc;
}
