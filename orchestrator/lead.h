/*
 * dm-orchestrator: this orchestrator's part in the election of one leader
 * among those sharing an etcd (leader.h; docs/scale-out.md, "Several
 * orchestrators").  A thread of its own campaigns and renews; once
 * elected it reconciles, then takes writes.  Every orchestrator serves
 * reads; a follower sends a write's client to the leader (307 and
 * X-DM-Leader).  The leader's launcher calls carry its fencing token.
 *
 * Without an election (SQLite: one orchestrator) this orchestrator is
 * the leader, with no token, and nothing is fenced.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_LEAD_H
#define ORCH_LEAD_H

#include <stdbool.h>
#include <glib.h>
#include <libsoup/soup.h>

#include "request.h"

/* The answer's header naming the leader's API address (our form). */
#define ORCH_LEAD_HEADER "X-DM-Leader"

/*
 * Campaign on the etcd at @endpoints (a client of its own, with @ca,
 * @cert, @key as --store has them) as @address, the API address clients
 * are sent to, with a lease of @ttl seconds.  @elected runs in the
 * election's thread each time this orchestrator becomes leader, before
 * it takes writes (reconciliation); false from it gives leadership up.
 */
bool orch_lead_start(const char *endpoints, const char *ca,
                     const char *cert, const char *key, const char *address,
                     gint64 ttl, bool (*elected)(void), GError **errp);
/* Resign (the lease revoked) and stop the thread. */
void orch_lead_stop(void);

/* Whether this orchestrator does the leader's work now. */
bool orch_lead_leading(void);
/*
 * The token for a launcher call: 0 for none (no election); -1 if an
 * election runs and this orchestrator does not lead (now, or any more:
 * past its deadline even if its thread has not heard).
 */
gint64 orch_lead_token(void);
/*
 * A write request on a follower: false once @r is answered (307 and the
 * leader's address in @headers, or 503 while none is known or while the
 * new leader reconciles).
 */
bool orch_lead_may_write(OrchRequest *r, SoupMessageHeaders *headers);

#endif /* ORCH_LEAD_H */
