/*
 * dm-orchestrator: one leader among the orchestrators sharing an etcd
 * (docs/scale-out.md).  A candidate holds a lease and creates the leader
 * key under it only if the key is absent (one txn: mod_revision == 0);
 * the key vanishes with the lease when its holder stops renewing it.
 *
 * The fencing token is the revision that created the key: it only grows
 * from one leadership to the next.  A leader sends it with its commands;
 * launchers refuse a token older than the highest they have seen.
 *
 * A leader also deposes itself: its leadership is valid until the time
 * it sent its last successful grant or renewal plus the TTL, a moment
 * before etcd can expire the lease.  Past it, orch_leader_token() is 0
 * even if the process was stopped and never heard it lost.
 *
 * One thread at a time; the caller runs campaign and renew (a third of
 * the TTL apart, say).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_LEADER_H
#define ORCH_LEADER_H

#include <stdbool.h>
#include <glib.h>

#include "etcd.h"

typedef struct OrchLeader OrchLeader;

/*
 * A candidate named @id for the key @key, with a lease of @ttl seconds,
 * on @etcd (not taken: it must outlive the candidate).
 */
OrchLeader *orch_leader_new(DmEtcd *etcd, const char *key, const char *id,
                            gint64 ttl);
/* Resigns first if leader. */
void orch_leader_free(OrchLeader *l);
G_DEFINE_AUTOPTR_CLEANUP_FUNC(OrchLeader, orch_leader_free)

/*
 * The key deleted if it names @id (an earlier run of this candidate, dead
 * or stopped: its token is outdated by the next campaign's, so its
 * commands are fenced), *@taken saying so: a restart need not wait out
 * its own old lease.  Only for an @id no other live candidate uses.
 */
bool orch_leader_take_back(OrchLeader *l, bool *taken, GError **errp);
/*
 * Try to become leader: true if the store answered, with *@won.  A
 * leader campaigning again renews instead.
 */
bool orch_leader_campaign(OrchLeader *l, bool *won, GError **errp);
/*
 * Renew a leader's lease: whether it is still leader.  Not if the lease
 * expired; if etcd could not be asked (logged), until its deadline.
 */
bool orch_leader_renew(OrchLeader *l);
/* The fencing token while leader and within the deadline; else 0. */
gint64 orch_leader_token(OrchLeader *l);
/*
 * The monotonic time (µs) until which the token holds if no renewal
 * succeeds meanwhile; 0 when not leader.
 */
gint64 orch_leader_valid_until(OrchLeader *l);
/* Give leadership up now (the lease revoked, the key with it). */
void orch_leader_resign(OrchLeader *l);

#endif /* ORCH_LEADER_H */
