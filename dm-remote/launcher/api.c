/*
 * The launcher's API: requests routed to the role's endpoints,
 * /v1/health, and /metrics (metrics.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "api.h"
#include "console-ws.h"
#include "http.h"
#include "instances.h"
#include "metrics.h"
#include "pairing.h"
#include "routes.h"
#include "vms.h"

JsonObject *dm_api_health(DmApi *a)
{
    DmLauncher *l = a->l;
    JsonObject *o = json_object_new();

    json_object_set_string_member(o, "platform", l->platform_id);
    json_object_set_string_member(o, "role", l->role == DM_ROLE_SERVER ?
                                  "server" : "client");
    /* Server: its TCP models speak TLS; client: its QEMUs can. */
    json_object_set_boolean_member(o, "model_tls",
                                   l->model_tls_creds != NULL);
    if (l->role == DM_ROLE_SERVER) {
        dm_instances_health(a->server, o);
        dm_routes_health(a->server, o);
    } else {
        dm_vms_health(a->client, o);
    }
    return o;
}

static void api_health(DmApi *a, SoupServerMessage *msg)
{
    if (dm_http_want_method(msg, "GET") < 0) {
        return;
    }
    dm_http_reply_object(msg, SOUP_STATUS_OK, dm_api_health(a));
}

/*
 * /v1/health, /v1/instances[/ID], /v1/routes[/ID] and /v1/displays
 * (server),
 * /v1/vms[/ID[/qmp|/events]] (client).  Ids in paths are checked here
 * once for every endpoint.
 */
static void api_route(SoupServer *server, SoupServerMessage *msg,
                       const char *path, GHashTable *query, gpointer opaque)
{
    DmApi *a = opaque;
    DmRole role = a->l->role;
    g_auto(GStrv) seg = NULL;
    guint n;
    const char *coll;

    if (strcmp(path, "/metrics") == 0) {
        dm_metrics_serve(a->l, a->server, a->client, msg);
        return;
    }
    if (!g_str_has_prefix(path, "/v1/")) {
        dm_http_error(msg, SOUP_STATUS_NOT_FOUND, "no such path: %s", path);
        return;
    }
    /* Before anything is read or done: a fenced leader acts on nothing. */
    if (!dm_fence_check(&a->fence, msg)) {
        return;
    }
    seg = g_strsplit(path + 4, "/", 0);
    n = g_strv_length(seg);
    if (n == 1 && strcmp(seg[0], "health") == 0) {
        api_health(a, msg);
        return;
    }
    if (n == 1 && role == DM_ROLE_SERVER &&
        strcmp(seg[0], "displays") == 0) {
        dm_pairing_handle(a->server, msg);
        return;
    }
    coll = role == DM_ROLE_CLIENT ? "vms" :
           n > 0 && strcmp(seg[0], "routes") == 0 ? "routes" : "instances";
    if (n == 0 || n > 3 || strcmp(seg[0], coll) != 0 ||
        (n > 1 && !seg[1][0]) ||
        (n == 3 && (role == DM_ROLE_SERVER ||
                    (strcmp(seg[2], "qmp") != 0 &&
                     strcmp(seg[2], "events") != 0)))) {
        dm_http_error(msg, SOUP_STATUS_NOT_FOUND, "no such path on a %s "
                      "platform: %s",
                      role == DM_ROLE_SERVER ? "server" : "client", path);
        return;
    }
    if (n > 1 && !vup_name_valid(seg[1])) {
        dm_http_error(msg, SOUP_STATUS_BAD_REQUEST, "bad id '%s' (1 to %d "
                      "characters of A-Z a-z 0-9 . _ -)", seg[1], VUP_NAME_MAX);
        return;
    }
    if (role == DM_ROLE_SERVER && strcmp(coll, "routes") == 0) {
        dm_routes_handle(a->server, msg, n > 1 ? seg[1] : NULL);
    } else if (role == DM_ROLE_SERVER) {
        dm_instances_handle(a->server, msg, n > 1 ? seg[1] : NULL);
    } else {
        dm_vms_handle(a->client, msg, n > 1 ? seg[1] : NULL,
                      n > 2 ? seg[2] : NULL);
    }
}

void dm_api_attach(SoupServer *soup, DmApi *api)
{
    soup_server_add_handler(soup, NULL, api_route, api, NULL);
    if (api->server) {
        dm_console_ws_attach(soup, api->server);
    }
}
