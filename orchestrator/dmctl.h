/*
 * dmctl: the orchestrator's command-line client.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DMCTL_H
#define DMCTL_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

/* Exit statuses. */
#define DMCTL_OK 0
#define DMCTL_FAIL 1            /* the API or a peer said no */
#define DMCTL_USAGE 2

extern const char *arg_orchestrator;
extern bool arg_json;

/* dmctl-api.c */
/* Talk HTTPS with the credentials in @dir; DMCTL_USAGE if unusable. */
int dmctl_api_tls(const char *dir);
/*
 * @method @path with @body (may be NULL).  On a 2xx answer return 0 and
 * its JSON; otherwise print "dmctl: ERROR" and return DMCTL_FAIL.
 */
int dmctl_api(const char *method, const char *path, JsonNode *body,
              JsonNode **ret_reply);
/* The same for a POST that takes long: @progress runs every @period_ms
 * meanwhile (a GET of @poll_path, its answer passed to @progress). */
int dmctl_api_watch(const char *method, const char *path, JsonNode *body,
                    const char *poll_path,
                    void (*progress)(JsonObject *o), JsonNode **ret_reply);
/* Print @node as JSON on stdout. */
void dmctl_print_json(JsonNode *node);

/* dmctl.c: argument parsing shared by the subcommands */
struct option;
int dmctl_getopt(int argc, char **argv, const char *shortopts,
                 const struct option *opts, const char *cmd);
const char *dmctl_one_name(int argc, char **argv, const char *cmd);

/* dmctl-cmds.c: the subcommands; argv[0] is the subcommand's name */
int dmctl_platform_add(int argc, char **argv);
int dmctl_platform_list(int argc, char **argv);
int dmctl_platform_remove(int argc, char **argv);
int dmctl_vm_create(int argc, char **argv);
int dmctl_vm_start(int argc, char **argv);
int dmctl_vm_stop(int argc, char **argv);
int dmctl_vm_suspend(int argc, char **argv);
int dmctl_vm_resume(int argc, char **argv);
int dmctl_vm_migrate(int argc, char **argv);
int dmctl_vm_save(int argc, char **argv);
int dmctl_vm_restore(int argc, char **argv);
int dmctl_vm_list(int argc, char **argv);
int dmctl_vm_show(int argc, char **argv);
int dmctl_vm_remove(int argc, char **argv);
int dmctl_dm_list(int argc, char **argv);
int dmctl_console(int argc, char **argv);

/* dmctl-events.c */
int dmctl_events(int argc, char **argv);

/* dmctl-table.c */
typedef struct DmctlColumn {
    const char *title;
    const char *key;            /* member of each row object */
} DmctlColumn;

/* An aligned table of @rows (objects), one column per entry. */
void dmctl_table(const DmctlColumn *cols, size_t ncols, JsonArray *rows);
/* A member as text: strings as is, null as "-", arrays joined by ','. */
char *dmctl_cell(JsonObject *o, const char *key);

/* dmctl-console.c */
/* Attach stdin/stdout to the console at @address until Ctrl-]. */
int dmctl_console_attach(const char *vm, const char *address);

#endif /* DMCTL_H */
