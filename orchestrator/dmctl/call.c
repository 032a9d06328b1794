/*
 * dmctl: calling the API and showing its answer, for every command.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <getopt.h>
#include <stdio.h>

#include "api.h"
#include "call.h"
#include "options.h"

int dmctl_show(JsonNode *reply, void (*human)(JsonNode *reply))
{
    if (arg_json) {
        dmctl_print_json(reply);
    } else if (human) {
        human(reply);
    }
    return DMCTL_OK;
}

JsonNode *dmctl_object_node(JsonObject *o)
{
    JsonNode *n = json_node_new(JSON_NODE_OBJECT);

    json_node_take_object(n, o);
    return n;
}

JsonArray *dmctl_member_array(JsonNode *reply, const char *key)
{
    JsonObject *o;

    if (!JSON_NODE_HOLDS_OBJECT(reply)) {
        return NULL;
    }
    o = json_node_get_object(reply);
    if (!json_object_has_member(o, key) ||
        !JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, key))) {
        return NULL;
    }
    return json_object_get_array_member(o, key);
}

int dmctl_call(const char *method, const char *path, JsonNode *body,
               void (*human)(JsonNode *reply))
{
    g_autoptr(JsonNode) reply = NULL;
    int ret = dmctl_api(method, path, body, &reply);

    if (ret != DMCTL_OK) {
        return ret;
    }
    return dmctl_show(reply, human);
}

int dmctl_named(int argc, char **argv, const char *cmd, const char *method,
                const char *fmt, void (*human)(JsonNode *reply))
{
    g_autofree char *path = NULL;
    const char *name;

    if (dmctl_getopt(argc, argv, ":", (struct option[]){ { 0 } }, cmd) !=
        -1) {
        return DMCTL_USAGE;
    }
    name = dmctl_one_name(argc, argv, cmd);
    if (!name) {
        return DMCTL_USAGE;
    }
    path = g_strdup_printf(fmt, name);
    return dmctl_call(method, path, NULL, human);
}

int dmctl_plain(int argc, char **argv, const char *cmd, const char *path,
                void (*human)(JsonNode *reply))
{
    if (dmctl_getopt(argc, argv, ":", (struct option[]){ { 0 } }, cmd) !=
        -1) {
        return DMCTL_USAGE;
    }
    if (optind < argc) {
        fprintf(stderr, "dmctl %s: unexpected argument '%s'\n", cmd,
                argv[optind]);
        return DMCTL_USAGE;
    }
    return dmctl_call("GET", path, NULL, human);
}

void dmctl_print_removed(JsonNode *reply)
{
}

