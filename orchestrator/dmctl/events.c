/*
 * dmctl events: the orchestrator's log of what happened to the VMs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "options.h"
#include "events.h"
#include "table.h"

static void print_events(JsonNode *reply)
{
    static const DmctlColumn cols[] = {
        { "ID", "id" }, { "TIME", "time" }, { "VM", "vm" },
        { "EVENT", "message" },
    };
    JsonObject *o = JSON_NODE_HOLDS_OBJECT(reply) ?
                    json_node_get_object(reply) : NULL;

    if (o && json_object_has_member(o, "events") &&
        JSON_NODE_HOLDS_ARRAY(json_object_get_member(o, "events"))) {
        dmctl_table(cols, G_N_ELEMENTS(cols),
                    json_object_get_array_member(o, "events"));
    }
}

/* A decimal number of at most 18 digits (a gint64), the whole of @s. */
static bool events_number(const char *s)
{
    size_t n = strspn(s, "0123456789");

    return n > 0 && n <= 18 && !s[n];
}

int dmctl_events(int argc, char **argv)
{
    static const struct option opts[] = {
        { "vm", required_argument, NULL, 'v' },
        { "since", required_argument, NULL, 's' },
        { "limit", required_argument, NULL, 'l' },
        { NULL, 0, NULL, 0 },
    };
    const char *vm = NULL, *since = NULL, *limit = NULL;
    g_autoptr(GString) path = g_string_new("/v1/");
    g_autoptr(JsonNode) reply = NULL;
    char sep = '?';
    int c, ret;

    while ((c = dmctl_getopt(argc, argv, ":", opts, "events")) != -1) {
        switch (c) {
        case 'v':
            vm = optarg;
            break;
        case 's':
        case 'l':
            if (!events_number(optarg)) {
                fprintf(stderr, "dmctl events: --%s needs a number, not "
                        "'%s'\n", c == 's' ? "since" : "limit", optarg);
                return DMCTL_USAGE;
            }
            *(c == 's' ? &since : &limit) = optarg;
            break;
        default:
            return DMCTL_USAGE;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dmctl events: unexpected argument '%s'\n",
                argv[optind]);
        return DMCTL_USAGE;
    }
    if (vm) {
        g_autofree char *escaped = g_uri_escape_string(vm, NULL, FALSE);

        g_string_append_printf(path, "vms/%s/", escaped);
    }
    g_string_append(path, "events");
    if (since) {
        g_string_append_printf(path, "%csince=%s", sep, since);
        sep = '&';
    }
    if (limit) {
        g_string_append_printf(path, "%climit=%s", sep, limit);
    }
    ret = dmctl_api("GET", path->str, NULL, &reply);
    if (ret != DMCTL_OK) {
        return ret;
    }
    if (arg_json) {
        dmctl_print_json(reply);
    } else {
        print_events(reply);
    }
    return DMCTL_OK;
}
