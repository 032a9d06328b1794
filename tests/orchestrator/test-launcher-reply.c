/*
 * A launcher's answer as the orchestrator reads it
 * (orchestrator/launcher-reply.c): what is refused before json-glib
 * sees it.  A launcher, or whatever answers at its address, may send up
 * to ORCH_LAUNCHER_MAX_ANSWER bytes; nested deep enough, json-glib's
 * recursion ran off the worker thread's stack (found with
 * tests/fuzz/fuzz-orch-api.c's fake launcher: a million '[').
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "error.h"
#include "json-limits.h"
#include "launcher.h"

static bool answer(const char *text, size_t len, JsonNode **ret,
                   GError **err)
{
    return orch_launcher_answer("unix:/l.sock", "GET", "/v1/health", text,
                                len, ret, err);
}

/* Nested past any answer of ours: refused before it is parsed. */
static void test_deep_answer_refused(void **state)
{
    size_t n = ORCH_LAUNCHER_MAX_ANSWER / 2;
    g_autofree char *deep = g_malloc(n);
    g_autoptr(GError) err = NULL;
    JsonNode *reply = NULL;

    memset(deep, '[', n);
    assert_false(answer(deep, n, &reply, &err));
    assert_null(reply);
    assert_true(g_error_matches(err, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY));
    assert_non_null(strstr(err->message, "nested deeper"));
    assert_non_null(strstr(err->message, "unix:/l.sock"));
}

/* At the limit, and a usual answer, still read. */
static void test_answers_read(void **state)
{
    const char *health = "{\"role\": \"server\", \"models\": [{\"name\":"
                         " \"edu\", \"props\": []}]}";
    GString *s = g_string_new(NULL);
    g_autoptr(GError) err = NULL;
    JsonNode *reply = NULL;

    for (int i = 0; i < DM_JSON_MAX_DEPTH; i++) {
        g_string_append_c(s, '[');
    }
    for (int i = 0; i < DM_JSON_MAX_DEPTH; i++) {
        g_string_append_c(s, ']');
    }
    assert_true(answer(s->str, s->len, &reply, &err));
    assert_true(JSON_NODE_HOLDS_ARRAY(reply));
    json_node_unref(reply);
    g_string_free(s, TRUE);

    assert_true(answer(health, strlen(health), &reply, &err));
    assert_string_equal(orch_launcher_str(json_node_get_object(reply),
                                          "role"), "server");
    json_node_unref(reply);

    /* No body: no reply, no error. */
    assert_true(answer("", 0, &reply, &err));
    assert_null(reply);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_deep_answer_refused),
        cmocka_unit_test(test_answers_read),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
