/*
 * dm-orchestrator: a VM's screen over a WebSocket (see display-ws.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "display-ws.h"
#include "log.h"
#include "records.h"
#include "records-bind.h"
#include "ws-upgrade.h"

/* A longer prefix than the console's "/v1/ws": libsoup picks this one. */
#define DISPLAY_WS_ROOT "/v1/ws/display"
#define DISPLAY_WS_PREFIX "/v1/ws/display/"
#define DISPLAY_WS_INFO "orch-display-info"

typedef struct DisplayWs {
    OrchWebAuth *auth;
    sqlite3 *db;
} DisplayWs;

/* The VM named in @path, or NULL if the path is not ours. */
static char *display_ws_vm(const char *path)
{
    const char *name = path + strlen(DISPLAY_WS_PREFIX);

    if (!g_str_has_prefix(path, DISPLAY_WS_PREFIX) || !*name ||
        strchr(name, '/')) {
        return NULL;
    }
    return g_uri_unescape_string(name, "/");
}

/*
 * The launcher and instance of @vm's display: the first device, not a
 * console, whose placement has a console address (a VNC one,
 * placement.c), as vm.c's "vnc".  Read through the thread's view
 * (records.h): the VMs' and placements' documents are the truth.
 */
static JsonObject *display_ws_find(sqlite3 *db, const char *vm,
                                   guint *status, char **error)
{
    g_autoptr(JsonObject) doc = orch_rec_vm(db, vm);
    JsonArray *devs = doc ? json_object_get_array_member(doc, "devices") :
        NULL;

    if (!doc) {
        *status = 404;
        *error = g_strdup_printf("no VM '%s'", vm);
        return NULL;
    }
    for (guint i = 0; devs && i < json_array_get_length(devs); i++) {
        JsonObject *d = json_array_get_object_element(devs, i);
        g_autoptr(JsonObject) p = NULL;
        g_autoptr(JsonObject) s = NULL;
        JsonObject *o;

        if (json_object_get_boolean_member_with_default(d, "console",
                                                        FALSE)) {
            continue;
        }
        p = orch_rec_placement(db, vm, orch_rec_str(d, "name"));
        if (!orch_rec_str(p, "console") || !orch_rec_str(p, "instance")) {
            continue;
        }
        s = orch_rec_platform(db, orch_rec_str(p, "server"));
        if (!orch_rec_str(s, "address")) {
            continue;
        }
        o = json_object_new();
        json_object_set_string_member(o, "server_address",
                                      orch_rec_str(s, "address"));
        json_object_set_string_member(o, "instance",
                                      orch_rec_str(p, "instance"));
        return o;
    }
    *status = 409;
    *error = g_strdup_printf("VM '%s' has no placed display (it is %s)",
                             vm, orch_rec_str(doc, "state"));
    return NULL;
}

/* Before the upgrade: any status set here refuses it. */
static void display_ws_check(SoupServer *soup, SoupServerMessage *msg,
                             const char *path, GHashTable *query,
                             gpointer opaque)
{
    DisplayWs *d = opaque;
    g_autofree char *vm = display_ws_vm(path);
    g_autofree char *error = NULL;
    guint status = 0;
    OrchStoreView *reads = NULL;
    JsonObject *o;

    if (!orch_ws_allowed(d->auth, msg, path)) {
        return;
    }
    if (!vm) {
        orch_ws_fail(msg, 404, "no such endpoint");
        return;
    }
    /* Through a view of its own, never committed (records-bind.h). */
    orch_rec_twin_bind(&reads);
    o = display_ws_find(d->db, vm, &status, &error);
    orch_rec_twin_bind(NULL);
    g_clear_pointer(&reads, orch_view_free);
    if (!o) {
        orch_ws_fail(msg, status, error);
        return;
    }
    g_object_set_data_full(G_OBJECT(msg), DISPLAY_WS_INFO, o,
                           (GDestroyNotify)json_object_unref);
}

static void display_ws_open(SoupServer *soup, SoupServerMessage *msg,
                            const char *path, SoupWebsocketConnection *ws,
                            gpointer opaque)
{
    JsonObject *info = g_object_get_data(G_OBJECT(msg), DISPLAY_WS_INFO);
    g_autofree char *vm = display_ws_vm(path);
    g_autofree char *lpath = NULL;
    g_autofree char *what = NULL;
    const char *launcher, *inst;

    launcher = info ? json_object_get_string_member(info, "server_address")
                    : NULL;
    inst = info ? json_object_get_string_member(info, "instance") : NULL;
    if (!vm || !launcher || !inst) {
        soup_websocket_connection_close(ws, SOUP_WEBSOCKET_CLOSE_NORMAL,
                                        "no display");
        return;
    }
    lpath = g_strdup_printf("/v1/ws/instances/%s/display", inst);
    what = g_strdup_printf("display of %s", vm);
    orch_ws_via_launcher(ws, launcher, lpath, what);
}

void orch_display_ws_setup(SoupServer *soup, OrchWebAuth *auth,
                           sqlite3 *db)
{
    DisplayWs *d = g_new0(DisplayWs, 1);

    d->auth = auth;
    d->db = db;
    soup_server_add_handler(soup, DISPLAY_WS_ROOT, display_ws_check, d,
                            g_free);
    soup_server_add_websocket_handler(soup, DISPLAY_WS_ROOT, NULL, NULL,
                                      display_ws_open, NULL, NULL);
}
