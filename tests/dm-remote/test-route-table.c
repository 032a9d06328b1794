/*
 * The router's table (dm-remote/router/route-table.c): parsing a route,
 * choosing one for a session's identifiers, reference counting, and the
 * routes file read again only when it changed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "route-table.h"

static DmRoute route(const char *s)
{
    DmRoute r;
    char err[256];

    assert_int_equal(dm_route_parse(s, &r, err, sizeof(err)), 0);
    return r;
}

static VupCaps caps(const char *dm, const char *vm)
{
    VupCaps c;

    memset(&c, 0, sizeof(c));
    snprintf(c.ids[VUP_ID_DEVICE_MODEL], sizeof(c.ids[0]), "%s", dm);
    snprintf(c.ids[VUP_ID_VM], sizeof(c.ids[0]), "%s", vm);
    return c;
}

static void test_parse(void **unused)
{
    DmRoute r;
    char err[256];

    r = route("edu1=unix:/run/edu1");
    assert_string_equal(r.device_model, "edu1");
    assert_string_equal(r.vm, "");
    r = route("uart=tcp:10.0.0.2:5000,vm=vm-7");
    assert_string_equal(r.device_model, "uart");
    assert_string_equal(r.vm, "vm-7");
    assert_int_equal(dm_route_parse("=unix:/x", &r, err, sizeof(err)),
                     -EINVAL);
    assert_int_equal(dm_route_parse("edu", &r, err, sizeof(err)), -EINVAL);
    assert_int_equal(dm_route_parse("edu=unix:/x,vm=", &r, err,
                                    sizeof(err)), -EINVAL);
    assert_int_equal(dm_route_parse("edu=nowhere", &r, err, sizeof(err)),
                     -EINVAL);
}

/* Its own VM's route first, then one for any VM; else EPERM/EHOSTUNREACH. */
static void test_find(void **unused)
{
    DmRoute fixed[] = {
        route("edu=unix:/run/any"),
        route("edu=unix:/run/vm1,vm=vm1"),
        route("uart=unix:/run/uart-vm2,vm=vm2"),
    };
    RouteTable *t = route_table_new(fixed, 2, fixed + 2, 1);
    VupCaps c;
    int err = 0;

    assert_non_null(t);
    assert_int_equal(t->n, 3);
    c = caps("edu", "vm1");
    assert_ptr_equal(route_find(t, &c, &err), &t->routes[1]);
    c = caps("edu", "vm9");
    assert_ptr_equal(route_find(t, &c, &err), &t->routes[0]);
    c = caps("uart", "vm2");
    assert_ptr_equal(route_find(t, &c, &err), &t->routes[2]);
    c = caps("uart", "vm1");
    assert_null(route_find(t, &c, &err));
    assert_int_equal(err, EPERM);
    c = caps("disk", "vm1");
    assert_null(route_find(t, &c, &err));
    assert_int_equal(err, EHOSTUNREACH);

    /* Shared by reference: freed with the last one (ASan would see). */
    assert_ptr_equal(route_table_ref(t), t);
    assert_int_equal(t->refs, 2);
    route_table_unref(t);
    route_table_unref(t);
}

static void write_file(const char *path, const char *text)
{
    FILE *f = fopen(path, "w");

    assert_non_null(f);
    fputs(text, f);
    fclose(f);
}

/* The file adds to the fixed routes; a bad or missing one keeps the last. */
static void test_source(void **unused)
{
    char dir[] = "/tmp/test-route-table.XXXXXX";
    char path[64];
    DmRoute fixed = route("edu=unix:/run/edu");
    RouteSource s = { .fixed = &fixed, .nfixed = 1, .path = path };
    RouteTable *first;
    VupCaps c = caps("uart", "vm1");
    int err = 0;

    assert_non_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/routes", dir);
    s.table = route_table_new(&fixed, 1, NULL, 0);

    write_file(path, "uart=unix:/run/uart\n");
    route_source_refresh(&s);
    assert_int_equal(s.table->n, 2);
    assert_non_null(route_find(s.table, &c, &err));
    first = s.table;
    route_source_refresh(&s);                   /* unchanged: same table */
    assert_ptr_equal(s.table, first);

    write_file(path, "uart=nowhere\n");         /* bad: kept */
    route_source_refresh(&s);
    assert_ptr_equal(s.table, first);

    unlink(path);                               /* gone: kept */
    route_source_refresh(&s);
    assert_ptr_equal(s.table, first);
    assert_int_equal(s.seen_errno, ENOENT);

    write_file(path, "");                       /* empty: the fixed ones */
    route_source_refresh(&s);
    assert_int_equal(s.table->n, 1);
    assert_null(route_find(s.table, &c, &err));

    unlink(path);
    rmdir(dir);
    free(s.seen);
    route_table_unref(s.table);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_find),
        cmocka_unit_test(test_source),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
