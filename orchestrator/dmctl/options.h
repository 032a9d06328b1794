/*
 * dmctl's options, exit statuses and the argument parsing its
 * subcommands share (options.c).  dmctl.c dispatches to one file per
 * object it manages (platforms.c, vms.c, dms.c, events.c, console.c),
 * over call.c and api.c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DMCTL_OPTIONS_H
#define DMCTL_OPTIONS_H

#include <stdbool.h>
#include <glib.h>
#include <json-glib/json-glib.h>

/* Exit statuses. */
#define DMCTL_OK 0
#define DMCTL_FAIL 1            /* the API or a peer said no */
#define DMCTL_USAGE 2

extern const char *arg_orchestrator;
extern bool arg_json;

/* dmctl.c: argument parsing shared by the subcommands */
struct option;
int dmctl_getopt(int argc, char **argv, const char *shortopts,
                 const struct option *opts, const char *cmd);
const char *dmctl_one_name(int argc, char **argv, const char *cmd);

#endif /* DMCTL_OPTIONS_H */
