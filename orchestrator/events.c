/*
 * dm-orchestrator: what happened to the VMs (on the store,
 * store-events.h): starts,
 * stops, migrations, saves and restores, and what reconciliation at
 * start-up repaired.
 *
 *   GET /v1/events[?since=ID][&limit=N]
 *   GET /v1/vms/NAME/events[?since=ID][&limit=N]
 *
 * Oldest first.  Without since, the last N (default 100); with it, the
 * first N after event ID, for a client that polls.  Read-only, main
 * thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>

#include "events.h"
#include "records.h"
#include "request.h"
#include "store-events.h"

#define EVENTS_DEFAULT_LIMIT 100
#define EVENTS_MAX_LIMIT 1000

/* Query parameter @key as an integer in [@min, @max]; 400 if bad. */
static int events_param(OrchRequest *r, const char *key, gint64 min,
                        gint64 max, gint64 *ret)
{
    const char *s = r->query ? g_hash_table_lookup(r->query, key) : NULL;
    char *end;
    gint64 v;

    if (!s) {
        return 0;
    }
    errno = 0;
    v = g_ascii_strtoll(s, &end, 10);
    if (errno || !*s || *end || v < min || v > max) {
        return orch_fail(r, 400, "bad '%s': '%s' (%" G_GINT64_FORMAT "..%"
                         G_GINT64_FORMAT ")", key, s, min, max);
    }
    *ret = v;
    return 0;
}

/* Reply with @vm's events, or every VM's if @vm is NULL. */
static int events_reply(OrchRequest *r, const char *vm)
{
    gint64 since = -1, limit = EVENTS_DEFAULT_LIMIT;
    g_autoptr(GError) err = NULL;
    JsonArray *events;
    GHashTableIter it;
    gpointer key;
    JsonObject *o;

    if (r->query) {
        g_hash_table_iter_init(&it, r->query);
        while (g_hash_table_iter_next(&it, &key, NULL)) {
            if (g_strcmp0(key, "since") && g_strcmp0(key, "limit")) {
                return orch_fail(r, 400, "unknown parameter '%s' (since, "
                                 "limit)", (const char *)key);
            }
        }
    }
    if (events_param(r, "since", 0, G_MAXINT64, &since) < 0 ||
        events_param(r, "limit", 1, EVENTS_MAX_LIMIT, &limit) < 0) {
        return -EINVAL;
    }
    events = orch_events_read(since, limit, vm, &err);
    if (!events) {
        return orch_fail_error(r, err);
    }
    o = json_object_new();
    json_object_set_array_member(o, "events", events);
    orch_reply_object(r, 200, o);
    return 0;
}

int orch_event_list(OrchRequest *r)
{
    return events_reply(r, NULL);
}

int orch_vm_events(OrchRequest *r)
{
    const char *vm = r->seg[1];

    g_autoptr(JsonObject) doc = orch_rec_vm(r->db, vm);

    /* Events outlive their VM; by name, only a VM that exists. */
    if (!doc) {
        return orch_fail(r, 404, "no VM '%s'", vm);
    }
    return events_reply(r, vm);
}
