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

static OrchEtcd *etcd;
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

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_one_leader),
        cmocka_unit_test(test_expiry),
    };
    const char *spec = g_getenv("ORCH_TEST_STORE");
    g_autoptr(GError) err = NULL;

    if (!spec || !g_str_has_prefix(spec, "etcd:")) {
        printf("1..0 # SKIP needs ORCH_TEST_STORE=etcd:URL (with-etcd.sh)\n");
        return 0;
    }
    etcd = orch_etcd_new(spec + 5, NULL, NULL, NULL, &err);
    g_assert(etcd);
    leader_key = g_strdup_printf("/test/%d/leader", (int)getpid());
    return cmocka_run_group_tests_name("leader", tests, NULL, NULL);
}
