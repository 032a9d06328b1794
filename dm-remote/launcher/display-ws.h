/*
 * Server role: a display's screen over a WebSocket, for the
 * orchestrator's web console (noVNC in the browser):
 *
 *   GET /v1/ws/instances/ID/display   (a WebSocket upgrade)
 *
 * The launcher connects to the display's VNC server (its TCP port or
 * UNIX socket) and authenticates there with the password it made
 * (rfb-auth.h); toward the WebSocket it plays the VNC server's part of
 * the handshake offering only "None" (RFB 3.7 or 3.8), then relays the
 * bytes both ways (common/ws-relay.h).  So the password stays in this
 * process: the WebSocket is guarded by the API's own TLS and client
 * certificates (or its UNIX socket's mode), as the password itself is
 * in GET /v1/instances/ID.  404 for an unknown instance or one without
 * VNC, 409 while it is not running.  The handshakes have
 * DM_DISPLAY_WS_HANDSHAKE_SEC to finish.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_DISPLAY_WS_H
#define DM_DISPLAY_WS_H

#include <libsoup/soup.h>

#include "instance.h"

#define DM_DISPLAY_WS_HANDSHAKE_SEC 10

/*
 * Before the upgrade of /v1/ws/instances/@id/display: any status set on
 * @msg refuses it.
 */
void dm_display_ws_check(DmServer *s, SoupServerMessage *msg,
                         const char *id);

/* Upgraded: relay @ws to the display @msg's check found. */
void dm_display_ws_open(SoupServerMessage *msg, SoupWebsocketConnection *ws,
                        const char *id);

#endif /* DM_DISPLAY_WS_H */
