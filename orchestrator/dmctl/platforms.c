/*
 * dmctl platform ...: the client and server platforms.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "call.h"
#include "options.h"
#include "platforms.h"
#include "table.h"

static void print_platforms(JsonNode *reply)
{
    static const DmctlColumn cols[] = {
        { "NAME", "name" }, { "ROLE", "role" }, { "ADDRESS", "address" },
        { "CAPACITY", "capacity" }, { "RUNNING", "running" },
        { "MODEL-TLS", "model_tls" }, { "MODELS", "models" },
    };

    dmctl_table(cols, G_N_ELEMENTS(cols),
                dmctl_member_array(reply, "platforms"));
}

static void print_platform(JsonNode *reply)
{
    JsonObject *o = json_node_get_object(reply);
    g_autofree char *name = dmctl_cell(o, "name");
    g_autofree char *role = dmctl_cell(o, "role");
    g_autofree char *address = dmctl_cell(o, "address");

    printf("platform %s: %s at %s\n", name, role, address);
}

int dmctl_platform_add(int argc, char **argv)
{
    static const struct option opts[] = {
        { "role", required_argument, NULL, 'r' },
        { "address", required_argument, NULL, 'a' },
        { "capacity", required_argument, NULL, 'c' },
        { "models", required_argument, NULL, 'm' },
        { "hypervisor", required_argument, NULL, 'H' },
        { NULL, 0, NULL, 0 },
    };
    g_autoptr(JsonObject) o = json_object_new();
    g_autoptr(JsonNode) body = NULL;
    const char *name;
    char *end;
    int c;

    while ((c = dmctl_getopt(argc, argv, ":", opts, "platform add")) != -1) {
        switch (c) {
        case 'r':
            if (strcmp(optarg, "client") && strcmp(optarg, "server")) {
                fprintf(stderr, "dmctl platform add: --role must be client "
                        "or server, not '%s'\n", optarg);
                return DMCTL_USAGE;
            }
            json_object_set_string_member(o, "role", optarg);
            break;
        case 'a':
            json_object_set_string_member(o, "address", optarg);
            break;
        case 'c':
            errno = 0;
            json_object_set_int_member(o, "capacity",
                                       strtoll(optarg, &end, 10));
            if (!*optarg || *end || errno ||
                json_object_get_int_member(o, "capacity") < 0) {
                fprintf(stderr, "dmctl platform add: --capacity must be a "
                        "number >= 0, not '%s'\n", optarg);
                return DMCTL_USAGE;
            }
            break;
        case 'm': {
            g_auto(GStrv) models = g_strsplit(optarg, ",", -1);
            JsonArray *a = json_array_new();
            size_t i;

            for (i = 0; models[i]; i++) {
                json_array_add_string_element(a, models[i]);
            }
            json_object_set_array_member(o, "models", a);
            break;
        }
        case 'H':
            json_object_set_string_member(o, "hypervisor", optarg);
            break;
        default:
            return DMCTL_USAGE;
        }
    }
    name = dmctl_one_name(argc, argv, "platform add");
    if (!name) {
        return DMCTL_USAGE;
    }
    if (!json_object_has_member(o, "role") ||
        !json_object_has_member(o, "address")) {
        fprintf(stderr, "dmctl platform add: --role and --address are "
                "required\n");
        return DMCTL_USAGE;
    }
    json_object_set_string_member(o, "name", name);
    body = dmctl_object_node(json_object_ref(o));
    return dmctl_call("POST", "/v1/platforms", body, print_platform);
}

int dmctl_platform_list(int argc, char **argv)
{
    return dmctl_plain(argc, argv, "platform list", "/v1/platforms",
                       print_platforms);
}

int dmctl_platform_remove(int argc, char **argv)
{
    return dmctl_named(argc, argv, "platform remove", "DELETE",
                       "/v1/platforms/%s", dmctl_print_removed);
}

