/*
 * libFuzzer target: the orchestrator's API, every route, through its own
 * server (orchestrator/server.c and the handlers below it) on a UNIX
 * socket of this process, against a database emptied before each input,
 * with a fake launcher that answers from the input.
 *
 * libsoup 3 makes a SoupServerMessage only inside a server, so the
 * request goes through the real one: the harness writes the HTTP framing
 * itself (method, path, Content-Length) so that the fuzzer's bytes go to
 * the method, the path and the body, not to breaking HTTP.  The fake
 * launcher replaces launcher.c's transport only: its answers go through
 * launcher-reply.c (JSON, its depth) and launcher-expect.c (the status
 * wanted) as a real launcher's do, and it lets the database go around
 * the call as launcher.c does (orch_launcher_set_wait), so the claims
 * committed before a launch and their release run.
 *
 * Properties checked, after each request:
 *  - no 500, and a 502, 503 or 504 only when a launcher was called (a
 *    bad body or path is a 4xx); every error has a non-empty "error";
 *  - the store's documents (the truth of the platforms, VMs, placements
 *    and routes since docs/scale-out.md's step 3, in the database's file
 *    as dm-orchestrator has it) name no platform that is not, and hold
 *    no half-written VM: a VM running, suspended or migrating has a
 *    client platform, a VM defined or stopped has no placement;
 *  - a request that failed changed nothing: the store's documents (all
 *    but the events) are as they were before it.
 *
 * Input: requests and launcher answers, one per block of lines:
 *   "> METHOD PATH" then the request's body, until the next block;
 *   "< STATUS" then a launcher's answer body.
 * The answers form one queue, taken in order by whatever request calls a
 * launcher; with none left, a call fails as an unreachable launcher.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <glib/gstdio.h>

#include "address.h"
#include "db.h"
#include "error.h"
#include "fuzz-http.h"
#include "launcher.h"
#include "log.h"
#include "records-bind.h"
#include "request.h"
#include "save.h"
#include "server.h"
#include "store-events.h"
#include "store.h"
#include "web-auth.h"

#define FUZZ_MAX_REQUESTS 16
#define FUZZ_MAX_ANSWERS 32

typedef struct FuzzAnswer {
    guint status;
    const char *data;
    size_t len;
} FuzzAnswer;

/* In memory where there is a tmpfs: a commit's fsync costs nothing. */
static char dir[64];
static char sock_path[sizeof(dir) + 16];
static char db_path[sizeof(dir) + 16];
static sqlite3 *db_check;       /* the harness's own connection */
static OrchStore *store;        /* in the database's file, as main() has */
static bool verbose;            /* FUZZ_VERBOSE: each request's answer */

/* The fake launcher's queue, taken by the worker threads. */
static GMutex answers_lock;
static FuzzAnswer answers[FUZZ_MAX_ANSWERS];
static guint answers_n, answers_next;
static guint launcher_calls;
static void (*launcher_pause)(void);
static bool (*launcher_resume)(void);

/* launcher.h, the transport: answers from the input. */
void orch_launcher_set_tls(const DmSoupTlsCreds *creds)
{
}

void orch_launcher_set_timeout(guint seconds)
{
}

void orch_launcher_set_wait(void (*pause)(void), bool (*resume)(void))
{
    launcher_pause = pause;
    launcher_resume = resume;
}

void orch_launcher_websocket(const char *address, const char *path,
                             GCancellable *cancel, OrchLauncherWsFn *done,
                             gpointer opaque)
{
    done(NULL, "fuzz: no launcher WebSocket", opaque);
}

/* An asynchronous call (/metrics asks QEMUs so): no launcher, told later. */
typedef struct FuzzAsyncFail {
    OrchLauncherDoneFn *done;
    gpointer opaque;
} FuzzAsyncFail;

static gboolean fuzz_async_fail(gpointer opaque)
{
    FuzzAsyncFail *f = opaque;

    f->done(0, NULL, "fuzz: no asynchronous launcher call", f->opaque);
    g_free(f);
    return G_SOURCE_REMOVE;
}

void orch_launcher_call_async(const char *address, const char *method,
                              const char *path, JsonNode *body,
                              guint timeout_s, GCancellable *cancel,
                              OrchLauncherDoneFn *done, gpointer opaque)
{
    FuzzAsyncFail *f = g_new0(FuzzAsyncFail, 1);

    f->done = done;
    f->opaque = opaque;
    g_idle_add(fuzz_async_fail, f);
}

bool orch_launcher_call(const char *address, const char *method,
                        const char *path, JsonNode *body, guint *ret_status,
                        JsonNode **ret_reply, GError **errp)
{
    FuzzAnswer a = { 0 };
    bool have;

    /* What the real one sends: the body must serialise. */
    if (body) {
        g_free(json_to_string(body, FALSE));
    }
    g_mutex_lock(&answers_lock);
    launcher_calls++;
    have = answers_next < answers_n;
    if (have) {
        a = answers[answers_next++];
    }
    g_mutex_unlock(&answers_lock);
    if (launcher_pause) {
        launcher_pause();
    }
    if (launcher_resume && !launcher_resume()) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_UNAVAILABLE,
                    "the database is busy");
        return false;
    }
    if (!have) {
        g_set_error(errp, ORCH_ERROR, ORCH_ERROR_BAD_GATEWAY,
                    "launcher %s: fuzz: no answer left", address);
        return false;
    }
    if (!orch_launcher_answer(address, method, path, a.data, a.len,
                              ret_reply, errp)) {
        return false;
    }
    *ret_status = a.status;
    return true;
}

static void remove_dir(void)
{
    g_autofree char *cmd = g_strdup_printf("rm -rf '%s'", dir);

    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", dir);
    }
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
    g_autoptr(GError) err = NULL;
    g_autofree char *spec = NULL;
    g_autofree char *listen = NULL;
    OrchServerWeb web = { 0 };
    GSocket *listener;
    sqlite3 *db_main, *db_worker;

    snprintf(dir, sizeof(dir), "%s/fuzz-orch-api-XXXXXX",
             g_file_test("/dev/shm", G_FILE_TEST_IS_DIR) ? "/dev/shm" :
             g_get_tmp_dir());
    if (!mkdtemp(dir)) {
        abort();
    }
    atexit(remove_dir);
    snprintf(sock_path, sizeof(sock_path), "%s/api.sock", dir);
    snprintf(db_path, sizeof(db_path), "%s/db.sqlite", dir);
    verbose = getenv("FUZZ_VERBOSE") != NULL;
    orch_log_level = verbose ? 1 : -1;  /* quiet: millions of requests */
    signal(SIGPIPE, SIG_IGN);
    /* A failed g_return_if_fail() in the product is a bug: abort. */
    g_log_set_always_fatal(G_LOG_LEVEL_CRITICAL | G_LOG_FATAL_MASK);
    orch_save_dir = g_build_filename(dir, "saved", NULL);
    g_mkdir(orch_save_dir, 0700);
    spec = g_strconcat("sqlite:", db_path, NULL);
    /* As main() opens it: the schema first, then the store, then both. */
    db_main = orch_db_open(db_path, &err);
    if (!db_main) {
        goto fail;
    }
    sqlite3_close(db_main);
    store = orch_store_open(spec, NULL, NULL, NULL, &err);
    if (!store || !orch_events_open(store, &err)) {
        goto fail;
    }
    db_main = orch_db_open(db_path, &err);
    db_worker = db_main ? orch_db_open(db_path, &err) : NULL;
    db_check = db_worker ? orch_db_open(db_path, &err) : NULL;
    if (!db_check) {
        goto fail;
    }
    /* Nothing to keep across a crash of the harness: no syncs. */
    sqlite3_exec(db_main, "PRAGMA synchronous = OFF", NULL, NULL, NULL);
    sqlite3_exec(db_worker, "PRAGMA synchronous = OFF", NULL, NULL, NULL);
    sqlite3_exec(db_check, "PRAGMA synchronous = OFF", NULL, NULL, NULL);
    orch_launcher_set_wait(orch_db_pause, orch_db_resume);
    orch_request_set_store(store);
    orch_rec_twin_open(store, ORCH_STORE_ROOT);
    orch_rec_read_store(true);
    web.auth = orch_web_auth_new(false, NULL, &err);
    listen = g_strconcat("unix:", sock_path, NULL);
    listener = web.auth ? orch_address_listen(listen, &err) : NULL;
    if (!listener ||
        !orch_server_new(listener, NULL, db_main, db_worker, &web, &err)) {
        goto fail;
    }
    return 0;

fail:
    fprintf(stderr, "fuzz-orch-api: set-up: %s\n", err ? err->message : "?");
    abort();
}

/* What the store holds but the events, as one string. */
static char *store_dump(void)
{
    static const char sql[] =
        "SELECT key, value FROM kv WHERE key NOT LIKE '/dm/events/%'"
        " ORDER BY key";
    GString *s = g_string_new(NULL);
    sqlite3_stmt *st = NULL;

    if (sqlite3_prepare_v2(db_check, sql, -1, &st, NULL) != SQLITE_OK) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db_check));
        abort();
    }
    while (sqlite3_step(st) == SQLITE_ROW) {
        g_string_append_printf(s, "%s = %s\n", sqlite3_column_text(st, 0),
                               sqlite3_column_text(st, 1));
    }
    sqlite3_finalize(st);
    return g_string_free(s, FALSE);
}

static gint64 check_int(const char *sql)
{
    sqlite3_stmt *st = NULL;
    gint64 v;

    if (sqlite3_prepare_v2(db_check, sql, -1, &st, NULL) != SQLITE_OK ||
        sqlite3_step(st) != SQLITE_ROW) {
        fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db_check));
        abort();
    }
    v = sqlite3_column_int64(st, 0);
    sqlite3_finalize(st);
    return v;
}

/* The VMs' documents, in SQL over the store's kv table. */
#define VM_DOCS "kv v WHERE v.key >= '/dm/vms/' AND v.key < '/dm/vms0'"
#define PLATFORM_OF(name) \
    "(SELECT 1 FROM kv s WHERE s.key = '/dm/platforms/' || " name ")"

static void check_db(const char *what)
{
    if (check_int("SELECT count(*) FROM kv p WHERE p.key >= "
                  "'/dm/placements/' AND p.key < '/dm/placements0' AND NOT "
                  "EXISTS " PLATFORM_OF("json_extract(p.value, '$.server')"))
        != 0 ||
        check_int("SELECT count(*) FROM " VM_DOCS " AND json_extract("
                  "v.value, '$.client') IS NOT NULL AND NOT EXISTS "
                  PLATFORM_OF("json_extract(v.value, '$.client')")) != 0) {
        fprintf(stderr, "after %s: a document names no platform\n", what);
        abort();
    }
    if (check_int("SELECT count(*) FROM " VM_DOCS " AND json_extract("
                  "v.value, '$.state') IN ('running', 'suspended', "
                  "'migrating') AND json_extract(v.value, '$.client') IS "
                  "NULL") != 0) {
        fprintf(stderr, "after %s: a VM running nowhere\n", what);
        abort();
    }
    if (check_int("SELECT count(*) FROM " VM_DOCS " AND json_extract("
                  "v.value, '$.state') IN ('defined', 'stopped') AND EXISTS"
                  " (SELECT 1 FROM kv p WHERE p.key > '/dm/placements/' ||"
                  " substr(v.key, 9) || '/' AND p.key < '/dm/placements/' ||"
                  " substr(v.key, 9) || '0')") != 0) {
        fprintf(stderr, "after %s: a VM not started holds placements\n",
                what);
        abort();
    }
}

static void reset_db(void)
{
    /* Every document and event; the import's marks stay. */
    static const char reset[] =
        "DELETE FROM kv WHERE key NOT IN ('/dm/schema', '/dm/moved');";
    char *msg = NULL;

    if (sqlite3_exec(db_check, reset, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "reset: %s\n", msg);
        abort();
    }
}

static void run_request(const FuzzBlock *b)
{
    g_autoptr(GString) answer = g_string_new(NULL);
    g_autoptr(GString) req = NULL;
    g_autofree char *before = NULL;
    g_autofree char *what = NULL;
    guint status, calls;

    req = fuzz_http_request(b, &what);
    if (!req) {
        return;
    }
    before = store_dump();
    g_mutex_lock(&answers_lock);
    launcher_calls = 0;
    g_mutex_unlock(&answers_lock);
    fuzz_http_exchange(sock_path, req, answer);
    g_mutex_lock(&answers_lock);
    calls = launcher_calls;
    g_mutex_unlock(&answers_lock);

    status = fuzz_http_check(what, answer);
    if (verbose) {
        fprintf(stderr, "%s: %u (%u launcher calls) %.300s\n", what, status,
                calls, fuzz_http_body(answer));
    }
    if (status == 500 || (status >= 500 && calls == 0)) {
        fprintf(stderr, "%s: %u with %u launcher calls: '%.300s'\n", what,
                status, calls, answer->str);
        abort();
    }
    check_db(what);
    if (status >= 400) {
        g_autofree char *after = store_dump();

        if (strcmp(before, after) != 0) {
            fprintf(stderr, "%s failed (%u) but changed the store:\n"
                    "before:\n%s\nafter:\n%s\n", what, status, before,
                    after);
            abort();
        }
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    FuzzBlock blocks[FUZZ_MAX_REQUESTS + FUZZ_MAX_ANSWERS];
    guint n = fuzz_http_blocks(data, size, "><", blocks,
                               G_N_ELEMENTS(blocks));
    guint nreq = 0;

    answers_n = answers_next = 0;
    for (guint i = 0; i < n; i++) {
        if (blocks[i].kind == '<' && answers_n < FUZZ_MAX_ANSWERS) {
            char num[8] = "";

            memcpy(num, blocks[i].line, MIN(blocks[i].line_len,
                                            sizeof(num) - 1));
            answers[answers_n].status = strtoul(num, NULL, 10);
            answers[answers_n].data = blocks[i].body;
            answers[answers_n].len = blocks[i].body_len;
            answers_n++;
        }
    }
    reset_db();
    for (guint i = 0; i < n; i++) {
        if (blocks[i].kind == '>' && nreq++ < FUZZ_MAX_REQUESTS) {
            run_request(&blocks[i]);
        }
    }
    fuzz_heap_note();
    return 0;
}
