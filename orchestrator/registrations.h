/*
 * dm-orchestrator: the launchers' registrations in etcd, as the leader
 * reads them (docs/scale-out.md, point 3).  A launcher run with
 * `dm-remote daemon --register` keeps ROOT "launchers/PLATFORM" under a
 * lease (dm-remote/launcher/register.h), so its key goes when it
 * vanishes.  The leader follows the keys into each platform's document,
 * "registration": "present" or "lost" (absent: its launcher never
 * registered, as on one host with SQLite):
 *
 * - a platform whose launcher's key went is "lost": no new placement or
 *   VM goes there (store-clients.c, store-load.c refuse it), and an
 *   event names it and each VM it ran or held a model of;
 * - its key back, it is "present" again, with an event.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_REGISTRATIONS_H
#define ORCH_REGISTRATIONS_H

#include <stdbool.h>
#include <glib.h>

#include "store.h"

/*
 * One pass: the keys under ROOT "launchers/" against the platforms'
 * documents, changes written in one view (a conflict is left to the
 * next pass, logged).  The number of platforms changed, -1 if the store
 * failed.
 */
int orch_registrations_pass(OrchStore *s);

/*
 * Watch ROOT "launchers/" on etcd, @wake() called on the main loop at
 * each change (a pass sooner than the next round).  NULL on SQLite.
 */
DmEtcdWatch *orch_registrations_watch(OrchStore *s, void (*wake)(void),
                                      GError **errp);

#endif /* ORCH_REGISTRATIONS_H */
