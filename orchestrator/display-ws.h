/*
 * dm-orchestrator: a VM's screen in the browser (display-ws.c).
 *
 *   GET /v1/ws/display/NAME   (a WebSocket upgrade)
 *
 * RFB for noVNC, relayed both ways as binary messages to the WebSocket
 * of the VM's display on its server's launcher
 * (/v1/ws/instances/ID/display, with the orchestrator's launcher
 * credentials, whether the launcher is on this host or not).  That
 * launcher authenticates to the display's VNC server itself and offers
 * the browser only "None" (dm-remote/launcher/display-ws.h): the VNC
 * password never reaches the orchestrator nor the browser
 * (docs/security.md).  Refused like any request without credentials
 * (web-auth.h), with an Origin that is not this server, 404 for an
 * unknown VM, 409 for one whose display is not placed (not started, or
 * none).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_DISPLAY_WS_H
#define ORCH_DISPLAY_WS_H

#include <libsoup/soup.h>
#include <sqlite3.h>

#include "web-auth.h"

/* Serve the path on @soup; @auth and @db (the main thread's) outlive it. */
void orch_display_ws_setup(SoupServer *soup, OrchWebAuth *auth,
                           sqlite3 *db);

#endif /* ORCH_DISPLAY_WS_H */
