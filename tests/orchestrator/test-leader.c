/*
 * One leader among orchestrators on a real etcd (orchestrator/leader.h;
 * ORCH_TEST_STORE from with-etcd.sh): one of two candidates wins, the
 * other loses while it leads; when the leader resigns, or stops renewing
 * and its lease expires, another wins with a larger fencing token, and
 * the old one knows it is no longer leader (its renewal says so, and its
 * token is 0 past its deadline).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "error.h"
#include "etcd.h"
#include "leader.h"

static DmEtcd *etcd;
static char *leader_key;

/* Campaign until won, at most @tries times a second apart. */
static bool campaign_until_won(OrchLeader *l, int tries)
{
    while (tries-- > 0) {
        g_autoptr(GError) err = NULL;
        bool won = false;

        assert_true(orch_leader_campaign(l, &won, &err));
        if (won) {
            return true;
        }
        g_usleep(G_USEC_PER_SEC);
    }
    return false;
}

static void test_one_leader(void **state)
{
    g_autoptr(OrchLeader) a = orch_leader_new(etcd, leader_key, "a", 10);
    g_autoptr(OrchLeader) b = orch_leader_new(etcd, leader_key, "b", 10);
    g_autoptr(GError) err = NULL;
    bool won;
    gint64 ta, tb;

    assert_true(orch_leader_campaign(a, &won, &err));
    assert_true(won);
    ta = orch_leader_token(a);
    assert_true(ta > 0);

    assert_true(orch_leader_campaign(b, &won, &err));
    assert_false(won);
    assert_int_equal(orch_leader_token(b), 0);
    assert_true(orch_leader_renew(a));
    assert_int_equal(orch_leader_token(a), ta);
    /* Campaigning again while leading keeps the same token. */
    assert_true(orch_leader_campaign(a, &won, &err));
    assert_true(won);
    assert_int_equal(orch_leader_token(a), ta);

    orch_leader_resign(a);
    assert_int_equal(orch_leader_token(a), 0);
    assert_true(orch_leader_campaign(b, &won, &err));
    assert_true(won);
    tb = orch_leader_token(b);
    assert_true(tb > ta);
    assert_false(orch_leader_renew(a));
}

/*
 * The leader stops renewing (as one stopped by SIGSTOP would): its lease
 * expires, the other wins, and the old one's renewal finds it lost.
 */
static void test_expiry(void **state)
{
    g_autoptr(OrchLeader) a = orch_leader_new(etcd, leader_key, "a", 2);
    g_autoptr(OrchLeader) b = orch_leader_new(etcd, leader_key, "b", 2);
    g_autoptr(GError) err = NULL;
    bool won;
    gint64 ta;

    assert_true(campaign_until_won(a, 30));
    ta = orch_leader_token(a);
    assert_true(orch_leader_campaign(b, &won, &err));
    assert_false(won);
    /* a renews no more; b wins once etcd expired a's lease. */
    assert_true(campaign_until_won(b, 30));
    assert_true(orch_leader_token(b) > ta);
    /* Past its deadline before etcd expired its lease: 0 already. */
    assert_int_equal(orch_leader_token(a), 0);
    assert_false(orch_leader_renew(a));
}

/* The lease the leader key is held under, read from etcd. */
static gint64 key_lease(void)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *k = dm_etcd_b64(leader_key);
    g_autoptr(JsonNode) body = NULL;
    g_autoptr(JsonNode) r = NULL;
    g_autoptr(GError) err = NULL;
    JsonArray *kvs;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "key");
    json_builder_add_string_value(b, k);
    json_builder_end_object(b);
    body = json_builder_get_root(b);
    r = dm_etcd_call(etcd, "/v3/kv/range", body, &err);
    assert_non_null(r);
    kvs = json_object_get_array_member(json_node_get_object(r), "kvs");
    assert_non_null(kvs);
    return dm_etcd_int(json_array_get_object_element(kvs, 0), "lease");
}

/*
 * A leader that deposed itself at its deadline while etcd still held its
 * key (here kept alive from outside, as etcd does across a change of its
 * own leader) can campaign again and win: it does not revive the old
 * lease, which would keep the key from everyone.
 */
static void test_stale_key(void **state)
{
    g_autoptr(OrchLeader) a = orch_leader_new(etcd, leader_key, "a", 2);
    g_autoptr(GError) err = NULL;
    gint64 ta, lease;
    bool won = false;
    int i;

    assert_true(campaign_until_won(a, 30));
    ta = orch_leader_token(a);
    lease = key_lease();
    assert_true(lease != 0);
    for (i = 0; i < 100 && orch_leader_token(a); i++) {
        assert_true(dm_etcd_lease_keepalive(etcd, lease, &err) > 0);
        g_usleep(G_USEC_PER_SEC / 4);
    }
    assert_int_equal(orch_leader_token(a), 0);
    assert_true(dm_etcd_lease_keepalive(etcd, lease, &err) > 0);
    assert_true(orch_leader_campaign(a, &won, &err));
    assert_true(won);
    assert_true(orch_leader_token(a) > ta);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_leader),
        cmocka_unit_test(test_expiry),
        cmocka_unit_test(test_stale_key),
    };
    const char *spec = g_getenv("ORCH_TEST_STORE");
    g_autoptr(GError) err = NULL;

    if (!spec || !g_str_has_prefix(spec, "etcd:")) {
        printf("1..0 # SKIP needs ORCH_TEST_STORE=etcd:URL (with-etcd.sh)\n");
        return 0;
    }
    etcd = dm_etcd_new(spec + 5, NULL, NULL, NULL, &err);
    g_assert(etcd);
    leader_key = g_strdup_printf("/test/%d/leader", (int)getpid());
    return cmocka_run_group_tests_name("leader", tests, NULL, NULL);
}
