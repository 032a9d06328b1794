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
