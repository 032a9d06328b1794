/*
 * A QMP client for the relay: one connection per VM, capabilities
 * negotiated once, commands matched to replies by a tag in "id" (the
 * caller's own "id" is put back), asynchronous events kept (the last
 * 100).  Runs in the main loop and never blocks it on QEMU.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_QMP_H
#define DM_QMP_H

#include <json-glib/json-glib.h>

typedef struct DmQmp DmQmp;

/* QEMU's reply (borrowed) or NULL and why. */
typedef void DmQmpReplyFn(JsonNode *reply, const char *error, void *opaque);

/*
 * A client of the QMP socket at @path.  @fd is a connection to it
 * already made, or -1 to connect at the first command.  Lost
 * connections are made again at the next command.
 */
DmQmp *dm_qmp_new(const char *path, int fd);

/* Commands still waiting are answered with an error. */
void dm_qmp_free(DmQmp *q);

/*
 * Send @cmd ({"execute": ..., "arguments": ...}, not modified).  @cb
 * gets the reply, or an error after 30 s, on a lost connection or from
 * dm_qmp_free(); it may be called before this returns.
 */
void dm_qmp_execute(DmQmp *q, JsonObject *cmd, DmQmpReplyFn *cb,
                    void *opaque);

/* A new array of the events seen, oldest first. */
JsonArray *dm_qmp_events(DmQmp *q);

#endif /* DM_QMP_H */
