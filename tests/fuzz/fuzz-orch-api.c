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
 * launcher-reply.c (JSON, expected status) as a real launcher's do, and
 * it lets the database go around the call as launcher.c does
 * (orch_launcher_set_wait), so the early commits and their undo run.
 *
 * Properties checked, after each request:
 *  - no 500, and a 502, 503 or 504 only when a launcher was called (a
 *    bad body or path is a 4xx); every error has a non-empty "error";
 *  - the database has no broken foreign key, and no half-written VM: a
 *    VM running, suspended or migrating has a client platform, a VM
 *    defined or stopped has no placement;
 *  - a request that failed changed nothing: the tables (platforms, their
 *    models, VMs, devices, placements) are as they were before it.
 *
 * Input: requests and launcher answers, one per block of lines:
 *   "> METHOD PATH" then the request's body, until the next block;
 *   "< STATUS" then a launcher's answer body.
 * The answers form one queue, taken in order by whatever request calls a
 * launcher; with none left, a call fails as an unreachable launcher.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>
#include <glib/gstdio.h>

#include "address.h"
#include "db.h"
#include "error.h"
#include "launcher.h"
#include "log.h"
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
    OrchStore *store;
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

/* What the API's tables hold, as one string. */
static char *tables_dump(void)
{
    static const char *const tables[] = {
        "platforms", "platform_models", "vms", "devices", "placements",
    };
    GString *s = g_string_new(NULL);

    for (size_t i = 0; i < G_N_ELEMENTS(tables); i++) {
        g_autofree char *sql = g_strdup_printf("SELECT * FROM %s ORDER BY "
                                               "rowid", tables[i]);
        sqlite3_stmt *st = NULL;

        if (sqlite3_prepare_v2(db_check, sql, -1, &st, NULL) != SQLITE_OK) {
            fprintf(stderr, "%s: %s\n", sql, sqlite3_errmsg(db_check));
            abort();
        }
        g_string_append_printf(s, "%s:\n", tables[i]);
        while (sqlite3_step(st) == SQLITE_ROW) {
            for (int c = 0; c < sqlite3_column_count(st); c++) {
                const unsigned char *v = sqlite3_column_text(st, c);

                g_string_append_printf(s, "%s|", v ? (const char *)v :
                                       "NULL");
            }
            g_string_append_c(s, '\n');
        }
        sqlite3_finalize(st);
    }
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

static void check_db(const char *what)
{
    if (check_int("SELECT count(*) FROM pragma_foreign_key_check") != 0) {
        fprintf(stderr, "after %s: a broken foreign key\n", what);
        abort();
    }
    if (check_int("SELECT count(*) FROM vms WHERE state IN ('running', "
                  "'suspended', 'migrating') AND client_id IS NULL") != 0) {
        fprintf(stderr, "after %s: a VM running nowhere\n", what);
        abort();
    }
    if (check_int("SELECT count(*) FROM vms v JOIN devices d ON d.vm_id ="
                  " v.id JOIN placements p ON p.device_id = d.id WHERE"
                  " v.state IN ('defined', 'stopped')") != 0) {
        fprintf(stderr, "after %s: a VM not started holds placements\n",
                what);
        abort();
    }
}

static void reset_db(void)
{
    static const char reset[] =
        "DELETE FROM placements; DELETE FROM devices; DELETE FROM vms;"
        "DELETE FROM platform_models; DELETE FROM platforms;"
        "DELETE FROM kv WHERE key LIKE '/dm/events/%';";
    char *msg = NULL;

    if (sqlite3_exec(db_check, reset, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "reset: %s\n", msg);
        abort();
    }
}

/* Send @req on a new connection and read the whole answer into @out. */
static void http_exchange(const GString *req, GString *out)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    size_t sent = 0;
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

    strcpy(sa.sun_path, sock_path);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
        perror("fuzz-orch-api: connect");
        abort();
    }
    for (;;) {
        char buf[16384];
        ssize_t n;
        bool busy = false;

        if (sent < req->len) {
            n = send(fd, req->str + sent, req->len - sent, MSG_NOSIGNAL);
            if (n > 0) {
                sent += n;
                busy = true;
            } else if (n < 0 && errno != EAGAIN) {
                sent = req->len;  /* the server closed: read its answer */
            }
        }
        n = recv(fd, buf, sizeof(buf), 0);
        if (n == 0 || (n < 0 && errno != EAGAIN)) {
            break;
        }
        if (n > 0) {
            g_string_append_len(out, buf, n);
            busy = true;
            /* An event stream does not end: its head is enough. */
            if (strstr(out->str, "\r\n\r\n") &&
                strstr(out->str, "text/event-stream")) {
                break;
            }
        }
        busy |= g_main_context_iteration(NULL, FALSE);
        if (!busy) {
            struct pollfd p = { .fd = fd, .events = POLLIN };

            poll(&p, 1, 1);
        }
    }
    close(fd);
    /* What the server still does for that connection, before the next. */
    while (g_main_context_iteration(NULL, FALSE)) {
    }
}

/* The status and JSON body of @answer; checks that an error says why. */
static guint check_answer(const char *what, const GString *answer)
{
    const char *body = strstr(answer->str, "\r\n\r\n");
    g_autoptr(JsonParser) p = json_parser_new();
    guint status;

    if (sscanf(answer->str, "HTTP/1.%*d %u ", &status) != 1 || !body) {
        fprintf(stderr, "%s: no HTTP answer: '%.200s'\n", what, answer->str);
        abort();
    }
    body += 4;
    if (status < 400 || strstr(answer->str, "text/event-stream")) {
        return status;
    }
    /* libsoup's own refusals (a path it cannot parse) have no JSON. */
    if (!*body && (status == 400 || status == 404)) {
        return status;
    }
    if (!json_parser_load_from_data(p, body, -1, NULL) ||
        !JSON_NODE_HOLDS_OBJECT(json_parser_get_root(p)) ||
        !json_object_get_string_member_with_default(
            json_node_get_object(json_parser_get_root(p)), "error", NULL) ||
        !*json_object_get_string_member(
            json_node_get_object(json_parser_get_root(p)), "error")) {
        fprintf(stderr, "%s: %u without a message: '%.200s'\n", what,
                status, body);
        abort();
    }
    return status;
}

/* Whether @c may go into a request line's path as it is. */
static bool path_char_ok(unsigned char c)
{
    return c > 0x20 && c < 0x7f && c != '#';
}

static void run_request(const char *line, size_t line_len,
                        const char *body, size_t body_len)
{
    const char *sp = memchr(line, ' ', line_len);
    g_autoptr(GString) req = g_string_new(NULL);
    g_autoptr(GString) answer = g_string_new(NULL);
    g_autofree char *before = NULL;
    g_autofree char *what = NULL;
    guint status, calls;

    if (!sp || sp == line) {
        return;
    }
    for (const char *c = line; c < sp; c++) {
        if (*c < 'A' || *c > 'Z') {
            return;             /* not a method libsoup would parse */
        }
    }
    g_string_append_len(req, line, sp - line);
    g_string_append_c(req, ' ');
    if (sp + 1 == line + line_len || sp[1] != '/') {
        g_string_append_c(req, '/');
    }
    for (const char *c = sp + 1; c < line + line_len; c++) {
        if (path_char_ok(*c)) {
            g_string_append_c(req, *c);
        } else {
            g_string_append_printf(req, "%%%02X", (unsigned char)*c);
        }
    }
    what = g_strndup(req->str, MIN(req->len, 200));
    g_string_append_printf(req, " HTTP/1.1\r\nHost: fuzz\r\n"
                           "Connection: close\r\n"
                           "Content-Type: application/json\r\n"
                           "Content-Length: %zu\r\n\r\n", body_len);
    g_string_append_len(req, body, body_len);

    before = tables_dump();
    g_mutex_lock(&answers_lock);
    launcher_calls = 0;
    g_mutex_unlock(&answers_lock);
    http_exchange(req, answer);
    g_mutex_lock(&answers_lock);
    calls = launcher_calls;
    g_mutex_unlock(&answers_lock);

    status = check_answer(what, answer);
    if (verbose) {
        const char *b = strstr(answer->str, "\r\n\r\n");

        fprintf(stderr, "%s: %u (%u launcher calls) %.300s\n", what, status,
                calls, b ? b + 4 : "");
    }
    if (status == 500 || (status >= 500 && calls == 0)) {
        fprintf(stderr, "%s: %u with %u launcher calls: '%.300s'\n", what,
                status, calls, answer->str);
        abort();
    }
    check_db(what);
    if (status >= 400) {
        g_autofree char *after = tables_dump();

        if (strcmp(before, after) != 0) {
            fprintf(stderr, "%s failed (%u) but changed the tables:\n"
                    "before:\n%s\nafter:\n%s\n", what, status, before,
                    after);
            abort();
        }
    }
}

/* The next line at or after @p starting with @c and a space, or NULL. */
static const char *next_block(const char *p, const char *end)
{
    for (; p < end; p++) {
        if ((p[0] == '>' || p[0] == '<') && p + 1 < end && p[1] == ' ') {
            return p;
        }
        p = memchr(p, '\n', end - p);
        if (!p) {
            return NULL;
        }
    }
    return NULL;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *p = (const char *)data, *end = p + size;
    struct {
        const char *line, *body;
        size_t line_len, body_len;
    } reqs[FUZZ_MAX_REQUESTS];
    guint nreq = 0;

    answers_n = answers_next = 0;
    for (p = next_block(p, end); p; ) {
        const char *eol = memchr(p, '\n', end - p);
        const char *body = eol ? eol + 1 : end;
        const char *next = next_block(body, end);
        size_t line_len = (eol ? eol : end) - (p + 2);
        size_t body_len = (next ? next : end) - body;

        if (p[0] == '>' && nreq < FUZZ_MAX_REQUESTS) {
            reqs[nreq].line = p + 2;
            reqs[nreq].line_len = line_len;
            reqs[nreq].body = body;
            reqs[nreq].body_len = body_len;
            nreq++;
        } else if (p[0] == '<' && answers_n < FUZZ_MAX_ANSWERS) {
            char num[8] = "";

            memcpy(num, p + 2, MIN(line_len, sizeof(num) - 1));
            answers[answers_n].status = strtoul(num, NULL, 10);
            answers[answers_n].data = body;
            answers[answers_n].len = body_len;
            answers_n++;
        }
        p = next;
    }
    reset_db();
    for (guint i = 0; i < nreq; i++) {
        run_request(reqs[i].line, reqs[i].line_len, reqs[i].body,
                    reqs[i].body_len);
    }
    return 0;
}
