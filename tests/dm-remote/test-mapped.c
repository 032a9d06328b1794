/*
 * Mappable areas (dm-remote/core/mapped.c, dm_device_add_mappable), from
 * the table up to the wire:
 *   - the table alone: what may be declared, the order, where an access
 *     goes piece by piece;
 *   - the membar model in-process through the fake link: its memory is a
 *     sealed memfd of BAR2's size; a region write by message shows in a
 *     mapping of that fd and in the model's registers, and the reverse;
 *     sparse=on's first page stays the callbacks', even for an access
 *     that straddles the edge; no doorbell over a mapped area;
 *   - a live "dm-remote serve --model membar" on a UNIX socket: BAR2's
 *     GET_REGION_INFO says MMAP and passes the memfd (with a sparse-mmap
 *     capability under sparse=on, and no fd when argsz is too short for
 *     it); the client maps it and what it writes there the model reads,
 *     by register and by REGION_READ, and the reverse; over TCP no MMAP
 *     and no fd, the same memory by messages.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
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
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vup/caps.h"
#include "vup/msg.h"
#include "mapped.h"
#include "model-rig.h"

#define PAGE        4096
#define BAR0        VUP_PCI_BAR0_REGION_INDEX
#define BAR2        (VUP_PCI_BAR0_REGION_INDEX + 2)
#define BAR2_SIZE   0x10000     /* membar's default size= */

#define REG_ID      0x00
#define REG_ADDR    0x08
#define REG_DATA    0x10
#define REG_SUM     0x18

/* ---- The table ---- */

static void test_table(void **unused)
{
    static DmMapped t;
    uint64_t n;
    uint8_t *a, *b;
    int err;

    memset(&t, 0, sizeof(t));
    /* Not page-aligned, empty, past the region. */
    assert_null(dm_mapped_add(&t, 2, 4 * PAGE, 100, PAGE, &err));
    assert_int_equal(err, -EINVAL);
    assert_null(dm_mapped_add(&t, 2, 4 * PAGE, 0, 100, &err));
    assert_null(dm_mapped_add(&t, 2, 4 * PAGE, 0, 0, &err));
    assert_null(dm_mapped_add(&t, 2, 4 * PAGE, 2 * PAGE, 3 * PAGE, &err));
    assert_null(dm_mapped_add(&t, 2, 4 * PAGE, 5 * PAGE, PAGE, &err));
    assert_null(dm_mapped_add(&t, VUP_PCI_NUM_REGIONS, 4 * PAGE, 0, PAGE,
                              &err));
    assert_int_equal(t.count, 0);

    /* Two areas of region 2, declared out of order, one memfd. */
    b = dm_mapped_add(&t, 2, 4 * PAGE, 3 * PAGE, PAGE, &err);
    assert_non_null(b);
    assert_int_equal(err, 0);
    a = dm_mapped_add(&t, 2, 4 * PAGE, PAGE, PAGE, &err);
    assert_non_null(a);
    assert_ptr_equal(b - a, 2 * PAGE);          /* one mapping */
    assert_null(dm_mapped_add(&t, 2, 4 * PAGE, 0, 2 * PAGE, &err));
    assert_int_equal(err, -EINVAL);             /* overlaps the first */

    {
        const DmMappedArea *areas[4];
        int fd;

        assert_int_equal(dm_mapped_areas_of(&t, 2, areas, 4, &fd), 2);
        assert_int_equal(areas[0]->offset, PAGE);
        assert_int_equal(areas[1]->offset, 3 * PAGE);
        assert_true(fd >= 0);
        assert_int_equal(dm_mapped_areas_of(&t, 1, NULL, 0, &fd), 0);
        assert_int_equal(fd, -1);
    }

    /* Lookups: before, in, between, straddling, after. */
    assert_null(dm_mapped_lookup(&t, 2, 0, 8, &n));
    assert_int_equal(n, 8);
    assert_null(dm_mapped_lookup(&t, 2, PAGE - 4, 8, &n));
    assert_int_equal(n, 4);                     /* up to the area */
    assert_ptr_equal(dm_mapped_lookup(&t, 2, PAGE, 8, &n), a);
    assert_int_equal(n, 8);
    assert_ptr_equal(dm_mapped_lookup(&t, 2, 2 * PAGE - 2, 8, &n),
                     a + PAGE - 2);
    assert_int_equal(n, 2);                     /* to the area's end */
    assert_null(dm_mapped_lookup(&t, 2, 2 * PAGE, 16, &n));
    assert_int_equal(n, 16);
    assert_null(dm_mapped_lookup(&t, 3, PAGE, 8, &n));
    assert_int_equal(n, 8);                     /* another region */
    assert_true(dm_mapped_overlaps(&t, 2, 2 * PAGE - 1, 2));
    assert_false(dm_mapped_overlaps(&t, 2, 2 * PAGE, PAGE));

    while (t.count < DM_MAX_MAPPED_AREAS) {
        assert_non_null(dm_mapped_add(&t, 4, 64 * PAGE, t.count * 2 * PAGE,
                                      PAGE, &err));
    }
    assert_null(dm_mapped_add(&t, 5, 4 * PAGE, 0, PAGE, &err));
    assert_int_equal(err, -ENOSPC);
    dm_mapped_free(&t);
    assert_int_equal(t.count, 0);
}

/* ---- membar in-process ---- */

/* A mapping of region @region's memfd, as a client makes it. */
static uint8_t *map_fd(int fd, uint64_t offset, uint64_t size)
{
    void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
                   offset);

    assert_true(p != MAP_FAILED);
    return p;
}

static uint32_t model_word(Rig *r, uint64_t addr)
{
    rig_write(r, BAR0, REG_ADDR, addr, 4);
    return rig_read(r, BAR0, REG_DATA, 4);
}

static void test_membar_whole(void **unused)
{
    Rig *r = rig_new("membar");
    const DmMappedArea *area;
    struct stat st;
    uint8_t *client;
    uint32_t v;
    int fd, seals;

    assert_int_equal(rig_read(r, BAR0, REG_ID, 4), 0x6d656d62);
    assert_int_equal(r->dev.regions[BAR2].size, BAR2_SIZE);
    assert_int_equal(dm_mapped_areas_of(&r->dev.mapped, BAR2, &area, 1, &fd),
                     1);
    assert_int_equal(area->offset, 0);
    assert_int_equal(area->size, BAR2_SIZE);
    assert_int_equal(dm_mapped_areas_of(&r->dev.mapped, BAR0, NULL, 0, NULL),
                     0);

    /* A memfd of the region's size that nobody may shrink. */
    assert_int_equal(fstat(fd, &st), 0);
    assert_true(S_ISREG(st.st_mode));
    assert_int_equal(st.st_size, BAR2_SIZE);
    seals = fcntl(fd, F_GET_SEALS);
    assert_true(seals >= 0 && (seals & F_SEAL_SHRINK) &&
                (seals & F_SEAL_SEAL));
    assert_int_equal(ftruncate(fd, PAGE), -1);

    client = map_fd(fd, 0, BAR2_SIZE);
    /* A write by message: in the client's mapping and the model's view. */
    rig_write(r, BAR2, 0x100, 0x11223344, 4);
    memcpy(&v, client + 0x100, 4);
    assert_int_equal(le32toh(v), 0x11223344);
    assert_int_equal(model_word(r, 0x100), 0x11223344);
    /* A write in the mapping: read by message and by the model. */
    v = htole32(0xcafef00d);
    memcpy(client + BAR2_SIZE - 4, &v, 4);
    assert_int_equal(rig_read(r, BAR2, BAR2_SIZE - 4, 4), 0xcafef00d);
    assert_int_equal(model_word(r, BAR2_SIZE - 4), 0xcafef00d);
    assert_int_equal(rig_read(r, BAR0, REG_SUM, 4),
                     (uint32_t)(0x11223344 + 0xcafef00d));
    /* The model's own write, through its pointer. */
    rig_write(r, BAR0, REG_ADDR, 0x2000, 4);
    rig_write(r, BAR0, REG_DATA, 0x5a5a0001, 4);
    memcpy(&v, client + 0x2000, 4);
    assert_int_equal(le32toh(v), 0x5a5a0001);
    assert_int_equal(rig_read(r, BAR2, 0x2000, 8), 0x5a5a0001);
    /* Past the memory: all ones, a write dropped. */
    assert_int_equal(model_word(r, BAR2_SIZE), UINT32_MAX);

    /* Nothing would ring a doorbell there: refused. */
    assert_int_equal(dm_device_add_doorbell(&r->dev, BAR2, 0x40, 4,
                                            (DmDoorbellFn *)abort, NULL),
                     -EINVAL);
    /* Not page-aligned, or the config space: refused. */
    assert_null(dm_device_add_mappable(&r->dev, BAR0, 0x10, PAGE));
    assert_null(dm_device_add_mappable(&r->dev, VUP_PCI_CONFIG_REGION_INDEX,
                                       0, PAGE));
    munmap(client, BAR2_SIZE);
    rig_free(r);
}

static void test_membar_sparse(void **unused)
{
    Rig *r = rig_new("membar,sparse=on,size=0x4000");
    const DmMappedArea *area;
    uint8_t *client;
    uint32_t v;
    int fd;

    assert_int_equal(dm_mapped_areas_of(&r->dev.mapped, BAR2, &area, 1, &fd),
                     1);
    assert_int_equal(area->offset, PAGE);
    assert_int_equal(area->size, 3 * PAGE);
    client = map_fd(fd, area->offset, area->size);

    /* The first page is the model's callbacks. */
    assert_int_equal(rig_read(r, BAR2, 0x10, 4), 0xc0de0010);
    rig_write(r, BAR2, 0x10, 0x1234, 4);
    assert_int_equal(rig_read(r, BAR2, 0x10, 4), 0xc0de0010);
    /* The memory behind them. */
    rig_write(r, BAR2, PAGE, 0x600df00d, 4);
    memcpy(&v, client, 4);
    assert_int_equal(le32toh(v), 0x600df00d);
    assert_int_equal(model_word(r, PAGE), 0x600df00d);
    /* An access across the edge: half callbacks, half memory. */
    assert_int_equal(rig_read(r, BAR2, PAGE - 4, 8),
                     0x600df00d00000000ull | 0xc0de0ffc);
    rig_write(r, BAR2, PAGE - 4, 0x0000000144444444ull, 8);
    assert_int_equal(rig_read(r, BAR2, PAGE - 4, 4), 0xc0de0ffc);
    assert_int_equal(model_word(r, PAGE), 1);
    /* A doorbell on the registers' page is fine. */
    assert_int_equal(dm_device_add_doorbell(&r->dev, BAR2, 0x40, 4,
                                            (DmDoorbellFn *)abort, NULL), 0);
    munmap(client, area->size);
    rig_free(r);
}

/* ---- A live server ---- */

typedef struct Server {
    pid_t pid;
    bool tcp;
    char path[108];
    int port;
} Server;

static char tmp_dir[64];
static Server whole, sparse, tcp;
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

/* A socket connected to @srv, or -1. */
static int dial(const Server *srv)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons(srv->port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    int fd = socket(srv->tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC,
                    0);

    strcpy(sun.sun_path, srv->path);
    if ((srv->tcp ? connect(fd, (struct sockaddr *)&sin, sizeof(sin))
                  : connect(fd, (struct sockaddr *)&sun, sizeof(sun))) < 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static int server_start(Server *srv, const char *model, bool on_tcp,
                        const char *name)
{
    const char *bin = getenv("DM_REMOTE");
    char listen[160];

    srv->tcp = on_tcp;
    if (on_tcp) {
        srv->port = free_port();
        snprintf(listen, sizeof(listen), "tcp:127.0.0.1:%d", srv->port);
    } else {
        snprintf(srv->path, sizeof(srv->path), "%s/%s", tmp_dir, name);
        snprintf(listen, sizeof(listen), "unix:%s", srv->path);
    }
    srv->pid = fork();
    if (srv->pid == 0) {
        execl(bin, bin, "serve", "--quiet", "--model", model, "--listen",
              listen, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 5000; i++) {
        int fd = on_tcp || access(srv->path, F_OK) == 0 ? dial(srv) : -1;

        if (fd >= 0) {
            close(fd);
            return 0;
        }
        sleep_ms(1);
    }
    return -1;
}

static int server_stop(Server *srv)
{
    int status;

    kill(srv->pid, SIGTERM);
    waitpid(srv->pid, &status, 0);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

static int suite_setup(void **state)
{
    if (!getenv("DM_REMOTE")) {
        fprintf(stderr, "DM_REMOTE is not set\n");
        return -1;
    }
    strcpy(tmp_dir, "/tmp/dm-mapped-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        return -1;
    }
    return server_start(&whole, "membar", false, "whole.sock") < 0 ||
           server_start(&sparse, "membar,sparse=on", false,
                        "sparse.sock") < 0 ||
           server_start(&tcp, "membar", true, NULL) < 0 ? -1 : 0;
}

static int suite_teardown(void **state)
{
    int ret = server_stop(&whole) | server_stop(&sparse) | server_stop(&tcp);

    rmdir(tmp_dir);
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

/* The reply to @id (fds taken into it); its errno, 0 on success. */
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

static int client_connect(const Server *srv)
{
    struct timeval tv = { .tv_sec = 5 };
    int fd = dial(srv);
    VupCaps caps;
    void *buf;
    size_t len;

    assert_true(fd >= 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    vup_caps_init_defaults(&caps);
    caps.max_msg_fds = srv->tcp ? 0 : 8;
    assert_int_equal(vup_version_build(0, 0, &caps, &buf, &len), 0);
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_VERSION, buf, len),
                                NULL), 0);
    free(buf);
    return fd;
}

static void wr(int fd, unsigned region, uint64_t off, uint32_t val)
{
    uint8_t buf[sizeof(VupRegionAccess) + 4];
    VupRegionAccess a = { .offset = off, .region = region, .count = 4 };
    uint32_t le = htole32(val);

    memcpy(buf, &a, sizeof(a));
    memcpy(buf + sizeof(a), &le, 4);
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_REGION_WRITE, buf,
                                             sizeof(buf)), NULL), 0);
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

/* GET_REGION_INFO of @region with @argsz; the reply, fds and all. */
static void region_info(int fd, unsigned region, uint32_t argsz, VupMsg *r)
{
    VupRegionInfo req = { .argsz = argsz, .index = region };

    assert_int_equal(wait_reply(fd, send_cmd(fd,
                                             VUP_CMD_DEVICE_GET_REGION_INFO,
                                             &req, sizeof(req)), r), 0);
    assert_true(r->payload_len >= sizeof(VupRegionInfo));
}

/* What the model reads at BAR2's @addr (its DATA register). */
static uint32_t model_word_at(int fd, uint64_t addr)
{
    wr(fd, BAR0, REG_ADDR, addr);
    return rd(fd, BAR0, REG_DATA);
}

/* Through @client (BAR2's @addr mapped there): both ways. */
static void check_both_ways(int fd, uint8_t *client, uint64_t addr)
{
    uint32_t v;

    /* The client's store: the model and a REGION_READ see it. */
    v = htole32(0xfeed0000 | (uint32_t)addr);
    memcpy(client, &v, 4);
    assert_int_equal(model_word_at(fd, addr), 0xfeed0000 | (uint32_t)addr);
    assert_int_equal(rd(fd, BAR2, addr), 0xfeed0000 | (uint32_t)addr);
    /* A REGION_WRITE and the model's own: in the client's mapping. */
    wr(fd, BAR2, addr, 0x0badcafe);
    memcpy(&v, client, 4);
    assert_int_equal(le32toh(v), 0x0badcafe);
    wr(fd, BAR0, REG_DATA, 0x13579bdf);
    memcpy(&v, client, 4);
    assert_int_equal(le32toh(v), 0x13579bdf);
}

static void test_wire_whole(void **unused)
{
    int fd = client_connect(&whole);
    VupRegionInfo info;
    struct stat st;
    uint8_t *client;
    VupMsg r;

    region_info(fd, BAR2, sizeof(info), &r);
    memcpy(&info, r.payload, sizeof(info));
    /* The whole region: MMAP, no capability, the fd from offset 0. */
    assert_int_equal(info.flags, VUP_REGION_INFO_FLAG_READ |
                                 VUP_REGION_INFO_FLAG_WRITE |
                                 VUP_REGION_INFO_FLAG_MMAP);
    assert_int_equal(info.size, BAR2_SIZE);
    assert_int_equal(info.offset, 0);
    assert_int_equal(r.nfds, 1);
    assert_int_equal(fstat(r.fds[0], &st), 0);
    assert_int_equal(st.st_size, BAR2_SIZE);
    client = map_fd(r.fds[0], info.offset, BAR2_SIZE);
    vup_msg_clear(&r);
    check_both_ways(fd, client + 0x3000, 0x3000);
    munmap(client, BAR2_SIZE);

    /* BAR0, registers only: no MMAP, no fd. */
    region_info(fd, BAR0, sizeof(info), &r);
    memcpy(&info, r.payload, sizeof(info));
    assert_false(info.flags & VUP_REGION_INFO_FLAG_MMAP);
    assert_int_equal(r.nfds, 0);
    vup_msg_clear(&r);
    close(fd);
}

static void test_wire_sparse(void **unused)
{
    struct __attribute__((packed)) {
        VupRegionInfo info;
        VupRegionInfoCapSparseMmap cap;
        VupSparseMmapArea area;
    } full;
    int fd = client_connect(&sparse);
    uint8_t *client;
    VupMsg r;

    /*
     * Too short for the capability: the size it needs, no caps (nor
     * FLAG_CAPS, as libvfio-user answers), no fd.
     */
    region_info(fd, BAR2, sizeof(full.info), &r);
    memcpy(&full.info, r.payload, sizeof(full.info));
    assert_true(full.info.flags & VUP_REGION_INFO_FLAG_MMAP);
    assert_false(full.info.flags & VUP_REGION_INFO_FLAG_CAPS);
    assert_int_equal(full.info.argsz, sizeof(full));
    assert_int_equal(full.info.cap_offset, 0);
    assert_int_equal(r.payload_len, sizeof(full.info));
    assert_int_equal(r.nfds, 0);
    vup_msg_clear(&r);

    region_info(fd, BAR2, sizeof(full), &r);
    assert_int_equal(r.payload_len, sizeof(full));
    memcpy(&full, r.payload, sizeof(full));
    assert_true(full.info.flags & VUP_REGION_INFO_FLAG_CAPS);
    assert_int_equal(full.info.cap_offset, sizeof(full.info));
    assert_int_equal(full.cap.header.id, VUP_REGION_INFO_CAP_SPARSE_MMAP);
    assert_int_equal(full.cap.header.next, 0);
    assert_int_equal(full.cap.nr_areas, 1);
    assert_int_equal(full.area.offset, PAGE);
    assert_int_equal(full.area.size, BAR2_SIZE - PAGE);
    assert_int_equal(r.nfds, 1);
    client = map_fd(r.fds[0], full.info.offset + full.area.offset,
                    full.area.size);
    vup_msg_clear(&r);
    check_both_ways(fd, client + 0x100, PAGE + 0x100);
    /* The first page is still the model's registers. */
    assert_int_equal(rd(fd, BAR2, 0x20), 0xc0de0020);
    munmap(client, full.area.size);
    close(fd);
}

static void test_wire_tcp(void **unused)
{
    int fd = client_connect(&tcp);
    VupRegionInfo info;
    VupMsg r;

    region_info(fd, BAR2, 256, &r);
    memcpy(&info, r.payload, sizeof(info));
    /* No descriptors over TCP: trapped, by messages. */
    assert_int_equal(info.flags, VUP_REGION_INFO_FLAG_READ |
                                 VUP_REGION_INFO_FLAG_WRITE);
    assert_int_equal(r.nfds, 0);
    assert_int_equal(r.payload_len, sizeof(info));
    vup_msg_clear(&r);
    /* The same memory, reached by messages only. */
    wr(fd, BAR2, 0x40, 0x24681357);
    assert_int_equal(model_word_at(fd, 0x40), 0x24681357);
    wr(fd, BAR0, REG_DATA, 0x11111111);
    assert_int_equal(rd(fd, BAR2, 0x40), 0x11111111);
    close(fd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_table),
        cmocka_unit_test(test_membar_whole),
        cmocka_unit_test(test_membar_sparse),
        cmocka_unit_test(test_wire_whole),
        cmocka_unit_test(test_wire_sparse),
        cmocka_unit_test(test_wire_tcp),
    };

    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
