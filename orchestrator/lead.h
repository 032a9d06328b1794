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

/* The answer's header naming the leader's API address (our form). */
#define ORCH_LEAD_HEADER "X-DM-Leader"

/*
 * Campaign on the etcd at @endpoints (a client of its own, with @ca,
 * @cert, @key as --store has them) as @address, the API address clients
 * are sent to, with a lease of @ttl seconds.  @elected runs in the
 * election's thread each time this orchestrator becomes leader, before
 * it takes writes (reconciliation); false from it (not done) runs it
 * again the next round, writes refused meanwhile.
 * @address must be this orchestrator's alone: a leader key naming it is
 * taken to be an earlier run's, deleted at once (its commands fenced).
 */
bool orch_lead_start(const char *endpoints, const char *ca,
                     const char *cert, const char *key, const char *address,
                     gint64 ttl, bool (*elected)(void), GError **errp);
/*
 * @work runs in the election's thread while this orchestrator leads
 * (the registrations' pass): when it begins to, at once after
 * orch_lead_wake() (any thread: the watch saw a change), and every two
 * leases besides (a watch's event missed).
 */
void orch_lead_set_work(void (*work)(void));
void orch_lead_wake(void);
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
 * Whether a write may be taken here: 0 if so; else the status to answer
 * with *@why (307, the leader's address put in @headers; or 503 while
 * none is known or while the new leader reconciles).
 */
guint orch_lead_refusal(SoupMessageHeaders *headers, char **why);

#endif /* ORCH_LEAD_H */
