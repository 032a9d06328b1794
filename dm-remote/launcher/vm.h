/*
 * One VM of the client role: a QEMU child, its QMP relay and files.  The
 * lowest of the client role's modules, it also holds the role's state
 * (DmClient).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_VM_H
#define DM_VM_H

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "child.h"
#include "launcher.h"
#include "qmp.h"

typedef enum DmVmState {
    DM_VM_STARTING,
    DM_VM_RUNNING,
    DM_VM_EXITED,
    DM_VM_STOPPED,
} DmVmState;

/*
 * The client role's state, shared by vm.c (one VM) and vms.c (/v1/vms,
 * the QMP relay).  daemon.c fills in the options; the table is
 * dm_vms_init's and dm_vms_free's.
 */
typedef struct DmClient {
    DmLauncher *l;
    const char *qemu;
    char *save_dir;             /* absolute: the only home of file: URIs */
    GHashTable *vms;            /* id -> DmVm, the API's */
} DmClient;

typedef struct DmVm {
    DmChild child;              /* id, directory, process, probe */
    DmClient *c;
    char *qmp_path;
    GPtrArray *files;           /* paths written for it (secrets) */
    GPtrArray *file_names;      /* their NAMEs, for the record */
    DmVmState state;
    DmQmp *qmp;                 /* once running */
    int qmp_fd;                 /* the probe's connection, handed to qmp */
    char *qmp_error;            /* why QMP did not answer at start-up */
} DmVm;

DmVm *dm_vm_new(DmClient *c, const char *id);
void dm_vm_free(DmVm *vm);

/* A VM that never ran: its files go, then the VM. */
void dm_vm_discard(DmVm *vm);

/* Write STATE/vms/ID/ID.NAME (mode 0600); remembered for removal. */
int dm_vm_write_file(DmVm *vm, const char *name, const char *content,
                     char **ret_err);

/*
 * Add @vm to the table and start QEMU with @args (after the fixed
 * options, @STATE@ replaced by the VM's directory).  @msg gets 201 once QMP accepts
 * connections, or 500 with the log's tail.  Returns 0, or -errno with a
 * reason in *@ret_err (then @vm is freed and @msg untouched).
 */
int dm_vm_launch(DmVm *vm, char **args, SoupServerMessage *msg,
                 char **ret_err);

/*
 * Adopt the QEMU an earlier launcher left running (record.h): 0, or
 * -ESRCH if it is gone (its files and record are removed, @vm freed).
 */
int dm_vm_adopt(DmVm *vm, JsonObject *rec, pid_t pid, guint64 start);

/* Take @vm out of the table and stop it; @msg (or NULL) gets 200. */
void dm_vm_stop(DmVm *vm, SoupServerMessage *msg);

JsonObject *dm_vm_json(DmVm *vm);

#endif /* DM_VM_H */
