/*
 * dm-orchestrator: one leader among the orchestrators (leader.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "error.h"
#include "leader.h"
#include "log.h"

struct OrchLeader {
    DmEtcd *etcd;
    char *key;
    char *id;
    gint64 ttl;
    gint64 lease;               /* 0: none */
    gint64 token;               /* 0: not leader */
    gint64 valid_until;         /* monotonic µs */
};

OrchLeader *orch_leader_new(DmEtcd *etcd, const char *key, const char *id,
                            gint64 ttl)
{
    OrchLeader *l = g_new0(OrchLeader, 1);

    l->etcd = etcd;
    l->key = g_strdup(key);
    l->id = g_strdup(id);
    l->ttl = ttl;
    return l;
}

void orch_leader_free(OrchLeader *l)
{
    if (l) {
        orch_leader_resign(l);
        g_free(l->key);
        g_free(l->id);
        g_free(l);
    }
}

/*
 * One txn on the leader key: if its @target (CREATE, VALUE) equals
 * @value (base64 for a value), do @op (a request_put or
 * request_delete_range of the key, with @lease if not NULL).  The
 * answer's object (NULL with the reason: orch_error_from_etcd).
 */
static JsonNode *leader_txn(OrchLeader *l, const char *target,
                            const char *value, const char *op,
                            const char *lease, GError **errp)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autofree char *k = dm_etcd_b64(l->key);
    g_autofree char *v = dm_etcd_b64(l->id);
    g_autoptr(JsonNode) body = NULL;
    JsonNode *r;
    bool put = strcmp(op, "request_put") == 0;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "compare");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "key");
    json_builder_add_string_value(b, k);
    json_builder_set_member_name(b, "target");
    json_builder_add_string_value(b, target);
    json_builder_set_member_name(b, "result");
    json_builder_add_string_value(b, "EQUAL");
    json_builder_set_member_name(b, strcmp(target, "CREATE") == 0 ?
                                 "create_revision" : "value");
    json_builder_add_string_value(b, value);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_set_member_name(b, "success");
    json_builder_begin_array(b);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, op);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "key");
    json_builder_add_string_value(b, k);
    if (put) {
        json_builder_set_member_name(b, "value");
        json_builder_add_string_value(b, v);
        json_builder_set_member_name(b, "lease");
        json_builder_add_string_value(b, lease);
    }
    json_builder_end_object(b);
    json_builder_end_object(b);
    json_builder_end_array(b);
    json_builder_end_object(b);
    body = json_builder_get_root(b);
    r = dm_etcd_call(l->etcd, "/v3/kv/txn", body, errp);
    if (!r) {
        orch_error_from_etcd(errp);
    }
    return r;
}

bool orch_leader_take_back(OrchLeader *l, bool *taken, GError **errp)
{
    g_autofree char *v = dm_etcd_b64(l->id);
    g_autoptr(JsonNode) r = leader_txn(l, "VALUE", v,
                                       "request_delete_range", NULL, errp);

    *taken = false;
    if (!r) {
        return false;
    }
    *taken = json_object_get_boolean_member_with_default(
        json_node_get_object(r), "succeeded", FALSE);
    if (*taken) {
        orch_info("leader: %s held by an earlier run of %s: taken back",
                  l->key, l->id);
    }
    return true;
}

bool orch_leader_campaign(OrchLeader *l, bool *won, GError **errp)
{
    g_autofree char *lease = NULL;
    g_autoptr(JsonNode) r = NULL;
    gint64 sent = g_get_monotonic_time();
    JsonObject *o;

    *won = false;
    if (l->token) {
        *won = orch_leader_renew(l);
        return true;
    }
    /*
     * A new lease for each campaign.  Not the last one kept alive: if we
     * deposed ourselves at our deadline while etcd still held our key
     * (etcd extends leases when its own leader changes), renewing that
     * lease would keep our key, and nobody could win, us included.
     */
    if (l->lease) {
        orch_leader_resign(l);
    }
    l->lease = dm_etcd_lease_grant(l->etcd, l->ttl, errp);
    if (!l->lease) {
        orch_error_from_etcd(errp);
        return false;
    }
    lease = g_strdup_printf("%" G_GINT64_FORMAT, l->lease);
    /* Create if absent: the key under our lease if nobody holds it. */
    r = leader_txn(l, "CREATE", "0", "request_put", lease, errp);
    if (!r) {
        return false;
    }
    o = json_node_get_object(r);
    if (json_object_get_boolean_member_with_default(o, "succeeded", FALSE)) {
        /* The put's revision is the key's create_revision: our token. */
        l->token = dm_etcd_int(json_object_get_object_member(o, "header"),
                                 "revision");
        l->valid_until = sent + l->ttl * G_USEC_PER_SEC;
        *won = l->token > 0;
        orch_info("leader: %s leads %s, token %" G_GINT64_FORMAT, l->id,
                  l->key, l->token);
    }
    return true;
}

bool orch_leader_renew(OrchLeader *l)
{
    g_autoptr(GError) err = NULL;
    gint64 sent = g_get_monotonic_time();
    gint64 left;

    if (!l->token) {
        return false;
    }
    left = dm_etcd_lease_keepalive(l->etcd, l->lease, &err);
    if (left < 0) {
        orch_warn("leader: %s could not renew its lease: %s", l->id,
                  err->message);
        return orch_leader_token(l) != 0;
    }
    if (left == 0) {
        orch_warn("leader: %s lost %s (its lease expired)", l->id, l->key);
        l->token = 0;
        l->lease = 0;
        return false;
    }
    l->valid_until = sent + l->ttl * G_USEC_PER_SEC;
    return true;
}

gint64 orch_leader_valid_until(OrchLeader *l)
{
    return l->token ? l->valid_until : 0;
}

gint64 orch_leader_token(OrchLeader *l)
{
    if (l->token && g_get_monotonic_time() >= l->valid_until) {
        orch_warn("leader: %s past its deadline for %s: not leader", l->id,
                  l->key);
        l->token = 0;
    }
    return l->token;
}

void orch_leader_resign(OrchLeader *l)
{
    g_autoptr(GError) err = NULL;

    if (l->lease && !dm_etcd_lease_revoke(l->etcd, l->lease, &err)) {
        orch_warn("leader: revoking %s's lease: %s", l->id, err->message);
    }
    l->lease = 0;
    l->token = 0;
}
