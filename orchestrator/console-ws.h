/*
 * dm-orchestrator: a VM's serial console in the browser (console-ws.c).
 *
 *   GET /v1/ws/console/NAME   (a WebSocket upgrade)
 *
 * The orchestrator relays the VM's remote UART console, which
 * GET /v1/vms/NAME/console names, both ways as binary messages: the
 * console's UNIX socket itself when the server's launcher is on this
 * host (a unix: address), else the launcher's own WebSocket of the
 * console (/v1/ws/instances/ID/console, with the orchestrator's launcher
 * credentials).  Refused like
 * any request without credentials (web-auth.h), with an Origin that is
 * not this server (another site's page), and with the console
 * endpoint's own errors (404, 409).  Input waiting for the console is
 * bounded (common/ws-relay.h): beyond, the socket is closed.
 *
 * A screen (noVNC, once the display model exists) would get its own
 * path beside this one, relayed the same way.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_CONSOLE_WS_H
#define ORCH_CONSOLE_WS_H

#include <libsoup/soup.h>
#include <sqlite3.h>

#include "web-auth.h"

/* Serve the path on @soup; @auth and @db (the main thread's) outlive it. */
void orch_console_ws_setup(SoupServer *soup, OrchWebAuth *auth,
                           sqlite3 *db);

#endif /* ORCH_CONSOLE_WS_H */
