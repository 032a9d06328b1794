/*
 * dm-orchestrator: a client of the platforms' launchers (dm-remote
 * daemon), HTTP/JSON on unix:PATH or tcp:HOST:PORT.  Blocking calls, made
 * from the worker thread.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_LAUNCHER_H
#define ORCH_LAUNCHER_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "launcher-reply.h"
#include "soup-tls.h"

/*
 * Call launchers on tcp: addresses over TLS with @creds (client layout),
 * checking their certificates; NULL: plain HTTP.  @creds must outlive
 * every call.
 */
void orch_launcher_set_tls(const DmSoupTlsCreds *creds);

/* Long enough for a launcher to spawn a process, short of hanging us. */
#define ORCH_LAUNCHER_TIMEOUT_S 30

/* The most a launcher's answer may hold; its answers are small JSON. */
#define ORCH_LAUNCHER_MAX_ANSWER (4 * 1024 * 1024)

/* How long a call may wait for the launcher's answer (set by main()). */
void orch_launcher_set_timeout(guint seconds);

/*
 * Run @pause before waiting for a launcher and @resume after (its false
 * fails the call with ORCH_ERROR_UNAVAILABLE), set by main(): the server
 * lets other requests use the database meanwhile (request.h).
 */
void orch_launcher_set_wait(void (*pause)(void), bool (*resume)(void));

/*
 * @method @path on the launcher at @address, with @body (may be NULL).
 * True when it answered, with its status and JSON reply (NULL if it had
 * no body); false with an ORCH_ERROR_BAD_GATEWAY when it cannot be
 * reached, the answer is larger than ORCH_LAUNCHER_MAX_ANSWER or it is
 * not JSON (ORCH_ERROR_UNAVAILABLE if the database could not be had
 * back after the wait).
 */
bool orch_launcher_call(const char *address, const char *method,
                        const char *path, JsonNode *body, guint *ret_status,
                        JsonNode **ret_reply, GError **errp);
/*
 * The same, but any status other than @want is an ORCH_ERROR_BAD_GATEWAY
 * with the launcher's own message.  The reply is returned on success
 * only (@ret_reply may be NULL).
 */
bool orch_launcher_expect(const char *address, const char *method,
                          const char *path, JsonNode *body, guint want,
                          JsonNode **ret_reply, GError **errp);
/*
 * The same from the main loop, without blocking it: @done gets the
 * status and JSON reply (NULL if none), or @error (then @status is 0),
 * once, from the main loop (never before this returns), even when
 * @cancel is cancelled (then with an error).  @timeout_s bounds each read or write; @cancel,
 * the whole call.  No database pause: the main thread holds no section.
 */
typedef void OrchLauncherDoneFn(guint status, JsonNode *reply,
                                const char *error, gpointer opaque);
void orch_launcher_call_async(const char *address, const char *method,
                              const char *path, JsonNode *body,
                              guint timeout_s, GCancellable *cancel,
                              OrchLauncherDoneFn *done, gpointer opaque);
/*
 * A WebSocket to @path on the launcher at @address (main loop,
 * asynchronous): @done gets the connection, or NULL and why.  @cancel
 * stops the wait.
 */
typedef void OrchLauncherWsFn(SoupWebsocketConnection *ws, const char *why,
                              gpointer opaque);
void orch_launcher_websocket(const char *address, const char *path,
                             GCancellable *cancel, OrchLauncherWsFn *done,
                             gpointer opaque);

#endif /* ORCH_LAUNCHER_H */
