/*
 * The launcher's record of each child, so that a launcher that crashed
 * can adopt the children it left running.
 *
 * Every child has a directory of its own, STATE/instances/ID,
 * STATE/vms/ID or STATE/router (mode 0700), holding its log, sockets,
 * token or files and `record`: a JSON object with its kind, id, pid and
 * start time (from /proc/PID/stat, so that a reused pid is not taken for
 * it) and what it takes to serve it again.  The record is replaced
 * atomically (temporary file and rename) at each launch and removed with
 * the child's sockets when it is stopped; a SIGTERM'd launcher leaves
 * none.  Records are our own files: they are checked as strictly as a
 * peer's input all the same.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_RECORD_H
#define DM_RECORD_H

#include <json-glib/json-glib.h>

#include "launcher.h"
#include "proc.h"

#define DM_RECORD_MAX (256 * 1024)

/* STATE/SUB/ID, or STATE/SUB without @id. */
char *dm_child_dir(const DmLauncher *l, const char *sub, const char *id);

/* mkdir -p with mode 0700, enforced on an existing one too. */
int dm_dir_make_private(const char *dir, char **ret_err);

/*
 * Write DIR/record: @o (taken) with "kind", "id", "pid" and "start"
 * added from @kind, @id and @p.  0 or -errno with a reason in *@ret_err.
 */
int dm_record_write(const char *dir, const char *kind, const char *id,
                    const DmProc *p, JsonObject *o, char **ret_err);

void dm_record_remove(const char *dir);

typedef void DmRecordFn(void *opaque, const char *id, const char *dir,
                        JsonObject *rec, pid_t pid, guint64 start);

/*
 * For each STATE/SUB/ID/record of @kind whose id is valid and matches
 * its directory: @fn with @opaque (which adopts it or removes it).  A
 * record that cannot be read or parsed is logged and removed.
 */
void dm_records_scan(const DmLauncher *l, const char *sub, const char *kind,
                     DmRecordFn *fn, void *opaque);

/* Read DIR/record of @kind; NULL (logged) if missing or malformed. */
JsonObject *dm_record_read(const char *dir, const char *kind,
                           const char *id, pid_t *ret_pid,
                           guint64 *ret_start);

/* Members of a record: NULL, or false, if absent or of another type. */
const char *dm_record_string(JsonObject *o, const char *name);
bool dm_record_bool(JsonObject *o, const char *name);
gint64 dm_record_int(JsonObject *o, const char *name, gint64 lo,
                     gint64 hi, gint64 dflt);

#endif /* DM_RECORD_H */
