/*
 * Server role: the RFB handshake toward a display's own VNC server, as
 * a viewer (RFC 6143, 7.1 and 7.2): the versions (3.8 asked; 3.7 or
 * later needed), then VNC authentication with the password the launcher
 * made (or None if the server offers only that), up to the security
 * result.  The stream is then where a viewer sends its ClientInit, so a
 * relay that has done the viewer's own side of the handshake (with None)
 * can pass bytes both ways from there (display-ws.c): the password never
 * leaves the launcher.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_RFB_AUTH_H
#define DM_RFB_AUTH_H

#include <gio/gio.h>

/*
 * Told once: @io authenticated (referenced by the callee for itself),
 * or NULL and why (a closed stream, a refusal, @cancel).
 */
typedef void DmRfbAuthFn(GIOStream *io, const char *why, gpointer opaque);

/*
 * Run the handshake on @io (just connected) with @password (copied,
 * wiped when done); main loop only.
 */
void dm_rfb_auth(GIOStream *io, const char *password, GCancellable *cancel,
                 DmRfbAuthFn *done, gpointer opaque);

/*
 * VNC authentication's answer to @challenge, in place: each half
 * DES-encrypted with @password's first 8 bytes (zero-padded) as the key,
 * each byte's bits mirrored as the protocol's first viewers did.
 */
void dm_rfb_vnc_response(const char *password, guint8 challenge[16]);

#endif /* DM_RFB_AUTH_H */
