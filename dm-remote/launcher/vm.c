/*
 * One VM: launch, readiness (QMP answers), exit, stop.
 *
 * All of it runs in the daemon's main loop.  A VM is in c->vms while the
 * API knows it; once forgotten it lives on only until QEMU is reaped.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "record.h"
#include "vm.h"

#define DM_VM_START_TIMEOUT_MS 10000

static const char *const state_names[] = {
    [DM_VM_STARTING] = "starting",
    [DM_VM_RUNNING] = "running",
    [DM_VM_EXITED] = "exited",
    [DM_VM_STOPPED] = "stopped",
};

static const DmChildOps vm_ops;

static DmVm *vm_of(DmChild *c)
{
    return (DmVm *)((char *)c - offsetof(DmVm, child));
}

DmVm *dm_vm_new(DmClient *c, const char *id)
{
    DmVm *vm = g_new0(DmVm, 1);

    /*
     * A directory each, its own files named without a dot, the caller's
     * ID.NAME: no two VMs' names, nor a file and ours, can be the same.
     */
    dm_child_init(&vm->child, c->l, &vm_ops, id,
                  dm_child_dir(c->l, "vms", id), c->vms,
                  DM_VM_START_TIMEOUT_MS);
    vm->c = c;
    vm->qmp_path = g_build_filename(vm->child.dir, "qmp", NULL);
    vm->files = g_ptr_array_new_with_free_func(g_free);
    vm->file_names = g_ptr_array_new_with_free_func(g_free);
    vm->state = DM_VM_STARTING;
    vm->qmp_fd = -1;
    return vm;
}

void dm_vm_free(DmVm *vm)
{
    dm_child_clear(&vm->child);
    if (vm->qmp_fd >= 0) {
        close(vm->qmp_fd);
    }
    if (vm->qmp) {
        dm_qmp_free(vm->qmp);
    }
    g_ptr_array_unref(vm->files);
    g_ptr_array_unref(vm->file_names);
    g_free(vm->qmp_error);
    g_free(vm->qmp_path);
    g_free(vm);
}

JsonObject *dm_vm_json(DmVm *vm)
{
    JsonObject *o = json_object_new();
    g_autofree char *qmp = g_strdup_printf("unix:%s", vm->qmp_path);

    json_object_set_string_member(o, "id", vm->child.id);
    json_object_set_string_member(o, "state", state_names[vm->state]);
    if (vm->child.proc.pid) {
        json_object_set_int_member(o, "pid", vm->child.proc.pid);
    } else {
        json_object_set_null_member(o, "pid");
    }
    json_object_set_string_member(o, "qmp", qmp);
    json_object_set_member(o, "exit",
                           dm_proc_exit_json(vm->child.exited,
                                             vm->child.status));
    return o;
}

int dm_vm_write_file(DmVm *vm, const char *name, const char *content,
                     char **ret_err)
{
    g_autofree char *base = g_strdup_printf("%s.%s", vm->child.id, name);
    g_autofree char *path = g_build_filename(vm->child.dir, base, NULL);
    size_t len = strlen(content);
    int fd, ret;

    ret = dm_dir_make_private(vm->child.dir, ret_err);
    if (ret < 0) {
        return ret;
    }
    fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
              0600);
    if (fd < 0) {
        ret = -errno;
        *ret_err = g_strdup_printf("cannot write %s: %s", path,
                                   g_strerror(errno));
        return ret;
    }
    /* An older file keeps its mode across O_TRUNC: tighten it. */
    errno = 0;
    if (fchmod(fd, 0600) < 0 || write(fd, content, len) != (ssize_t)len) {
        ret = errno ? -errno : -EIO;
        *ret_err = g_strdup_printf("cannot write %s: %s", path,
                                   g_strerror(-ret));
        close(fd);
        unlink(path);
        return ret;
    }
    close(fd);
    g_ptr_array_add(vm->files, g_steal_pointer(&path));
    g_ptr_array_add(vm->file_names, g_strdup(name));
    return 0;
}

static void vm_remove_files(DmVm *vm)
{
    guint i;

    unlink(vm->qmp_path);
    for (i = 0; i < vm->files->len; i++) {
        unlink(g_ptr_array_index(vm->files, i));
    }
    dm_record_remove(vm->child.dir);
}

static void vm_child_remove_files(DmChild *c)
{
    vm_remove_files(vm_of(c));
}

static void vm_write_record(DmVm *vm)
{
    JsonObject *o = json_object_new();
    JsonArray *files = json_array_new();
    g_autofree char *err = NULL;
    guint i;

    for (i = 0; i < vm->file_names->len; i++) {
        json_array_add_string_element(files,
                                      g_ptr_array_index(vm->file_names, i));
    }
    json_object_set_array_member(o, "files", files);
    if (dm_record_write(vm->child.dir, "vm", vm->child.id, &vm->child.proc,
                        o, &err) < 0) {
        dm_warn("vm %s: %s; a launcher restarted after a crash will not "
                "adopt it", vm->child.id, err);
    }
}

void dm_vm_discard(DmVm *vm)
{
    vm_remove_files(vm);
    dm_vm_free(vm);
}

/*
 * How long a QEMU whose QMP failed at start-up has to be seen exiting
 * (generous: on a loaded machine its teardown takes a while, and its
 * exit status and log say why it failed).
 */
#define DM_VM_EXIT_GRACE_MS 5000

static void vm_child_free(DmChild *c)
{
    dm_vm_free(vm_of(c));
}

static JsonObject *vm_child_json(DmChild *c)
{
    return dm_vm_json(vm_of(c));
}

/* Ready once QMP accepts a connection; that connection is kept. */
static int vm_probe(DmChild *c)
{
    DmVm *vm = vm_of(c);
    int fd = dm_unix_connect(vm->qmp_path);

    if (fd < 0) {
        return 0;
    }
    /* QEMU made it under our umask 077 in a 0700 directory: 0600 now. */
    chmod(vm->qmp_path, 0600);
    vm->qmp_fd = fd;
    return 1;
}

/* The start failed: answer 500 with @why and the log's tail, forget it. */
static void vm_start_error(DmVm *vm, const char *why)
{
    dm_child_start_failed(&vm->child, why, "the log ends");
}

/* QMP failed at start-up and QEMU has not exited meanwhile: give up. */
static gboolean vm_start_failed(gpointer opaque)
{
    DmVm *vm = opaque;
    g_autofree char *why = g_strdup_printf("QEMU did not answer QMP during "
                                           "start-up (%s)", vm->qmp_error);

    vm->child.probe_src = 0;
    dm_error("vm %s: no QMP answer during start-up: %s", vm->child.id,
             vm->qmp_error);
    vm_start_error(vm, why);
    return G_SOURCE_REMOVE;
}

/*
 * QMP answered: QEMU's main loop runs, so its devices are realized (a
 * remote device that cannot reach its model has failed QEMU by now).
 */
static void vm_answered(JsonNode *reply, const char *error, void *opaque)
{
    DmVm *vm = opaque;

    if (vm->child.forgotten || !vm->child.waiting) {
        return;                 /* answered already (it exited, say) */
    }
    if (!error) {
        vm->state = DM_VM_RUNNING;
        dm_info("vm %s running, pid %d", vm->child.id, vm->child.proc.pid);
        dm_child_answer(&vm->child, SOUP_STATUS_CREATED, dm_vm_json(vm));
        return;
    }
    /*
     * A QEMU that fails to start closes QMP just before it exits: give
     * its exit a moment to be seen, it says more (vm_exited answers).
     */
    vm->qmp_error = g_strdup(error);
    vm->child.probe_src = g_timeout_add(DM_VM_EXIT_GRACE_MS, vm_start_failed,
                                        vm);
}

static void vm_ready(DmChild *c, int ret)
{
    DmVm *vm = vm_of(c);
    g_autofree char *text = NULL;

    if (ret == 0) {
        /*
         * QMP accepts as soon as QEMU has made its socket, before the
         * machine is built: running is when QMP answers.
         */
        g_autoptr(JsonObject) cmd = json_object_new();

        vm->qmp = dm_qmp_new(vm->qmp_path, vm->qmp_fd);
        vm->qmp_fd = -1;
        json_object_set_string_member(cmd, "execute", "query-status");
        dm_qmp_execute(vm->qmp, cmd, vm_answered, vm);
        return;
    }
    text = g_strdup_printf("QMP did not accept connections within %d s",
                           DM_VM_START_TIMEOUT_MS / 1000);
    dm_error("vm %s: %s", c->id, text);
    vm_start_error(vm, text);
}

static void vm_exited(DmChild *c)
{
    DmVm *vm = vm_of(c);
    g_autofree char *text = dm_proc_exit_text(c->status);

    if (vm->state == DM_VM_STARTING) {
        g_autofree char *why = g_strdup_printf("QEMU %s during start-up",
                                               text);

        dm_error("vm %s failed to start: %s", c->id, text);
        vm_start_error(vm, why);
        return;
    }
    dm_info("vm %s exited: %s", c->id, text);
    vm->state = DM_VM_EXITED;
}

static const DmChildOps vm_ops = {
    .probe = vm_probe,
    .ready = vm_ready,
    .exited = vm_exited,
    .remove_files = vm_child_remove_files,
    .json = vm_child_json,
    .free = vm_child_free,
};

/* Does @dir also hold a server certificate and key (a TLS migration's target)? */
static bool vm_creds_have_server(const char *dir)
{
    g_autofree char *cert = g_build_filename(dir, "server-cert.pem", NULL);
    g_autofree char *key = g_build_filename(dir, "server-key.pem", NULL);

    return g_file_test(cert, G_FILE_TEST_IS_REGULAR) &&
           g_file_test(key, G_FILE_TEST_IS_REGULAR);
}

/* QEMU's argv: the fixed options, then @args with @STATE@ replaced. */
static GPtrArray *vm_argv(DmVm *vm, char **args)
{
    GPtrArray *argv = g_ptr_array_new_with_free_func(g_free);
    const char *creds = vm->child.l->model_tls_creds;
    char **a;

    g_ptr_array_add(argv, g_strdup(vm->c->qemu));
    g_ptr_array_add(argv, g_strdup("-name"));
    g_ptr_array_add(argv, g_strdup(vm->child.id));
    g_ptr_array_add(argv, g_strdup("-nodefaults"));
    g_ptr_array_add(argv, g_strdup("-display"));
    g_ptr_array_add(argv, g_strdup("none"));
    g_ptr_array_add(argv, g_strdup("-qmp"));
    g_ptr_array_add(argv, g_strdup_printf("unix:%s,server=on,wait=off",
                                          vm->qmp_path));
    if (creds) {
        /* The orchestrator names it in tls-creds= of -remote-device. */
        g_auto(GStrv) parts = g_strsplit(creds, ",", -1);
        g_autofree char *dir = g_strjoinv(",,", parts);

        g_ptr_array_add(argv, g_strdup("-object"));
        g_ptr_array_add(argv, g_strdup_printf("tls-creds-x509,"
                                              "id=dm-model-tls,"
                                              "endpoint=client,dir=%s",
                                              dir));
        /*
         * A migration target's end of a TLS migration stream, where the
         * directory has a server certificate for this host too (QEMU
         * loads the files at start-up).
         */
        if (vm_creds_have_server(creds)) {
            g_ptr_array_add(argv, g_strdup("-object"));
            g_ptr_array_add(argv, g_strdup_printf("tls-creds-x509,"
                                                  "id=dm-migrate-tls,"
                                                  "endpoint=server,"
                                                  "verify-peer=on,dir=%s",
                                                  dir));
        }
    }
    for (a = args; a && *a; a++) {
        g_auto(GStrv) parts = g_strsplit(*a, "@STATE@", -1);

        g_ptr_array_add(argv, g_strjoinv(vm->child.dir, parts));
    }
    g_ptr_array_add(argv, NULL);
    return argv;
}

int dm_vm_launch(DmVm *vm, char **args, SoupServerMessage *msg,
                 char **ret_err)
{
    g_autoptr(GPtrArray) argv = vm_argv(vm, args);
    int ret;

    dm_child_list(&vm->child);
    unlink(vm->qmp_path);
    ret = dm_child_spawn(&vm->child, (char **)argv->pdata, ret_err);
    if (ret < 0) {
        dm_child_unlist(&vm->child);
        dm_vm_discard(vm);
        return ret;
    }
    vm_write_record(vm);
    dm_child_defer(&vm->child, msg);
    return 0;
}

void dm_vm_stop(DmVm *vm, SoupServerMessage *msg)
{
    vm->state = DM_VM_STOPPED;
    dm_child_stop(&vm->child, msg, "vm");
}

static void vm_adopt_answered(JsonNode *reply, const char *error,
                              void *opaque)
{
    DmVm *vm = opaque;

    if (error) {
        dm_warn("vm %s: adopted, but QMP does not answer: %s", vm->child.id,
                error);
    }
}

int dm_vm_adopt(DmVm *vm, JsonObject *rec, pid_t pid, guint64 start)
{
    JsonNode *n = json_object_get_member(rec, "files");
    g_autoptr(JsonObject) cmd = json_object_new();
    guint i, len = 0;
    int ret;

    if (n && JSON_NODE_HOLDS_ARRAY(n)) {
        len = MIN(json_array_get_length(json_node_get_array(n)), 64);
    }
    for (i = 0; i < len; i++) {
        JsonNode *e = json_array_get_element(json_node_get_array(n), i);
        const char *name;

        if (!JSON_NODE_HOLDS_VALUE(e) ||
            json_node_get_value_type(e) != G_TYPE_STRING ||
            !vup_name_valid(name = json_node_get_string(e))) {
            continue;
        }
        g_ptr_array_add(vm->files, g_strdup_printf("%s/%s.%s",
                                                   vm->child.dir,
                                                   vm->child.id, name));
        g_ptr_array_add(vm->file_names, g_strdup(name));
    }
    ret = dm_child_adopt(&vm->child, pid, start);
    if (ret < 0) {
        dm_info("vm %s: no longer running, its record removed",
                vm->child.id);
        dm_vm_discard(vm);
        return ret;
    }
    dm_child_list(&vm->child);
    vm->state = DM_VM_RUNNING;
    /* Our predecessor's QMP connection went with it: QEMU takes ours. */
    vm->qmp = dm_qmp_new(vm->qmp_path, -1);
    json_object_set_string_member(cmd, "execute", "query-status");
    dm_qmp_execute(vm->qmp, cmd, vm_adopt_answered, vm);
    dm_info("vm %s adopted, pid %d", vm->child.id, pid);
    return 0;
}
