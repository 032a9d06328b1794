/*
 * dm-orchestrator: the HTTP/JSON API server (see server.h for threads).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <libsoup/soup.h>

#include "console-ws.h"
#include "display-ws.h"
#include "events.h"
#include "json-http.h"
#include "lifecycle.h"
#include "lead.h"
#include "log.h"
#include "metrics.h"
#include "migrate.h"
#include "openapi.h"
#include "platforms.h"
#include "records-bind.h"
#include "request.h"
#include "save.h"
#include "server.h"
#include "soup-limits.h"
#include "stream.h"
#include "vms.h"

/* Bodies are small JSON objects; refuse anything absurd. */
#define SERVER_MAX_BODY DM_SOUP_MAX_BODY

typedef struct OrchRoute {
    const char *method;
    const char *pattern;        /* segments after /v1; '*' is one name */
    OrchHandler handler;
    bool read_only;             /* DB reads only: run on the main thread */
} OrchRoute;

static const OrchRoute server_routes[] = {
    { "GET", "platforms", orch_platform_list, true },
    { "POST", "platforms", orch_platform_add, false },
    { "GET", "platforms/*", orch_platform_get, true },
    { "DELETE", "platforms/*", orch_platform_remove, false },
    { "GET", "vms", orch_vm_list, true },
    { "POST", "vms", orch_vm_create, false },
    { "GET", "vms/*", orch_vm_get, true },
    { "DELETE", "vms/*", orch_vm_remove, false },
    { "POST", "vms/*/start", orch_vm_start, false },
    { "POST", "vms/*/stop", orch_vm_stop, false },
    { "POST", "vms/*/suspend", orch_vm_suspend, false },
    { "POST", "vms/*/resume", orch_vm_resume, false },
    { "POST", "vms/*/devices/*/link", orch_vm_device_link, false },
    { "POST", "vms/*/migrate", orch_vm_migrate, false },
    { "POST", "vms/*/save", orch_vm_save, false },
    { "POST", "vms/*/restore", orch_vm_restore, false },
    { "GET", "vms/*/console", orch_vm_console, true },
    { "GET", "vms/*/events", orch_vm_events, true },
    { "GET", "events", orch_event_list, true },
    { "GET", "dms", orch_dm_list, false },
    { "GET", "openapi.json", orch_openapi_get, true },
};

/*
 * Requests that write or call launchers at once; more wait their turn.
 * Each may wait up to --launcher-timeout for a launcher.
 */
#define SERVER_WORKERS 16

struct OrchServer {
    SoupServer *soup;
    sqlite3 *db_main;
    sqlite3 *db_worker;
    GThreadPool *worker;
    OrchServerWeb web;          /* owned */
    OrchStream *stream;
};

typedef struct ServerJob {
    OrchServer *server;
    SoupServerMessage *msg;
    const OrchRoute *route;
    char *path;
    OrchRequest req;
} ServerJob;

static void server_job_free(ServerJob *job)
{
    g_object_unref(job->msg);
    g_free(job->path);
    g_strfreev(job->req.seg);
    if (job->req.body) {
        json_object_unref(job->req.body);
    }
    if (job->req.reply) {
        json_node_unref(job->req.reply);
    }
    g_free(job->req.error);
    /* Committed or dropped at the section's end; a main-thread one here. */
    g_clear_pointer(&job->req.view, orch_view_free);
    if (job->req.query) {
        g_hash_table_unref(job->req.query);
    }
    g_free(job);
}

static bool server_route_matches(const OrchRoute *route, char **seg,
                                 guint nseg)
{
    g_auto(GStrv) pat = g_strsplit(route->pattern, "/", -1);
    guint i;

    if (g_strv_length(pat) != nseg) {
        return false;
    }
    for (i = 0; i < nseg; i++) {
        if (strcmp(pat[i], "*") != 0 && strcmp(pat[i], seg[i]) != 0) {
            return false;
        }
    }
    return true;
}

/* The segments of @path after "/v1", percent-decoded; NULL if not API. */
static char **server_split_path(const char *path, guint *ret_n)
{
    g_auto(GStrv) parts = g_strsplit(path, "/", -1);
    GPtrArray *seg = g_ptr_array_new();
    guint i;

    if (!parts[0] || parts[0][0] || !parts[1] ||
        strcmp(parts[1], "v1") != 0) {
        g_ptr_array_free(seg, TRUE);
        return NULL;
    }
    for (i = 2; parts[i]; i++) {
        char *s = g_uri_unescape_string(parts[i], "/");

        if (!s) {
            g_ptr_array_free(seg, TRUE);
            return NULL;
        }
        if (*s) {
            g_ptr_array_add(seg, s);
        } else {
            g_free(s);
        }
    }
    *ret_n = seg->len;
    g_ptr_array_add(seg, NULL);
    return (char **)g_ptr_array_free(seg, FALSE);
}

/*
 * Run a main-thread handler (a GET): its reads through a view of its
 * own, never committed; no SQL (the records are on the store).
 */
static void server_run(ServerJob *job, sqlite3 *db)
{
    OrchRequest *r = &job->req;
    OrchStoreView *reads = NULL;
    int ret;

    r->db = db;
    r->status = 200;
    orch_rec_twin_bind(&reads);
    orch_request_reads_begin();
    ret = job->route->handler(r);
    orch_request_check_reads(r);
    orch_rec_twin_bind(NULL);
    g_clear_pointer(&reads, orch_view_free);
    if (ret < 0 && !r->error) {
        orch_fail(r, 500, "internal error (%s)", g_strerror(-ret));
    }
}

/*
 * The same on a worker, in the shared database section (request.c):
 * launcher calls let other requests in, so a mute launcher stalls only
 * the requests that need it.
 */
static void server_run_worker(ServerJob *job, sqlite3 *db)
{
    OrchRequest *r = &job->req;
    int ret;

    r->status = 200;
    if (orch_db_section_begin(r, db) < 0) {
        return;
    }
    orch_request_reads_begin();
    ret = job->route->handler(r);
    orch_request_check_reads(r);
    orch_request_finish(r, ret);
}

/*
 * Requests on one VM run one at a time, in arrival order at the worker
 * pool: each may read the VM in one section and write it in a later one.
 */
static GMutex server_vm_lock;
static GCond server_vm_cond;
static GHashTable *server_vm_busy;      /* VM names being worked on */

static const char *server_vm_key(ServerJob *job)
{
    return job->req.nseg >= 2 && strcmp(job->req.seg[0], "vms") == 0 ?
        job->req.seg[1] : NULL;
}

static void server_vm_claim(const char *vm)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&server_vm_lock);

    if (!server_vm_busy) {
        server_vm_busy = g_hash_table_new_full(g_str_hash, g_str_equal,
                                               g_free, NULL);
    }
    while (g_hash_table_contains(server_vm_busy, vm)) {
        g_cond_wait(&server_vm_cond, &server_vm_lock);
    }
    g_hash_table_add(server_vm_busy, g_strdup(vm));
}

static void server_vm_release(const char *vm)
{
    g_autoptr(GMutexLocker) locker = g_mutex_locker_new(&server_vm_lock);

    g_hash_table_remove(server_vm_busy, vm);
    g_cond_broadcast(&server_vm_cond);
}

static void server_respond(ServerJob *job)
{
    OrchRequest *r = &job->req;
    g_autoptr(JsonNode) node = NULL;

    if (r->error) {
        JsonObject *o = json_object_new();

        json_object_set_string_member(o, "error", r->error);
        node = json_node_new(JSON_NODE_OBJECT);
        json_node_take_object(node, o);
        orch_info("%s %s: %u %s", r->method,
                  job->path, r->status,
                  r->error);
    } else {
        node = r->reply ? json_node_ref(r->reply) :
            json_node_new(JSON_NODE_OBJECT);
        if (JSON_NODE_HOLDS_OBJECT(node) && !json_node_get_object(node)) {
            json_node_take_object(node, json_object_new());
        }
        orch_debug("%s %s: %u", r->method,
                   job->path, r->status);
    }
    dm_json_http_respond(job->msg, r->status, node, true);
    orch_metrics_count(r->method, job->route ? job->route->pattern : NULL,
                       r->status);
}

static gboolean server_finish_cb(gpointer opaque)
{
    ServerJob *job = opaque;

    server_respond(job);
    soup_server_message_unpause(job->msg);
    server_job_free(job);
    return G_SOURCE_REMOVE;
}

static void server_worker(gpointer data, gpointer user_data)
{
    ServerJob *job = data;
    const char *vm = server_vm_key(job);

    if (vm) {
        server_vm_claim(vm);
    }
    server_run_worker(job, job->server->db_worker);
    if (vm) {
        server_vm_release(vm);
    }
    g_main_context_invoke(NULL, server_finish_cb, job);
}

/* Parse the body into the request; false (and a 4xx) if unusable. */
static bool server_parse_body(SoupServerMessage *msg, OrchRequest *r)
{
    SoupMessageBody *body = soup_server_message_get_request_body(msg);
    g_autoptr(GError) err = NULL;

    if (!body || body->length == 0) {
        return true;
    }
    if (body->length > SERVER_MAX_BODY) {
        orch_fail(r, 413, "body larger than %d bytes", SERVER_MAX_BODY);
        return false;
    }
    r->body = dm_json_http_parse_object(body->data, body->length, &err);
    if (!r->body) {
        orch_fail(r, err->code, "%s", err->message);
        return false;
    }
    return true;
}

/* Find the route; false with 404/405 set on @r if there is none. */
static const OrchRoute *server_route(SoupServerMessage *msg, const char *path,
                                     OrchRequest *r)
{
    g_autoptr(GString) allow = g_string_new(NULL);
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(server_routes); i++) {
        const OrchRoute *route = &server_routes[i];

        if (!server_route_matches(route, r->seg, r->nseg)) {
            continue;
        }
        if (strcmp(route->method, r->method) == 0) {
            return route;
        }
        g_string_append_printf(allow, "%s%s", allow->len ? ", " : "",
                               route->method);
    }
    if (allow->len) {
        soup_message_headers_replace(
            soup_server_message_get_response_headers(msg), "Allow",
            allow->str);
        orch_fail(r, 405, "method %s not allowed on %s (allowed: %s)",
                  r->method, path, allow->str);
    } else {
        orch_fail(r, 404, "no such endpoint: %s",
                  path);
    }
    return NULL;
}

static void server_handler(SoupServer *soup, SoupServerMessage *msg,
                           const char *path, GHashTable *query,
                           gpointer opaque)
{
    OrchServer *s = opaque;
    g_autofree char *why = NULL;
    ServerJob *job;
    OrchRequest *r;
    guint status;

    if (!orch_web_auth_ok(s->web.auth, msg)) {
        if (strcmp(path, "/login") == 0) {
            orch_web_auth_login(s->web.auth, msg);
        } else {
            orch_web_auth_refuse(s->web.auth, msg, path);
        }
        return;
    }
    /* What is not the JSON API: the stream, the login, the pages. */
    if (strcmp(path, "/v1/events/stream") == 0 &&
        strcmp(soup_server_message_get_method(msg), "GET") == 0) {
        orch_stream_open(s->stream, msg, query);
        return;
    }
    if (strcmp(path, "/login") == 0) {
        orch_web_auth_login(s->web.auth, msg);
        return;
    }
    if (strcmp(path, "/metrics") == 0) {
        orch_metrics_serve(msg, s->db_main);
        return;
    }
    if (s->web.files && !g_str_has_prefix(path, "/v1/") &&
        strcmp(path, "/v1") != 0) {
        orch_web_files_serve(s->web.files, msg, path);
        return;
    }
    job = g_new0(ServerJob, 1);
    r = &job->req;
    job->server = s;
    job->msg = g_object_ref(msg);
    job->path = g_strdup(path);
    r->method = soup_server_message_get_method(msg);
    r->query = query ? g_hash_table_ref(query) : NULL;
    r->seg = server_split_path(path, &r->nseg);
    if (!r->seg) {
        r->seg = g_new0(char *, 1);
        orch_fail(r, 404, "no such endpoint: %s", path);
    } else {
        job->route = server_route(msg, path, r);
    }
    if (!job->route || !server_parse_body(msg, r)) {
        server_respond(job);
        server_job_free(job);
        return;
    }
    if (job->route->read_only) {
        server_run(job, s->db_main);
        server_respond(job);
        server_job_free(job);
        return;
    }
    /* Writes on the leader alone: a follower names it (lead.h). */
    status = orch_lead_refusal(soup_server_message_get_response_headers(msg),
                               &why);
    if (status) {
        orch_fail(r, status, "%s", why);
        server_respond(job);
        server_job_free(job);
        return;
    }
    soup_server_message_pause(msg);
    g_thread_pool_push(s->worker, job, NULL);
}

/* Refused TLS clients, from soup-tls.c. */
static void server_tls_log(const char *line, gpointer opaque)
{
    orch_warn("%s", line);
}

OrchServer *orch_server_new(GSocket *listener, const DmSoupTlsCreds *tls,
                            sqlite3 *db_main, sqlite3 *db_worker,
                            const OrchServerWeb *web, GError **errp)
{
    OrchServer *s = g_new0(OrchServer, 1);
    SoupServerListenOptions how = 0;

    s->db_main = db_main;
    s->db_worker = db_worker;
    s->web = *web;
    s->stream = orch_stream_new();
    s->soup = soup_server_new("server-header", "dm-orchestrator", NULL);
    s->worker = g_thread_pool_new(server_worker, s, SERVER_WORKERS, TRUE,
                                  errp);
    if (!s->worker) {
        g_object_unref(s->soup);
        g_free(s);
        return NULL;
    }
    soup_server_add_handler(s->soup, NULL, server_handler, s, NULL);
    orch_console_ws_setup(s->soup, s->web.auth, s->db_main);
    orch_display_ws_setup(s->soup, s->web.auth, s->db_main);
    dm_soup_limits_setup(s->soup, SERVER_MAX_BODY, DM_SOUP_MAX_CONNECTIONS,
                         server_tls_log, NULL);
    if (tls) {
        how = dm_soup_tls_server_setup(s->soup, tls, server_tls_log, NULL);
    }
    orch_web_auth_setup(s->web.auth, s->soup);
    if (!soup_server_listen_socket(s->soup, listener, how, errp)) {
        orch_server_stop(s);
        return NULL;
    }
    return s;
}

void orch_server_stop(OrchServer *s)
{
    /*
     * The worker may be in the middle of a launcher call: leave it and
     * its connection to the process's exit; its open transaction is
     * rolled back by SQLite then.
     */
    orch_stream_free(s->stream);
    soup_server_disconnect(s->soup);
    g_object_unref(s->soup);
    sqlite3_close(s->db_main);
    orch_web_auth_free(s->web.auth);
    orch_web_files_free(s->web.files);
}
