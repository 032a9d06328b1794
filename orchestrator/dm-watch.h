/*
 * dm-orchestrator: what happens to placed device models between
 * requests (dm-watch.c): with --watch-models SEC, a thread of its own
 * asks each model's launcher for its instance every SEC seconds and
 * records an event when its restarts grow ("device e0: model edu on s1
 * restarted (1 restart)") or its state changes ("... is exited"), so
 * a crash shows in /v1/events and the web console's live log.  It uses
 * its own database connection and never holds the workers' section.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_DM_WATCH_H
#define ORCH_DM_WATCH_H

#include <stdbool.h>
#include <glib.h>

/* Start the thread on the database at @db_path; it runs until exit. */
bool orch_dm_watch_start(const char *db_path, guint interval_s,
                         GError **errp);

#endif /* ORCH_DM_WATCH_H */
