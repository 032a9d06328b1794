/*
 * dm-orchestrator: the control panel of the disaggregated QEMU.
 *
 *   dm-orchestrator [--store sqlite:PATH | --db PATH]
 *                   [--listen unix:PATH|tcp:HOST:PORT]
 *   dm-orchestrator --store etcd:URL[,URL...] --save-dir DIR
 *                   [--store-ca FILE] [--store-cert FILE --store-key FILE]
 *   dm-orchestrator --db PATH --import-into STORE
 *                   [--store-ca FILE] [--store-cert FILE --store-key FILE]
 *                   [--tls-creds DIR] [--launcher-tls-creds DIR]
 *                   [--save-dir DIR] [--no-reconcile]
 *                   [--insecure-plain-tcp]
 *                   [--web DIR] [--web-token-file FILE]
 *                   [--watch-models SEC]
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib-unix.h>

#include "address.h"
#include "db.h"
#include "dm-watch.h"
#include "error.h"
#include "launcher.h"
#include "lead.h"
#include "log.h"
#include "reconcile.h"
#include "registrations.h"
#include "records-bind.h"
#include "request.h"
#include "save.h"
#include "server.h"
#include "store.h"
#include "store-events.h"
#include "store-import.h"

static const char *arg_db = "/var/lib/dm-orchestrator/db.sqlite";
static const char *arg_listen = "unix:/run/dm-orchestrator.sock";
static const char *arg_tls_creds;
static const char *arg_launcher_tls_creds;
static guint arg_launcher_timeout = ORCH_LAUNCHER_TIMEOUT_S;
static const char *arg_save_dir;
static bool arg_reconcile = true;
static bool arg_insecure_plain_tcp;
static const char *arg_import_into;
static const char *arg_store_etcd;      /* --store etcd:...: no SQLite file */
static bool arg_db_given;
static const char *arg_advertise;       /* default: --listen's */
static guint arg_leader_ttl = 5;
static const char *arg_store_ca;
static const char *arg_store_cert;
static const char *arg_store_key;
static const char *arg_web;
static const char *arg_web_token_file;
static guint arg_watch_models;

static void help(void)
{
    printf("Usage: dm-orchestrator [OPTIONS]\n"
           "\n"
           "Keep the database of platforms, VMs and device models; place\n"
           "device models on server platforms and run VMs on client\n"
           "platforms through their launchers (dm-remote daemon).\n"
           "The API is HTTP/JSON (docs/api.md); dmctl is its client.\n"
           "\n"
           "Options:\n"
           "      --db=PATH           the SQLite database (default\n"
           "                          /var/lib/dm-orchestrator/db.sqlite;\n"
           "                          created, or migrated to the current\n"
           "                          schema); the store's keys are in it\n"
           "                          too, copied from its tables at the\n"
           "                          first start\n"
           "      --store=SPEC        where the database is: sqlite:PATH (as\n"
           "                          --db=PATH) or etcd:URL[,URL...], the\n"
           "                          keys under /dm/ of an etcd cluster that\n"
           "                          several orchestrators may share (with\n"
           "                          --save-dir; docs/scale-out.md)\n"
           "      --advertise=ADDRESS with --store etcd: the API address\n"
           "                          (unix:PATH or tcp:HOST:PORT) other\n"
           "                          orchestrators send writes to while\n"
           "                          this one leads (default: --listen's)\n"
           "      --leader-ttl=SEC    with --store etcd: the leader's lease\n"
           "                          (2..60, default 5): a dead leader is\n"
           "                          replaced within it\n"
           "      --import-into=SPEC  copy the database into the store SPEC\n"
           "                          (sqlite:PATH or etcd:URL[,URL...]) as\n"
           "                          keys, once, and exit\n"
           "      --store-ca=FILE     etcd over https (--store, --import-into):\n"
           "                          the CA of its\n"
           "                          certificate (default: the system's)\n"
           "      --store-cert=FILE, --store-key=FILE\n"
           "                          etcd over https: our client certificate\n"
           "  -l, --listen=ADDRESS    where the API listens: unix:PATH or\n"
           "                          tcp:HOST:PORT (default\n"
           "                          unix:/run/dm-orchestrator.sock)\n"
           "      --tls-creds=DIR     serve HTTPS (tcp: only): DIR holds\n"
           "                          ca-cert.pem, server-cert.pem and\n"
           "                          server-key.pem; clients must show a\n"
           "                          certificate signed by that CA\n"
           "      --insecure-plain-tcp\n"
           "                          allow a tcp: --listen without\n"
           "                          --tls-creds: plain HTTP that anyone\n"
           "                          who reaches the port may use.  For a\n"
           "                          trusted network only\n"
           "      --launcher-tls-creds=DIR\n"
           "                          call launchers on tcp: addresses over\n"
           "                          HTTPS: DIR holds ca-cert.pem (the CA\n"
           "                          of their certificates), client-cert.pem\n"
           "                          and client-key.pem (ours).  Without\n"
           "                          it they are called over plain HTTP\n"
           "      --launcher-timeout=SEC\n"
           "                          how long a call waits for a launcher's\n"
           "                          answer (default 30; 1..3600)\n"
           "      --save-dir=DIR      where saved VMs go unless the save\n"
           "                          names a file (default: 'saved' beside\n"
           "                          the database).  QEMU writes it on the\n"
           "                          client platform: across hosts it must\n"
           "                          be shared storage\n"
           "      --web=DIR           serve the web console's files from DIR\n"
           "                          on the API's listener (the API itself\n"
           "                          is served at /v1 either way)\n"
           "      --web-token-file=FILE\n"
           "                          with --tls-creds: a client without a\n"
           "                          certificate (a browser) may show the\n"
           "                          token in FILE instead (one line, 16\n"
           "                          characters or more), logging in at\n"
           "                          /login or as 'Authorization: Bearer'\n"
           "      --watch-models=SEC  ask the launchers every SEC seconds\n"
           "                          (1..3600) how each placed model is,\n"
           "                          and record a restart or a change of\n"
           "                          state as an event (default: never)\n"
           "      --no-reconcile      do not ask the launchers what runs at\n"
           "                          start-up (the database is trusted)\n"
           "  -v, --verbose           log every request\n"
           "  -q, --quiet             log errors only\n"
           "  -h, --help              show this help\n"
           "\n"
           "SIGTERM or SIGINT stops it and removes its socket file.\n");
}

/*
 * --store: sqlite:PATH is --db PATH; etcd:URL[,URL...] is kept, its
 * URLs checked here and the cluster opened (with --store-ca and the
 * client certificate, given in any order) by main().
 */
static int parse_store(const char *spec)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchStore) s = NULL;

    if (g_str_has_prefix(spec, "sqlite:")) {
        arg_db = spec + 7;
        arg_db_given = true;
        arg_store_etcd = NULL;
        return 0;
    }
    s = orch_store_open(spec, NULL, NULL, NULL, &err);
    if (!s) {
        fprintf(stderr, "dm-orchestrator: --store: %s\n", err->message);
        return -1;
    }
    arg_store_etcd = spec;
    return 0;
}

/* An option's whole number of seconds in @lo..@hi, or said why not. */
static bool parse_seconds(const char *opt, const char *arg, guint lo,
                          guint hi, guint *ret)
{
    char *end;
    guint64 v = g_ascii_strtoull(arg, &end, 10);

    if (!*arg || *end || v < lo || v > hi) {
        fprintf(stderr, "dm-orchestrator: invalid --%s '%s' (%u..%u)\n", opt,
                arg, lo, hi);
        return false;
    }
    *ret = v;
    return true;
}

/* 0 to run, 1 when done (--help), 2 on a usage error. */
static int parse_argv(int argc, char **argv)
{
    static const struct option opts[] = {
        { "db", required_argument, NULL, 'd' },
        { "store", required_argument, NULL, 'S' },
        { "import-into", required_argument, NULL, 'i' },
        { "advertise", required_argument, NULL, 'A' },
        { "leader-ttl", required_argument, NULL, 'E' },
        { "store-ca", required_argument, NULL, 'a' },
        { "store-cert", required_argument, NULL, 'c' },
        { "store-key", required_argument, NULL, 'k' },
        { "listen", required_argument, NULL, 'l' },
        { "tls-creds", required_argument, NULL, 't' },
        { "launcher-tls-creds", required_argument, NULL, 'L' },
        { "launcher-timeout", required_argument, NULL, 'T' },
        { "save-dir", required_argument, NULL, 's' },
        { "no-reconcile", no_argument, NULL, 'R' },
        { "insecure-plain-tcp", no_argument, NULL, 'I' },
        { "web", required_argument, NULL, 'W' },
        { "web-token-file", required_argument, NULL, 'K' },
        { "watch-models", required_argument, NULL, 'M' },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    g_autoptr(GError) err = NULL;
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":l:vqh", opts, NULL)) != -1) {
        switch (c) {
        case 'd':
            arg_db = optarg;
            arg_db_given = true;
            break;
        case 'S':
            if (parse_store(optarg) < 0) {
                return 2;
            }
            break;
        case 'i':
            arg_import_into = optarg;
            break;
        case 'a':
            arg_store_ca = optarg;
            break;
        case 'A':
            arg_advertise = optarg;
            break;
        case 'E':
            if (!parse_seconds("leader-ttl", optarg, 2, 60,
                               &arg_leader_ttl)) {
                return 2;
            }
            break;
        case 'c':
            arg_store_cert = optarg;
            break;
        case 'k':
            arg_store_key = optarg;
            break;
        case 'l':
            arg_listen = optarg;
            break;
        case 't':
            arg_tls_creds = optarg;
            break;
        case 'L':
            arg_launcher_tls_creds = optarg;
            break;
        case 'T':
            if (!parse_seconds("launcher-timeout", optarg, 1, 3600,
                               &arg_launcher_timeout)) {
                return 2;
            }
            break;
        case 's':
            arg_save_dir = optarg;
            break;
        case 'R':
            arg_reconcile = false;
            break;
        case 'I':
            arg_insecure_plain_tcp = true;
            break;
        case 'W':
            arg_web = optarg;
            break;
        case 'K':
            arg_web_token_file = optarg;
            break;
        case 'M':
            if (!parse_seconds("watch-models", optarg, 1, 3600,
                               &arg_watch_models)) {
                return 2;
            }
            break;
        case 'v':
            orch_log_level = 2;
            break;
        case 'q':
            orch_log_level = 0;
            break;
        case 'h':
            help();
            return 1;
        case ':':
            fprintf(stderr, "dm-orchestrator: option '%s' needs a value\n",
                    argv[optind - 1]);
            return 2;
        default:
            fprintf(stderr, "dm-orchestrator: unknown option '%s' (see "
                    "--help)\n", argv[optind - 1]);
            return 2;
        }
    }
    if (optind < argc) {
        fprintf(stderr, "dm-orchestrator: unexpected argument '%s'\n",
                argv[optind]);
        return 2;
    }
    if (!*arg_db) {
        fprintf(stderr, "dm-orchestrator: --db and --store sqlite: need a "
                "path\n");
        return 2;
    }
    if (arg_store_etcd && (arg_db_given || arg_import_into)) {
        fprintf(stderr, "dm-orchestrator: --store %s keeps no SQLite file: "
                "not with --db or --import-into (which copies a --db into "
                "a store)\n", arg_store_etcd);
        return 2;
    }
    if (arg_advertise && !arg_store_etcd) {
        fprintf(stderr, "dm-orchestrator: --advertise needs --store etcd: "
                "(one orchestrator alone leads)\n");
        return 2;
    }
    if (arg_advertise && !orch_address_valid(arg_advertise, &err)) {
        fprintf(stderr, "dm-orchestrator: --advertise: %s\n", err->message);
        return 2;
    }
    /* The default, beside the database, would be this host's alone. */
    if (arg_store_etcd && !arg_save_dir) {
        fprintf(stderr, "dm-orchestrator: --store %s needs --save-dir (a "
                "directory the client platforms share)\n", arg_store_etcd);
        return 2;
    }
    if (arg_save_dir && (!*arg_save_dir || strchr(arg_save_dir, ','))) {
        fprintf(stderr, "dm-orchestrator: --save-dir needs a path without "
                "a comma\n");
        return 2;
    }
    if ((arg_tls_creds && !*arg_tls_creds) ||
        (arg_launcher_tls_creds && !*arg_launcher_tls_creds)) {
        fprintf(stderr, "dm-orchestrator: --tls-creds and "
                "--launcher-tls-creds need a directory\n");
        return 2;
    }
    if (!orch_address_valid(arg_listen, &err)) {
        fprintf(stderr, "dm-orchestrator: --listen: %s\n", err->message);
        return 2;
    }
    if (arg_tls_creds && !g_str_has_prefix(arg_listen, "tcp:")) {
        fprintf(stderr, "dm-orchestrator: --tls-creds needs a tcp: "
                "--listen address (a UNIX socket is guarded by its file "
                "mode)\n");
        return 2;
    }
    /* Sent in clear, a token would be anyone's who listens. */
    if (arg_web_token_file && !arg_tls_creds) {
        fprintf(stderr, "dm-orchestrator: --web-token-file needs "
                "--tls-creds\n");
        return 2;
    }
    if (arg_web && !*arg_web) {
        fprintf(stderr, "dm-orchestrator: --web needs a directory\n");
        return 2;
    }
    /* Anyone who reaches a plain port could run and read every VM. */
    if (g_str_has_prefix(arg_listen, "tcp:") && !arg_tls_creds &&
        !arg_insecure_plain_tcp) {
        fprintf(stderr, "dm-orchestrator: --listen %s without --tls-creds "
                "would serve the API to anyone who reaches the port: give "
                "--tls-creds, or --insecure-plain-tcp on a trusted network "
                "only\n", arg_listen);
        return 2;
    }
    return 0;
}

static gboolean on_signal(gpointer loop)
{
    g_main_loop_quit(loop);
    return G_SOURCE_REMOVE;
}

/* The absolute save directory, created here if it can be. */
static void set_save_dir(void)
{
    g_autofree char *db_dir = g_path_get_dirname(arg_db);
    g_autofree char *dir = arg_save_dir ? g_strdup(arg_save_dir) :
        g_build_filename(db_dir, "saved", NULL);

    orch_save_dir = g_canonicalize_filename(dir, NULL);
    if (g_mkdir_with_parents(orch_save_dir, 0700) < 0) {
        /* Maybe only the client platforms can: they write there. */
        orch_warn("cannot create %s: %s, ignoring", orch_save_dir,
                  g_strerror(errno));
    }
}

static int make_db_private(void)
{
    g_autofree char *dir = g_path_get_dirname(arg_db);
    g_autoptr(GError) err = NULL;

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        orch_warn("cannot create %s: %s", dir, g_strerror(errno));
        return -1;
    }
    if (!orch_db_make_private(arg_db, &err)) {
        orch_warn("cannot make the database private: %s", err->message);
        return -1;
    }
    return 0;
}

/* --import-into: the database into the store's keys, then exit. */
static int import_into(sqlite3 *db)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(OrchStore) s = orch_store_open(arg_import_into, arg_store_ca,
                                             arg_store_cert, arg_store_key,
                                             &err);

    if (!s || !orch_store_import(db, s, "/dm/", &err)) {
        fprintf(stderr, "dm-orchestrator: --import-into %s: %s\n",
                arg_import_into, err->message);
        return 1;
    }
    printf("dm-orchestrator: %s imported into %s\n", arg_db,
           arg_import_into);
    return 0;
}

/* The store's name in messages: the etcd URLs, or the database's file. */
static char *store_spec(void)
{
    return arg_store_etcd ? g_strdup(arg_store_etcd) :
        g_strconcat("sqlite:", arg_db, NULL);
}

/*
 * The store: etcd's keys under /dm/ (--store etcd:), or the database's
 * file (SQLite's kv table beside its tables), filled from the tables at
 * the first start (a database of schema 7 from before the store,
 * docs/scale-out.md).
 */
static OrchStore *open_store(void)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *spec = store_spec();
    OrchStore *s = arg_store_etcd ?
        orch_store_open(spec, arg_store_ca, arg_store_cert, arg_store_key,
                        &err) :
        orch_store_open(spec, NULL, NULL, NULL, &err);

    if (!s) {
        orch_warn("the store %s: %s", spec, err->message);
    }
    return s;
}

/*
 * The modules this build keeps on the store, their keys the truth
 * (docs/scale-out.md, "How the modules move"): a store that does not list
 * one yet (filled while an older orchestrator wrote the tables) gets its
 * part brought up to date from the tables once.  Every module has moved:
 * the tables are read only by these catch-ups and --import-into.
 */
static const char *const store_moved[] = {
    "events", "platforms", "vms", NULL,
};

/*
 * Up to date before anything reads it: imported from @db's tables at the
 * first start, or on etcd (no @db) made empty if nobody did; then the
 * catch-up of the modules it does not list yet.
 */
static bool fill_store_once(OrchStore *s, sqlite3 *db, GError **errp)
{
    g_autofree char *spec = store_spec();
    g_autoptr(OrchKv) schema = NULL;

    if (!orch_store_get(s, ORCH_STORE_ROOT "schema", &schema, NULL, errp)) {
        return false;
    }
    if (!schema && !db) {
        if (!orch_store_create(s, ORCH_STORE_ROOT, errp)) {
            return false;
        }
    } else if (!schema) {
        if (!orch_store_import(db, s, ORCH_STORE_ROOT, errp)) {
            g_prefix_error(errp, "the import: ");
            return false;
        }
        orch_info("the database's tables copied into the store %s", spec);
    }
    return orch_store_import_moved(db, s, ORCH_STORE_ROOT, store_moved,
                                   errp) &&
           orch_events_open(s, errp);
}

/*
 * Orchestrators started together on one etcd may meet on its first
 * marks (/dm/schema, /dm/moved): a conflict is read again.
 */
static bool fill_store(OrchStore *s, sqlite3 *db)
{
    g_autofree char *spec = store_spec();

    for (int i = 0;; i++) {
        g_autoptr(GError) err = NULL;

        if (fill_store_once(s, db, &err)) {
            return true;
        }
        if (i == 4 || !g_error_matches(err, ORCH_ERROR, ORCH_ERROR_CONFLICT)) {
            orch_warn("the store %s: %s", spec, err->message);
            return false;
        }
        g_usleep(100000 * (i + 1));
    }
}

static OrchStore *lead_store;

/* The leader's work between rounds: the launchers' registrations. */
static void lead_work(void)
{
    orch_registrations_pass(lead_store);
}

/*
 * Elected on etcd: what a dead leader left is put right before writes;
 * false (tried again next round, writes refused meanwhile) until done.
 */
static bool lead_elected(void)
{
    g_autoptr(GError) err = NULL;
    guint left = 0;

    if (!arg_reconcile) {
        return true;
    }
    if (!orch_reconcile(NULL, &left, &err)) {
        orch_warn("reconcile: %s", err->message);
        return false;
    }
    /* Not done while a repair is left: taking writes waits for it. */
    return left == 0;
}

static int open_db(sqlite3 **ret_db)
{
    g_autofree char *dir = g_path_get_dirname(arg_db);
    g_autoptr(GError) err = NULL;

    if (g_mkdir_with_parents(dir, 0700) < 0) {
        orch_warn("cannot create %s: %s", dir, g_strerror(errno));
        return -1;
    }
    *ret_db = orch_db_open(arg_db, &err);
    if (!*ret_db) {
        orch_warn("cannot open the database %s", err->message);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GMainLoop) loop = NULL;
    g_autoptr(GSocket) listener = NULL;
    DmSoupTlsCreds tls = { 0 };
    DmSoupTlsCreds launcher_tls = { 0 };
    OrchServerWeb web = { 0 };
    sqlite3 *db_main, *db_worker;
    g_autoptr(OrchStore) store = NULL;
    DmEtcdWatch *reg_watch = NULL;
    OrchServer *server;
    int ret;

    ret = parse_argv(argc, argv);
    if (ret) {
        return ret == 1 ? 0 : 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /*
     * The schema checked and migrated first (a newer one refused before
     * the store adds its tables to the file); then the store, with no
     * other connection open: it makes the file private, and closing that
     * file descriptor would drop the locks of every connection of this
     * process (fcntl locks are per process); then the connections.
     */
    if (arg_store_etcd) {
        /* No SQLite file: the handlers' connections stay NULL. */
        db_main = db_worker = NULL;
        store = open_store();
        if (!store) {
            return 1;
        }
    } else if (make_db_private() < 0 || open_db(&db_main) < 0) {
        return 1;
    } else if (!arg_import_into) {
        sqlite3_close(db_main);
        store = open_store();
        if (!store || open_db(&db_main) < 0) {
            return 1;
        }
    }
    if (!arg_store_etcd && open_db(&db_worker) < 0) {
        return 1;
    }
    if (arg_import_into) {
        ret = import_into(db_worker);
        sqlite3_close(db_main);
        sqlite3_close(db_worker);
        return ret;
    }
    /* Before the reconciliation: it writes events. */
    if (!fill_store(store, db_worker)) {
        return 1;
    }
    /*
     * The requests' views (request.h), which the records' reads and
     * writes go through (records-bind.h, records-set.h).
     */
    orch_request_set_store(store);
    orch_rec_twin_open(store, ORCH_STORE_ROOT);
    orch_rec_read_store(true);
    set_save_dir();
    if (arg_tls_creds &&
        !dm_soup_tls_creds_load(arg_tls_creds, "server", &tls, &err)) {
        orch_warn("--tls-creds: %s", err->message);
        return 1;
    }
    /* Before the reconciliation: it calls the launchers. */
    if (arg_launcher_tls_creds &&
        !dm_soup_tls_creds_load(arg_launcher_tls_creds, "client",
                                &launcher_tls, &err)) {
        orch_warn("--launcher-tls-creds: %s", err->message);
        dm_soup_tls_creds_clear(&tls);
        return 1;
    }
    orch_launcher_set_tls(arg_launcher_tls_creds ? &launcher_tls : NULL);
    orch_launcher_set_timeout(arg_launcher_timeout);
    orch_launcher_set_wait(orch_db_pause, orch_db_resume);
    /*
     * On etcd the leader reconciles, once elected (lead_elected); the
     * first round is run here, before anything is served (a previous
     * run's leader key naming our address is taken back): a lone
     * orchestrator leads from its first request.
     */
    if (arg_store_etcd) {
        lead_store = store;
        /* What it writes, it writes as the leader or not at all. */
        orch_view_set_fence(ORCH_STORE_ROOT "leader", orch_lead_token);
        orch_lead_set_work(lead_work);
        if (!orch_lead_start(arg_store_etcd + strlen("etcd:"), arg_store_ca,
                             arg_store_cert, arg_store_key,
                             arg_advertise ? arg_advertise : arg_listen,
                             arg_leader_ttl, lead_elected, &err)) {
            orch_warn("the election: %s", err->message);
            return 1;
        }
    } else if (arg_reconcile && !orch_reconcile(db_worker, NULL, &err)) {
        orch_warn("reconcile: %s", err->message);
        return 1;
    }
    if (!arg_tls_creds && g_str_has_prefix(arg_listen, "tcp:")) {
        orch_warn("the API on %s is plain HTTP without authentication: "
                  "use it on a trusted network only (--insecure-plain-tcp)",
                  arg_listen);
    }
    web.auth = orch_web_auth_new(arg_tls_creds != NULL, arg_web_token_file,
                                 &err);
    if (!web.auth) {
        orch_warn("--web-token-file: %s", err->message);
        return 1;
    }
    if (arg_web) {
        web.files = orch_web_files_new(arg_web, &err);
        if (!web.files) {
            orch_warn("--web: %s", err->message);
            orch_web_auth_free(web.auth);
            return 1;
        }
    }
    listener = orch_address_listen(arg_listen, &err);
    if (!listener) {
        orch_warn("cannot listen on %s: %s", arg_listen, err->message);
        return 1;
    }
    server = orch_server_new(listener, arg_tls_creds ? &tls : NULL,
                             db_main, db_worker, &web, &err);
    if (!server) {
        orch_warn("cannot serve on %s: %s", arg_listen, err->message);
        orch_address_cleanup(arg_listen);
        return 1;
    }
    /* A registration's change: the leader's pass at once. */
    if (arg_store_etcd) {
        reg_watch = orch_registrations_watch(store, orch_lead_wake, &err);
        if (!reg_watch) {
            orch_warn("watching the registrations: %s", err->message);
            return 1;
        }
    }
    if (arg_watch_models &&
        !orch_dm_watch_start(arg_store_etcd ? NULL : arg_db,
                             arg_watch_models, &err)) {
        orch_warn("--watch-models: %s", err->message);
        return 1;
    }
    loop = g_main_loop_new(NULL, FALSE);
    g_unix_signal_add(SIGTERM, on_signal, loop);
    g_unix_signal_add(SIGINT, on_signal, loop);
    g_autofree char *spec = store_spec();

    orch_info("serving the API on %s%s, store %s%s", arg_listen,
              arg_tls_creds ? " (TLS)" : "", spec,
              arg_launcher_tls_creds ? ", launchers on TCP over TLS" : "");
    if (arg_web) {
        orch_info("serving the web console from %s%s", arg_web,
                  arg_web_token_file ? " (login token accepted)" : "");
    }
    g_main_loop_run(loop);
    orch_server_stop(server);
    orch_address_cleanup(arg_listen);
    dm_soup_tls_creds_clear(&tls);
    orch_launcher_set_tls(NULL);
    dm_soup_tls_creds_clear(&launcher_tls);
    g_clear_pointer(&reg_watch, dm_etcd_watch_free);
    orch_view_set_fence(NULL, NULL);
    orch_lead_stop();
    orch_rec_twin_open(NULL, NULL);
    orch_request_set_store(NULL);
    orch_events_close();
    orch_info("stopped");
    return 0;
}
