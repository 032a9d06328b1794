/*
 * A driver racing the device on shared memory: a live "dm-remote serve
 * --model virtio-blk" whose guest memory is a memfd window, and this
 * process as the guest's vCPU, adding GET_ID chains (answered at once,
 * no I/O) as fast as the device takes them, kicking by the doorbell's
 * eventfd, storing the available index with one 16-bit store as a
 * driver does.  The index passes a multiple of 256 thousands of times
 * while the device reads it: the device must never see a torn index
 * (0x00ff -> 0x0100 read as 0x01ff: "the available index moved by 300
 * on a queue of 256", NEEDS_RESET; guest-virtio-blk-qd32 in CI), and
 * every chain is answered.  A device that copied the index with memcpy
 * (glibc's 2-byte copy reads byte 0, then bytes 0-1) broke within 600
 * to 12000 such passes in each of 8 runs on a 2-core machine (most runs
 * here fail then; test-dma's test_copy_not_torn is the exact check).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vup/caps.h"
#include "vup/msg.h"

#define BAR4        (VUP_PCI_BAR0_REGION_INDEX + 4)
#define RAM_BASE    0x100000
#define RAM_SIZE    0x10000
#define QSIZE       256
#define DESC        (RAM_BASE + 0x0000)
#define AVAIL       (RAM_BASE + 0x1000)
#define USED        (RAM_BASE + 0x2000)
#define HDR         (RAM_BASE + 0x4000)     /* 16 bytes per chain */
#define IDBUF       (RAM_BASE + 0x5000)     /* 32 bytes per chain */
#define STATUS      (RAM_BASE + 0x6000)     /* 1 byte per chain */
#define CHAINS      64                      /* in flight at most */
#define PASSES      12000                   /* of a multiple of 256 */
#define VIRTIO_BLK_T_GET_ID 8

static pid_t server_pid;
static char tmp_dir[64], sock_path[108], img_path[108];
static uint8_t *ram;
static uint16_t next_id = 1;

static uint8_t *at(uint64_t addr)
{
    return ram + (addr - RAM_BASE);
}

static int64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static int suite_setup(void **state)
{
    const char *bin = getenv("DM_REMOTE");
    char listen[128], model[256];
    int fd;

    if (!bin) {
        fprintf(stderr, "DM_REMOTE is not set\n");
        return -1;
    }
    strcpy(tmp_dir, "/tmp/dm-ring-race-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        return -1;
    }
    snprintf(sock_path, sizeof(sock_path), "%s/dm.sock", tmp_dir);
    snprintf(img_path, sizeof(img_path), "%s/disk.img", tmp_dir);
    fd = open(img_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || ftruncate(fd, 1 << 20) < 0) {
        return -1;
    }
    close(fd);
    snprintf(listen, sizeof(listen), "unix:%s", sock_path);
    /* DM_BLK_EXTRA (",prop=value..."): again with iothread=on. */
    snprintf(model, sizeof(model),
             "virtio-blk,file=%s,queue_size=%d,queues=1%s", img_path, QSIZE,
             getenv("DM_BLK_EXTRA") ? getenv("DM_BLK_EXTRA") : "");
    server_pid = fork();
    if (server_pid == 0) {
        execl(bin, bin, "serve", "--quiet", "--model", model, "--listen",
              listen, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 5000 && access(sock_path, F_OK) != 0; i++) {
        usleep(1000);
    }
    return access(sock_path, F_OK) == 0 ? 0 : -1;
}

static int suite_teardown(void **state)
{
    int status;

    kill(server_pid, SIGTERM);
    waitpid(server_pid, &status, 0);
    unlink(img_path);
    rmdir(tmp_dir);
    return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : -1;
}

/* The reply to @id (nothing else comes on shared memory): its errno. */
static int wait_reply(int fd, uint16_t id, VupMsg *ret_reply)
{
    for (;;) {
        VupMsg m;

        assert_int_equal(vup_recv_msg(fd, &m, VUP_MAX_MSG_SIZE,
                                      VUP_MAX_FDS), 0);
        if ((m.hdr.flags & VUP_FLAG_TYPE_MASK) != VUP_FLAG_TYPE_REPLY ||
            m.hdr.msg_id != id) {
            vup_msg_clear(&m);
            continue;
        }
        if (m.hdr.flags & VUP_FLAG_ERROR) {
            int err = m.hdr.error_no;

            vup_msg_clear(&m);
            return err ? err : EIO;
        }
        if (ret_reply) {
            *ret_reply = m;
        } else {
            vup_msg_clear(&m);
        }
        return 0;
    }
}

static uint16_t send_cmd(int fd, uint16_t cmd, const void *payload,
                         size_t len, int *fds, unsigned nfds)
{
    VupHeader h = { .msg_id = next_id++, .command = cmd };

    assert_int_equal(vup_send_msg(fd, &h, payload, len, fds, nfds), 0);
    return h.msg_id;
}

static void wr(int fd, uint64_t off, uint32_t val, unsigned size)
{
    uint8_t buf[sizeof(VupRegionAccess) + 4];
    VupRegionAccess a = { .offset = off, .region = BAR4, .count = size };
    uint32_t le = htole32(val);

    memcpy(buf, &a, sizeof(a));
    memcpy(buf + sizeof(a), &le, size);
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_REGION_WRITE, buf,
                                             sizeof(a) + size, NULL, 0),
                                NULL), 0);
}

static uint32_t rd(int fd, uint64_t off, unsigned size)
{
    VupRegionAccess a = { .offset = off, .region = BAR4, .count = size };
    uint32_t v = 0;
    VupMsg r;

    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_REGION_READ, &a,
                                             sizeof(a), NULL, 0), &r), 0);
    assert_int_equal(r.payload_len, sizeof(a) + size);
    memcpy(&v, r.payload + sizeof(a), size);
    vup_msg_clear(&r);
    return le32toh(v);
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next)
{
    struct { uint64_t a; uint32_t l; uint16_t f, n; } d = {
        htole64(addr), htole32(len), htole16(flags), htole16(next),
    };

    memcpy(at(DESC + 16 * i), &d, sizeof(d));
}

/*
 * Connect with @memfd as guest memory: VERSION, the window with its fd,
 * queue 0's doorbell eventfd (in @ret_kick), the driver started on a
 * queue of QSIZE without EVENT_IDX (a kick per batch).
 */
static int connect_shared(int memfd, int *ret_kick)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct timeval tv = { .tv_sec = 10 };
    VupDmaMap map = { .argsz = sizeof(map),
                      .flags = VUP_DMA_MAP_FLAG_READ | VUP_DMA_MAP_FLAG_WRITE,
                      .address = RAM_BASE, .size = RAM_SIZE };
    VupRegionIoFds io = { .argsz = 4096, .index = BAR4 };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    VupCaps caps;
    void *buf;
    size_t len;
    VupMsg r;

    strcpy(sun.sun_path, sock_path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sun, sizeof(sun)), 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    vup_caps_init_defaults(&caps);
    assert_int_equal(vup_version_build(0, 0, &caps, &buf, &len), 0);
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_VERSION, buf, len,
                                             NULL, 0), NULL), 0);
    free(buf);
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_DMA_MAP, &map,
                                             sizeof(map), &memfd, 1),
                                NULL), 0);
    assert_int_equal(wait_reply(fd, send_cmd(fd,
                                             VUP_CMD_DEVICE_GET_REGION_IO_FDS,
                                             &io, sizeof(io), NULL, 0), &r),
                     0);
    assert_int_equal(r.nfds, 1);
    *ret_kick = vup_msg_take_fd(&r, 0);
    vup_msg_clear(&r);
    wr(fd, 0x14, 0, 1);                         /* reset */
    wr(fd, 0x14, 1 | 2, 1);                     /* ACKNOWLEDGE, DRIVER */
    wr(fd, 0x08, 1, 4);                         /* VERSION_1 only */
    wr(fd, 0x0c, 1, 4);
    wr(fd, 0x14, 1 | 2 | 8, 1);                 /* FEATURES_OK */
    wr(fd, 0x16, 0, 2);                         /* queue 0 */
    wr(fd, 0x18, QSIZE, 2);
    wr(fd, 0x20, (uint32_t)DESC, 4);
    wr(fd, 0x24, 0, 4);
    wr(fd, 0x28, (uint32_t)AVAIL, 4);
    wr(fd, 0x2c, 0, 4);
    wr(fd, 0x30, (uint32_t)USED, 4);
    wr(fd, 0x34, 0, 4);
    wr(fd, 0x1c, 1, 2);                         /* enable */
    wr(fd, 0x14, 1 | 2 | 8 | 4, 1);             /* DRIVER_OK */
    return fd;
}

static void test_avail_index_race(void **state)
{
    int memfd = memfd_create("guest-ram", MFD_CLOEXEC);
    uint16_t avail = 0, used_seen = 0, free_chains[CHAINS];
    unsigned nfree = CHAINS, passes = 0;
    uint64_t one = 1;
    int64_t progress;
    int fd, kick;

    assert_true(memfd >= 0);
    assert_int_equal(ftruncate(memfd, RAM_SIZE), 0);
    ram = mmap(NULL, RAM_SIZE, PROT_READ | PROT_WRITE, MAP_SHARED, memfd, 0);
    assert_true(ram != MAP_FAILED);
    fd = connect_shared(memfd, &kick);
    for (unsigned c = 0; c < CHAINS; c++) {
        struct { uint32_t type, reserved; uint64_t sector; } h = {
            htole32(VIRTIO_BLK_T_GET_ID), 0, 0,
        };

        memcpy(at(HDR + 16 * c), &h, sizeof(h));
        desc(3 * c, HDR + 16 * c, 16, 1, 3 * c + 1);
        desc(3 * c + 1, IDBUF + 32 * c, 20, 1 | 2, 3 * c + 2);
        desc(3 * c + 2, STATUS + c, 1, 2, 0);
        free_chains[c] = c;
    }
    progress = now_ns();
    while (passes < PASSES) {
        uint16_t used = le16toh(__atomic_load_n((uint16_t *)at(USED + 2),
                                                __ATOMIC_ACQUIRE));
        bool added = false;

        while (used_seen != used) {
            uint32_t id;

            memcpy(&id, at(USED + 4 + 8 * (used_seen % QSIZE)), 4);
            id = le32toh(id);
            assert_true(id % 3 == 0 && id / 3 < CHAINS);
            assert_int_equal(*at(STATUS + id / 3), 0);
            free_chains[nfree++] = id / 3;
            used_seen++;
            progress = now_ns();
        }
        while (nfree) {
            uint16_t head = htole16(3 * free_chains[--nfree]);

            *at(STATUS + le16toh(head) / 3) = 0xee;
            memcpy(at(AVAIL + 4 + 2 * (avail % QSIZE)), &head, 2);
            avail++;
            passes += (avail & 0xff) == 0;
            /* One store, after the entry: as a driver's vCPU. */
            __atomic_store_n((uint16_t *)at(AVAIL + 2), htole16(avail),
                             __ATOMIC_RELEASE);
            added = true;
        }
        if (added) {
            assert_int_equal(write(kick, &one, sizeof(one)), sizeof(one));
        }
        /* Nothing answered for 10 s: the device gave up (or hangs). */
        if (now_ns() - progress > 10 * 1000000000LL) {
            fprintf(stderr, "# no answer after %u passes: status 0x%x\n",
                    passes, rd(fd, 0x14, 1));
            fail();
        }
    }
    assert_false(rd(fd, 0x14, 1) & 64);         /* not NEEDS_RESET */
    close(kick);
    close(fd);
    munmap(ram, RAM_SIZE);
    close(memfd);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_avail_index_race),
    };

    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
