/*
 * dm-remote daemon: the launcher of a platform.
 *
 *   dm-remote daemon --role server|client --listen ADDRESS
 *                    --platform-id ID --state-dir DIR [--tls-creds DIR]
 *                    [...]
 *
 * One per platform.  The orchestrator asks it over HTTP/JSON (libsoup,
 * one GMainLoop, nothing threaded; HTTPS with client certificates under
 * --tls-creds) to launch and stop device models
 * (server role) or QEMU processes (client role) and to report on them.
 * See docs/launcher.md.
 *
 * The top of the launcher: options, start, signals and shutdown.  It
 * owns the shared context (launcher.h) and one role's state, DmServer
 * (instance.h) or DmClient (vm.h), and hands them to the API (api.c)
 * and the role's modules, which call nothing here: a child that is gone
 * is told through the context's child_gone hook.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <arpa/inet.h>
#include <errno.h>
#include <getopt.h>
#include <net/if.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib-unix.h>
#include <libsoup/soup.h>

#include "address.h"
#include "device.h"
#include "log.h"
#include "soup-limits.h"
#include "soup-tls.h"

#include "api.h"
#include "register.h"
#include "daemon.h"
#include "instances.h"
#include "launcher.h"
#include "router.h"
#include "routes.h"
#include "vms.h"

/* The launcher of this process: the shared context and its role's state. */
typedef struct DmDaemon {
    DmLauncher l;
    DmServer server;            /* server role */
    DmClient client;            /* client role */
    DmApi api;
    GMainLoop *loop;
} DmDaemon;

static const char *arg_role;
static const char *arg_listen;
static const char *arg_platform_id;
static const char *arg_state_dir;
static const char *arg_models;
static unsigned arg_capacity = 16;
static const char *arg_model_host;
static const char *arg_vnc_host;
static const char *arg_images_dir;
static const char *arg_bridges;
static const char *arg_port_range;
static const char *arg_qemu;
static const char *arg_save_dir;
static const char *arg_tls_creds;
static const char *arg_model_tls_creds;
static bool arg_insecure_plain_tcp;
static const char *arg_register;
static const char *arg_register_address;
static long arg_register_ttl = 10;

static void daemon_help(void)
{
    printf("Usage: dm-remote daemon --role server|client "
           "--listen ADDRESS\n"
           "                        --platform-id ID --state-dir DIR "
           "[OPTIONS]\n"
           "\n"
           "The launcher of a platform: an HTTP/JSON API (docs/launcher.md)\n"
           "through which the orchestrator starts and stops device models\n"
           "(server role) or QEMU processes (client role).\n"
           "\n"
           "  --role=ROLE            server (device models) or client "
           "(VMs)\n"
           "  --listen=ADDRESS       the API: unix:PATH or tcp:HOST:PORT "
           "(port 0:\n"
           "                         any; the address is printed)\n"
           "  --platform-id=ID       this platform's identifier\n"
           "  --state-dir=DIR        sockets, logs and tokens of the "
           "children\n"
           "  --capacity=N           at most N instances or VMs "
           "(default 16)\n"
           "  --tls-creds=DIR        serve HTTPS (tcp: only): DIR holds "
           "ca-cert.pem,\n"
           "                         server-cert.pem and server-key.pem; "
           "clients must\n"
           "                         show a certificate signed by that CA\n"
           "  --register=etcd:URL[,URL...]\n"
           "                         keep a registration in etcd under a "
           "lease\n"
           "                         (/dm/launchers/ID: platform, role, "
           "address,\n"
           "                         capacity, health), renewed while "
           "running\n"
           "  --register-ttl=SEC     the lease's TTL (default 10; "
           "2..3600)\n"
           "  --register-address=ADDRESS\n"
           "                         the address registered (default "
           "--listen's)\n"
           "  --insecure-plain-tcp   allow a tcp: --listen without "
           "--tls-creds: plain\n"
           "                         HTTP, no authentication, anyone who "
           "reaches it\n"
           "                         runs processes as us (trusted "
           "networks only)\n"
           "  --model-tls-creds=DIR  device-model sessions over TLS: a "
           "server's TCP\n"
           "                         models get --tls-creds DIR "
           "(ca-cert.pem,\n"
           "                         server-cert.pem, server-key.pem); a "
           "client's QEMUs\n"
           "                         get -object tls-creds-x509,"
           "id=dm-model-tls,...,\n"
           "                         dir=DIR (ca-cert.pem, "
           "client-cert.pem,\n"
           "                         client-key.pem)\n"
           "server role:\n"
           "  --models=M,M,...       the models offered (default: all)\n"
           "  --model-host=HOST      address models listen on for tcp "
           "(default\n"
           "                         127.0.0.1)\n"
           "  --vnc-host=HOST        address displays' VNC servers listen "
           "on (default\n"
           "                         the model host; ports from the same "
           "range)\n"
           "  --port-range=LO-HI     their tcp ports (default "
           "40000-40999)\n"
           "  --images-dir=DIR       disk images models may open: a "
           "model's file\n"
           "                         property names one (no paths); "
           "none by default\n"
           "  --bridges=BR,BR,...    bridges a network model's tap may "
           "join (\"bridge\"\n"
           "                         in its properties: the launcher makes "
           "the tap);\n"
           "                         none by default\n"
           "client role:\n"
           "  --qemu=PATH            the QEMU binary (default: "
           "qemu-system-x86_64\n"
           "                         beside dm-remote's directory, else "
           "in PATH)\n"
           "  --save-dir=DIR         where QEMU may save to and restore "
           "from (QMP\n"
           "                         migrate to file:, -incoming file:; "
           "default\n"
           "                         STATE-DIR/saves)\n"
           "\n"
           "  -v, --verbose          log more\n"
           "  -q, --quiet            log errors only\n"
           "  -h, --help             show this help\n"
           "\n"
           "SIGTERM or SIGINT stops every child (SIGKILL after 5 s), "
           "removes the\n"
           "API socket and exits 0.  A daemon killed outright leaves "
           "its children\n"
           "running; the next one on the same --state-dir adopts "
           "them.\n");
}

static int daemon_usage(const char *fmt, const char *what)
{
    return dm_usage_error("daemon", fmt, what);
}

static int daemon_parse_capacity(const char *s)
{
    long v;

    if (!dm_parse_number(s, 1, 4096, &v)) {
        return daemon_usage("invalid --capacity '%s' (1..4096)", s);
    }
    arg_capacity = v;
    return 0;
}

static int daemon_parse_options(int argc, char **argv)
{
    enum {
        OPT_ROLE = 0x100, OPT_PLATFORM_ID, OPT_STATE_DIR, OPT_MODELS,
        OPT_CAPACITY, OPT_MODEL_HOST, OPT_VNC_HOST, OPT_PORT_RANGE, OPT_IMAGES_DIR, OPT_QEMU,
        OPT_TLS_CREDS, OPT_MODEL_TLS_CREDS, OPT_INSECURE_PLAIN_TCP,
        OPT_SAVE_DIR, OPT_REGISTER, OPT_REGISTER_TTL, OPT_REGISTER_ADDRESS, OPT_BRIDGES,
    };
    static const struct option options[] = {
        { "role", required_argument, NULL, OPT_ROLE },
        { "listen", required_argument, NULL, 'l' },
        { "platform-id", required_argument, NULL, OPT_PLATFORM_ID },
        { "state-dir", required_argument, NULL, OPT_STATE_DIR },
        { "models", required_argument, NULL, OPT_MODELS },
        { "capacity", required_argument, NULL, OPT_CAPACITY },
        { "model-host", required_argument, NULL, OPT_MODEL_HOST },
        { "vnc-host", required_argument, NULL, OPT_VNC_HOST },
        { "port-range", required_argument, NULL, OPT_PORT_RANGE },
        { "images-dir", required_argument, NULL, OPT_IMAGES_DIR },
        { "bridges", required_argument, NULL, OPT_BRIDGES },
        { "qemu", required_argument, NULL, OPT_QEMU },
        { "save-dir", required_argument, NULL, OPT_SAVE_DIR },
        { "tls-creds", required_argument, NULL, OPT_TLS_CREDS },
        { "model-tls-creds", required_argument, NULL, OPT_MODEL_TLS_CREDS },
        { "insecure-plain-tcp", no_argument, NULL, OPT_INSECURE_PLAIN_TCP },
        { "register", required_argument, NULL, OPT_REGISTER },
        { "register-ttl", required_argument, NULL, OPT_REGISTER_TTL },
        { "register-address", required_argument, NULL,
          OPT_REGISTER_ADDRESS },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":l:vqh", options, NULL)) != -1) {
        switch (c) {
        case OPT_ROLE:
            arg_role = optarg;
            break;
        case 'l':
            arg_listen = optarg;
            break;
        case OPT_PLATFORM_ID:
            arg_platform_id = optarg;
            break;
        case OPT_STATE_DIR:
            arg_state_dir = optarg;
            break;
        case OPT_MODELS:
            arg_models = optarg;
            break;
        case OPT_CAPACITY:
            if (daemon_parse_capacity(optarg)) {
                return 2;
            }
            break;
        case OPT_IMAGES_DIR:
            arg_images_dir = optarg;
            break;
        case OPT_VNC_HOST:
            arg_vnc_host = optarg;
            break;
        case OPT_BRIDGES:
            arg_bridges = optarg;
            break;
        case OPT_MODEL_HOST:
            arg_model_host = optarg;
            break;
        case OPT_PORT_RANGE:
            arg_port_range = optarg;
            break;
        case OPT_QEMU:
            arg_qemu = optarg;
            break;
        case OPT_SAVE_DIR:
            arg_save_dir = optarg;
            break;
        case OPT_TLS_CREDS:
            arg_tls_creds = optarg;
            break;
        case OPT_MODEL_TLS_CREDS:
            arg_model_tls_creds = optarg;
            break;
        case OPT_REGISTER:
            if (!g_str_has_prefix(optarg, "etcd:") || !optarg[5]) {
                daemon_usage("invalid --register '%s' (etcd:URL[,URL...])",
                             optarg);
                return 2;
            }
            arg_register = optarg + 5;
            break;
        case OPT_REGISTER_TTL:
            if (!dm_parse_number(optarg, 2, 3600, &arg_register_ttl)) {
                daemon_usage("invalid --register-ttl '%s' (2..3600)",
                             optarg);
                return 2;
            }
            break;
        case OPT_REGISTER_ADDRESS:
            arg_register_address = optarg;
            break;
        case OPT_INSECURE_PLAIN_TCP:
            arg_insecure_plain_tcp = true;
            break;
        case 'v':
            dm_log_level = DM_LOG_DEBUG;
            break;
        case 'q':
            dm_log_level = DM_LOG_ERROR;
            break;
        case 'h':
            daemon_help();
            exit(0);
        case ':':
            return daemon_usage("option '%s' needs a value",
                                argv[optind - 1]);
        default:
            return daemon_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return daemon_usage("unexpected argument '%s'", argv[optind]);
    }
    return 0;
}

static void daemon_add_model(const DmModel *m, void *opaque)
{
    g_ptr_array_add(opaque, g_strdup(m->name));
}

static int daemon_setup_models(DmServer *s)
{
    g_autoptr(GPtrArray) models = g_ptr_array_new_with_free_func(g_free);
    g_auto(GStrv) names = NULL;
    char **m;

    if (!arg_models) {
        dm_model_list(daemon_add_model, models);
    } else {
        if (!arg_models[0]) {
            return daemon_usage("%s", "--models is empty");
        }
        names = g_strsplit(arg_models, ",", -1);
        for (m = names; *m; m++) {
            if (!dm_model_find(*m)) {
                return daemon_usage("unknown model '%s' in --models", *m);
            }
            if (!g_ptr_array_find_with_equal_func(models, *m, g_str_equal,
                                                  NULL)) {
                g_ptr_array_add(models, g_strdup(*m));
            }
        }
    }
    g_ptr_array_add(models, NULL);
    s->models = (char **)g_ptr_array_free(g_steal_pointer(&models), false);
    return 0;
}

static int daemon_setup_server(DmDaemon *d)
{
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM };
    DmServer *s = &d->server;
    struct addrinfo *res;
    unsigned lo = 40000, hi = 40999;
    int n = 0, ret;

    s->l = &d->l;
    if (daemon_setup_models(s)) {
        return 2;
    }
    if (arg_port_range &&
        (sscanf(arg_port_range, "%u-%u%n", &lo, &hi, &n) != 2 ||
         arg_port_range[n] || lo < 1 || lo > hi || hi > 65535)) {
        return daemon_usage("invalid --port-range '%s' (LO-HI within "
                            "1-65535)", arg_port_range);
    }
    s->port_lo = lo;
    s->port_hi = hi;
    if (arg_images_dir) {
        struct stat st;

        s->images_dir = g_canonicalize_filename(arg_images_dir, NULL);
        if (stat(s->images_dir, &st) < 0 || !S_ISDIR(st.st_mode)) {
            return daemon_usage("--images-dir '%s' is not a directory",
                                arg_images_dir);
        }
    }
    if (arg_bridges) {
        s->bridges = g_strsplit(arg_bridges, ",", -1);
        for (char **b = s->bridges; *b; b++) {
            if (!vup_name_valid(*b) || strlen(*b) >= IFNAMSIZ) {
                return daemon_usage("bad bridge name '%s' in --bridges (1 "
                                    "to 15 characters of A-Z a-z 0-9 . _ -)",
                                    *b);
            }
        }
    }
    s->model_host = arg_model_host ? arg_model_host : "127.0.0.1";
    ret = getaddrinfo(s->model_host, NULL, &hints, &res);
    if (ret) {
        fprintf(stderr, "dm-remote daemon: cannot resolve --model-host "
                "'%s': %s\n", s->model_host, gai_strerror(ret));
        return 2;
    }
    memcpy(&s->model_addr, res->ai_addr, res->ai_addrlen);
    s->model_addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    s->vnc_host = arg_vnc_host ? arg_vnc_host : s->model_host;
    ret = getaddrinfo(s->vnc_host, NULL, &hints, &res);
    if (ret) {
        fprintf(stderr, "dm-remote daemon: cannot resolve --vnc-host "
                "'%s': %s\n", s->vnc_host, gai_strerror(ret));
        return 2;
    }
    memcpy(&s->vnc_addr, res->ai_addr, res->ai_addrlen);
    s->vnc_addrlen = res->ai_addrlen;
    freeaddrinfo(res);
    dm_instances_init(s);
    dm_routes_init(s);
    return 0;
}

/* --qemu, else qemu-system-x86_64 beside our directory, else PATH. */
static int daemon_setup_client(DmDaemon *d)
{
    g_autofree char *dir = g_path_get_dirname(d->l.self_exe);
    const char *const rel[] = { "..", "../.." };
    char *found = NULL;
    unsigned i;

    if (arg_qemu) {
        if (!g_file_test(arg_qemu, G_FILE_TEST_IS_EXECUTABLE) ||
            g_file_test(arg_qemu, G_FILE_TEST_IS_DIR)) {
            return daemon_usage("--qemu '%s' is not an executable file",
                                arg_qemu);
        }
        found = g_canonicalize_filename(arg_qemu, NULL);
    }
    /* ../../ too: in the build tree dm-remote is build/meson/dm-remote/. */
    for (i = 0; !found && i < G_N_ELEMENTS(rel); i++) {
        g_autofree char *p = g_build_filename(dir, rel[i],
                                              "qemu-system-x86_64", NULL);

        if (g_file_test(p, G_FILE_TEST_IS_EXECUTABLE)) {
            found = g_canonicalize_filename(p, NULL);
        }
    }
    if (!found) {
        found = g_find_program_in_path("qemu-system-x86_64");
    }
    if (!found) {
        fprintf(stderr, "dm-remote daemon: cannot find qemu-system-x86_64 "
                "(use --qemu)\n");
        return 1;
    }
    d->client.l = &d->l;
    d->client.qemu = found;
    dm_vms_init(&d->client);
    return 0;
}

static int daemon_check_options(DmDaemon *d)
{
    if (!arg_role) {
        return daemon_usage("%s", "missing --role (server or client)");
    }
    if (strcmp(arg_role, "server") == 0) {
        d->l.role = DM_ROLE_SERVER;
    } else if (strcmp(arg_role, "client") == 0) {
        d->l.role = DM_ROLE_CLIENT;
    } else {
        return daemon_usage("invalid --role '%s' (server or client)",
                            arg_role);
    }
    if (!arg_listen) {
        return daemon_usage("%s", "missing --listen");
    }
    if (!arg_platform_id) {
        return daemon_usage("%s", "missing --platform-id");
    }
    if (!vup_name_valid(arg_platform_id)) {
        return daemon_usage("invalid --platform-id '%s' (1 to 64 characters "
                            "of A-Z a-z 0-9 . _ -)", arg_platform_id);
    }
    if (!arg_state_dir || !arg_state_dir[0]) {
        return daemon_usage("%s", "missing --state-dir");
    }
    if (d->l.role == DM_ROLE_CLIENT && (arg_models || arg_model_host ||
                                        arg_vnc_host || arg_port_range ||
                                        arg_images_dir || arg_bridges)) {
        return daemon_usage("%s", "--models, --model-host, --vnc-host, "
                            "--port-range, --images-dir and --bridges are "
                            "for --role server");
    }
    if (d->l.role == DM_ROLE_SERVER && (arg_qemu || arg_save_dir)) {
        return daemon_usage("%s", "--qemu and --save-dir are for --role "
                            "client");
    }
    if (arg_save_dir && (!arg_save_dir[0] || strchr(arg_save_dir, ','))) {
        return daemon_usage("%s", "--save-dir needs a path without a comma");
    }
    if (arg_tls_creds && !arg_tls_creds[0]) {
        return daemon_usage("%s", "--tls-creds needs a directory");
    }
    if (arg_model_tls_creds && !arg_model_tls_creds[0]) {
        return daemon_usage("%s", "--model-tls-creds needs a directory");
    }
    d->l.platform_id = arg_platform_id;
    d->l.capacity = arg_capacity;
    return 0;
}

/* --save-dir, absolute, created (0700) if missing. */
static int daemon_setup_save_dir(DmClient *c)
{
    g_autofree char *dir = arg_save_dir ? g_strdup(arg_save_dir) :
        g_build_filename(c->l->state_dir, "saves", NULL);

    c->save_dir = g_canonicalize_filename(dir, NULL);
    if (strchr(c->save_dir, ',')) {
        return daemon_usage("%s", "--save-dir needs a path without a comma");
    }
    if (g_mkdir_with_parents(c->save_dir, 0700) < 0) {
        fprintf(stderr, "dm-remote daemon: cannot create --save-dir '%s': "
                "%s\n", c->save_dir, g_strerror(errno));
        return 1;
    }
    return 0;
}

/*
 * Check --model-tls-creds now, by loading them as the children will (a
 * server's models or a client's QEMUs), so that a missing file is an
 * error at start rather than at each launch.  The children get the
 * absolute path: they need not share our working directory's meaning.
 */
static int daemon_setup_model_tls(DmLauncher *l, char **ret_dir)
{
    g_auto(DmSoupTlsCreds) creds = { 0 };
    g_autoptr(GError) error = NULL;
    const char *role = l->role == DM_ROLE_SERVER ? "server" : "client";

    if (!dm_soup_tls_creds_load(arg_model_tls_creds, role, &creds,
                                &error)) {
        fprintf(stderr, "dm-remote daemon: --model-tls-creds: %s\n",
                error->message);
        return 1;
    }
    *ret_dir = g_canonicalize_filename(arg_model_tls_creds, NULL);
    l->model_tls_creds = *ret_dir;
    return 0;
}

/* The listening socket for the API; *ret_name is what we print. */
static int daemon_listen(const DmAddress *addr, char **ret_name)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    char host[INET6_ADDRSTRLEN];
    char err[512];
    int fd;

    fd = dm_address_listen(addr, err, sizeof(err));
    if (fd < 0) {
        fprintf(stderr, "dm-remote daemon: %s\n", err);
        return fd;
    }
    if (addr->kind == DM_ADDRESS_UNIX) {
        /* Whoever can connect runs processes as us: ours only. */
        if (chmod(addr->path, 0600) < 0) {
            fprintf(stderr, "dm-remote daemon: cannot chmod %s: %s\n",
                    addr->path, g_strerror(errno));
            close(fd);
            dm_address_cleanup(addr);
            return -errno;
        }
        *ret_name = g_strdup_printf("unix:%s", addr->path);
    } else if (getsockname(fd, (struct sockaddr *)&ss, &len) == 0 &&
               ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

        inet_ntop(AF_INET6, &sin6->sin6_addr, host, sizeof(host));
        *ret_name = g_strdup_printf("tcp:[%s]:%u", host,
                                    ntohs(sin6->sin6_port));
    } else {
        struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

        inet_ntop(AF_INET, &sin->sin_addr, host, sizeof(host));
        *ret_name = g_strdup_printf("tcp:%s:%u", host, ntohs(sin->sin_port));
    }
    return fd;
}

static unsigned daemon_live(DmDaemon *d)
{
    return d->l.role == DM_ROLE_SERVER ?
           dm_instances_live(&d->server) + dm_routes_live(&d->server) :
           dm_vms_live(&d->client);
}

/* At shutdown, once the last child is gone. */
static void daemon_maybe_quit(DmDaemon *d)
{
    if (d->l.stopping && daemon_live(d) == 0) {
        g_main_loop_quit(d->loop);
    }
}

/* The context's child_gone hook (child.c tells it). */
static void daemon_child_gone(void *opaque)
{
    daemon_maybe_quit(opaque);
}

static gboolean daemon_on_signal(gpointer opaque)
{
    DmDaemon *d = opaque;

    if (d->l.stopping) {
        return G_SOURCE_CONTINUE;
    }
    dm_info("stopping %u children", daemon_live(d));
    d->l.stopping = true;
    if (d->l.role == DM_ROLE_SERVER) {
        dm_instances_stop_all(&d->server);
        dm_routes_stop_all(&d->server);
    } else {
        dm_vms_stop_all(&d->client);
    }
    daemon_maybe_quit(d);
    return G_SOURCE_CONTINUE;
}

/* Refused TLS clients, from soup-tls.c. */
static void daemon_tls_log(const char *line, gpointer opaque)
{
    dm_warn("%s", line);
}

/* --register: what this launcher is, under its lease in etcd. */
static DmRegister *daemon_register(DmDaemon *d, const char *name)
{
    g_autoptr(JsonBuilder) b = json_builder_new();
    g_autoptr(JsonNode) root = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *value = NULL;
    JsonNode *health;
    DmRegister *r;

    json_builder_begin_object(b);
    json_builder_set_member_name(b, "platform");
    json_builder_add_string_value(b, d->l.platform_id);
    json_builder_set_member_name(b, "role");
    json_builder_add_string_value(b, d->l.role == DM_ROLE_SERVER ? "server"
                                                                 : "client");
    json_builder_set_member_name(b, "address");
    json_builder_add_string_value(b, arg_register_address ?
                                  arg_register_address : name);
    json_builder_set_member_name(b, "capacity");
    json_builder_add_int_value(b, arg_capacity);
    /* Its GET /v1/health at registration; its lease says it is alive. */
    json_builder_set_member_name(b, "health");
    health = json_node_new(JSON_NODE_OBJECT);
    json_node_take_object(health, dm_api_health(&d->api));
    json_builder_add_value(b, health);
    json_builder_end_object(b);
    root = json_builder_get_root(b);
    value = json_to_string(root, FALSE);
    r = dm_register_start(arg_register, d->l.platform_id, value,
                          arg_register_ttl, &error);
    if (!r) {
        dm_warn("--register: %s", error->message);
    }
    return r;
}

/*
 * Each child costs us about two descriptors (its log or socket, its exit
 * watch), each API connection one: the usual soft limit of 1024 runs out
 * near 500 children, below --capacity's 4096, and a launcher out of
 * descriptors stops answering its API.  Raise the soft limit to what
 * the capacity needs, within the hard limit.
 */
static void daemon_raise_fd_limit(unsigned capacity)
{
    rlim_t want = (rlim_t)capacity * 4 + 256;
    struct rlimit rl;

    if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur >= want) {
        return;
    }
    rl.rlim_cur = rl.rlim_max != RLIM_INFINITY && rl.rlim_max < want ?
                  rl.rlim_max : want;
    if (setrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < want) {
        dm_warn("the descriptor limit (%llu) is below the %llu that "
                "--capacity %u needs", (unsigned long long)rl.rlim_cur,
                (unsigned long long)want, capacity);
    }
}

static int daemon_serve(DmDaemon *d, const DmAddress *addr,
                        const DmSoupTlsCreds *tls)
{
    DmRegister *reg = NULL;
    g_autoptr(SoupServer) server = NULL;
    g_autoptr(GSocket) sock = NULL;
    g_autoptr(GError) error = NULL;
    g_autofree char *name = NULL;
    SoupServerListenOptions how = 0;
    int fd = daemon_listen(addr, &name);

    if (fd < 0) {
        return 1;
    }
    sock = g_socket_new_from_fd(fd, &error);
    server = soup_server_new("server-header", "dm-remote-daemon", NULL);
    dm_soup_limits_setup(server, DM_SOUP_MAX_BODY, DM_SOUP_MAX_CONNECTIONS,
                         daemon_tls_log, NULL);
    if (tls) {
        how = dm_soup_tls_server_setup(server, tls, daemon_tls_log, NULL);
    } else if (addr->kind != DM_ADDRESS_UNIX) {
        dm_warn("the API on %s is plain HTTP without authentication: "
                "anyone who reaches it can launch processes; use a "
                "trusted network, or give --tls-creds", name);
    }
    if (!sock || !soup_server_listen_socket(server, sock, how, &error)) {
        fprintf(stderr, "dm-remote daemon: cannot serve on %s: %s\n", name,
                error->message);
        if (!sock) {
            close(fd);
        }
        dm_address_cleanup(addr);
        return 1;
    }
    d->api.l = &d->l;
    dm_fence_init(&d->api.fence, d->l.state_dir);
    if (d->l.role == DM_ROLE_SERVER) {
        d->api.server = &d->server;
    } else {
        d->api.client = &d->client;
    }
    dm_api_attach(server, &d->api);
    d->loop = g_main_loop_new(NULL, false);
    g_unix_signal_add(SIGTERM, daemon_on_signal, d);
    g_unix_signal_add(SIGINT, daemon_on_signal, d);
    fprintf(stderr, "dm-remote: listening on %s%s\n", name,
            tls ? " (TLS)" : "");
    fflush(stderr);
    if (arg_register && !(reg = daemon_register(d, name))) {
        soup_server_disconnect(server);
        dm_address_cleanup(addr);
        return 1;
    }

    g_main_loop_run(d->loop);
    /* The key goes with the lease: orchestrators see us gone at once. */
    dm_register_stop(reg);

    soup_server_disconnect(server);
    dm_address_cleanup(addr);
    g_main_loop_unref(d->loop);
    dm_info("stopped");
    return 0;
}

/* Everything is stopped by now: the tables are empty. */
static void daemon_free(DmDaemon *d)
{
    g_strfreev(d->server.models);
    g_free((char *)d->client.qemu);
    g_free(d->client.save_dir);
    dm_instances_free(&d->server);
    dm_routes_free(&d->server);
    dm_vms_free(&d->client);
    g_clear_pointer(&d->l.dying, g_hash_table_destroy);
    dm_fence_clear(&d->api.fence);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC(DmDaemon, daemon_free)

int dm_daemon_main(int argc, char **argv)
{
    g_auto(DmDaemon) d = { 0 };
    g_auto(DmSoupTlsCreds) tls = { 0 };
    g_autoptr(GError) error = NULL;
    g_autofree char *self = NULL;
    g_autofree char *model_tls = NULL;
    DmAddress addr;
    char err[512];
    int ret;

    ret = daemon_parse_options(argc, argv);
    if (ret || (ret = daemon_check_options(&d))) {
        return ret;
    }
    if (dm_address_parse(arg_listen, &addr, err, sizeof(err)) < 0) {
        return daemon_usage("bad --listen: %s", err);
    }
    if (arg_tls_creds && addr.kind == DM_ADDRESS_UNIX) {
        return daemon_usage("%s", "--tls-creds needs a tcp: --listen "
                            "address (a UNIX socket is guarded by its file "
                            "mode)");
    }
    /* Plain HTTP on TCP lets anyone who reaches it run QEMU as us. */
    if (!arg_tls_creds && addr.kind != DM_ADDRESS_UNIX &&
        !arg_insecure_plain_tcp) {
        return daemon_usage("%s", "a tcp: --listen needs --tls-creds (or "
                            "--insecure-plain-tcp, on a trusted network "
                            "only)");
    }
    if (arg_tls_creds &&
        !dm_soup_tls_creds_load(arg_tls_creds, "server", &tls, &error)) {
        fprintf(stderr, "dm-remote daemon: --tls-creds: %s\n",
                error->message);
        return 1;
    }
    if (arg_model_tls_creds &&
        (ret = daemon_setup_model_tls(&d.l, &model_tls))) {
        return ret;
    }
    self = g_file_read_link("/proc/self/exe", NULL);
    if (!self) {
        fprintf(stderr, "dm-remote daemon: cannot read /proc/self/exe\n");
        return 1;
    }
    d.l.self_exe = self;
    ret = d.l.role == DM_ROLE_SERVER ? daemon_setup_server(&d) :
          daemon_setup_client(&d);
    if (ret) {
        return ret;
    }
    /*
     * Sockets and files we and our children make are ours only, whatever
     * umask we were given (modes are also set explicitly where it counts).
     */
    umask(077);
    if (g_mkdir_with_parents(arg_state_dir, 0700) < 0 ||
        chmod(arg_state_dir, 0700) < 0) {
        fprintf(stderr, "dm-remote daemon: cannot create --state-dir "
                "'%s': %s\n", arg_state_dir, g_strerror(errno));
        return 1;
    }
    d.l.state_dir = arg_state_dir;
    if (d.l.role == DM_ROLE_CLIENT &&
        (ret = daemon_setup_save_dir(&d.client)) != 0) {
        return ret;
    }
    d.l.dying = g_hash_table_new_full(g_str_hash, g_str_equal, g_free,
                                      NULL);
    d.l.child_gone = daemon_child_gone;
    d.l.child_gone_opaque = &d;
    signal(SIGPIPE, SIG_IGN);
    daemon_raise_fd_limit(d.l.capacity);
    /* What an earlier launcher, killed outright, left running. */
    if (d.l.role == DM_ROLE_SERVER) {
        dm_instances_adopt_all(&d.server);
        dm_router_adopt(&d.server);
    } else {
        dm_vms_adopt_all(&d.client);
    }
    return daemon_serve(&d, &addr, arg_tls_creds ? &tls : NULL);
}
