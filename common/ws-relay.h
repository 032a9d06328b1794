/*
 * Relaying a WebSocket: to a byte stream (a console's UNIX socket), or to
 * another WebSocket (a browser's, to a launcher's).  Binary messages
 * carry the bytes; input waiting for the far side is bounded
 * (DM_WS_RELAY_MAX_QUEUED): beyond, both ends are closed.  Either side's
 * end ends the other.  Main loop only.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_WS_RELAY_H
#define DM_WS_RELAY_H

#include <gio/gio.h>
#include <libsoup/soup.h>

#define DM_WS_RELAY_MAX_QUEUED (64 * 1024)

/* Told once why the relay ended (@label as given). */
typedef void DmWsRelayEndFn(const char *label, const char *why);

/* Relay @ws and @stream (both referenced) until either ends. */
void dm_ws_relay_stream(SoupWebsocketConnection *ws, GIOStream *stream,
                        const char *label, DmWsRelayEndFn *end);

/*
 * The same, @first (NULL: none; referenced) written to @stream before
 * anything @ws sends: what came with the end of a handshake done before.
 */
void dm_ws_relay_stream_first(SoupWebsocketConnection *ws, GIOStream *stream,
                              GBytes *first, const char *label,
                              DmWsRelayEndFn *end);

/* Relay two WebSockets (both referenced) until either ends. */
void dm_ws_relay_pair(SoupWebsocketConnection *a, SoupWebsocketConnection *b,
                      const char *label, DmWsRelayEndFn *end);

#endif /* DM_WS_RELAY_H */
