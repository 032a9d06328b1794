/*
 * Server role: a model's console over a WebSocket, for an orchestrator
 * on another host (its browser console relays it):
 *
 *   GET /v1/ws/instances/ID/console   (a WebSocket upgrade)
 *
 * The console's UNIX socket (an instance with "console": true) is
 * relayed both ways as binary messages (common/ws-relay.h).  The API's
 * own TLS and client certificates guard it; 404 for an unknown instance
 * or one without a console, 409 while it is not running.  A display's
 * screen is served beside it (display-ws.h): libsoup finds handlers by
 * prefix, so this file's handler passes /v1/ws/instances/ID/display on.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_CONSOLE_WS_H
#define DM_CONSOLE_WS_H

#include <libsoup/soup.h>

#include "instance.h"

/* Serve the path on @soup for the instances of @s (which outlives it). */
void dm_console_ws_attach(SoupServer *soup, DmServer *s);

#endif /* DM_CONSOLE_WS_H */
