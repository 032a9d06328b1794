/*
 * dm-orchestrator: QEMU's command line for a VM whose devices have been
 * placed.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef ORCH_QEMU_ARGS_H
#define ORCH_QEMU_ARGS_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>

/*
 * The id of the client's -object tls-creds-x509 that a client launcher
 * with --model-tls-creds adds to every QEMU (dm-remote/launcher/vm.c).
 */
#define ORCH_MODEL_TLS_ID "dm-model-tls"
/*
 * The id of the tls-creds-x509 with endpoint=server (and verify-peer=on)
 * that such a launcher adds too, from the same directory's
 * server-cert.pem and server-key.pem: an incoming migration's.  The
 * outgoing one uses ORCH_MODEL_TLS_ID (endpoint=client).
 */
#define ORCH_MIGRATE_TLS_ID "dm-migrate-tls"

/*
 * SQL over placement p and its server platform s: the session to the
 * model is TLS (a model on TCP on a server with model_tls; one on a UNIX
 * socket is plain).  A routed one is refused (orch_qemu_args_check).
 */
#define ORCH_SQL_MODEL_TLS "(s.model_tls = 1 AND p.address LIKE 'tcp:%')"

/*
 * The "args" and "files" of the client launcher's POST /v1/vms for VM
 * @name on client platform @client with hypervisor @hypervisor.  Each
 * device's token is a file (@STATE@/NAME.tokN), never an argument.
 */
bool orch_qemu_args(sqlite3 *db, const char *name, const char *client,
                    const char *hypervisor, JsonArray **ret_args,
                    JsonObject **ret_files, GError **errp);

/*
 * True if VM @name's placed devices can be reached from client platform
 * @client; else an ORCH_ERROR_CONFLICT (a model served over TLS and a
 * client launcher without the credentials, or a TLS model behind an
 * owner's router).
 */
bool orch_qemu_args_check(sqlite3 *db, const char *name,
                          const char *client, GError **errp);

/* Does one of VM @name's placed devices speak TLS (see above)? */
bool orch_vm_needs_model_tls(sqlite3 *db, const char *name);

#endif /* ORCH_QEMU_ARGS_H */
