/*
 * Input limits of a libsoup server: the request body's size, checked as
 * it arrives rather than once it is buffered, and the number of
 * connections served at once.  Used by dm-orchestrator's API and
 * dm-remote daemon's.
 *
 * A request whose Content-Length is over the limit is refused with 413
 * when its headers arrive, one sent chunked once it grows over it; a
 * request on a connection beyond the limit with 503.  In each case the
 * body is not read: the answer is written on the connection, taken from
 * libsoup, which is then closed.  (libsoup 3.2 reads a body in full
 * whatever status a got-headers handler sets, unless the client sent
 * Expect: 100-continue.)  A connection is counted from its first
 * request until it closes.
 *
 * Two leaks of libsoup 3.1.2 to 3.3 (Debian 12 has 3.2.3) that a client
 * could grow without end are plugged here: the reference every accepted
 * socket kept (dropped at the connection's start; this handler of
 * request-started must be the server's first: call before any other
 * setup that connects one), and kept-alive connections whose client left
 * between two requests, never closed (with such a libsoup every answer
 * closes its connection, but a WebSocket's handshake).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_SOUP_LIMITS_H
#define DM_SOUP_LIMITS_H

#include <libsoup/soup.h>

#include "soup-tls.h"

/* Our bodies are small JSON objects; the API's own limit. */
#define DM_SOUP_MAX_BODY (1024 * 1024)
/* Orchestrator and dmctl use a handful; the rest is a flood. */
#define DM_SOUP_MAX_CONNECTIONS 64

/*
 * Enforce @max_body bytes a body and @max_conns connections on @soup,
 * for its whole life; each refusal is given to @log.  Call before
 * listening.
 */
void dm_soup_limits_setup(SoupServer *soup, gsize max_body, guint max_conns,
                          DmSoupTlsLogFn log, gpointer opaque);

#endif /* DM_SOUP_LIMITS_H */
