/*
 * dmctl: calling the API and showing its answer, for every command.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DMCTL_CALL_H
#define DMCTL_CALL_H

#include <glib.h>
#include <json-glib/json-glib.h>

/* Print the API's JSON (--json), or run @human on it. */
int dmctl_show(JsonNode *reply, void (*human)(JsonNode *reply));
/* @o (taken) as a node. */
JsonNode *dmctl_object_node(JsonObject *o);
/* The array member @key of the object @reply, or NULL. */
JsonArray *dmctl_member_array(JsonNode *reply, const char *key);
/* POST/GET/DELETE @path and show the answer. */
int dmctl_call(const char *method, const char *path, JsonNode *body,
               void (*human)(JsonNode *reply));
/* Subcommands whose only argument is a name: @fmt makes the path. */
int dmctl_named(int argc, char **argv, const char *cmd, const char *method,
                const char *fmt, void (*human)(JsonNode *reply));
/* Subcommands without arguments. */
int dmctl_plain(int argc, char **argv, const char *cmd, const char *path,
                void (*human)(JsonNode *reply));
/* A DELETE's answer: nothing to show. */
void dmctl_print_removed(JsonNode *reply);

#endif /* DMCTL_CALL_H */
