/*
 * dm-orchestrator: the HTTP/JSON API server.
 *
 * Threads: libsoup and the pure reads run on the main thread with their
 * own database connection; everything that writes or talks to launchers
 * runs on a pool of worker threads sharing another, one request at a
 * time in the database but not during a launcher call (request.c: the
 * database section), and one request at a time per VM.  WAL lets reads
 * (e.g. migration progress) go on while a worker holds a transaction.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_SERVER_H
#define ORCH_SERVER_H

#include <gio/gio.h>
#include <sqlite3.h>

#include "soup-tls.h"
#include "web-auth.h"
#include "web-files.h"

typedef struct OrchServer OrchServer;

/* The web console's parts, given to the server (files may be NULL). */
typedef struct OrchServerWeb {
    OrchWebAuth *auth;
    OrchWebFiles *files;
} OrchServerWeb;

/*
 * Serve on @listener, over TLS with @tls unless it is NULL; both database
 * connections and @web's parts are owned by the server.  Besides the
 * JSON API under /v1: GET /v1/events/stream (stream.h), /login
 * (web-auth.h) and, with @web's files, the web console at every other
 * path.
 */
OrchServer *orch_server_new(GSocket *listener, const DmSoupTlsCreds *tls,
                            sqlite3 *db_main, sqlite3 *db_worker,
                            const OrchServerWeb *web, GError **errp);
/* Stop accepting; a request the worker is running is abandoned. */
void orch_server_stop(OrchServer *s);

#endif /* ORCH_SERVER_H */
