/*
 * A client of etcd's v3 JSON gateway (etcd 3.4:
 * POST /v3/kv/range|put|deleterange|txn, /v3/lease/grant|keepalive|
 * revoke), with libsoup and json-glib.  Synchronous: each call has a
 * deadline (DM_ETCD_TIMEOUT_S for each endpoint) and tries the
 * endpoints in turn, starting from the last that answered, until one
 * does.  Keys and values are base64 on the wire, and int64s are strings
 * (the gateway's JSON mapping of protobuf); this file hides both.  A
 * streamed call (dm_etcd_call_stream) hands back the answer's body to
 * read as it comes: the watch's (etcd-watch.h).
 *
 * A client is used by one thread at a time (its caller locks).  Used by
 * dm-orchestrator (its store and its leader) and dm-remote daemon (its
 * registration).  Like a library, it never prints.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_ETCD_H
#define DM_ETCD_H

#include <stdbool.h>
#include <glib.h>
#include <gio/gio.h>
#include <json-glib/json-glib.h>

#define DM_ETCD_TIMEOUT_S 5

/*
 * The most an answer of etcd's may hold, read as it streams: whatever
 * answers at an endpoint must not make us hold more.  Our largest
 * answers are ranges of a whole prefix (every VM's document, of a few
 * KiB, base64 on the wire): tens of thousands of VMs fit.
 */
#define DM_ETCD_MAX_ANSWER (64 * 1024 * 1024)

#define DM_ETCD_ERROR (dm_etcd_error_quark())
GQuark dm_etcd_error_quark(void);

typedef enum {
    DM_ETCD_ERROR_CONFIG,       /* a bad endpoint, certificate or key */
    DM_ETCD_ERROR_UNAVAILABLE,  /* no endpoint answered in time */
    DM_ETCD_ERROR_REFUSED,      /* etcd answered with an error */
} DmEtcdError;

typedef struct DmEtcd DmEtcd;

/*
 * @endpoints: "URL[,URL...]", each http://HOST:PORT or https://HOST:PORT.
 * Over https, the server is checked against @ca (a PEM file; NULL: the
 * system's trust) and @cert/@key (PEM files, both or neither) is our
 * client certificate.  Connects to nothing yet.  NULL with a reason.
 */
DmEtcd *dm_etcd_new(const char *endpoints, const char *ca,
                        const char *cert, const char *key, GError **errp);
void dm_etcd_free(DmEtcd *e);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(DmEtcd, dm_etcd_free)

/*
 * POST @body (a JSON object, not taken) to @path ("/v3/kv/range" ...)
 * and return the answer's object (a new node).  NULL with
 * DM_ETCD_ERROR_UNAVAILABLE if no endpoint answered in time, or with an
 * answer larger than DM_ETCD_MAX_ANSWER, nested too deep or not a JSON
 * object (each endpoint's reason in the message), or DM_ETCD_ERROR_REFUSED with
 * etcd's message if it refused the request.
 */
JsonNode *dm_etcd_call(DmEtcd *e, const char *path, JsonNode *body,
                         GError **errp);

/*
 * A streamed call (/v3/watch): POST @body as dm_etcd_call() does,
 * endpoint after endpoint, and return the answer's body, to be read
 * until it ends, once an endpoint answered 200.  @cancel stops it.
 * The reads time out after the client's I/O timeout
 * (dm_etcd_set_timeout(), DM_ETCD_TIMEOUT_S unless set).
 */
GInputStream *dm_etcd_call_stream(DmEtcd *e, const char *path,
                                  JsonNode *body, GCancellable *cancel,
                                  GError **errp);
/* The I/O timeout of each call, in seconds (0: none). */
void dm_etcd_set_timeout(DmEtcd *e, guint seconds);

/* The gateway's encodings: base64 of a string, and back; an int64. */
char *dm_etcd_b64(const char *s);
char *dm_etcd_unb64(const char *s, gsize *len);
gint64 dm_etcd_int(JsonObject *o, const char *member);

/*
 * Leases: grant one of @ttl seconds (its id, 0 on failure), renew one
 * (its remaining TTL; 0 if it expired, -1 on failure), revoke one (and
 * the keys attached to it).
 */
gint64 dm_etcd_lease_grant(DmEtcd *e, gint64 ttl, GError **errp);
gint64 dm_etcd_lease_keepalive(DmEtcd *e, gint64 id, GError **errp);
bool dm_etcd_lease_revoke(DmEtcd *e, gint64 id, GError **errp);

#endif /* DM_ETCD_H */
