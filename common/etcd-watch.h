/*
 * A watch on every key under a prefix, through etcd's v3 JSON gateway
 * (POST /v3/watch: one create_request, then a stream of JSON objects,
 * one a line, each {"result": WatchResponse}).
 *
 * The watch runs in a thread of its own with an etcd client of its own
 * (etcd.h: the endpoints in turn, TLS and client certificates alike),
 * and delivers what it sees to a callback on the caller's GMainContext,
 * in revision order:
 *
 * - DM_ETCD_WATCH_UP: the watch is created (again, after a drop);
 *   events from @revision on follow.
 * - DM_ETCD_WATCH_EVENTS: puts and deletes, oldest first.
 * - DM_ETCD_WATCH_DOWN: the connection dropped and no endpoint answers
 *   (@message says why); the watch retries, every endpoint in turn,
 *   with a growing pause, and resumes from the revision after the last
 *   event it delivered: none is lost or repeated across the outage.
 *   Said once per outage.
 * - DM_ETCD_WATCH_COMPACTED: etcd compacted away the revision the watch
 *   was to resume from (@revision is etcd's compact revision): events
 *   were lost.  The watch has stopped; the caller reloads what it keeps
 *   and starts a new watch from the revision after its read.
 *
 * Bounds on what etcd sends: one message (a line) at most
 * DM_ETCD_WATCH_MAX_MSG bytes (the watch asks etcd to fragment larger
 * responses), its JSON nested at most DM_JSON_MAX_DEPTH deep (checked
 * before parsing); a message refused drops the connection, which is
 * reported and retried as an outage.  A watch that hears nothing for
 * DM_ETCD_WATCH_IDLE_S reconnects (from the same revision): a peer cut
 * off without a word is noticed.
 *
 * Like a library, it never prints.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_ETCD_WATCH_H
#define DM_ETCD_WATCH_H

#include <stdbool.h>
#include <glib.h>

#define DM_ETCD_WATCH_MAX_MSG (4 * 1024 * 1024)
#define DM_ETCD_WATCH_IDLE_S 30

typedef enum {
    DM_ETCD_WATCH_UP,
    DM_ETCD_WATCH_EVENTS,
    DM_ETCD_WATCH_DOWN,
    DM_ETCD_WATCH_COMPACTED,
} DmEtcdWatchKind;

typedef struct DmEtcdWatchEvent {
    bool deleted;
    char *key;
    char *value;                /* NUL-terminated; "" for a delete */
    gsize value_len;
    gint64 create_rev;          /* 0 for a delete */
    gint64 mod_rev;             /* the event's revision */
} DmEtcdWatchEvent;

typedef struct DmEtcdWatchNotice {
    DmEtcdWatchKind kind;
    /* UP: the first revision to come; COMPACTED: etcd's compact revision */
    gint64 revision;
    GPtrArray *events;          /* EVENTS: of DmEtcdWatchEvent */
    char *message;              /* DOWN: why */
} DmEtcdWatchNotice;

/* Called on the context given, never after dm_etcd_watch_free returns. */
typedef void (*DmEtcdWatchFunc)(const DmEtcdWatchNotice *n, gpointer opaque);

typedef struct DmEtcdWatch DmEtcdWatch;

/*
 * Watch every key under @prefix from revision @start_rev (0: from
 * now), on etcd at @endpoints with @ca, @cert and @key as
 * dm_etcd_new() takes them; @func(@opaque) is called on @ctx (NULL:
 * the global default context).  NULL with a reason if the endpoints or
 * the certificates are bad; etcd itself being down is not an error
 * (DOWN, then UP when it answers).
 */
DmEtcdWatch *dm_etcd_watch_new(const char *endpoints, const char *ca,
                               const char *cert, const char *key,
                               const char *prefix, gint64 start_rev,
                               GMainContext *ctx, DmEtcdWatchFunc func,
                               gpointer opaque, GError **errp);

/*
 * Stop the watch and join its thread; called on the watch's context.
 * No callback runs afterwards, not even one already queued.
 */
void dm_etcd_watch_free(DmEtcdWatch *w);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DmEtcdWatch, dm_etcd_watch_free)

#endif /* DM_ETCD_WATCH_H */
