/*
 * dm-remote against bad peers: malformed messages over a real socket.
 *
 * One dm-remote (model edu) serves the whole suite.  Each test connects,
 * misbehaves, and checks the error reply or the closed connection.  After
 * every test the server must still be alive, hold no more descriptors
 * than at the start, and serve a good client.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vup/caps.h"
#include "vup/dm-ext.h"
#include "vup/msg.h"

#include "vup-client.h"

#define EDU_ID_OFFSET   0x00
#define EDU_LIVENESS    0x04

static pid_t server_pid;
static char sock_path[108];
static char tmp_dir[64];
static int server_fds;          /* open descriptors of the idle server */

/* ---- The server process ---- */

static int count_server_fds(void)
{
    char path[64];
    DIR *d;
    struct dirent *e;
    int n = 0;

    snprintf(path, sizeof(path), "/proc/%d/fd", (int)server_pid);
    d = opendir(path);
    if (!d) {
        return -1;
    }
    while ((e = readdir(d))) {
        n += e->d_name[0] != '.';
    }
    closedir(d);
    return n;
}

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

/* The server's fd count settles once it has noticed a closed client. */
static void expect_server_fds(int want)
{
    for (int i = 0; i < 2000 && count_server_fds() != want; i++) {
        sleep_ms(1);
    }
    assert_int_equal(count_server_fds(), want);
}

static int suite_setup(void **state)
{
    const char *bin = getenv("DM_REMOTE");
    char listen[128];

    if (!bin) {
        fprintf(stderr, "DM_REMOTE is not set\n");
        return -1;
    }
    strcpy(tmp_dir, "/tmp/dm-malformed-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        return -1;
    }
    snprintf(sock_path, sizeof(sock_path), "%s/dm.sock", tmp_dir);
    snprintf(listen, sizeof(listen), "unix:%s", sock_path);
    server_pid = fork();
    if (server_pid == 0) {
        execl(bin, bin, "serve", "--quiet", "--model", "edu", "--listen",
              listen, "--hello-timeout", "2", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 5000 && access(sock_path, F_OK) != 0; i++) {
        sleep_ms(1);
    }
    if (access(sock_path, F_OK) != 0) {
        return -1;
    }
    server_fds = count_server_fds();
    return 0;
}

static int suite_teardown(void **state)
{
    int status;

    kill(server_pid, SIGTERM);
    waitpid(server_pid, &status, 0);
    rmdir(tmp_dir);
    /* SIGTERM is a clean stop: exit 0, socket file removed. */
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0 ||
        access(sock_path, F_OK) == 0) {
        fprintf(stderr, "server did not stop cleanly\n");
        return -1;
    }
    return 0;
}

/* ---- A minimal client (vup-client.c) ---- */

static int connect_raw(void)
{
    return vc_connect(sock_path);
}

static int connect_client(void)
{
    int fd = connect_raw();
    VupCaps caps;

    vup_caps_init_defaults(&caps);
    caps.max_msg_fds = 8;
    vc_hello(fd, &caps);
    return fd;
}

static int region_read(int fd, uint32_t region, uint64_t offset,
                       uint32_t count, void *data)
{
    VupRegionAccess a = { .offset = offset, .region = region,
                          .count = count };
    VupMsg r;
    int err = vc_call(fd, VUP_CMD_REGION_READ, &a, sizeof(a), NULL, 0, &r);

    if (err == 0) {
        assert_int_equal(r.payload_len, sizeof(a) + count);
        memcpy(data, r.payload + sizeof(a), count);
    }
    vup_msg_clear(&r);
    return err;
}

static int region_write32(int fd, uint32_t region, uint64_t offset,
                          uint32_t val)
{
    uint8_t buf[sizeof(VupRegionAccess) + 4];
    VupRegionAccess a = { .offset = offset, .region = region, .count = 4 };

    memcpy(buf, &a, sizeof(a));
    memcpy(buf + sizeof(a), &val, 4);
    return vc_call(fd, VUP_CMD_REGION_WRITE, buf, sizeof(buf), NULL, 0,
                    NULL);
}

/* Is the stream closed by the server (EOF within the receive timeout)? */
static bool closed_by_server(int fd)
{
    VupMsg m;
    int ret = vup_recv_msg(fd, &m, VUP_MAX_MSG_SIZE, VUP_MAX_FDS);

    vup_msg_clear(&m);
    return ret == -ECONNRESET || ret == -EPIPE;
}

/* After each test: alive, no leaked fds, and serving a good client. */
static int check_server_ok(void **state)
{
    int fd;
    uint32_t id = 0;

    assert_int_equal(kill(server_pid, 0), 0);
    expect_server_fds(server_fds);
    fd = connect_client();
    assert_int_equal(region_read(fd, 0, EDU_ID_OFFSET, 4, &id), 0);
    assert_int_equal(id, 0x010000ed);
    close(fd);
    expect_server_fds(server_fds);
    return 0;
}

/* ---- Stream errors: the server closes the connection ---- */

static void test_truncated_header(void **state)
{
    int fd = connect_raw();

    expect_server_fds(server_fds + 1);      /* accepted */
    assert_int_equal(write(fd, "\x01\x00\x01\x00\x20", 5), 5);
    close(fd);                  /* EOF in the middle of a header */
}

static void test_size_below_header(void **state)
{
    int fd = connect_raw();
    VupHeader h = { .msg_id = 1, .command = VUP_CMD_VERSION, .msg_size = 4 };

    expect_server_fds(server_fds + 1);      /* accepted */
    assert_int_equal(write(fd, &h, sizeof(h)), sizeof(h));
    assert_true(closed_by_server(fd));
    close(fd);
}

static void test_size_above_max(void **state)
{
    int fd = connect_client();
    VupHeader h = { .msg_id = 1, .command = VUP_CMD_REGION_WRITE,
                    .msg_size = 0x7fffffff };

    /* Refused from the header alone: nothing allocated, stream closed. */
    assert_int_equal(write(fd, &h, sizeof(h)), sizeof(h));
    assert_true(closed_by_server(fd));
    close(fd);
}

/* A client that stops in the middle of a message is dropped, not waited
 * for forever: the server stays responsive (and serves the next one). */
static void test_stalled_client(void **state)
{
    int fd = connect_client();
    VupHeader h = { .msg_id = 1, .command = VUP_CMD_REGION_WRITE,
                    .msg_size = sizeof(VupHeader) + 64 };

    assert_int_equal(write(fd, &h, sizeof(h)), sizeof(h));
    assert_int_equal(write(fd, "half", 4), 4);
    /* The server gives up after its 5 s I/O timeout and closes. */
    {
        struct timeval tv = { .tv_sec = 10 };

        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    assert_true(closed_by_server(fd));
    close(fd);
}

static void test_truncated_payload(void **state)
{
    int fd = connect_client();
    VupHeader h = { .msg_id = 1, .command = VUP_CMD_REGION_READ,
                    .msg_size = sizeof(VupHeader) + 16 };

    assert_int_equal(write(fd, &h, sizeof(h)), sizeof(h));
    assert_int_equal(write(fd, "12345", 5), 5);
    close(fd);
}

/* ---- Message errors: an error reply, the session goes on ---- */

static void test_before_version(void **state)
{
    int fd = connect_raw();
    uint32_t v;

    assert_int_equal(region_read(fd, 0, 0, 4, &v), EINVAL);
    close(fd);
}

static void test_bad_version(void **state)
{
    int fd = connect_raw();
    const char bad[] = "\0\0\0\0{\"capabilities\": {\"max_msg_fds\": ";
    const char major1[] = "\1\0\0\0{}";
    const char twice[] = "\0\0\0\0{}";

    assert_int_equal(vc_call(fd, VUP_CMD_VERSION, bad, sizeof(bad), NULL,
                              0, NULL), EINVAL);
    assert_int_equal(vc_call(fd, VUP_CMD_VERSION, major1, sizeof(major1),
                              NULL, 0, NULL), ENOTSUP);
    assert_int_equal(vc_call(fd, VUP_CMD_VERSION, twice, sizeof(twice),
                              NULL, 0, NULL), 0);
    assert_int_equal(vc_call(fd, VUP_CMD_VERSION, twice, sizeof(twice),
                              NULL, 0, NULL), EINVAL);
    close(fd);
}

static void test_unknown_commands(void **state)
{
    int fd = connect_client();
    VupDeviceFeature f = { .argsz = sizeof(f) };

    assert_int_equal(vc_call(fd, 0x77, "abcd", 4, NULL, 0, NULL), ENOSYS);
    assert_int_equal(vc_call(fd, 14, NULL, 0, NULL, 0, NULL), ENOSYS);
    /* In the spec, not served by this device: still ENOSYS. */
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_FEATURE, &f, sizeof(f),
                              NULL, 0, NULL), ENOSYS);
    /* A server-to-client command sent by a client. */
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_READ, NULL, 0, NULL, 0, NULL),
                     EINVAL);
    close(fd);
}

static void test_short_payloads(void **state)
{
    int fd = connect_client();

    assert_int_equal(vc_call(fd, VUP_CMD_REGION_READ, "12345678", 8, NULL,
                              0, NULL), EINVAL);
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_GET_INFO, "1234", 4, NULL,
                              0, NULL), EINVAL);
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_MAP, "1234", 4, NULL, 0, NULL),
                     EINVAL);
    close(fd);
}

static void test_bad_region_access(void **state)
{
    int fd = connect_client();
    uint8_t buf[16];
    VupRegionInfo ri = { .argsz = sizeof(ri), .index = 99 };

    assert_int_equal(region_read(fd, 99, 0, 4, buf), EINVAL);
    assert_int_equal(region_read(fd, 0xffffffff, 0, 4, buf), EINVAL);
    /* offset + count overflows, or leaves the 1 MiB BAR. */
    assert_int_equal(region_read(fd, 0, UINT64_MAX - 1, 4, buf), EINVAL);
    assert_int_equal(region_read(fd, 0, 1024 * 1024 - 2, 4, buf), EINVAL);
    assert_int_equal(region_read(fd, 0, 1024 * 1024, 4, buf), EINVAL);
    assert_int_equal(region_read(fd, 0, 0, 0, buf), EINVAL);
    /* A region that does not exist on this device (BAR 1: size 0). */
    assert_int_equal(region_read(fd, 1, 0, 4, buf), EINVAL);
    /* Config space is 256 bytes. */
    assert_int_equal(region_read(fd, VUP_PCI_CONFIG_REGION_INDEX, 254, 4,
                                 buf), EINVAL);
    assert_int_equal(region_read(fd, VUP_PCI_CONFIG_REGION_INDEX, 0, 4, buf),
                     0);
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_GET_REGION_INFO, &ri,
                              sizeof(ri), NULL, 0, NULL), EINVAL);
    close(fd);
}

static void test_write_length_mismatch(void **state)
{
    int fd = connect_client();
    uint8_t buf[sizeof(VupRegionAccess) + 4] = { 0 };
    VupRegionAccess a = { .offset = 4, .region = 0, .count = 8 };

    /* count says 8, but 4 bytes of data follow. */
    memcpy(buf, &a, sizeof(a));
    assert_int_equal(vc_call(fd, VUP_CMD_REGION_WRITE, buf, sizeof(buf),
                              NULL, 0, NULL), EINVAL);
    close(fd);
}

static void test_unexpected_fds(void **state)
{
    int fd = connect_client();
    int efd = eventfd(0, EFD_CLOEXEC);
    VupRegionAccess a = { .offset = 0, .region = 0, .count = 4 };

    assert_int_equal(vc_call(fd, VUP_CMD_REGION_READ, &a, sizeof(a), &efd, 1,
                              NULL), EINVAL);
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_RESET, NULL, 0, &efd, 1,
                              NULL), EINVAL);
    close(efd);
    close(fd);
}

static void test_bad_set_irqs(void **state)
{
    int fd = connect_client();
    int efds[2] = { eventfd(0, EFD_CLOEXEC), eventfd(0, EFD_CLOEXEC) };
    VupIrqSet s = { .argsz = sizeof(s), .index = VUP_PCI_INTX_IRQ_INDEX,
                    .count = 1 };

    /* Two data types at once. */
    s.flags = VUP_IRQ_SET_DATA_NONE | VUP_IRQ_SET_DATA_BOOL |
              VUP_IRQ_SET_ACTION_TRIGGER;
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_SET_IRQS, &s, sizeof(s),
                              NULL, 0, NULL), EINVAL);
    /* No action. */
    s.flags = VUP_IRQ_SET_DATA_NONE;
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_SET_IRQS, &s, sizeof(s),
                              NULL, 0, NULL), EINVAL);
    /* Index out of range. */
    s.flags = VUP_IRQ_SET_DATA_NONE | VUP_IRQ_SET_ACTION_MASK;
    s.index = 42;
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_SET_IRQS, &s, sizeof(s),
                              NULL, 0, NULL), EINVAL);
    /* start + count overflows. */
    s.index = VUP_PCI_INTX_IRQ_INDEX;
    s.start = 0xffffffff;
    s.count = 2;
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_SET_IRQS, &s, sizeof(s),
                              NULL, 0, NULL), EINVAL);
    /* Missing fds: two vectors of MSI-less INTx, one fd. */
    s.start = 0;
    s.count = 2;
    s.flags = VUP_IRQ_SET_DATA_EVENTFD | VUP_IRQ_SET_ACTION_TRIGGER;
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_SET_IRQS, &s, sizeof(s),
                              efds, 1, NULL), EINVAL);
    /* BOOL data shorter than count. */
    s.index = VUP_PCI_MSI_IRQ_INDEX;
    s.count = 1;
    s.flags = VUP_IRQ_SET_DATA_BOOL | VUP_IRQ_SET_ACTION_MASK;
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_SET_IRQS, &s, sizeof(s),
                              NULL, 0, NULL), EINVAL);
    /* A good one, wiring INTx; the fds stay ours to close. */
    s.index = VUP_PCI_INTX_IRQ_INDEX;
    s.flags = VUP_IRQ_SET_DATA_EVENTFD | VUP_IRQ_SET_ACTION_TRIGGER;
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_SET_IRQS, &s, sizeof(s),
                              efds, 1, NULL), 0);
    close(efds[0]);
    close(efds[1]);
    close(fd);                  /* the server drops its copy on close */
}

static void test_dma_map_errors(void **state)
{
    int fd = connect_client();
    int mfd = memfd_create("dm-test", MFD_CLOEXEC);
    int fds[2] = { mfd, mfd };
    VupDmaMap map = { .argsz = sizeof(map),
                      .flags = VUP_DMA_MAP_FLAG_READ | VUP_DMA_MAP_FLAG_WRITE,
                      .address = 0x100000, .size = 0x10000 };
    VupDmaUnmap unmap = { .argsz = sizeof(unmap), .address = 0x100000,
                          .size = 0x10000 };

    assert_int_equal(ftruncate(mfd, 0x20000), 0);
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_MAP, &map, sizeof(map), &mfd, 1,
                              NULL), 0);
    /* Overlapping an existing window. */
    map.address = 0x108000;
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_MAP, &map, sizeof(map), &mfd, 1,
                              NULL), EEXIST);
    /* Two fds for one window. */
    map.address = 0x200000;
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_MAP, &map, sizeof(map), fds, 2,
                              NULL), EINVAL);
    /* Size zero; address + size overflowing; unknown flags. */
    map.size = 0;
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_MAP, &map, sizeof(map), NULL, 0,
                              NULL), EINVAL);
    map.size = 0x1000;
    map.address = UINT64_MAX - 0x10;
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_MAP, &map, sizeof(map), NULL, 0,
                              NULL), EINVAL);
    map.address = 0x300000;
    map.flags = 0x80;
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_MAP, &map, sizeof(map), NULL, 0,
                              NULL), EINVAL);
    /* A window beyond the end of the fd's file: mmap refuses it. */
    map.flags = VUP_DMA_MAP_FLAG_READ;
    map.offset = UINT64_MAX & ~0xfffULL;
    assert_int_not_equal(vc_call(fd, VUP_CMD_DMA_MAP, &map, sizeof(map),
                                  &mfd, 1, NULL), 0);
    /* Unmap must match exactly. */
    unmap.size = 0x8000;
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_UNMAP, &unmap, sizeof(unmap),
                              NULL, 0, NULL), EINVAL);
    unmap.size = 0x10000;
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_UNMAP, &unmap, sizeof(unmap),
                              NULL, 0, NULL), 0);
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_UNMAP, &unmap, sizeof(unmap),
                              NULL, 0, NULL), EINVAL);
    close(mfd);
    close(fd);
}

/*
 * A window larger than the file behind its fd: mmap() would take it and
 * the model's first access past the file's end would be a SIGBUS.  The
 * server must refuse it with an error reply and live on.
 */
static void test_dma_map_beyond_file(void **state)
{
    int fd = connect_client();
    int mfd = memfd_create("dm-test-small", MFD_CLOEXEC);
    VupDmaMap map = { .argsz = sizeof(map),
                      .flags = VUP_DMA_MAP_FLAG_READ | VUP_DMA_MAP_FLAG_WRITE,
                      .address = 0x100000, .size = 1024 * 1024 };

    assert_int_equal(ftruncate(mfd, 4096), 0);
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_MAP, &map, sizeof(map), &mfd, 1,
                              NULL), EINVAL);
    /* Inside the file by size, but offset + size past its end. */
    map.size = 4096;
    map.offset = 4096;
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_MAP, &map, sizeof(map), &mfd, 1,
                              NULL), EINVAL);
    /* offset + size wrapping around. */
    map.offset = UINT64_MAX - 0xfff;
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_MAP, &map, sizeof(map), &mfd, 1,
                              NULL), EINVAL);
    /* The whole file is fine. */
    map.offset = 0;
    assert_int_equal(vc_call(fd, VUP_CMD_DMA_MAP, &map, sizeof(map), &mfd, 1,
                              NULL), 0);
    close(mfd);
    close(fd);
}

static void test_write_multi_errors(void **state)
{
    int fd = connect_client();
    struct {
        VupWriteMulti h;
        VupWriteMultiEntry e[2];
    } __attribute__((packed)) m = { .h.wr_cnt = 3 };
    uint32_t v;

    /* wr_cnt says 3, two entries follow. */
    assert_int_equal(vc_call(fd, VUP_CMD_REGION_WRITE_MULTI, &m, sizeof(m),
                              NULL, 0, NULL), EINVAL);
    /* One entry out of range: neither entry is applied. */
    m.h.wr_cnt = 2;
    m.e[0] = (VupWriteMultiEntry) { .offset = EDU_LIVENESS, .count = 4,
                                    .data = { 1, 2, 3, 4 } };
    m.e[1] = (VupWriteMultiEntry) { .offset = 1024 * 1024, .count = 4 };
    assert_int_equal(region_write32(fd, 0, EDU_LIVENESS, 0), 0);
    assert_int_equal(vc_call(fd, VUP_CMD_REGION_WRITE_MULTI, &m, sizeof(m),
                              NULL, 0, NULL), EINVAL);
    assert_int_equal(region_read(fd, 0, EDU_LIVENESS, 4, &v), 0);
    assert_int_equal(v, 0xffffffff);
    /* Entry data longer than 8 bytes. */
    m.e[1] = (VupWriteMultiEntry) { .offset = 0, .count = 9 };
    assert_int_equal(vc_call(fd, VUP_CMD_REGION_WRITE_MULTI, &m, sizeof(m),
                              NULL, 0, NULL), EINVAL);
    /* Both good: both applied. */
    m.e[1] = m.e[0];
    assert_int_equal(vc_call(fd, VUP_CMD_REGION_WRITE_MULTI, &m, sizeof(m),
                              NULL, 0, NULL), 0);
    assert_int_equal(region_read(fd, 0, EDU_LIVENESS, 4, &v), 0);
    assert_int_equal(v, ~0x04030201u);
    close(fd);
}

static void test_no_reply_errors_stay_silent(void **state)
{
    int fd = connect_client();
    VupHeader h = { .msg_id = 900, .command = VUP_CMD_REGION_READ,
                    .flags = VUP_FLAG_NO_REPLY };
    uint32_t id;

    /* A bad posted command gets no reply; the next reply is ours. */
    assert_int_equal(vup_send_msg(fd, &h, "short", 5, NULL, 0), 0);
    assert_int_equal(region_read(fd, 0, EDU_ID_OFFSET, 4, &id), 0);
    assert_int_equal(id, 0x010000ed);
    close(fd);
}

/*
 * DM_VQ_KICK (dm_vq_push) whose header breaks the rules: refused, the
 * session and the server go on.  Asked with a reply here, to see it.
 */
static void test_vq_kick_refused(void **state)
{
    struct {
        VupDmVqKick k;
        VupDmVqFetchReply h;
    } kick = { .k = { .region = 0, .cookie = 1 } };
    VupCaps caps;
    void *buf;
    size_t len;
    uint32_t id;
    int fd = connect_client();

    /* Not negotiated. */
    assert_int_equal(vc_call(fd, VUP_CMD_DM_VQ_KICK, &kick, sizeof(kick),
                              NULL, 0, NULL), EINVAL);
    /* Shorter than a header and an empty fetch reply. */
    assert_int_equal(vc_call(fd, VUP_CMD_DM_VQ_KICK, &kick,
                              sizeof(kick.k), NULL, 0, NULL), EINVAL);
    close(fd);

    fd = connect_raw();
    vup_caps_init_defaults(&caps);
    caps.dm_vq_fetch = caps.dm_vq_push = true;
    assert_int_equal(vup_version_build(0, 0, &caps, &buf, &len), 0);
    assert_int_equal(vc_call(fd, VUP_CMD_VERSION, buf, len, NULL, 0, NULL),
                     0);
    free(buf);
    /* No doorbell there (edu has none); a zero cookie; reserved bits. */
    assert_int_equal(vc_call(fd, VUP_CMD_DM_VQ_KICK, &kick, sizeof(kick),
                              NULL, 0, NULL), EINVAL);
    kick.k.cookie = 0;
    assert_int_equal(vc_call(fd, VUP_CMD_DM_VQ_KICK, &kick, sizeof(kick),
                              NULL, 0, NULL), EINVAL);
    kick.k.cookie = 1;
    kick.k.reserved = 1;
    assert_int_equal(vc_call(fd, VUP_CMD_DM_VQ_KICK, &kick, sizeof(kick),
                              NULL, 0, NULL), EINVAL);
    kick.k.reserved = 0;
    kick.k.region = 1000;
    assert_int_equal(vc_call(fd, VUP_CMD_DM_VQ_KICK, &kick, sizeof(kick),
                              NULL, 0, NULL), EINVAL);
    assert_int_equal(region_read(fd, 0, EDU_ID_OFFSET, 4, &id), 0);
    assert_int_equal(id, 0x010000ed);
    close(fd);
}

static void test_second_client_refused(void **state)
{
    int first = connect_client();
    int second = connect_raw();
    VupCaps caps;
    void *buf;
    size_t len;

    vup_caps_init_defaults(&caps);
    assert_int_equal(vup_version_build(0, 0, &caps, &buf, &len), 0);
    assert_int_equal(vc_call(second, VUP_CMD_VERSION, buf, len, NULL, 0,
                              NULL), EBUSY);
    free(buf);
    assert_true(closed_by_server(second));
    close(second);
    /* The first client is unaffected. */
    assert_int_equal(region_write32(first, 0, EDU_LIVENESS, 1), 0);
    close(first);
}

/*
 * The device goes to the first client through VERSION, not the first to
 * connect: one that never speaks holds nothing, and is dropped at the
 * hello timeout (2 s here).
 */
static void test_silent_client_dropped(void **state)
{
    int silent = connect_raw();
    int fd = connect_client();
    uint32_t id = 0;

    assert_int_equal(region_read(fd, 0, EDU_ID_OFFSET, 4, &id), 0);
    assert_int_equal(id, 0x010000ed);
    assert_true(closed_by_server(silent));
    close(silent);
    /* The served client is unaffected. */
    assert_int_equal(region_write32(fd, 0, EDU_LIVENESS, 1), 0);
    close(fd);
}

/*
 * Connections that never say VERSION are bounded: one more than the
 * pending slots closes the oldest of them (all from one uid here), and
 * the newcomer gets a slot.
 */
static void test_pending_clients_bounded(void **state)
{
    enum { PENDING = 8 };       /* DM_MAX_PENDING */
    int silent[PENDING], extra, fd;

    for (int i = 0; i < PENDING; i++) {
        silent[i] = connect_raw();
        expect_server_fds(server_fds + i + 1);      /* in accept order */
    }
    extra = connect_raw();
    assert_true(closed_by_server(silent[0]));
    expect_server_fds(server_fds + PENDING);
    close(extra);
    for (int i = 0; i < PENDING; i++) {
        close(silent[i]);
    }
    expect_server_fds(server_fds);
    fd = connect_client();
    assert_int_equal(region_write32(fd, 0, EDU_LIVENESS, 1), 0);
    close(fd);
}

/*
 * Idle connections filling every pending slot do not lock the device
 * out: the real client (here, reconnecting to its device) still gets in.
 */
static void test_pending_full_client_gets_in(void **state)
{
    enum { PENDING = 8 };       /* DM_MAX_PENDING */
    int silent[PENDING], fd;
    uint32_t id = 0;

    fd = connect_client();
    assert_int_equal(region_write32(fd, 0, EDU_LIVENESS, 1), 0);
    close(fd);
    for (int i = 0; i < PENDING; i++) {
        silent[i] = connect_raw();
        expect_server_fds(server_fds + i + 1);
    }
    fd = connect_client();
    assert_int_equal(region_read(fd, 0, EDU_ID_OFFSET, 4, &id), 0);
    assert_int_equal(id, 0x010000ed);
    close(fd);
    for (int i = 0; i < PENDING; i++) {
        close(silent[i]);
    }
}

/* ---- A client that sends its VERSION a byte at a time ---- */

typedef struct Trickle {
    int fd;
    size_t len;                 /* bytes of the message to send */
    const uint8_t *msg;
    atomic_size_t sent;
    atomic_bool stop;
    atomic_bool refused;        /* a send failed: the server closed */
} Trickle;

static void *trickle_thread(void *opaque)
{
    Trickle *t = opaque;

    while (!atomic_load(&t->stop) && atomic_load(&t->sent) < t->len) {
        if (send(t->fd, t->msg + atomic_load(&t->sent), 1,
                 MSG_NOSIGNAL) != 1) {
            atomic_store(&t->refused, true);
            break;
        }
        atomic_fetch_add(&t->sent, 1);
        sleep_ms(200);
    }
    return NULL;
}

/*
 * One byte of a VERSION every 200 ms: the trickle would last 20 s.  The
 * served client's register reads must be answered while it goes on (the
 * server must never wait for an unauthenticated peer), and the trickler
 * must be closed at the hello deadline (2 s here) counted from its
 * connection, though every byte it sends is fresh.
 */
static void test_trickled_version(void **state)
{
    uint8_t msg[100] = { 0 };
    VupHeader h = { .msg_id = 1, .command = VUP_CMD_VERSION,
                    .msg_size = sizeof(msg) };
    Trickle t = { .msg = msg, .len = sizeof(msg) };
    pthread_t thread;
    int fd = connect_client();
    uint32_t id = 0;

    memcpy(msg, &h, sizeof(h));
    t.fd = connect_raw();
    assert_int_equal(pthread_create(&thread, NULL, trickle_thread, &t), 0);
    /* The server is reading the trickler's header. */
    while (atomic_load(&t.sent) < 3) {
        sleep_ms(10);
    }
    for (int i = 0; i < 3; i++) {
        assert_int_equal(region_read(fd, 0, EDU_ID_OFFSET, 4, &id), 0);
        assert_int_equal(id, 0x010000ed);
    }
    /* Answered while the trickler was still connected and sending. */
    assert_true(atomic_load(&t.sent) < t.len);
    assert_false(atomic_load(&t.refused));
    /* It is closed at the deadline, not kept alive by its bytes. */
    {
        struct timeval tv = { .tv_sec = 15 };

        setsockopt(t.fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    }
    assert_true(closed_by_server(t.fd));
    assert_true(atomic_load(&t.sent) < t.len);
    atomic_store(&t.stop, true);
    pthread_join(thread, NULL);
    close(t.fd);
    /* The served client is unaffected. */
    assert_int_equal(region_write32(fd, 0, EDU_LIVENESS, 1), 0);
    close(fd);
}

static void test_state_survives_reconnection(void **state)
{
    int fd = connect_client();
    uint32_t v;

    assert_int_equal(region_write32(fd, 0, EDU_LIVENESS, 0x11223344), 0);
    close(fd);
    fd = connect_client();
    assert_int_equal(region_read(fd, 0, EDU_LIVENESS, 4, &v), 0);
    assert_int_equal(v, ~0x11223344u);
    /* DEVICE_RESET brings it back to power-on state. */
    assert_int_equal(vc_call(fd, VUP_CMD_DEVICE_RESET, NULL, 0, NULL, 0,
                              NULL), 0);
    assert_int_equal(region_read(fd, 0, EDU_LIVENESS, 4, &v), 0);
    assert_int_equal(v, 0);
    close(fd);
}

/* xorshift: a fixed sequence, so that a failure can be replayed. */
static uint32_t rnd(uint32_t *state)
{
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    return *state;
}

/*
 * Mutation fuzzing, deterministic: valid messages of every command with
 * random bytes flipped in the header and payload, random lengths and
 * random trailing garbage.  Whatever the server answers, it must not
 * crash (under ASan: no memory error), hang or leak descriptors; the
 * teardown checks it still serves a good client.
 */
static void test_random_mutations(void **state)
{
    uint32_t seed = 0x5eed1234;
    int efd = eventfd(0, EFD_CLOEXEC);

    for (int round = 0; round < 300; round++) {
        int fd = connect_client();
        uint8_t buf[sizeof(VupHeader) + 96];
        VupHeader *h = (VupHeader *)buf;
        uint32_t len = sizeof(VupHeader) + rnd(&seed) % 80;
        unsigned flips = 1 + rnd(&seed) % 6;
        bool with_fd = rnd(&seed) % 5 == 0;
        VupMsg m;

        for (size_t i = 0; i < sizeof(buf); i++) {
            buf[i] = rnd(&seed) % 4 ? 0 : rnd(&seed);
        }
        h->msg_id = round;
        h->command = 1 + rnd(&seed) % 18;
        h->msg_size = len;
        h->flags = rnd(&seed) % 8 ? 0 : rnd(&seed);
        for (unsigned f = 0; f < flips; f++) {
            buf[rnd(&seed) % len] ^= 1u << (rnd(&seed) % 8);
        }
        if (with_fd) {
            struct iovec iov = { .iov_base = buf, .iov_len = len };
            union {
                char b[CMSG_SPACE(sizeof(int))];
                struct cmsghdr align;
            } ctrl;
            struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                                 .msg_control = ctrl.b,
                                 .msg_controllen = sizeof(ctrl.b) };
            struct cmsghdr *cm = CMSG_FIRSTHDR(&mh);

            cm->cmsg_level = SOL_SOCKET;
            cm->cmsg_type = SCM_RIGHTS;
            cm->cmsg_len = CMSG_LEN(sizeof(int));
            memcpy(CMSG_DATA(cm), &efd, sizeof(int));
            (void)!sendmsg(fd, &mh, MSG_NOSIGNAL);
        } else {
            (void)!write(fd, buf, len);
        }
        /* An answer, a closed stream or silence (NO_REPLY): all fine. */
        {
            struct pollfd p = { .fd = fd, .events = POLLIN };

            if (poll(&p, 1, 50) == 1 &&
                vup_recv_msg(fd, &m, VUP_MAX_MSG_SIZE, VUP_MAX_FDS) == 0) {
                vup_msg_clear(&m);
            }
        }
        close(fd);
        expect_server_fds(server_fds);
    }
    close(efd);
}

/* An argument runs only the tests it matches (a cmocka filter: "test_*"). */
int main(int argc, char **argv)
{
#define T(f) cmocka_unit_test_teardown(f, check_server_ok)
    const struct CMUnitTest tests[] = {
        T(test_truncated_header),
        T(test_size_below_header),
        T(test_size_above_max),
        T(test_truncated_payload),
        T(test_stalled_client),
        T(test_before_version),
        T(test_bad_version),
        T(test_unknown_commands),
        T(test_short_payloads),
        T(test_bad_region_access),
        T(test_write_length_mismatch),
        T(test_unexpected_fds),
        T(test_bad_set_irqs),
        T(test_dma_map_errors),
        T(test_dma_map_beyond_file),
        T(test_write_multi_errors),
        T(test_no_reply_errors_stay_silent),
        T(test_vq_kick_refused),
        T(test_second_client_refused),
        T(test_silent_client_dropped),
        T(test_pending_clients_bounded),
        T(test_pending_full_client_gets_in),
        T(test_trickled_version),
        T(test_state_survives_reconnection),
        T(test_random_mutations),
    };
#undef T

    signal(SIGPIPE, SIG_IGN);
    if (argc > 1) {
        cmocka_set_test_filter(argv[1]);
    }
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
