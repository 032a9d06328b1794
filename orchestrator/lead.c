/*
 * dm-orchestrator: this orchestrator's part in the election (lead.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "etcd.h"
#include "lead.h"
#include "leader.h"
#include "log.h"
#include "store.h"

typedef enum LeadState {
    LEAD_NONE,                  /* no election: we lead, unfenced */
    LEAD_FOLLOWING,
    LEAD_RECONCILING,           /* elected, not taking writes yet */
    LEAD_LEADING,
} LeadState;

static GMutex lead_lock;
static GCond lead_cond;
static LeadState lead_state = LEAD_NONE;
static gint64 lead_token_now;           /* while LEADING or RECONCILING */
static gint64 lead_valid_until;         /* monotonic µs */
static char *lead_known;                /* the leader's address, if known */
static bool lead_stopping;
static bool lead_woken;                 /* orch_lead_wake() since the wait */
static void (*lead_work)(void);
static GThread *lead_thread;

typedef struct Lead {
    DmEtcd *etcd;
    OrchLeader *leader;
    char *address;
    gint64 ttl;
    bool (*elected)(void);
} Lead;

static Lead *lead;

/* The leader key's value: the leader's API address; NULL if none. */
static char *lead_read_leader(DmEtcd *etcd)
{
    g_autoptr(JsonNode) body = json_node_new(JSON_NODE_OBJECT);
    g_autoptr(JsonNode) r = NULL;
    g_autofree char *k = dm_etcd_b64(ORCH_STORE_ROOT "leader");
    JsonObject *o = json_object_new();
    JsonArray *kvs;
    JsonObject *kv;

    json_object_set_string_member(o, "key", k);
    json_node_take_object(body, o);
    r = dm_etcd_call(etcd, "/v3/kv/range", body, NULL);
    if (!r) {
        return NULL;
    }
    kvs = json_object_get_array_member(json_node_get_object(r), "kvs");
    if (!kvs || json_array_get_length(kvs) < 1) {
        return NULL;
    }
    kv = json_array_get_object_element(kvs, 0);
    if (!kv || !json_object_has_member(kv, "value")) {
        return NULL;
    }
    return dm_etcd_unb64(json_object_get_string_member(kv, "value"), NULL);
}

static void lead_set(LeadState state, gint64 token, gint64 valid_until,
                     char *known)
{
    g_mutex_lock(&lead_lock);
    lead_state = state;
    lead_token_now = token;
    lead_valid_until = valid_until;
    if (known) {
        g_free(lead_known);
        lead_known = known;
    }
    g_mutex_unlock(&lead_lock);
}

/* One round: campaign (or renew), and what follows from its answer. */
static void lead_round(Lead *l)
{
    g_autoptr(GError) err = NULL;
    bool won = false;
    LeadState was;

    g_mutex_lock(&lead_lock);
    was = lead_state;
    g_mutex_unlock(&lead_lock);
    if (!orch_leader_campaign(l->leader, &won, &err)) {
        orch_warn("leader: campaign: %s", err->message);
        /* Until its deadline a leader cut off from etcd still leads. */
        won = orch_leader_token(l->leader) != 0;
    }
    if (!won) {
        if (was != LEAD_FOLLOWING) {
            orch_warn("leader: %s no longer leads: following", l->address);
        }
        lead_set(LEAD_FOLLOWING, 0, 0, lead_read_leader(l->etcd));
        return;
    }
    if (was == LEAD_FOLLOWING || was == LEAD_RECONCILING) {
        lead_set(LEAD_RECONCILING, orch_leader_token(l->leader),
                 orch_leader_valid_until(l->leader), g_strdup(l->address));
        /* Not done (a repair left, the store unreadable): next round. */
        if (l->elected && !l->elected()) {
            orch_warn("leader: %s elected, its reconciliation not done: "
                      "writes wait for the next round", l->address);
            return;
        }
        orch_info("leader: %s leads, token %" G_GINT64_FORMAT, l->address,
                  orch_leader_token(l->leader));
    }
    lead_set(LEAD_LEADING, orch_leader_token(l->leader),
             orch_leader_valid_until(l->leader), NULL);
}

/*
 * The leader's work without a wake: every LEAD_WORK_ROUNDS rounds (two
 * leases), the net under a watch's missed event; a wake runs it at once.
 */
#define LEAD_WORK_ROUNDS 6

static gpointer lead_run(gpointer opaque)
{
    Lead *l = opaque;
    gint64 next = 0;
    bool woken = false;
    int since_work = LEAD_WORK_ROUNDS;  /* newly leading: work at once */

    for (;;) {
        /* A third of the TTL apart: two renewals may fail in a lease. */
        if (g_get_monotonic_time() >= next) {
            lead_round(l);
            next = g_get_monotonic_time() + l->ttl * G_USEC_PER_SEC / 3;
            since_work++;
        }
        if (!orch_lead_leading()) {
            since_work = LEAD_WORK_ROUNDS;
        } else if (lead_work && (woken || since_work >= LEAD_WORK_ROUNDS)) {
            lead_work();
            since_work = 0;
        }
        g_mutex_lock(&lead_lock);
        while (!lead_stopping && !lead_woken &&
               g_cond_wait_until(&lead_cond, &lead_lock, next)) {
        }
        woken = lead_woken;
        lead_woken = false;
        if (lead_stopping) {
            g_mutex_unlock(&lead_lock);
            break;
        }
        g_mutex_unlock(&lead_lock);
    }
    return NULL;
}

bool orch_lead_start(const char *endpoints, const char *ca,
                     const char *cert, const char *key, const char *address,
                     gint64 ttl, bool (*elected)(void), GError **errp)
{
    DmEtcd *etcd = dm_etcd_new(endpoints, ca, cert, key, errp);
    g_autoptr(GError) err = NULL;
    bool taken;

    if (!etcd) {
        return false;
    }
    /* An answer later than a third of the lease is no use to a round. */
    dm_etcd_set_timeout(etcd, MAX(1, ttl / 3));
    lead = g_new0(Lead, 1);
    lead->etcd = etcd;
    lead->address = g_strdup(address);
    lead->ttl = ttl;
    lead->elected = elected;
    lead->leader = orch_leader_new(etcd, ORCH_STORE_ROOT "leader", address,
                                   ttl);
    lead_set(LEAD_FOLLOWING, 0, 0, NULL);
    /* Our address is ours alone (lead.h): a key naming it is a past run's. */
    if (!orch_leader_take_back(lead->leader, &taken, &err)) {
        orch_warn("leader: %s", err->message);
    }
    /* The first round before serving: a lone orchestrator leads at once. */
    lead_round(lead);
    lead_thread = g_thread_new("lead", lead_run, lead);
    return true;
}

void orch_lead_set_work(void (*work)(void))
{
    lead_work = work;
}

void orch_lead_wake(void)
{
    g_mutex_lock(&lead_lock);
    lead_woken = true;
    g_cond_signal(&lead_cond);
    g_mutex_unlock(&lead_lock);
}

void orch_lead_stop(void)
{
    if (!lead) {
        return;
    }
    g_mutex_lock(&lead_lock);
    lead_stopping = true;
    g_cond_signal(&lead_cond);
    g_mutex_unlock(&lead_lock);
    g_thread_join(lead_thread);
    lead_thread = NULL;
    /* Resigns: the next one need not wait out the lease. */
    orch_leader_free(lead->leader);
    dm_etcd_free(lead->etcd);
    g_free(lead->address);
    g_clear_pointer(&lead, g_free);
    lead_set(LEAD_NONE, 0, 0, NULL);
    g_clear_pointer(&lead_known, g_free);
}

/* The token if still valid; the state under the lock. */
static gint64 lead_token_locked(void)
{
    if (lead_state == LEAD_NONE) {
        return 0;
    }
    if (lead_state == LEAD_FOLLOWING || !lead_token_now ||
        g_get_monotonic_time() >= lead_valid_until) {
        return -1;
    }
    return lead_token_now;
}

bool orch_lead_leading(void)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&lead_lock);

    return lead_state == LEAD_NONE ||
        (lead_state == LEAD_LEADING && lead_token_locked() > 0);
}

gint64 orch_lead_token(void)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&lead_lock);

    return lead_token_locked();
}

guint orch_lead_refusal(SoupMessageHeaders *headers, char **why)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&lead_lock);
    gint64 token = lead_token_locked();

    if (lead_state == LEAD_NONE ||
        (lead_state == LEAD_LEADING && token > 0)) {
        return 0;
    }
    if (lead_state == LEAD_RECONCILING) {
        *why = g_strdup("this orchestrator was just elected leader and is "
                        "reconciling: try again in a moment");
        return 503;
    }
    if (!lead_known || (lead->address &&
                        strcmp(lead_known, lead->address) == 0)) {
        *why = g_strdup_printf("no orchestrator leads at the moment (an "
                               "election within the lease's %"
                               G_GINT64_FORMAT " s): try again in a moment",
                               lead ? lead->ttl : 0);
        return 503;
    }
    soup_message_headers_replace(headers, ORCH_LEAD_HEADER, lead_known);
    *why = g_strdup_printf("this orchestrator does not lead: send writes "
                           "to the leader at %s", lead_known);
    return 307;
}
