/*
 * Dirty pages (dm_dirty_pages, dm-remote/core/mapped.c and session.c):
 *   - the table alone: which areas are the guest's, and DM_DIRTY_PAGES
 *     checked whole before anything is applied (outside the region or
 *     the guest's areas, not page-aligned, huge or zero counts, bytes
 *     that do not add up, another page size, a reserved field): a bad
 *     one changes no byte and calls no hook; a good one lands and tells
 *     the hook each run;
 *   - a live "dm-remote serve --model bochs-display" over TCP: before
 *     VERSION and without the capability the command is refused; with
 *     it GET_REGION_INFO lists the framebuffer in a DM_DIRTY capability
 *     (no MMAP, no fd), good pages are read back by REGION_READ, bad
 *     ones get EINVAL and the session goes on; membar (whose model
 *     writes its memory) lists no area.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vup/caps.h"
#include "vup/dm-ext.h"
#include "vup/msg.h"
#include "mapped.h"

#define PAGE        4096
#define BAR0        VUP_PCI_BAR0_REGION_INDEX
#define BAR2        (VUP_PCI_BAR0_REGION_INDEX + 2)

/* ---- Building messages ---- */

typedef struct Msg {
    uint8_t buf[sizeof(VupDmDirtyPages) + 8 * sizeof(VupDmDirtyRun) +
                4 * PAGE];
    size_t len;
} Msg;

/* A message of @n runs (@runs), each filled with its byte (0xa0 + i). */
static void msg_build(Msg *m, uint32_t region, unsigned n,
                      const VupDmDirtyRun *runs)
{
    VupDmDirtyPages h = { .region = region, .nruns = n,
                          .page_size = VUP_DM_DIRTY_PAGE_SIZE };

    memcpy(m->buf, &h, sizeof(h));
    memcpy(m->buf + sizeof(h), runs, n * sizeof(*runs));
    m->len = sizeof(h) + n * sizeof(*runs);
    for (unsigned i = 0; i < n; i++) {
        assert_true(m->len + runs[i].size <= sizeof(m->buf));
        memset(m->buf + m->len, 0xa0 + i, runs[i].size);
        m->len += runs[i].size;
    }
}

static VupDmDirtyPages *msg_hdr(Msg *m)
{
    return (VupDmDirtyPages *)m->buf;
}

/* ---- The table ---- */

static unsigned hook_calls;
static uint64_t hook_offset, hook_size;

static void hook(void *opaque, unsigned region, uint64_t offset,
                 uint64_t size)
{
    assert_ptr_equal(opaque, &hook_calls);
    assert_int_equal(region, 2);
    hook_calls++;
    hook_offset = offset;
    hook_size = size;
}

/* Is every byte of @mem's @len bytes @c? */
static bool all(const uint8_t *mem, size_t len, uint8_t c)
{
    for (size_t i = 0; i < len; i++) {
        if (mem[i] != c) {
            return false;
        }
    }
    return true;
}

static void test_table(void **unused)
{
    static DmMapped t;
    const DmMappedArea *areas[4];
    uint8_t *fb, *other;
    Msg m;
    int err;

    memset(&t, 0, sizeof(t));
    /* Region 2: a guest-only area at 1..4 pages, one the model writes. */
    fb = dm_mapped_add(&t, 2, 16 * PAGE, PAGE, 4 * PAGE, &err);
    other = dm_mapped_add(&t, 2, 16 * PAGE, 8 * PAGE, PAGE, &err);
    assert_non_null(fb);
    assert_non_null(other);
    assert_int_equal(dm_mapped_set_guest_only(&t, 2, 2 * PAGE, hook,
                                              &hook_calls), -EINVAL);
    assert_int_equal(dm_mapped_guest_only_of(&t, 2, areas, 4), 0);
    assert_int_equal(dm_mapped_set_guest_only(&t, 2, PAGE, hook,
                                              &hook_calls), 0);
    assert_int_equal(dm_mapped_guest_only_of(&t, 2, areas, 4), 1);
    assert_int_equal(areas[0]->offset, PAGE);
    assert_int_equal(areas[0]->size, 4 * PAGE);
    assert_int_equal(dm_mapped_guest_only_of(&t, 3, areas, 4), 0);

    /* A good message: two runs land, the hook told of each. */
    msg_build(&m, 2, 2, (VupDmDirtyRun[]) {
        { .offset = PAGE, .size = PAGE },
        { .offset = 3 * PAGE, .size = 2 * PAGE },
    });
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len), 0);
    assert_true(all(fb, PAGE, 0xa0));
    assert_true(all(fb + PAGE, PAGE, 0));
    assert_true(all(fb + 2 * PAGE, 2 * PAGE, 0xa1));
    assert_int_equal(hook_calls, 2);
    assert_int_equal(hook_offset, 3 * PAGE);
    assert_int_equal(hook_size, 2 * PAGE);
    hook_calls = 0;

    /*
     * Bad runs, each after a good first one: nothing applied, not even
     * the first (it would write 0xa5 over 0xa0).  The data is as long
     * as the runs say when that fits, else two pages.
     */
    {
        static const VupDmDirtyRun bad[][2] = {
            /* Past the area, and past the region. */
            { { PAGE, PAGE }, { 4 * PAGE, 2 * PAGE } },
            { { PAGE, PAGE }, { 16 * PAGE, PAGE } },
            /* Before the area; in the area the model writes. */
            { { PAGE, PAGE }, { 0, PAGE } },
            { { PAGE, PAGE }, { 8 * PAGE, PAGE } },
            /* Not page-aligned, empty. */
            { { PAGE, PAGE }, { 2 * PAGE + 8, PAGE } },
            { { PAGE, PAGE }, { 2 * PAGE, 100 } },
            { { PAGE, PAGE }, { 2 * PAGE, 0 } },
            /* Offsets and sizes that wrap around. */
            { { PAGE, PAGE }, { UINT64_MAX - PAGE + 1, 2 * PAGE } },
            { { PAGE, PAGE }, { 2 * PAGE, UINT64_MAX - PAGE + 1 } },
        };

        for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
            VupDmDirtyPages h = { .region = 2, .nruns = 2,
                                  .page_size = VUP_DM_DIRTY_PAGE_SIZE };
            uint64_t data = PAGE + (bad[i][1].size <= 2 * PAGE ?
                                    bad[i][1].size : PAGE);

            memcpy(m.buf, &h, sizeof(h));
            memcpy(m.buf + sizeof(h), bad[i], sizeof(bad[i]));
            m.len = sizeof(h) + sizeof(bad[i]);
            memset(m.buf + m.len, 0xa5, data);
            m.len += data;
            assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len),
                             -EINVAL);
        }
    }
    /* Header-level: region, page size, reserved, counts, lengths. */
    msg_build(&m, 2, 1, (VupDmDirtyRun[]) { { PAGE, PAGE } });
    memset(m.buf + m.len - PAGE, 0xa5, PAGE);
    msg_hdr(&m)->region = 3;
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len), -EINVAL);
    msg_hdr(&m)->region = VUP_PCI_NUM_REGIONS;
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len), -EINVAL);
    msg_hdr(&m)->region = UINT32_MAX;
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len), -EINVAL);
    msg_hdr(&m)->region = 2;
    msg_hdr(&m)->page_size = 8192;
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len), -EINVAL);
    msg_hdr(&m)->page_size = VUP_DM_DIRTY_PAGE_SIZE;
    msg_hdr(&m)->reserved = 1;
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len), -EINVAL);
    msg_hdr(&m)->reserved = 0;
    msg_hdr(&m)->nruns = 0;
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len), -EINVAL);
    msg_hdr(&m)->nruns = UINT32_MAX;
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len), -EINVAL);
    msg_hdr(&m)->nruns = VUP_DM_DIRTY_MAX_RUNS + 1;
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len), -EINVAL);
    /* More runs than the payload holds. */
    msg_hdr(&m)->nruns = 2;
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf,
                                           sizeof(VupDmDirtyPages) + 20),
                     -EINVAL);
    msg_hdr(&m)->nruns = 1;
    /* A byte short, a byte more, no header at all. */
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len - 1), -EINVAL);
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len + 1), -EINVAL);
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, 8), -EINVAL);
    assert_true(all(fb, PAGE, 0xa0));
    assert_int_equal(hook_calls, 0);
    /* The same message, sound: it lands. */
    assert_int_equal(dm_mapped_apply_dirty(&t, m.buf, m.len), 0);
    assert_true(all(fb, PAGE, 0xa5));
    assert_int_equal(hook_calls, 1);
    dm_mapped_free(&t);
}

/* ---- A live server ---- */

static pid_t display_pid, membar_pid;
static int display_port, membar_port;
static uint16_t next_id = 1;

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static int free_port(void)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t slen = sizeof(sin);
    int s = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) == 0 &&
        getsockname(s, (struct sockaddr *)&sin, &slen) == 0) {
        port = ntohs(sin.sin_port);
    }
    close(s);
    return port;
}

static int dial(int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons(port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timeval tv = { .tv_sec = 5 };
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (connect(fd, (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        close(fd);
        return -1;
    }
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

static pid_t server_start(const char *model, int *port)
{
    const char *bin = getenv("DM_REMOTE");
    char listen[64];
    pid_t pid;

    *port = free_port();
    snprintf(listen, sizeof(listen), "tcp:127.0.0.1:%d", *port);
    pid = fork();
    if (pid == 0) {
        execl(bin, bin, "serve", "--quiet", "--model", model, "--listen",
              listen, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 5000; i++) {
        int fd = dial(*port);

        if (fd >= 0) {
            close(fd);
            return pid;
        }
        sleep_ms(1);
    }
    return -1;
}

static int server_stop(pid_t pid)
{
    int status;

    kill(pid, SIGTERM);
    waitpid(pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int suite_setup(void **state)
{
    if (!getenv("DM_REMOTE")) {
        fprintf(stderr, "DM_REMOTE is not set\n");
        return -1;
    }
    display_pid = server_start("bochs-display", &display_port);
    membar_pid = server_start("membar", &membar_port);
    return display_pid > 0 && membar_pid > 0 ? 0 : -1;
}

static int suite_teardown(void **state)
{
    int ret = server_stop(display_pid) | server_stop(membar_pid);

    if (ret) {
        fprintf(stderr, "a server did not stop cleanly\n");
    }
    return ret;
}

static uint16_t send_cmd(int fd, uint16_t cmd, const void *payload,
                         size_t len)
{
    VupHeader h = { .msg_id = next_id++, .command = cmd };

    assert_int_equal(vup_send_msg(fd, &h, payload, len, NULL, 0), 0);
    return h.msg_id;
}

static int wait_reply(int fd, uint16_t id, VupMsg *ret_reply)
{
    VupMsg m;

    assert_int_equal(vup_recv_msg(fd, &m, VUP_MAX_MSG_SIZE, VUP_MAX_FDS), 0);
    assert_int_equal(m.hdr.msg_id, id);
    if (m.hdr.flags & VUP_FLAG_ERROR) {
        int err = m.hdr.error_no ? m.hdr.error_no : EIO;

        vup_msg_clear(&m);
        return err;
    }
    if (ret_reply) {
        *ret_reply = m;
    } else {
        vup_msg_clear(&m);
    }
    return 0;
}

/* VERSION, offering dm_dirty_pages or not; what the server agreed to. */
static int client_connect(int port, bool dirty, bool *ret_dirty)
{
    int fd = dial(port);
    uint16_t major, minor;
    VupCaps caps, peer;
    char err[128];
    void *buf;
    size_t len;
    VupMsg r;

    assert_true(fd >= 0);
    vup_caps_init_defaults(&caps);
    caps.max_msg_fds = 0;
    caps.max_data_xfer_size = 1024 * 1024;
    caps.dm_irq_messages = true;
    caps.dm_dirty_pages = dirty;
    assert_int_equal(vup_version_build(0, 0, &caps, &buf, &len), 0);
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_VERSION, buf, len),
                                &r), 0);
    free(buf);
    assert_int_equal(vup_version_parse(r.payload, r.payload_len, &major,
                                       &minor, &peer, err, sizeof(err)), 0);
    vup_msg_clear(&r);
    *ret_dirty = peer.dm_dirty_pages;
    return fd;
}

static int dirty_send(int fd, const Msg *m)
{
    return wait_reply(fd, send_cmd(fd, VUP_CMD_DM_DIRTY_PAGES, m->buf,
                                   m->len), NULL);
}

static uint32_t rd(int fd, unsigned region, uint64_t off)
{
    VupRegionAccess a = { .offset = off, .region = region, .count = 4 };
    uint32_t v;
    VupMsg r;

    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_REGION_READ, &a,
                                             sizeof(a)), &r), 0);
    assert_int_equal(r.payload_len, sizeof(a) + 4);
    memcpy(&v, r.payload + sizeof(a), 4);
    vup_msg_clear(&r);
    return le32toh(v);
}

/* GET_REGION_INFO of @region: its DM_DIRTY areas (0: none), *@flags. */
static unsigned dirty_areas(int fd, unsigned region, VupSparseMmapArea *a,
                            unsigned max, uint32_t *flags)
{
    VupRegionInfo req = { .argsz = 1024, .index = region };
    VupRegionInfo info;
    unsigned n = 0;
    uint32_t off;
    VupMsg r;

    assert_int_equal(wait_reply(fd, send_cmd(fd,
                                             VUP_CMD_DEVICE_GET_REGION_INFO,
                                             &req, sizeof(req)), &r), 0);
    assert_int_equal(r.nfds, 0);
    memcpy(&info, r.payload, sizeof(info));
    *flags = info.flags;
    off = info.flags & VUP_REGION_INFO_FLAG_CAPS ? info.cap_offset : 0;
    while (off) {
        VupRegionInfoCapSparseMmap cap;

        assert_true(off + sizeof(cap) <= r.payload_len);
        memcpy(&cap, r.payload + off, sizeof(cap));
        if (cap.header.id == VUP_REGION_INFO_CAP_DM_DIRTY) {
            n = cap.nr_areas;
            assert_true(n <= max);
            assert_true(off + sizeof(cap) + n * sizeof(*a) <= r.payload_len);
            memcpy(a, r.payload + off + sizeof(cap), n * sizeof(*a));
        }
        off = cap.header.next;
    }
    vup_msg_clear(&r);
    return n;
}

static void test_wire_display(void **unused)
{
    VupSparseMmapArea areas[4];
    uint32_t flags;
    bool dirty;
    Msg m;
    int fd;

    /* Before VERSION: refused like any command. */
    fd = dial(display_port);
    assert_true(fd >= 0);
    msg_build(&m, BAR0, 1, (VupDmDirtyRun[]) { { 0, PAGE } });
    assert_int_equal(dirty_send(fd, &m), EINVAL);
    close(fd);

    /* A client without the extension: no area, the command refused. */
    fd = client_connect(display_port, false, &dirty);
    assert_false(dirty);
    assert_int_equal(dirty_areas(fd, BAR0, areas, 4, &flags), 0);
    assert_false(flags & VUP_REGION_INFO_FLAG_MMAP);
    assert_int_equal(dirty_send(fd, &m), EINVAL);
    /* It reaches the framebuffer by region writes, as before. */
    assert_int_equal(rd(fd, BAR0, 0), 0);
    close(fd);

    /* With it: the framebuffer listed, its pages applied. */
    fd = client_connect(display_port, true, &dirty);
    assert_true(dirty);
    assert_int_equal(dirty_areas(fd, BAR0, areas, 4, &flags), 1);
    assert_false(flags & VUP_REGION_INFO_FLAG_MMAP);
    assert_int_equal(areas[0].offset, 0);
    assert_true(areas[0].size >= 1024 * 768 * 4);
    assert_int_equal(dirty_areas(fd, BAR2, areas + 1, 3, &flags), 0);
    msg_build(&m, BAR0, 2, (VupDmDirtyRun[]) {
        { .offset = 0, .size = PAGE },
        { .offset = 5 * PAGE, .size = 2 * PAGE },
    });
    assert_int_equal(dirty_send(fd, &m), 0);
    assert_int_equal(rd(fd, BAR0, 0), 0xa0a0a0a0);
    assert_int_equal(rd(fd, BAR0, PAGE), 0);
    assert_int_equal(rd(fd, BAR0, 7 * PAGE - 4), 0xa1a1a1a1);

    /* Bad ones: EINVAL, nothing applied, the session goes on. */
    msg_build(&m, BAR0, 1, (VupDmDirtyRun[]) {
        { .offset = areas[0].size - PAGE, .size = 2 * PAGE },
    });
    assert_int_equal(dirty_send(fd, &m), EINVAL);
    msg_build(&m, BAR2, 1, (VupDmDirtyRun[]) { { 0, PAGE } });
    assert_int_equal(dirty_send(fd, &m), EINVAL);
    msg_build(&m, BAR0, 1, (VupDmDirtyRun[]) { { PAGE, PAGE } });
    msg_hdr(&m)->nruns = UINT32_MAX;
    assert_int_equal(dirty_send(fd, &m), EINVAL);
    msg_hdr(&m)->nruns = 1;
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_DM_DIRTY_PAGES,
                                             m.buf, m.len - 1), NULL),
                     EINVAL);
    assert_int_equal(rd(fd, BAR0, PAGE), 0);
    assert_int_equal(dirty_send(fd, &m), 0);
    assert_int_equal(rd(fd, BAR0, PAGE), 0xa0a0a0a0);
    close(fd);
}

static void test_wire_membar(void **unused)
{
    VupSparseMmapArea areas[4];
    uint32_t flags;
    bool dirty;
    Msg m;
    int fd = client_connect(membar_port, true, &dirty);

    /* Its model writes its memory: nothing for the client to keep. */
    assert_true(dirty);
    assert_int_equal(dirty_areas(fd, BAR2, areas, 4, &flags), 0);
    msg_build(&m, BAR2, 1, (VupDmDirtyRun[]) { { 0, PAGE } });
    assert_int_equal(dirty_send(fd, &m), EINVAL);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_wire_display),
        cmocka_unit_test(test_wire_membar),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
