/*
 * dm-orchestrator: what the browser's WebSockets share (the serial
 * console's, console-ws.c, and the screen's, display-ws.c): the checks
 * before an upgrade, and relaying an upgraded WebSocket to one of a
 * launcher's.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_WS_UPGRADE_H
#define ORCH_WS_UPGRADE_H

#include <stdbool.h>
#include <libsoup/soup.h>

#include "web-auth.h"

/* Refuse the upgrade of @msg with @status and {"error": @text}. */
void orch_ws_fail(SoupServerMessage *msg, guint status, const char *text);

/*
 * Whether @msg (for @path) may be upgraded: credentials (web-auth.h),
 * and a browser's Origin that is this server (a page of another site
 * must not reach a VM's console or screen).  If not, the refusal is
 * answered.
 */
bool orch_ws_allowed(OrchWebAuth *auth, SoupServerMessage *msg,
                     const char *path);

/*
 * Relay @ws to the launcher at @launcher's WebSocket @lpath (with our
 * launcher credentials) once it answers; what @ws sends meanwhile is
 * kept (bounded) and sent first.  @what names it in the log ("console
 * of vm1"); @ws is closed if the launcher cannot be reached.
 */
void orch_ws_via_launcher(SoupWebsocketConnection *ws, const char *launcher,
                          const char *lpath, const char *what);

#endif /* ORCH_WS_UPGRADE_H */
