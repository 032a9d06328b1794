/*
 * The dm_applied extension: which of a client's messages the device has
 * applied, so that posted writes lost with a model (killed) or a link
 * (cut) are sent again, and only those.
 *
 * The record itself (applied.c): known and unknown clients, a state file
 * behind a set-up change, the record kept across a reopen.  Then a real
 * dm-remote over a socket: edu across reconnections, and a UART started
 * again with SIGKILL on its state file.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vup/caps.h"
#include "vup/dm-ext.h"
#include "vup/msg.h"

#include "applied.h"
#include "vup-client.h"

#define TAG_A   0x1122334455667788ull
#define TAG_B   0x0badc0ffee000001ull

#define EDU_LIVENESS    0x04
#define UART_LCR        3
#define UART_SCR        7

static char tmp_dir[64];
static pid_t live_pid;          /* a server a failed test left running */

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* ---- The record (applied.c) ---- */

static void test_record_unknown_then_known(void **state)
{
    DmApplied a = { 0 };
    VupDmApplied r;

    assert_int_equal(dm_applied_begin(&a, NULL, false, TAG_A, 10, &r), 0);
    assert_int_equal(r.client, TAG_A);
    assert_int_equal(r.flags, 0);               /* a fresh device */
    dm_applied_note(&a, false, TAG_A, 11);
    dm_applied_note(&a, false, TAG_A, 12);
    dm_applied_note(&a, false, TAG_B, 99);      /* not the one counted */
    assert_int_equal(dm_applied_begin(&a, NULL, false, TAG_A, 13, &r), 0);
    assert_int_equal(r.flags, VUP_DM_APPLIED_F_KNOWN);
    assert_int_equal(r.last_id, 12);
    /* Another client: not known, and from then on the record is its. */
    assert_int_equal(dm_applied_begin(&a, NULL, false, TAG_B, 40, &r), 0);
    assert_int_equal(r.flags, 0);
    assert_int_equal(dm_applied_begin(&a, NULL, false, TAG_A, 41, &r), 0);
    assert_int_equal(r.flags, 0);
    dm_applied_close(&a);
}

/*
 * While a set-up change waits for its write, the record stays where the
 * state file is; the write brings it up to what was applied.
 */
static void test_record_behind_state_file(void **state)
{
    DmApplied a = { 0 };
    VupDmApplied r;

    assert_int_equal(dm_applied_begin(&a, NULL, false, TAG_A, 1, &r), 0);
    dm_applied_note(&a, false, TAG_A, 2);
    dm_applied_note(&a, true, TAG_A, 3);        /* its write waits */
    dm_applied_note(&a, true, TAG_A, 4);
    assert_int_equal(dm_applied_begin(&a, NULL, true, TAG_A, 5, &r), 0);
    assert_int_equal(r.flags, VUP_DM_APPLIED_F_KNOWN);
    assert_int_equal(r.last_id, 2);
    dm_applied_kept(&a);                        /* the file has it all */
    assert_int_equal(dm_applied_begin(&a, NULL, false, TAG_A, 6, &r), 0);
    assert_int_equal(r.last_id, 5);
    dm_applied_close(&a);
}

/* With a state file the record outlives the process (PATH.applied). */
static void test_record_survives_reopen(void **state)
{
    char state_file[128], path[160];
    DmApplied a = { 0 }, b = { 0 };
    VupDmApplied r;

    snprintf(state_file, sizeof(state_file), "%s/rec.state", tmp_dir);
    snprintf(path, sizeof(path), "%s.applied", state_file);
    assert_int_equal(dm_applied_begin(&a, state_file, false, TAG_A, 7, &r),
                     0);
    dm_applied_note(&a, false, TAG_A, 8);
    dm_applied_close(&a);
    assert_int_equal(access(path, F_OK), 0);
    assert_int_equal(dm_applied_begin(&b, state_file, false, TAG_A, 1, &r),
                     0);
    assert_int_equal(r.flags, VUP_DM_APPLIED_F_KNOWN);
    assert_int_equal(r.last_id, 8);
    dm_applied_close(&b);
    /* A file of another size is not a record: nobody is known. */
    assert_int_equal(truncate(path, 3), 0);
    assert_int_equal(dm_applied_begin(&b, state_file, false, TAG_A, 1, &r),
                     0);
    assert_int_equal(r.flags, 0);
    dm_applied_close(&b);
    unlink(path);
}

/* ---- A real server ---- */

typedef struct Server {
    pid_t pid;
    char sock[108];
    char state[128];
    const char *model;
} Server;

static void server_start(Server *s)
{
    const char *bin = getenv("DM_REMOTE");
    char listen[128];

    assert_non_null(bin);
    snprintf(listen, sizeof(listen), "unix:%s", s->sock);
    unlink(s->sock);
    s->pid = fork();
    if (s->pid == 0) {
        if (s->state[0]) {
            execl(bin, bin, "serve", "--quiet", "--model", s->model,
                  "--listen", listen, "--state-file", s->state,
                  (char *)NULL);
        } else {
            execl(bin, bin, "serve", "--quiet", "--model", s->model,
                  "--listen", listen, (char *)NULL);
        }
        _exit(127);
    }
    live_pid = s->pid;
    for (int i = 0; i < 5000 && access(s->sock, F_OK) != 0; i++) {
        sleep_ms(1);
    }
    assert_int_equal(access(s->sock, F_OK), 0);
}

static void server_open(Server *s, const char *model, bool state_file)
{
    memset(s, 0, sizeof(*s));
    s->model = model;
    snprintf(s->sock, sizeof(s->sock), "%s/%s.sock", tmp_dir, model);
    if (state_file) {
        snprintf(s->state, sizeof(s->state), "%s/%s.state", tmp_dir, model);
    }
    server_start(s);
}

/* SIGTERM: a clean stop.  SIGKILL: the model dies without a word. */
static void server_stop(Server *s, int sig)
{
    int status;

    kill(s->pid, sig);
    assert_int_equal(waitpid(s->pid, &status, 0), s->pid);
    live_pid = 0;
    if (sig == SIGTERM) {
        assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    unlink(s->sock);
}

static void server_close(Server *s)
{
    char path[160];

    server_stop(s, SIGTERM);
    if (s->state[0]) {
        unlink(s->state);
        snprintf(path, sizeof(path), "%s.applied", s->state);
        unlink(path);
        snprintf(path, sizeof(path), "%s.mem", s->state);
        unlink(path);
    }
}

/* A command without descriptors: the reply's errno. */
static int call(int fd, uint16_t cmd, const void *payload, size_t len,
                VupMsg *ret_reply)
{
    return vc_call(fd, cmd, payload, len, NULL, 0, ret_reply);
}

static int connect_client(const Server *s, bool applied)
{
    int fd = vc_connect(s->sock);
    VupCaps caps;

    vup_caps_init_defaults(&caps);
    caps.dm_applied = applied;
    vc_hello(fd, &caps);
    return fd;
}

/* DM_APPLIED: the reply's errno; @ret the reply, with the id we used. */
static int ask_applied(int fd, uint64_t client, VupDmApplied *ret,
                       uint16_t *ret_id)
{
    VupDmApplied q = { .client = client };
    VupMsg r;
    int err;

    if (ret_id) {
        *ret_id = vc_next_id;
    }
    err = call(fd, VUP_CMD_DM_APPLIED, &q, sizeof(q), &r);
    if (err == 0) {
        assert_int_equal(r.payload_len, sizeof(*ret));
        memcpy(ret, r.payload, sizeof(*ret));
        assert_int_equal(ret->client, client);
    }
    vup_msg_clear(&r);
    return err;
}

/* A posted write (NO_REPLY) of @size bytes; its msg_id. */
static uint16_t post_write(int fd, uint64_t offset, uint32_t val,
                           unsigned size)
{
    uint8_t buf[sizeof(VupRegionAccess) + 4];
    VupRegionAccess a = { .offset = offset, .region = 0, .count = size };
    VupHeader h = { .msg_id = vc_next_id++, .command = VUP_CMD_REGION_WRITE,
                    .flags = VUP_FLAG_NO_REPLY };

    memcpy(buf, &a, sizeof(a));
    memcpy(buf + sizeof(a), &val, size);
    assert_int_equal(vup_send_msg(fd, &h, buf, sizeof(a) + size, NULL, 0),
                     0);
    return h.msg_id;
}

/* A region read (a call); its msg_id in @ret_id. */
static uint32_t read_reg(int fd, uint64_t offset, unsigned size,
                         uint16_t *ret_id)
{
    VupRegionAccess a = { .offset = offset, .region = 0, .count = size };
    uint32_t v = 0;
    VupMsg r;

    if (ret_id) {
        *ret_id = vc_next_id;
    }
    assert_int_equal(call(fd, VUP_CMD_REGION_READ, &a, sizeof(a), &r), 0);
    assert_int_equal(r.payload_len, sizeof(a) + size);
    memcpy(&v, r.payload + sizeof(a), size);
    vup_msg_clear(&r);
    return v;
}

/* The link is cut: the device, still there, says how far it got. */
static void test_edu_across_reconnections(void **state)
{
    Server s;
    VupDmApplied r;
    uint16_t id, last;
    int fd;

    server_open(&s, "edu", false);
    fd = connect_client(&s, true);
    assert_int_equal(ask_applied(fd, TAG_A, &r, NULL), 0);
    assert_int_equal(r.flags, 0);               /* nobody known yet */
    post_write(fd, EDU_LIVENESS, 1, 4);
    read_reg(fd, EDU_LIVENESS, 4, &id);
    close(fd);

    fd = connect_client(&s, true);
    assert_int_equal(ask_applied(fd, TAG_A, &r, NULL), 0);
    assert_int_equal(r.flags, VUP_DM_APPLIED_F_KNOWN);
    assert_int_equal(r.last_id, id);
    /* Posted writes and the link gone: the last one sent was applied. */
    post_write(fd, EDU_LIVENESS, 2, 4);
    last = post_write(fd, EDU_LIVENESS, 3, 4);
    close(fd);

    fd = connect_client(&s, true);
    assert_int_equal(ask_applied(fd, TAG_A, &r, NULL), 0);
    assert_int_equal(r.flags, VUP_DM_APPLIED_F_KNOWN);
    assert_int_equal(r.last_id, last);
    assert_int_equal(read_reg(fd, EDU_LIVENESS, 4, NULL), ~3u);
    close(fd);

    /* Another client takes the device: the first is not known again. */
    fd = connect_client(&s, true);
    assert_int_equal(ask_applied(fd, TAG_B, &r, NULL), 0);
    assert_int_equal(r.flags, 0);
    close(fd);
    fd = connect_client(&s, true);
    assert_int_equal(ask_applied(fd, TAG_A, &r, NULL), 0);
    assert_int_equal(r.flags, 0);
    close(fd);
    server_close(&s);
}

/* What a server refuses: without the extension, and malformed asks. */
static void test_refused(void **state)
{
    Server s;
    VupDmApplied r, bad;
    int fd;

    server_open(&s, "edu", false);
    fd = connect_client(&s, false);
    assert_int_equal(ask_applied(fd, TAG_A, &r, NULL), EINVAL);
    close(fd);

    fd = connect_client(&s, true);
    assert_int_equal(ask_applied(fd, 0, &r, NULL), EINVAL);
    bad = (VupDmApplied){ .client = TAG_A, .flags = 1 };
    assert_int_equal(call(fd, VUP_CMD_DM_APPLIED, &bad, sizeof(bad), NULL),
                     EINVAL);
    bad = (VupDmApplied){ .client = TAG_A, .last_id = 5 };
    assert_int_equal(call(fd, VUP_CMD_DM_APPLIED, &bad, sizeof(bad), NULL),
                     EINVAL);
    /* Short: the framing's own check. */
    assert_int_equal(call(fd, VUP_CMD_DM_APPLIED, &bad, 8, NULL), EINVAL);
    /* Still served. */
    assert_int_equal(ask_applied(fd, TAG_A, &r, NULL), 0);
    close(fd);
    server_close(&s);
}

/*
 * A UART killed and started again on its state file: the record came
 * through the kill, and names the last message the device kept.
 */
static void test_uart_across_kill(void **state)
{
    Server s;
    VupDmApplied r;
    uint16_t id1, id2;
    int fd;

    server_open(&s, "uart16550", true);
    fd = connect_client(&s, true);
    assert_int_equal(ask_applied(fd, TAG_A, &r, NULL), 0);
    assert_int_equal(r.flags, 0);
    post_write(fd, UART_LCR, 0x03, 1);          /* set-up: written at once */
    read_reg(fd, UART_LCR, 1, &id1);
    read_reg(fd, UART_SCR, 1, &id2);
    server_stop(&s, SIGKILL);
    close(fd);

    server_start(&s);
    fd = connect_client(&s, true);
    assert_int_equal(ask_applied(fd, TAG_A, &r, NULL), 0);
    assert_int_equal(r.flags, VUP_DM_APPLIED_F_KNOWN);
    /*
     * A message is counted once handled, after its reply went out: the
     * kill may fall in between for the last one (a call, which the
     * client does not keep: it had its answer).
     */
    assert_true(r.last_id == id1 || r.last_id == id2);
    assert_int_equal(read_reg(fd, UART_LCR, 1, NULL), 0x03);
    close(fd);

    /* A fresh start (no state file): no record of anyone either. */
    server_stop(&s, SIGKILL);
    unlink(s.state);
    server_start(&s);
    fd = connect_client(&s, true);
    assert_int_equal(ask_applied(fd, TAG_A, &r, NULL), 0);
    assert_int_equal(r.flags, 0);
    close(fd);
    server_close(&s);
}

static int suite_setup(void **state)
{
    strcpy(tmp_dir, "/tmp/dm-applied-XXXXXX");
    return mkdtemp(tmp_dir) ? 0 : -1;
}

/* Also after a failure: no server left holding the test's output. */
static int suite_teardown(void **state)
{
    char cmd[96];

    if (live_pid > 0) {
        kill(live_pid, SIGKILL);
        waitpid(live_pid, NULL, 0);
    }
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmp_dir);
    return system(cmd) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_record_unknown_then_known),
        cmocka_unit_test(test_record_behind_state_file),
        cmocka_unit_test(test_record_survives_reopen),
        cmocka_unit_test(test_edu_across_reconnections),
        cmocka_unit_test(test_refused),
        cmocka_unit_test(test_uart_across_kill),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
