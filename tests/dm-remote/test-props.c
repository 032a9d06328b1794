/*
 * Model properties: the "NAME,prop=value" syntax, typed values, ranges,
 * defaults and the errors a user sees.
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
#include <cmocka.h>

#include "props.h"

typedef struct State {
    const char *file;
    bool readonly;
    uint64_t queues;
    const char *label;
} State;

static int check_no_colon(const char *val, char *err, size_t errlen)
{
    if (strchr(val, ':')) {
        snprintf(err, errlen, "no ':' in '%s'", val);
        return -EINVAL;
    }
    return 0;
}

static const DmProp props[] = {
    DM_PROP_STRING_CHECKED("file", State, file, NULL, check_no_colon,
                           "backing file"),
    DM_PROP_BOOLEAN("readonly", State, readonly, "off", "read-only"),
    DM_PROP_UINT64("queues", State, queues, "1", 1, 16, "queues"),
    DM_PROP_STRING("label", State, label, "disk", "a label"),
    DM_PROP_END,
};

static int apply(const char *spec, State *st, char *err, char **name)
{
    DmPropList l;
    int ret = dm_props_split(spec, name, &l, err, 256);

    if (ret == 0) {
        ret = dm_props_apply(props, &l, st, err, 256);
        /* The strings point into the list: copy what the test reads. */
        if (ret == 0) {
            st->file = st->file ? strdup(st->file) : NULL;
            st->label = strdup(st->label);
        }
        dm_props_free(&l);
    }
    return ret;
}

static void test_defaults(void **unused)
{
    State st = { 0 };
    char err[256] = "", *name;

    assert_int_equal(apply("blk", &st, err, &name), 0);
    assert_string_equal(name, "blk");
    assert_null(st.file);
    assert_false(st.readonly);
    assert_int_equal(st.queues, 1);
    assert_string_equal(st.label, "disk");
    free(name);
    free((char *)st.label);
}

static void test_values(void **unused)
{
    State st = { 0 };
    char err[256] = "", *name;

    assert_int_equal(apply("blk,file=/a,,b,readonly,queues=0x10,label=",
                           &st, err, &name), 0);
    assert_string_equal(st.file, "/a,b");       /* ",," is a comma */
    assert_true(st.readonly);                   /* bare bool: on */
    assert_int_equal(st.queues, 16);
    assert_string_equal(st.label, "");
    free(name);
    free((char *)st.file);
    free((char *)st.label);
}

static void expect_error(const char *spec, const char *msg)
{
    State st = { 0 };
    char err[256] = "", *name = NULL;

    assert_int_equal(apply(spec, &st, err, &name), -EINVAL);
    if (!strstr(err, msg)) {
        fail_msg("'%s': wanted '%s', got '%s'", spec, msg, err);
    }
    free(name);
}

static void test_errors(void **unused)
{
    expect_error("", "empty model name");
    expect_error("blk,=1", "empty property name");
    expect_error("blk,nope=1", "no property 'nope'");
    expect_error("blk,queues=0", "from 1 to 16");
    expect_error("blk,queues=17", "from 1 to 16");
    expect_error("blk,queues=-1", "from 1 to 16");
    expect_error("blk,queues=1x", "from 1 to 16");
    expect_error("blk,queues=99999999999999999999", "from 1 to 16");
    expect_error("blk,queues", "needs a value");
    expect_error("blk,readonly=maybe", "on or off");
    expect_error("blk,file=a:b", "no ':' in 'a:b'");
    expect_error("blk,label=a,label=b", "given twice");
}

static void test_add(void **unused)
{
    DmPropList l;
    State st = { 0 };
    char err[256], *name;

    assert_int_equal(dm_props_split("blk", &name, &l, err, sizeof(err)), 0);
    assert_int_equal(dm_props_add(&l, "queues", "4"), 0);
    assert_int_equal(dm_props_apply(props, &l, &st, err, sizeof(err)), 0);
    assert_int_equal(st.queues, 4);
    dm_props_free(&l);
    free(name);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_defaults),
        cmocka_unit_test(test_values),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_add),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
