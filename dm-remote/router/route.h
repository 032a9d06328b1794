/*
 * Routing through an owner server (the patent's Fig. 6): a client
 * connects to the owner, which reads its VERSION, checks the identifiers
 * against a table, and forwards the whole session to the I/O server that
 * hosts the model.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_ROUTE_H
#define DM_ROUTE_H

#include "address.h"
#include "route-table.h"

/* What one router lets its clients cost it, and how it tunes their TCP. */
typedef struct DmRouteLimits {
    unsigned max_sessions;      /* at a time; more are closed at accept */
    int64_t hello_timeout_ms;   /* the whole VERSION, from the accept */
    const char *tcp_congestion; /* both legs' TCP; NULL: the host's */
} DmRouteLimits;

#define DM_ROUTE_MAX_SESSIONS_DEFAULT   256
#define DM_ROUTE_HELLO_TIMEOUT_DEFAULT  10      /* seconds */

/*
 * Serve on @listen until SIGTERM/SIGINT; returns the exit status.
 * @routes always apply; @routes_file (NULL: none) adds one route a line
 * and is read again for each new session.
 */
int dm_route_run(const DmAddress *listen, const DmRoute *routes,
                 unsigned nroutes, const char *routes_file,
                 const DmRouteLimits *limits);

#endif /* DM_ROUTE_H */
