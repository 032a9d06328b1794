/*
 * The launcher's registration in etcd (register.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "etcd.h"
#include "log.h"
#include "register.h"

struct DmRegister {
    DmEtcd *etcd;
    char *key;
    char *value;
    gint64 ttl;
    GThread *thread;
    GMutex lock;
    GCond wake;
    bool stopping;              /* under @lock */
};

/* Put the key under a new lease: the lease's id, or 0 (logged). */
static gint64 register_put(DmRegister *r)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) body = NULL;
    g_autoptr(JsonNode) ans = NULL;
    g_autofree char *k = dm_etcd_b64(r->key);
    g_autofree char *v = dm_etcd_b64(r->value);
    g_autofree char *ids = NULL;
    gint64 lease = dm_etcd_lease_grant(r->etcd, r->ttl, &err);

    if (!lease) {
        dm_warn("registration: %s", err->message);
        return 0;
    }
    ids = g_strdup_printf("%" G_GINT64_FORMAT, lease);
    json_builder_begin_object(b);
    json_builder_set_member_name(b, "key");
    json_builder_add_string_value(b, k);
    json_builder_set_member_name(b, "value");
    json_builder_add_string_value(b, v);
    json_builder_set_member_name(b, "lease");
    json_builder_add_string_value(b, ids);
    json_builder_end_object(b);
    body = json_builder_get_root(b);
    ans = dm_etcd_call(r->etcd, "/v3/kv/put", body, &err);
    if (!ans) {
        dm_warn("registration: %s", err->message);
        dm_etcd_lease_revoke(r->etcd, lease, NULL);
        return 0;
    }
    dm_info("registered as %s in etcd (lease %" G_GINT64_FORMAT ", %"
            G_GINT64_FORMAT " s)", r->key, lease, r->ttl);
    return lease;
}

static gpointer register_thread(gpointer opaque)
{
    DmRegister *r = opaque;
    gint64 lease = 0;

    g_mutex_lock(&r->lock);
    while (!r->stopping) {
        gint64 wait_us;

        g_mutex_unlock(&r->lock);
        if (!lease) {
            lease = register_put(r);
        } else {
            g_autoptr(GError) err = NULL;
            gint64 left = dm_etcd_lease_keepalive(r->etcd, lease, &err);

            if (left == 0) {
                dm_warn("registration: lease %" G_GINT64_FORMAT " expired; "
                        "registering again", lease);
                lease = register_put(r);
            } else if (left < 0) {
                dm_warn("registration: renewing: %s", err->message);
            }
        }
        /* A third of the TTL while registered; a second before. */
        wait_us = lease ? r->ttl * G_USEC_PER_SEC / 3 : G_USEC_PER_SEC;
        g_mutex_lock(&r->lock);
        if (!r->stopping) {
            g_cond_wait_until(&r->wake, &r->lock,
                              g_get_monotonic_time() + wait_us);
        }
    }
    g_mutex_unlock(&r->lock);
    if (lease) {
        g_autoptr(GError) err = NULL;

        if (!dm_etcd_lease_revoke(r->etcd, lease, &err)) {
            dm_warn("registration: revoking: %s", err->message);
        }
    }
    return NULL;
}

DmRegister *dm_register_start(const char *endpoints, const char *platform,
                              const char *value, gint64 ttl, GError **errp)
{
    DmEtcd *etcd = dm_etcd_new(endpoints, NULL, NULL, NULL, errp);
    DmRegister *r;

    if (!etcd) {
        return NULL;
    }
    r = g_new0(DmRegister, 1);
    r->etcd = etcd;
    r->key = g_strconcat(DM_REGISTER_PREFIX, platform, NULL);
    r->value = g_strdup(value);
    r->ttl = ttl;
    g_mutex_init(&r->lock);
    g_cond_init(&r->wake);
    r->thread = g_thread_new("register", register_thread, r);
    return r;
}

void dm_register_stop(DmRegister *r)
{
    if (!r) {
        return;
    }
    g_mutex_lock(&r->lock);
    r->stopping = true;
    g_cond_signal(&r->wake);
    g_mutex_unlock(&r->lock);
    g_thread_join(r->thread);
    dm_etcd_free(r->etcd);
    g_mutex_clear(&r->lock);
    g_cond_clear(&r->wake);
    g_free(r->key);
    g_free(r->value);
    g_free(r);
}
