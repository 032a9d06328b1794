/*
 * dm_json_parse_peer (common/json-http.c), the one way a peer's JSON is
 * read: its limit's edges (QMP's 1024 levels parse, 1025 do not), and
 * what it says when it refuses.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "json-http.h"
#include "json-limits.h"

/* @depth arrays inside each other, around a 1. */
static char *nested(unsigned depth)
{
    GString *s = g_string_new(NULL);
    unsigned i;

    for (i = 0; i < depth; i++) {
        g_string_append_c(s, '[');
    }
    g_string_append_c(s, '1');
    for (i = 0; i < depth; i++) {
        g_string_append_c(s, ']');
    }
    return g_string_free(s, FALSE);
}

static void test_edges(void **state)
{
    g_autofree char *at = nested(1024);
    g_autofree char *past = nested(1025);
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonNode) n = dm_json_parse_peer(at, strlen(at), 1024, &err);

    assert_null(err);
    assert_non_null(n);
    assert_true(JSON_NODE_HOLDS_ARRAY(n));
    assert_null(dm_json_parse_peer(past, strlen(past), 1024, &err));
    assert_non_null(err);
    assert_int_equal(err->code, SOUP_STATUS_BAD_GATEWAY);
    assert_string_equal(err->message, "JSON nested deeper than 1024 levels");
}

/* Brackets inside a string are not levels; empty and bad JSON refused. */
static void test_refusals(void **state)
{
    const char *str = "{\"a\": \"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}";
    g_autoptr(JsonNode) n = NULL;
    GError *err = NULL;

    n = dm_json_parse_peer(str, strlen(str), 2, &err);
    assert_null(err);
    assert_string_equal(json_object_get_string_member(
        json_node_get_object(n), "a"), "[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[");
    assert_null(dm_json_parse_peer("", 0, DM_JSON_MAX_DEPTH, &err));
    assert_string_equal(err->message, "not JSON: empty");
    g_clear_error(&err);
    assert_null(dm_json_parse_peer("{\"a\":", 5, DM_JSON_MAX_DEPTH, &err));
    assert_true(g_str_has_prefix(err->message, "not JSON: "));
    g_clear_error(&err);
    /* @len bounds the text: what follows is not read. */
    g_clear_pointer(&n, json_node_unref);
    n = dm_json_parse_peer("[1]]]]", 3, 1, &err);
    assert_null(err);
    assert_non_null(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_edges),
        cmocka_unit_test(test_refusals),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
