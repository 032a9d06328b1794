/*
 * libFuzzer target: the launcher's API (dm-remote daemon), every route of
 * both roles, through its own SoupServer (api.c and the role's modules
 * below it) on a UNIX socket of this process: a server-role launcher
 * (instances, routes, displays, health, metrics) and a client-role one
 * (VMs, their QMP relay and events).
 *
 * No process is started: the one call that would (proc.c's
 * g_spawn_async_with_fds, wrapped at link time: -Wl,--wrap) fails as a
 * missing program would, after counting the attempt, so that every
 * check a request meets before a launch runs, and the launch's failure
 * path too.
 *
 * Properties checked, after each request:
 *  - a 5xx only after a launch was tried: a bad body, path or id is a
 *    4xx; every error has a non-empty JSON "error";
 *  - nothing launched stays: once the answers are in, the role's tables
 *    hold no instance, route or VM that a failed launch left behind;
 *  - QEMU's command line is one docs/launcher.md allows (the launcher's
 *    fixed options, then only the listed ones, with the values checked
 *    that could reach the host), whatever "args" held.
 *
 * Input: requests, one per block of lines (fuzz-http.h):
 *   "S METHOD PATH" then the body: to the server-role launcher;
 *   "C METHOD PATH" then the body: to the client-role launcher.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <netdb.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <gio/gunixsocketaddress.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "api.h"
#include "fuzz-http.h"
#include "instances.h"
#include "log.h"
#include "model.h"
#include "routes.h"
#include "soup-limits.h"
#include "vms.h"

#define FUZZ_MAX_REQUESTS 16

static char dir[64];
static char sock_s[sizeof(dir) + 16], sock_c[sizeof(dir) + 16];
static DmLauncher l_server, l_client;
static DmServer server;
static DmClient client;
static DmApi api_server, api_client;
static guint spawns;
static bool verbose;            /* FUZZ_VERBOSE: each request's answer */

/*
 * QEMU's argv as docs/launcher.md allows it ("Client role: VMs"): the
 * launcher's fixed options, then only the listed options, those that
 * could reach the host with their values checked.  Written from the
 * document, not from vms.c, so that the two are checked against each
 * other.
 */
static void check_qemu_argv(char **argv)
{
    static const char *const plain[] = {
        "machine", "M", "accel", "cpu", "m", "smp", "kernel", "initrd",
        "append", "remote-device", "rtc", "uuid",
    };
    static const char *const flags[] = { "S", "no-reboot", "no-shutdown" };
    guint n = g_strv_length(argv), i = 8;

    if (n < 8 || strcmp(argv[1], "-name") || strcmp(argv[3], "-nodefaults") ||
        strcmp(argv[4], "-display") || strcmp(argv[5], "none") ||
        strcmp(argv[6], "-qmp")) {
        fprintf(stderr, "QEMU started without the launcher's options\n");
        abort();
    }
    while (i < n) {
        const char *o = argv[i], *v = i + 1 < n ? argv[i + 1] : NULL;
        bool ok = false;

        o += o[0] == '-' ? (o[1] == '-' ? 2 : 1) : 0;
        if (argv[i][0] != '-') {
            fprintf(stderr, "QEMU started with a bare '%s'\n", argv[i]);
            abort();
        }
        for (size_t k = 0; k < G_N_ELEMENTS(flags); k++) {
            if (strcmp(o, flags[k]) == 0) {
                ok = true;
            }
        }
        if (ok) {
            i++;
            continue;
        }
        for (size_t k = 0; k < G_N_ELEMENTS(plain); k++) {
            ok |= strcmp(o, plain[k]) == 0;
        }
        ok |= !strcmp(o, "serial") && v &&
              (!strcmp(v, "none") || !strcmp(v, "null") ||
               !strcmp(v, "stdio"));
        ok |= !strcmp(o, "device") && v &&
              (g_str_has_prefix(v, "dm-proxy-pci") ||
               g_str_has_prefix(v, "dm-proxy-isa")) &&
              (v[12] == '\0' || v[12] == ',');
        ok |= !strcmp(o, "qtest") && v && !strcmp(v, "null");
        ok |= !strcmp(o, "incoming") && v &&
              (!strcmp(v, "defer") || g_str_has_prefix(v, "tcp:") ||
               g_str_has_prefix(v, "unix:") ||
               (g_str_has_prefix(v, "file:") &&
                g_str_has_prefix(v + 5, client.save_dir) &&
                !strstr(v, "..")));
        ok |= !strcmp(o, "object") && v && g_str_has_prefix(v, "secret,") &&
              !strstr(v, "..");
        if (!ok || !v) {
            fprintf(stderr, "QEMU started with '%s %s'\n", argv[i],
                    v ? v : "");
            abort();
        }
        i += 2;
    }
}

/* proc.c's only way to start a process: refused, counted. */
gboolean __wrap_g_spawn_async_with_fds(const gchar *wd, gchar **argv,
                                       gchar **envp, GSpawnFlags flags,
                                       GSpawnChildSetupFunc setup,
                                       gpointer data, GPid *pid, gint in_fd,
                                       gint out_fd, gint err_fd,
                                       GError **error)
{
    spawns++;
    if (strcmp(argv[0], client.qemu) == 0) {
        check_qemu_argv(argv);
    }
    g_set_error(error, G_SPAWN_ERROR, G_SPAWN_ERROR_NOENT,
                "fuzz: no process is started");
    return FALSE;
}

static void remove_dir(void)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", dir);
    }
}

static void child_gone(void *opaque)
{
}

static void launcher_init(DmLauncher *l, DmRole role, const char *name)
{
    l->role = role;
    l->platform_id = name;
    l->state_dir = g_build_filename(dir, name, NULL);
    l->self_exe = "/nonexistent/dm-remote";
    l->capacity = 16;
    l->dying = g_hash_table_new_full(g_str_hash, g_str_equal, g_free, NULL);
    l->child_gone = child_gone;
    g_mkdir_with_parents(l->state_dir, 0700);
}

static void resolve(const char *host, struct sockaddr_storage *ss,
                    socklen_t *len)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    struct addrinfo *res;

    if (getaddrinfo(host, NULL, &hints, &res) != 0) {
        abort();
    }
    memcpy(ss, res->ai_addr, res->ai_addrlen);
    *len = res->ai_addrlen;
    freeaddrinfo(res);
}

/* The models a platform may offer: those of the build that exist. */
static char **offered_models(void)
{
    static const char *const names[] = {
        "edu", "edu-msix", "uart16550", "mc146818", "virtio-blk",
        "virtio-net", "bochs-display", "virtio-keyboard", "virtio-tablet",
    };
    GPtrArray *a = g_ptr_array_new();

    for (size_t i = 0; i < G_N_ELEMENTS(names); i++) {
        if (dm_model_find(names[i])) {
            g_ptr_array_add(a, g_strdup(names[i]));
        }
    }
    g_ptr_array_add(a, NULL);
    return (char **)g_ptr_array_free(a, FALSE);
}

static void serve(DmApi *api, const char *path)
{
    SoupServer *soup = soup_server_new("server-header", "dm-remote-daemon",
                                       NULL);
    g_autoptr(GSocketAddress) addr = g_unix_socket_address_new(path);
    g_autoptr(GError) err = NULL;

    dm_soup_limits_setup(soup, DM_SOUP_MAX_BODY, DM_SOUP_MAX_CONNECTIONS,
                         NULL, NULL);
    if (!soup_server_listen(soup, addr, 0, &err)) {
        fprintf(stderr, "fuzz-launcher-api: %s: %s\n", path, err->message);
        abort();
    }
    dm_fence_init(&api->fence, api->l->state_dir);
    dm_api_attach(soup, api);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_autofree char *image = NULL;

    snprintf(dir, sizeof(dir), "%s/fuzz-launcher-api-XXXXXX",
             g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" :
             g_get_tmp_dir());
    if (!mkdtemp(dir)) {
        abort();
    }
    atexit(remove_dir);
    verbose = getenv("FUZZ_VERBOSE") != NULL;
    if (!verbose) {
        dm_log_level = DM_LOG_ERROR;    /* quiet: millions of requests */
    }
    signal(SIGPIPE, SIG_IGN);
    /* A failed g_return_if_fail() in the product is a bug: abort. */
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_FATAL_MASK);
    snprintf(sock_s, sizeof(sock_s), "%s/s.sock", dir);
    snprintf(sock_c, sizeof(sock_c), "%s/c.sock", dir);

    launcher_init(&l_server, DM_ROLE_SERVER, "s1");
    server.l = &l_server;
    server.models = offered_models();
    server.model_host = server.vnc_host = "127.0.0.1";
    resolve(server.model_host, &server.model_addr, &server.model_addrlen);
    resolve(server.vnc_host, &server.vnc_addr, &server.vnc_addrlen);
    server.port_lo = 40000;
    server.port_hi = 40999;
    server.images_dir = g_build_filename(dir, "images", NULL);
    g_mkdir(server.images_dir, 0700);
    image = g_build_filename(server.images_dir, "disk.img", NULL);
    g_file_set_contents(image, "", 0, NULL);
    server.bridges = g_strsplit("br0", ",", -1);
    dm_instances_init(&server);
    dm_routes_init(&server);
    api_server.l = &l_server;
    api_server.server = &server;
    serve(&api_server, sock_s);

    launcher_init(&l_client, DM_ROLE_CLIENT, "c1");
    client.l = &l_client;
    client.qemu = "/nonexistent/qemu-system-x86_64";
    client.save_dir = g_build_filename(l_client.state_dir, "saves", NULL);
    g_mkdir(client.save_dir, 0700);
    dm_vms_init(&client);
    api_client.l = &l_client;
    api_client.client = &client;
    serve(&api_client, sock_c);
    return 0;
}

/* What a failed launch left in the tables, 0 when nothing. */
static guint left_behind(void)
{
    return g_hash_table_size(server.instances) + server.routes->len +
           (server.router ? 1 : 0) + g_hash_table_size(client.vms);
}

static void run_request(const FuzzBlock *b)
{
    g_autoptr(GString) answer = g_string_new(NULL);
    g_autoptr(GString) req = NULL;
    g_autofree char *what = NULL;
    guint status, tried;

    req = fuzz_http_request(b, &what);
    if (!req) {
        return;
    }
    spawns = 0;
    fuzz_http_exchange(b->kind == 'S' ? sock_s : sock_c, req, answer);
    tried = spawns;
    status = fuzz_http_check(what, answer);
    if (verbose) {
        fprintf(stderr, "%c %s: %u (%u launches) %.300s\n", b->kind, what,
                status, tried, fuzz_http_body(answer));
    }
    if (status >= 500 && tried == 0) {
        fprintf(stderr, "%c %s: %u without a launch: '%.300s'\n", b->kind,
                what, status, answer->str);
        abort();
    }
    if (left_behind()) {
        fprintf(stderr, "%c %s: %u, and %u instances, routes or VMs "
                "stay without a process\n", b->kind, what, status,
                left_behind());
        abort();
    }
}

/* Each input from no leadership token seen (X-DM-Fence). */
static void fence_reset(DmApi *api)
{
    g_autofree char *path = g_build_filename(api->l->state_dir, "fence",
                                             NULL);

    dm_fence_clear(&api->fence);
    unlink(path);
    dm_fence_init(&api->fence, api->l->state_dir);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzBlock blocks[FUZZ_MAX_REQUESTS];
    guint n = fuzz_http_blocks(data, size, "SC", blocks,
                               G_N_ELEMENTS(blocks));

    fence_reset(&api_server);
    fence_reset(&api_client);

    for (guint i = 0; i < n; i++) {
        run_request(&blocks[i]);
    }
    fuzz_heap_note();
    return 0;
}
