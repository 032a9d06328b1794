/*
 * Requests that arrive while the server waits for a DMA reply, over a
 * real socket: a live "dm-remote serve --model virtio-blk" whose guest
 * memory is reached through DMA_READ/DMA_WRITE messages (no fd), as
 * across hosts or with a QEMU whose RAM is not shared.
 *
 * A Linux guest's second queue notify arrives while the model's pop of
 * the first waits for a descriptor read: both notifies must be answered,
 * each chain used once, the device not broken (a nested pop once took a
 * chain twice and a nested DMA wait dropped the outer reply, which made
 * mkfs.ext4 in tests/guest lose its disk).  And a client that waits for
 * its register read before it answers our DMA (upstream QEMU's, under
 * its big lock) must get the read answered: no deadlock.
 *
 * The same server's doorbells (VFIO_USER_DEVICE_GET_REGION_IO_FDS): the
 * queue's notify address with an eventfd on a UNIX socket, which kicks
 * the queue as a REGION_WRITE there does; every malformed request
 * refused; a standby session gets none; over TCP (a second server) none,
 * or the address alone for a client that offered dm_doorbells.
 *
 * And with posted DMA writes (dm_vq_fetch), an interrupt wired to an
 * eventfd goes as a DM_IRQ message behind them: by eventfd it could
 * reach the guest before the used index it announces.
 *
 * And over TCP, what the model posts for one completion (the data's DMA
 * write, the used ring's writes) comes in one segment, not one a message
 * (dm-remote/core/session.c's outbox).
 *
 * And a lost session (issues 17 and 22: the link dropped, the fork
 * reconnecting): the client goes away at each of the DMA messages a
 * read makes in turn, a new one connects: the request completes exactly
 * once, with the data of its one run, and the device is not broken;
 * while a guest's bad address still breaks it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
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
#include <linux/tcp.h>          /* struct tcp_info's tcpi_data_segs_in */
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vup/caps.h"
#include "vup/dm-ext.h"
#include "vup/msg.h"

/* The virtio-pci layout of dm-remote/virtio/virtio-pci.h, as a driver
 * knows it from the capabilities. */
#define BAR4        (VUP_PCI_BAR0_REGION_INDEX + 4)
#define ISR_OFF     0x1000
#define NOTIFY_OFF  0x3000

#define RAM_BASE    0x100000
#define RAM_SIZE    0x10000
#define QSIZE       16
#define DESC        (RAM_BASE + 0x0000)
#define AVAIL       (RAM_BASE + 0x1000)
#define USED        (RAM_BASE + 0x2000)
#define HDR         (RAM_BASE + 0x3000)     /* one header per chain */
#define STATUS      (RAM_BASE + 0x3f00)     /* one byte per chain */
#define DATA        (RAM_BASE + 0x4000)     /* 512 bytes per chain */
#define IMG_SECTORS 64

static pid_t server_pid, tcp_pid;
static int tcp_port;
static char tmp_dir[64], sock_path[108], img_path[108], tcp_img_path[108];
static uint16_t next_id = 1;
static uint8_t ram[RAM_SIZE];
/* The client offered dm_vq_fetch: fetches refused, posted writes taken. */
static bool fetch_client;

static void sleep_ms(int ms)
{
    struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

    nanosleep(&ts, NULL);
}

static int suite_setup(void **state)
{
    const char *bin = getenv("DM_REMOTE");
    char listen[128], model[256];
    uint8_t sector[512];
    int fd;

    if (!bin) {
        fprintf(stderr, "DM_REMOTE is not set\n");
        return -1;
    }
    strcpy(tmp_dir, "/tmp/dm-dma-wait-XXXXXX");
    if (!mkdtemp(tmp_dir)) {
        return -1;
    }
    snprintf(sock_path, sizeof(sock_path), "%s/dm.sock", tmp_dir);
    snprintf(img_path, sizeof(img_path), "%s/disk.img", tmp_dir);
    snprintf(tcp_img_path, sizeof(tcp_img_path), "%s/tcp.img", tmp_dir);
    /* Every byte of sector S is S; one image per server (each locks). */
    for (int i = 0; i < 2; i++) {
        fd = open(i ? tcp_img_path : img_path, O_WRONLY | O_CREAT | O_TRUNC,
                  0600);
        for (int s = 0; s < IMG_SECTORS; s++) {
            memset(sector, s, sizeof(sector));
            if (write(fd, sector, sizeof(sector)) != sizeof(sector)) {
                return -1;
            }
        }
        close(fd);
    }
    snprintf(listen, sizeof(listen), "unix:%s", sock_path);
    snprintf(model, sizeof(model), "virtio-blk,file=%s,queue_size=%d,queues=1",
             img_path, QSIZE);
    server_pid = fork();
    if (server_pid == 0) {
        execl(bin, bin, "serve", "--quiet", "--model", model, "--listen",
              listen, "--dma-layout", "spec", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 5000 && access(sock_path, F_OK) != 0; i++) {
        sleep_ms(1);
    }
    if (access(sock_path, F_OK) != 0) {
        return -1;
    }
    /* The same model over TCP, on a port the kernel picked free. */
    {
        struct sockaddr_in sin = { .sin_family = AF_INET,
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t slen = sizeof(sin);
        int s = socket(AF_INET, SOCK_STREAM, 0);

        if (bind(s, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
            getsockname(s, (struct sockaddr *)&sin, &slen) < 0) {
            return -1;
        }
        tcp_port = ntohs(sin.sin_port);
        close(s);
    }
    snprintf(listen, sizeof(listen), "tcp:127.0.0.1:%d", tcp_port);
    snprintf(model, sizeof(model), "virtio-blk,file=%s,queue_size=%d,queues=1",
             tcp_img_path, QSIZE);
    tcp_pid = fork();
    if (tcp_pid == 0) {
        execl(bin, bin, "serve", "--quiet", "--model", model, "--listen",
              listen, (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 5000; i++) {
        struct sockaddr_in sin = { .sin_family = AF_INET,
                                   .sin_port = htons(tcp_port),
                                   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        int s = socket(AF_INET, SOCK_STREAM, 0);
        bool up = connect(s, (struct sockaddr *)&sin, sizeof(sin)) == 0;

        close(s);
        if (up) {
            return 0;
        }
        sleep_ms(1);
    }
    return -1;
}

static int suite_teardown(void **state)
{
    int status;

    kill(tcp_pid, SIGTERM);
    waitpid(tcp_pid, &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "TCP server did not stop cleanly\n");
        return -1;
    }
    kill(server_pid, SIGTERM);
    waitpid(server_pid, &status, 0);
    unlink(img_path);
    unlink(tcp_img_path);
    rmdir(tmp_dir);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        fprintf(stderr, "server did not stop cleanly\n");
        return -1;
    }
    return 0;
}

/* ---- A client whose guest memory is @ram, reached by messages ---- */

static uint8_t *at(uint64_t addr)
{
    assert_true(addr >= RAM_BASE && addr - RAM_BASE < RAM_SIZE);
    return ram + (addr - RAM_BASE);
}

/* Reply to @req with @payload. */
static int send_reply(int fd, const VupHeader *req, const void *payload,
                      size_t len)
{
    VupStream s = VUP_STREAM_PLAIN(fd);

    return vup_stream_send_reply(&s, req, payload, len);
}

static bool is_request(const VupMsg *m)
{
    return (m->hdr.flags & VUP_FLAG_TYPE_MASK) != VUP_FLAG_TYPE_REPLY;
}

/* Answer the server's DMA_READ or DMA_WRITE @m from @ram. */
static void serve_dma(int fd, const VupMsg *m)
{
    VupDmaAccess acc;
    uint8_t *reply;
    size_t len;

    if (m->hdr.command == VUP_CMD_DM_IRQ) {
        return;                 /* an interrupt: nothing to answer */
    }
    if (fetch_client && m->hdr.command == VUP_CMD_DM_VQ_FETCH) {
        VupStream st = VUP_STREAM_PLAIN(fd);

        /* Refused: the model walks the ring with DMA reads. */
        assert_int_equal(vup_stream_send_error(&st, &m->hdr, ENOTSUP), 0);
        return;
    }
    /*
     * A client that does not offer dm_vq_fetch gets plain DMA messages
     * only (no ring fetch, no conditional interrupt), each waiting for
     * its reply (no posted write), as upstream's client gets them.
     */
    assert_true(m->hdr.command == VUP_CMD_DMA_READ ||
                m->hdr.command == VUP_CMD_DMA_WRITE);
    assert_true(fetch_client || !(m->hdr.flags & VUP_FLAG_NO_REPLY));
    assert_true(m->payload_len >= sizeof(acc));
    memcpy(&acc, m->payload, sizeof(acc));
    assert_true(acc.address >= RAM_BASE && acc.count <= RAM_SIZE &&
                acc.address - RAM_BASE <= RAM_SIZE - acc.count);
    if (m->hdr.command == VUP_CMD_DMA_WRITE &&
        (m->hdr.flags & VUP_FLAG_NO_REPLY)) {
        assert_int_equal(m->payload_len, sizeof(acc) + acc.count);
        memcpy(at(acc.address), m->payload + sizeof(acc), acc.count);
        return;                 /* posted: no reply */
    }
    if (m->hdr.command == VUP_CMD_DMA_WRITE) {
        VupDmaWriteReply w = { .address = acc.address,
                               .count = (uint32_t)acc.count };

        assert_int_equal(m->payload_len, sizeof(acc) + acc.count);
        memcpy(at(acc.address), m->payload + sizeof(acc), acc.count);
        assert_int_equal(send_reply(fd, &m->hdr, &w, sizeof(w)), 0);
        return;
    }
    len = sizeof(acc) + acc.count;
    reply = malloc(len);
    memcpy(reply, &acc, sizeof(acc));
    memcpy(reply + sizeof(acc), at(acc.address), acc.count);
    assert_int_equal(send_reply(fd, &m->hdr, reply, len), 0);
    free(reply);
}

/*
 * Receive one message (the socket's timeout fails a silent server); fds
 * are taken (GET_REGION_IO_FDS sends some), a test checks how many.
 */
static void recv_one(int fd, VupMsg *m)
{
    assert_int_equal(vup_recv_msg(fd, m, VUP_MAX_MSG_SIZE, VUP_MAX_FDS), 0);
}

/* Serve DMA until the reply to @id; its errno (0: success). */
static int wait_reply(int fd, uint16_t id, VupMsg *ret_reply)
{
    for (;;) {
        VupMsg m;

        recv_one(fd, &m);
        if (is_request(&m)) {
            serve_dma(fd, &m);
            vup_msg_clear(&m);
            continue;
        }
        assert_int_equal(m.hdr.msg_id, id);
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
                         size_t len)
{
    VupHeader h = { .msg_id = next_id++, .command = cmd };

    assert_int_equal(vup_send_msg(fd, &h, payload, len, NULL, 0), 0);
    return h.msg_id;
}

static uint16_t send_write(int fd, uint64_t off, uint32_t val, unsigned size)
{
    uint8_t buf[sizeof(VupRegionAccess) + 4];
    VupRegionAccess a = { .offset = off, .region = BAR4, .count = size };
    uint32_t le = htole32(val);

    memcpy(buf, &a, sizeof(a));
    memcpy(buf + sizeof(a), &le, size);
    return send_cmd(fd, VUP_CMD_REGION_WRITE, buf, sizeof(a) + size);
}

static void wr(int fd, uint64_t off, uint32_t val, unsigned size)
{
    assert_int_equal(wait_reply(fd, send_write(fd, off, val, size), NULL),
                     0);
}

static uint32_t rd(int fd, uint64_t off, unsigned size)
{
    VupRegionAccess a = { .offset = off, .region = BAR4, .count = size };
    uint32_t v = 0;
    VupMsg r;

    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_REGION_READ, &a,
                                             sizeof(a)), &r), 0);
    assert_int_equal(r.payload_len, sizeof(a) + size);
    memcpy(&v, r.payload + sizeof(a), size);
    vup_msg_clear(&r);
    return le32toh(v);
}

/*
 * Connect (to the TCP server when @tcp) and send VERSION, offering
 * @caps; 0 or the errno of its reply in @ret_err (may be NULL: must
 * succeed).
 */
static int connect_with(bool tcp, const VupCaps *caps, int *ret_err)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_port = htons(tcp_port),
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    struct timeval tv = { .tv_sec = 5 };
    int fd = socket(tcp ? AF_INET : AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    void *buf;
    size_t len;
    int err;

    assert_true(fd >= 0);
    strcpy(sun.sun_path, sock_path);
    assert_int_equal(tcp ? connect(fd, (struct sockaddr *)&sin, sizeof(sin))
                         : connect(fd, (struct sockaddr *)&sun, sizeof(sun)),
                     0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    assert_int_equal(vup_version_build(0, 0, caps, &buf, &len), 0);
    err = wait_reply(fd, send_cmd(fd, VUP_CMD_VERSION, buf, len), NULL);
    free(buf);
    if (ret_err) {
        *ret_err = err;
    } else {
        assert_int_equal(err, 0);
    }
    return fd;
}

/* VERSION, and all of @ram as one window without an fd: DMA messages. */
static int connect_client(void)
{
    VupDmaMap map = { .argsz = sizeof(map),
                      .flags = VUP_DMA_MAP_FLAG_READ | VUP_DMA_MAP_FLAG_WRITE,
                      .address = RAM_BASE, .size = RAM_SIZE };
    VupCaps caps;
    int fd;

    vup_caps_init_defaults(&caps);
    fd = connect_with(false, &caps, NULL);
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_DMA_MAP, &map,
                                             sizeof(map)), NULL), 0);
    return fd;
}

/* What Linux's virtio_pci_modern and virtio_blk do at start (queue 0). */
static void driver_init(int fd)
{
    memset(ram, 0, sizeof(ram));
    wr(fd, 0x14, 0, 1);                         /* reset */
    wr(fd, 0x14, 1 | 2, 1);                     /* ACKNOWLEDGE, DRIVER */
    wr(fd, 0x08, 1, 4);                         /* VERSION_1 only */
    wr(fd, 0x0c, 1, 4);
    wr(fd, 0x14, 1 | 2 | 8, 1);                 /* FEATURES_OK */
    assert_true(rd(fd, 0x14, 1) & 8);
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
}

static void desc(unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
                 uint16_t next)
{
    struct { uint64_t a; uint32_t l; uint16_t f, n; } d = {
        htole64(addr), htole32(len), htole16(flags), htole16(next),
    };

    memcpy(at(DESC + 16 * i), &d, sizeof(d));
}

/* Chain @c (descriptors 3c..3c+2): read @sector into DATA + 512c. */
static void make_read(unsigned c, uint64_t sector)
{
    struct { uint32_t type, reserved; uint64_t sector; } h = {
        0, 0, htole64(sector),
    };

    memcpy(at(HDR + 16 * c), &h, sizeof(h));
    *at(STATUS + c) = 0xee;
    desc(3 * c, HDR + 16 * c, 16, 1, 3 * c + 1);
    desc(3 * c + 1, DATA + 512 * c, 512, 1 | 2, 3 * c + 2);
    desc(3 * c + 2, STATUS + c, 1, 2, 0);
}

/* Make chain @c available as the @n-th entry of the avail ring. */
static void offer(unsigned c, uint16_t n)
{
    uint16_t head = htole16(3 * c), idx = htole16(n + 1);

    memcpy(at(AVAIL + 4 + 2 * (n % QSIZE)), &head, 2);
    memcpy(at(AVAIL + 2), &idx, 2);
}

static uint16_t used_idx(void)
{
    uint16_t v;

    memcpy(&v, at(USED + 2), 2);
    return le16toh(v);
}

/*
 * The guest's second notify arrives while the server waits for the ring
 * read of the first: both notifies are answered, each chain is used
 * exactly once, the data is right and the device is not broken.
 */
static void test_notify_during_dma(void **state)
{
    int fd = connect_client();
    uint16_t first, second, ids[2];
    unsigned replies = 0;
    VupMsg held;

    driver_init(fd);
    make_read(0, 5);
    make_read(1, 6);
    offer(0, 0);
    first = send_write(fd, NOTIFY_OFF, 0, 2);
    /*
     * The model reads the avail ring, then the chain's first descriptor:
     * hold that read unanswered, the pop half done.
     */
    for (;;) {
        VupDmaAccess acc;

        recv_one(fd, &held);
        assert_true(is_request(&held));
        assert_int_equal(held.hdr.command, VUP_CMD_DMA_READ);
        memcpy(&acc, held.payload, sizeof(acc));
        if (acc.address >= DESC && acc.address < DESC + 16 * QSIZE) {
            break;
        }
        serve_dma(fd, &held);
        vup_msg_clear(&held);
    }
    offer(1, 1);
    second = send_write(fd, NOTIFY_OFF, 0, 2);
    serve_dma(fd, &held);
    vup_msg_clear(&held);

    /* Both replies, and both chains used (completions come afterwards). */
    while (replies != 3 || used_idx() < 2) {
        VupMsg m;

        recv_one(fd, &m);
        if (is_request(&m)) {
            serve_dma(fd, &m);
        } else {
            assert_false(m.hdr.flags & VUP_FLAG_ERROR);
            assert_true(m.hdr.msg_id == first || m.hdr.msg_id == second);
            replies |= m.hdr.msg_id == first ? 1 : 2;
        }
        vup_msg_clear(&m);
    }
    assert_int_equal(used_idx(), 2);
    for (unsigned i = 0; i < 2; i++) {
        uint32_t id, len;

        memcpy(&id, at(USED + 4 + 8 * i), 4);
        memcpy(&len, at(USED + 8 + 8 * i), 4);
        ids[i] = le32toh(id);
        assert_int_equal(le32toh(len), 513);
    }
    /* Each head once (completion order is the workers'). */
    assert_true((ids[0] == 0 && ids[1] == 3) || (ids[0] == 3 && ids[1] == 0));
    for (unsigned c = 0; c < 2; c++) {
        uint8_t want[512];

        memset(want, 5 + c, sizeof(want));
        assert_memory_equal(at(DATA + 512 * c), want, sizeof(want));
        assert_int_equal(*at(STATUS + c), 0);
    }
    assert_false(rd(fd, 0x14, 1) & 64);         /* not NEEDS_RESET */
    close(fd);
}

/*
 * A client that waits for the reply to its register read before it
 * answers the DMA request it holds (as upstream QEMU's does) gets it:
 * no deadlock, and the request completes once the DMA is answered.
 */
static void test_read_during_dma(void **state)
{
    int fd = connect_client();
    VupMsg held, m;
    bool notified = false;

    driver_init(fd);
    make_read(0, 9);
    offer(0, 0);
    send_write(fd, NOTIFY_OFF, 0, 2);
    recv_one(fd, &held);
    assert_true(is_request(&held));
    /* DRIVER_OK, read while the model's ring read waits. */
    {
        VupRegionAccess a = { .offset = 0x14, .region = BAR4, .count = 1 };
        uint16_t id = send_cmd(fd, VUP_CMD_REGION_READ, &a, sizeof(a));

        recv_one(fd, &m);
        assert_false(is_request(&m));
        assert_int_equal(m.hdr.msg_id, id);
        assert_false(m.hdr.flags & VUP_FLAG_ERROR);
        assert_int_equal(m.payload[sizeof(a)], 1 | 2 | 8 | 4);
        vup_msg_clear(&m);
    }
    serve_dma(fd, &held);
    vup_msg_clear(&held);
    while (!notified || used_idx() < 1) {
        recv_one(fd, &m);
        if (is_request(&m)) {
            serve_dma(fd, &m);
        } else {
            assert_false(m.hdr.flags & VUP_FLAG_ERROR);
            notified = true;
        }
        vup_msg_clear(&m);
    }
    assert_int_equal(*at(STATUS), 0);
    assert_int_equal(*at(DATA), 9);
    close(fd);
}

/* ---- Doorbells: GET_REGION_IO_FDS ---- */

/*
 * GET_REGION_IO_FDS of @region, @len bytes of request: the reply's
 * errno, or 0 with the reply (its fds in it) in @ret.
 */
static int io_fds_raw(int fd, uint32_t argsz, uint32_t flags,
                      uint32_t region, uint32_t count, size_t len,
                      VupMsg *ret)
{
    VupRegionIoFds req = { .argsz = argsz, .flags = flags, .index = region,
                           .count = count };

    return wait_reply(fd, send_cmd(fd, VUP_CMD_DEVICE_GET_REGION_IO_FDS,
                                   &req, len), ret);
}

static int io_fds(int fd, uint32_t region, VupMsg *ret)
{
    return io_fds_raw(fd, 4096, 0, region, 0, sizeof(VupRegionIoFds), ret);
}

static VupRegionIoFds io_fds_hdr(const VupMsg *m)
{
    VupRegionIoFds h;

    assert_true(m->payload_len >= sizeof(h));
    memcpy(&h, m->payload, sizeof(h));
    return h;
}

static VupSubRegionIoFd io_fds_entry(const VupMsg *m, unsigned i)
{
    VupSubRegionIoFd e;

    assert_true(m->payload_len >= sizeof(VupRegionIoFds) +
                                  (i + 1) * sizeof(e));
    memcpy(&e, m->payload + sizeof(VupRegionIoFds) + i * sizeof(e),
           sizeof(e));
    return e;
}

static bool is_eventfd(int fd)
{
    char path[64], target[64];
    ssize_t n;

    snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
    n = readlink(path, target, sizeof(target) - 1);
    if (n < 0) {
        return false;
    }
    target[n] = 0;
    return strcmp(target, "anon_inode:[eventfd]") == 0;
}

/*
 * The queue's notify address comes with an eventfd; signalling it kicks
 * the queue as a REGION_WRITE there would: the request is served.
 */
static void test_doorbell_eventfd(void **state)
{
    int fd = connect_client();
    VupRegionIoFds h;
    VupSubRegionIoFd e;
    uint64_t one = 1;
    int kick;
    VupMsg r;

    assert_int_equal(io_fds(fd, BAR4, &r), 0);
    h = io_fds_hdr(&r);
    assert_int_equal(h.argsz, sizeof(h) + sizeof(e));
    assert_int_equal(h.flags, 0);
    assert_int_equal(h.index, BAR4);
    assert_int_equal(h.count, 1);
    e = io_fds_entry(&r, 0);
    assert_int_equal(e.offset, NOTIFY_OFF);
    assert_int_equal(e.size, 0);                /* any width */
    assert_int_equal(e.fd_index, 0);
    assert_int_equal(e.type, VUP_IO_FD_TYPE_IOEVENTFD);
    assert_int_equal(e.flags, 0);               /* no datamatch */
    assert_int_equal(r.nfds, 1);
    kick = vup_msg_take_fd(&r, 0);
    vup_msg_clear(&r);
    assert_true(is_eventfd(kick));

    driver_init(fd);
    make_read(0, 7);
    offer(0, 0);
    assert_int_equal(write(kick, &one, sizeof(one)), sizeof(one));
    /* The model pops the chain: its DMA, then the used ring's update. */
    while (used_idx() < 1) {
        VupMsg m;

        recv_one(fd, &m);
        assert_true(is_request(&m));
        serve_dma(fd, &m);
        vup_msg_clear(&m);
    }
    assert_int_equal(*at(STATUS), 0);
    assert_int_equal(*at(DATA), 7);
    assert_int_equal(*at(DATA + 511), 7);
    close(kick);
    close(fd);
}

/* Malformed requests are refused; regions without doorbells get none. */
static void test_doorbell_requests(void **state)
{
    int fd = connect_client();
    VupRegionIoFds h;
    VupMsg r;

    /* The spec: flags and count zero, argsz at least the header. */
    assert_int_equal(io_fds_raw(fd, 4096, 1, BAR4, 0, sizeof(h), NULL),
                     EINVAL);
    assert_int_equal(io_fds_raw(fd, 4096, 0, BAR4, 1, sizeof(h), NULL),
                     EINVAL);
    assert_int_equal(io_fds_raw(fd, 4096, 0, BAR4, 0xffffffff, sizeof(h),
                                NULL), EINVAL);
    assert_int_equal(io_fds_raw(fd, sizeof(h) - 1, 0, BAR4, 0, sizeof(h),
                                NULL), EINVAL);
    /* A region that does not exist, or has no size (BAR2). */
    assert_int_equal(io_fds_raw(fd, 4096, 0, 9, 0, sizeof(h), NULL), EINVAL);
    assert_int_equal(io_fds_raw(fd, 4096, 0, 2, 0, sizeof(h), NULL), EINVAL);
    /* A short request. */
    assert_int_equal(io_fds_raw(fd, 4096, 0, BAR4, 0, sizeof(h) - 4, NULL),
                     EINVAL);

    /* Room for the header only: what is needed, no entry, no fd. */
    assert_int_equal(io_fds_raw(fd, sizeof(h), 0, BAR4, 0, sizeof(h), &r), 0);
    h = io_fds_hdr(&r);
    assert_int_equal(r.payload_len, sizeof(h));
    assert_int_equal(h.argsz, sizeof(h) + sizeof(VupSubRegionIoFd));
    assert_int_equal(h.count, 1);
    assert_int_equal(r.nfds, 0);
    vup_msg_clear(&r);

    /* The MSI-X BAR and config space have none: count 0. */
    for (uint32_t region = 1; region <= 7; region += 6) {
        assert_int_equal(io_fds(fd, region, &r), 0);
        h = io_fds_hdr(&r);
        assert_int_equal(h.count, 0);
        assert_int_equal(h.argsz, sizeof(h));
        assert_int_equal(h.index, region);
        assert_int_equal(r.nfds, 0);
        vup_msg_clear(&r);
    }
    /* The session goes on. */
    assert_int_equal(rd(fd, 0x12, 2), 1);
    close(fd);
}

/* A standby session (a migration target) gets no eventfd: EBUSY. */
static void test_doorbell_standby(void **state)
{
    int active = connect_client();
    VupCaps caps;
    int standby;

    vup_caps_init_defaults(&caps);
    caps.dm_standby = true;
    standby = connect_with(false, &caps, NULL);
    assert_int_equal(io_fds(standby, BAR4, NULL), EBUSY);
    close(standby);
    close(active);
}

/*
 * Over TCP no descriptor travels: no doorbell, or for a client that
 * offered dm_doorbells the address alone, to send its kicks at once.
 */
static void test_doorbell_tcp(void **state)
{
    VupSubRegionIoFd e;
    VupCaps caps;
    VupMsg r;
    int fd;

    vup_caps_init_defaults(&caps);
    caps.max_msg_fds = 0;
    fd = connect_with(true, &caps, NULL);
    assert_int_equal(io_fds(fd, BAR4, &r), 0);
    assert_int_equal(io_fds_hdr(&r).count, 0);
    assert_int_equal(r.nfds, 0);
    vup_msg_clear(&r);
    close(fd);

    caps.dm_doorbells = true;
    fd = connect_with(true, &caps, NULL);
    assert_int_equal(io_fds(fd, BAR4, &r), 0);
    assert_int_equal(io_fds_hdr(&r).count, 1);
    e = io_fds_entry(&r, 0);
    assert_int_equal(e.offset, NOTIFY_OFF);
    assert_int_equal(e.fd_index, VUP_IO_FD_INDEX_NONE);
    assert_int_equal(r.nfds, 0);
    vup_msg_clear(&r);
    close(fd);
}

/*
 * A client with posted DMA writes (dm_vq_fetch) and an eventfd on the
 * interrupt: the interrupt after a completion comes as a DM_IRQ message
 * behind the used ring's posted writes, never by the eventfd, which the
 * client may read before those writes (its driver would look at the old
 * used index and never be woken again: a guest hung so).  The ring fetch
 * is refused here, so the model walks the ring with DMA reads.
 */
static void test_irq_follows_posted_writes(void **state)
{
    VupDmaMap map = { .argsz = sizeof(map),
                      .flags = VUP_DMA_MAP_FLAG_READ | VUP_DMA_MAP_FLAG_WRITE,
                      .address = RAM_BASE, .size = RAM_SIZE };
    VupIrqSet set = { .argsz = sizeof(set), .index = VUP_PCI_INTX_IRQ_INDEX,
                      .flags = VUP_IRQ_SET_DATA_EVENTFD |
                               VUP_IRQ_SET_ACTION_TRIGGER,
                      .count = 1 };
    int efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    bool posted_used = false, irq_msg = false;
    VupCaps caps;
    uint64_t v;
    int fd;

    vup_caps_init_defaults(&caps);
    caps.dm_vq_fetch = true;
    caps.dm_irq_messages = true;
    fetch_client = true;
    fd = connect_with(false, &caps, NULL);
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_DMA_MAP, &map,
                                             sizeof(map)), NULL), 0);
    driver_init(fd);
    {
        VupHeader h = { .msg_id = next_id++,
                        .command = VUP_CMD_DEVICE_SET_IRQS };
        struct pollfd p[2] = { { .fd = efd, .events = POLLIN },
                               { .fd = fd, .events = POLLIN } };

        assert_int_equal(vup_send_msg(fd, &h, &set, sizeof(set), &efd, 1),
                         0);
        assert_int_equal(wait_reply(fd, h.msg_id, NULL), 0);
        /*
         * New wiring on a ready device: the model soon looks at its
         * queues (a ring walk: DMA served here) and raises an interrupt
         * per queue in case one went nowhere (virtio-pci.c, resume()),
         * by the eventfd since nothing is posted yet.  Wait for it:
         * raised after the ISR read below, it would hold the level line
         * high, and the completion would make no new edge.
         */
        while (!(p[0].revents & POLLIN)) {
            VupMsg m;

            assert_true(poll(p, 2, 5000) > 0);
            if (p[1].revents & POLLIN) {
                recv_one(fd, &m);
                assert_true(is_request(&m));
                serve_dma(fd, &m);
                vup_msg_clear(&m);
            }
        }
    }
    /* The driver reads the ISR: the line drops, the completion raises it. */
    rd(fd, ISR_OFF, 1);
    while (read(efd, &v, sizeof(v)) == sizeof(v)) {
        continue;
    }
    /* INTx is automasked at each edge: unmasked, as after an EOI. */
    set.flags = VUP_IRQ_SET_DATA_NONE | VUP_IRQ_SET_ACTION_UNMASK;
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_DEVICE_SET_IRQS,
                                             &set, sizeof(set)), NULL), 0);
    make_read(0, 9);
    offer(0, 0);
    send_write(fd, NOTIFY_OFF, 0, 2);           /* its reply: below */
    while (!irq_msg) {
        VupMsg m;
        int ret = vup_recv_msg(fd, &m, VUP_MAX_MSG_SIZE, VUP_MAX_FDS);

        if (ret < 0) {
            /* Say how the interrupt went astray, if it came at all. */
            ssize_t n = read(efd, &v, sizeof(v));

            fail_msg("no DM_IRQ (%s): used idx %u, status 0x%x, "
                     "eventfd %s %llu", strerror(-ret), used_idx(),
                     *at(STATUS), n == sizeof(v) ? "signalled" : "quiet",
                     n == sizeof(v) ? (unsigned long long)v : 0ULL);
        }
        if (!is_request(&m)) {
            vup_msg_clear(&m);                  /* the notify's reply */
            continue;
        }
        if (m.hdr.command == VUP_CMD_DM_IRQ) {
            VupDmIrq irq;

            assert_int_equal(m.payload_len, sizeof(irq));
            memcpy(&irq, m.payload, sizeof(irq));
            assert_int_equal(irq.index, VUP_PCI_INTX_IRQ_INDEX);
            assert_int_equal(irq.sub, 0);
            /* Behind the write that moved the used index. */
            assert_true(posted_used);
            irq_msg = true;
        } else {
            serve_dma(fd, &m);
            posted_used |= m.hdr.command == VUP_CMD_DMA_WRITE &&
                           (m.hdr.flags & VUP_FLAG_NO_REPLY) &&
                           used_idx() == 1;
        }
        vup_msg_clear(&m);
    }
    assert_int_equal(*at(STATUS), 0);
    assert_int_equal(*at(DATA), 9);
    /* Not by the eventfd as well. */
    assert_true(read(efd, &v, sizeof(v)) < 0 && errno == EAGAIN);
    fetch_client = false;
    close(efd);
    close(fd);
}

/* TCP segments with data this socket has received so far. */
static unsigned data_segs_in(int fd)
{
    struct tcp_info ti;
    socklen_t len = sizeof(ti);

    memset(&ti, 0, sizeof(ti));
    assert_int_equal(getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len), 0);
    assert_true(len >= offsetof(struct tcp_info, tcpi_data_segs_in) +
                       sizeof(ti.tcpi_data_segs_in));
    return ti.tcpi_data_segs_in;
}

/*
 * Over TCP with posted DMA writes (dm_vq_fetch): what the model posts
 * (the data's DMA write, the used element, the used index) rides with
 * the next message it must send at once (a DMA read that waits for us,
 * the notify's reply) or leaves when its loop waits: never a send each.
 * The model sets TCP_NODELAY, so each of its sends is a segment of its
 * own (these are a few hundred bytes): from the notify until the model
 * is quiet, the client gets at most one segment per message it had to
 * answer or take at once, plus one for what came after the reply.  A
 * send per posted message would be three more at least.  The ring fetch
 * is refused, so the model walks the ring with DMA reads.
 */
static void test_posted_in_one_send(void **state)
{
    VupDmaMap map = { .argsz = sizeof(map),
                      .flags = VUP_DMA_MAP_FLAG_READ | VUP_DMA_MAP_FLAG_WRITE,
                      .address = RAM_BASE, .size = RAM_SIZE };
    struct pollfd p = { .events = POLLIN };
    unsigned posted = 0, posted_after = 0, calls = 0, before, segs;
    bool replied = false;
    uint16_t id;
    VupCaps caps;
    int fd;

    vup_caps_init_defaults(&caps);
    caps.dm_vq_fetch = true;
    caps.max_msg_fds = 0;
    fetch_client = true;
    fd = connect_with(true, &caps, NULL);
    p.fd = fd;
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_DMA_MAP, &map,
                                             sizeof(map)), NULL), 0);
    driver_init(fd);
    make_read(0, 11);
    offer(0, 0);
    before = data_segs_in(fd);
    id = send_write(fd, NOTIFY_OFF, 0, 2);
    /* Until the notify's reply, and then until the model is quiet. */
    for (;;) {
        VupMsg m;

        segs = data_segs_in(fd);
        if (replied && poll(&p, 1, 300) == 0) {
            break;
        }
        recv_one(fd, &m);
        if (!is_request(&m)) {
            assert_int_equal(m.hdr.msg_id, id);
            assert_false(m.hdr.flags & VUP_FLAG_ERROR);
            replied = true;
        } else if (m.hdr.flags & VUP_FLAG_NO_REPLY) {
            posted++;
            posted_after += replied;
            serve_dma(fd, &m);
        } else {
            calls++;
            serve_dma(fd, &m);
        }
        vup_msg_clear(&m);
    }
    assert_int_equal(used_idx(), 1);
    assert_int_equal(*at(STATUS), 0);
    assert_int_equal(*at(DATA), 11);
    assert_int_equal(*at(DATA + 511), 11);
    print_message("# %u posted, %u after the reply, %u DMA reads: %u "
                  "segments\n", posted, posted_after, calls, segs - before);
    /* The data, the used element and the index at least. */
    assert_true(posted >= 3);
    assert_true(segs - before <= calls + 1 + (posted_after > 0));
    fetch_client = false;
    close(fd);
}

/* ---- A lost session: the client goes, another one takes over ---- */

#define BAD_ADDR    (RAM_BASE + RAM_SIZE + 0x10000)   /* in no window */

/* Every byte of the image's sector @sector set to @val (behind the model). */
static void set_sector(uint64_t sector, uint8_t val)
{
    uint8_t buf[512];
    int fd = open(img_path, O_WRONLY);

    assert_true(fd >= 0);
    memset(buf, val, sizeof(buf));
    assert_int_equal(pwrite(fd, buf, sizeof(buf), sector * 512),
                     sizeof(buf));
    close(fd);
}

/*
 * A client as the fork is after a reconnection: VERSION (offering
 * dm_vq_fetch when @fetch, whose writes come posted), the guest's memory
 * as a window without fd, INTx wired to an eventfd (the replayed wiring
 * that lets the model catch up).  Its eventfd in @ret_efd.
 */
static int connect_lost_client(bool fetch, int *ret_efd)
{
    VupDmaMap map = { .argsz = sizeof(map),
                      .flags = VUP_DMA_MAP_FLAG_READ | VUP_DMA_MAP_FLAG_WRITE,
                      .address = RAM_BASE, .size = RAM_SIZE };
    VupIrqSet set = { .argsz = sizeof(set), .index = VUP_PCI_INTX_IRQ_INDEX,
                      .flags = VUP_IRQ_SET_DATA_EVENTFD |
                               VUP_IRQ_SET_ACTION_TRIGGER,
                      .count = 1 };
    VupHeader h = { .command = VUP_CMD_DEVICE_SET_IRQS };
    VupCaps caps;
    int fd;

    vup_caps_init_defaults(&caps);
    caps.dm_vq_fetch = fetch;
    caps.dm_irq_messages = fetch;
    fd = connect_with(false, &caps, NULL);
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_DMA_MAP, &map,
                                             sizeof(map)), NULL), 0);
    *ret_efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    h.msg_id = next_id++;
    assert_int_equal(vup_send_msg(fd, &h, &set, sizeof(set), ret_efd, 1), 0);
    assert_int_equal(wait_reply(fd, h.msg_id, NULL), 0);
    return fd;
}

/* The server's messages to serve until @done() (a silent one fails). */
static void serve_until(int fd, bool (*done)(void))
{
    while (!done()) {
        VupMsg m;

        recv_one(fd, &m);
        if (is_request(&m)) {
            serve_dma(fd, &m);
        }
        vup_msg_clear(&m);
    }
}

static bool first_done(void)
{
    return used_idx() >= 1 && *at(STATUS) != 0xee;
}

static bool both_done(void)
{
    return used_idx() >= 2 && *at(STATUS + 1) != 0xee;
}

/*
 * One round: a read of sector 5 (chain 0), its client gone at the
 * @k-th message the model sends for it (that one left unanswered and,
 * if a posted write, unapplied, as everything after it).  Sector 5 is
 * then rewritten behind the model's back, and a new client connects: the
 * read completes once, with the data of its one run (the old bytes if
 * the model had started it, the new ones if not), and a second read on
 * the new session completes after it.  False when the request completed
 * in fewer than @k messages (nothing was cut).
 */
static bool lost_round(bool fetch, unsigned k)
{
    unsigned seen = 0;
    bool started = false, read = false, cut = false;
    uint8_t want[512];
    int fd, efd;

    set_sector(5, 5);
    fd = connect_lost_client(fetch, &efd);
    fetch_client = fetch;
    driver_init(fd);
    make_read(0, 5);
    offer(0, 0);
    send_write(fd, NOTIFY_OFF, 0, 2);
    while (!first_done()) {
        VupMsg m;
        VupDmaAccess acc;

        recv_one(fd, &m);
        if (!is_request(&m) || m.hdr.command == VUP_CMD_DM_IRQ) {
            vup_msg_clear(&m);
            continue;
        }
        if (++seen == k) {
            vup_msg_clear(&m);
            cut = true;
            break;
        }
        memcpy(&acc, m.payload, sizeof(acc));
        if (m.hdr.command == VUP_CMD_DMA_READ) {
            /* Its header read: the model starts it at once after. */
            started |= acc.address == HDR;
        } else if (m.hdr.command == VUP_CMD_DMA_WRITE) {
            /* The data going back: the image was read. */
            read |= acc.address == DATA;
        }
        serve_dma(fd, &m);
        vup_msg_clear(&m);
    }
    if (!cut) {
        /* Done before the k-th message: served through, once. */
        rd(fd, 0x14, 1);
        close(efd);
        close(fd);
        fetch_client = false;
        return false;
    }
    close(efd);
    close(fd);
    /* A second run of the read would see these bytes. */
    set_sector(5, 0xa5);

    fd = connect_lost_client(fetch, &efd);
    serve_until(fd, first_done);
    make_read(1, 6);
    offer(1, 1);
    send_write(fd, NOTIFY_OFF, 0, 2);
    serve_until(fd, both_done);
    assert_int_equal(used_idx(), 2);
    for (unsigned i = 0; i < 2; i++) {
        uint32_t id, len;

        memcpy(&id, at(USED + 4 + 8 * i), 4);
        memcpy(&len, at(USED + 8 + 8 * i), 4);
        assert_int_equal(le32toh(id), 3 * i);   /* chain 0, then 1 */
        assert_int_equal(le32toh(len), 513);
        assert_int_equal(*at(STATUS + i), 0);
    }
    if (getenv("LOST_DEBUG")) {
        fprintf(stderr, "# k %u: started %d read %d data %#x\n", k, started,
                read, *at(DATA));
    }
    /*
     * Not run again once read (the old bytes); run after the reconnection
     * if never started (the new ones); either one in between (the back
     * end read the image when it did).
     */
    if (read || !started) {
        memset(want, read ? 5 : 0xa5, sizeof(want));
        assert_memory_equal(at(DATA), want, sizeof(want));
    } else {
        assert_true(*at(DATA) == 5 || *at(DATA) == 0xa5);
        assert_memory_equal(at(DATA), at(DATA + 1), 511);
    }
    memset(want, 6, sizeof(want));
    assert_memory_equal(at(DATA + 512), want, sizeof(want));
    assert_false(rd(fd, 0x14, 1) & 64);         /* not NEEDS_RESET */
    assert_int_equal(used_idx(), 2);            /* none twice */
    close(efd);
    close(fd);
    fetch_client = false;
    set_sector(5, 5);
    return true;
}

/* The client lost at each message of a request, waited for replies. */
static void test_lost_session(void **state)
{
    unsigned k = 1;

    while (lost_round(false, k)) {
        k++;
    }
    /* The reads, the data, the status, the used entry and index. */
    assert_true(k > 8);
}

/*
 * The same with posted writes (dm_vq_fetch): a completion the model sent
 * may never have been applied; the guest's used index says so.
 */
static void test_lost_session_posted(void **state)
{
    unsigned k = 1;

    while (lost_round(true, k)) {
        k++;
    }
    assert_true(k > 8);
}

/*
 * The next client wires its interrupts before its DMA windows are there
 * (SET_IRQS before DMA_MAP): the catch-up that the wiring starts cannot
 * read the rings yet, which is no fault of the guest's.  The device
 * waits for the windows (the kick after them), is not broken, and the
 * queue goes on: the read made then completes.  (The catch-up once
 * resynced the used ring at once, took the failed read for a bad
 * address and put the device in NEEDS_RESET.)
 */
static void test_resume_before_windows(void **state)
{
    VupDmaMap map = { .argsz = sizeof(map),
                      .flags = VUP_DMA_MAP_FLAG_READ | VUP_DMA_MAP_FLAG_WRITE,
                      .address = RAM_BASE, .size = RAM_SIZE };
    VupIrqSet set = { .argsz = sizeof(set), .index = VUP_PCI_INTX_IRQ_INDEX,
                      .flags = VUP_IRQ_SET_DATA_EVENTFD |
                               VUP_IRQ_SET_ACTION_TRIGGER,
                      .count = 1 };
    VupHeader h = { .command = VUP_CMD_DEVICE_SET_IRQS };
    uint8_t want[512];
    VupCaps caps;
    int fd, efd;

    /* A client that started the driver and got one read through. */
    fd = connect_lost_client(false, &efd);
    driver_init(fd);
    make_read(0, 5);
    offer(0, 0);
    send_write(fd, NOTIFY_OFF, 0, 2);
    serve_until(fd, first_done);
    close(efd);
    close(fd);

    /* The next one: its interrupts first, its memory a moment later. */
    vup_caps_init_defaults(&caps);
    fd = connect_with(false, &caps, NULL);
    efd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    h.msg_id = next_id++;
    assert_int_equal(vup_send_msg(fd, &h, &set, sizeof(set), &efd, 1), 0);
    assert_int_equal(wait_reply(fd, h.msg_id, NULL), 0);
    sleep_ms(100);              /* the catch-up it started has run */
    assert_false(rd(fd, 0x14, 1) & 64);         /* not NEEDS_RESET */
    assert_int_equal(wait_reply(fd, send_cmd(fd, VUP_CMD_DMA_MAP, &map,
                                             sizeof(map)), NULL), 0);
    make_read(1, 6);
    offer(1, 1);
    send_write(fd, NOTIFY_OFF, 0, 2);
    serve_until(fd, both_done);
    assert_false(rd(fd, 0x14, 1) & 64);
    assert_int_equal(used_idx(), 2);
    assert_int_equal(*at(STATUS + 1), 0);
    memset(want, 6, sizeof(want));
    assert_memory_equal(at(DATA + 512), want, sizeof(want));
    close(efd);
    close(fd);
}

/*
 * A DMA reply that never comes to a kick by eventfd (no message of the
 * client's is being handled): the server gives up on the stream after
 * its socket timeout and closes the session at once, though the client
 * sends nothing more (its doorbells and interrupts are eventfds: only
 * the close tells it to reconnect).  The next client gets the request
 * answered, once.  (The session once stayed open, its queue parked,
 * until the client happened to send a message: a guest whose disk I/O
 * goes by eventfds waited for ever.)
 */
static void test_lost_stream_closes(void **state)
{
    struct timeval tv = { .tv_sec = 30 };
    uint64_t one = 1;
    uint8_t want[512];
    bool asked = false;
    int fd, efd, kick, ret;
    VupMsg r;

    set_sector(5, 5);
    fd = connect_lost_client(false, &efd);
    assert_int_equal(io_fds(fd, BAR4, &r), 0);
    assert_int_equal(r.nfds, 1);
    kick = vup_msg_take_fd(&r, 0);
    vup_msg_clear(&r);
    driver_init(fd);
    make_read(0, 5);
    offer(0, 0);
    assert_int_equal(write(kick, &one, sizeof(one)), sizeof(one));
    /* Its first DMA is left unanswered: read until the server closes. */
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    for (;;) {
        VupMsg m;

        ret = vup_recv_msg(fd, &m, VUP_MAX_MSG_SIZE, VUP_MAX_FDS);
        if (ret < 0) {
            break;
        }
        asked |= is_request(&m) && m.hdr.command == VUP_CMD_DMA_READ;
        vup_msg_clear(&m);
    }
    assert_true(asked);
    assert_int_equal(ret, -ECONNRESET);         /* closed, not timed out */
    close(kick);
    close(efd);
    close(fd);

    fd = connect_lost_client(false, &efd);
    serve_until(fd, first_done);
    assert_false(rd(fd, 0x14, 1) & 64);         /* not NEEDS_RESET */
    assert_int_equal(used_idx(), 1);
    assert_int_equal(*at(STATUS), 0);
    memset(want, 5, sizeof(want));
    assert_memory_equal(at(DATA), want, sizeof(want));
    close(efd);
    close(fd);
}

/*
 * A guest's bad address is still the guest's fault: a status byte in
 * no DMA window breaks the device (NEEDS_RESET), nothing is used.
 */
static void test_bad_address_breaks(void **state)
{
    int fd = connect_client();

    driver_init(fd);
    make_read(0, 5);
    desc(2, BAD_ADDR, 1, 2, 0);
    offer(0, 0);
    assert_int_equal(wait_reply(fd, send_write(fd, NOTIFY_OFF, 0, 2), NULL),
                     0);
    /* The read's completion comes from the back end, after the reply. */
    for (int i = 0; i < 5000 && !(rd(fd, 0x14, 1) & 64); i++) {
        sleep_ms(1);
    }
    assert_true(rd(fd, 0x14, 1) & 64);          /* NEEDS_RESET */
    assert_int_equal(used_idx(), 0);
    assert_int_equal(*at(STATUS), 0xee);
    close(fd);
}

int main(int argc, char **argv)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_notify_during_dma),
        cmocka_unit_test(test_read_during_dma),
        cmocka_unit_test(test_doorbell_eventfd),
        cmocka_unit_test(test_doorbell_requests),
        cmocka_unit_test(test_doorbell_standby),
        cmocka_unit_test(test_doorbell_tcp),
        cmocka_unit_test(test_irq_follows_posted_writes),
        cmocka_unit_test(test_posted_in_one_send),
        cmocka_unit_test(test_lost_session),
        cmocka_unit_test(test_lost_session_posted),
        cmocka_unit_test(test_resume_before_windows),
        cmocka_unit_test(test_lost_stream_closes),
        cmocka_unit_test(test_bad_address_breaks),
    };

    return cmocka_run_group_tests(tests, suite_setup, suite_teardown);
}
