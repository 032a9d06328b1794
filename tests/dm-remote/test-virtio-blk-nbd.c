/*
 * virtio-blk's NBD back end (dm-remote/models/blk-nbd.c), in-process:
 * qcow2 images served by Debian's qemu-nbd on a UNIX socket, driven
 * through the model's registers and a split ring in a fake guest RAM.
 * Read, write, flush, discard and write-zeroes reach the image (seen by
 * a second NBD connection and by qemu-img afterwards), a thin image
 * stays thin, a backing file is read but never written, and a server
 * killed under the model fails requests with IOERR without harming it.
 * Skipped when qemu-nbd or qemu-img is missing (Debian's qemu-utils).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <libnbd.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <cmocka.h>

#include "blk-driver.h"
#include "model-rig.h"

#define CLUSTER     65536       /* qcow2's default cluster */
#define CLUSTER_SECTORS (CLUSTER / 512)
#define IMG_BYTES   (4u << 20)

/* A qcow2 image in a directory of its own, and qemu-nbd serving it. */
typedef struct Nbd {
    char dir[64];
    char sock[96], img[96], back[96], raw[96], uri[160];
    pid_t pid;
} Nbd;

/* The test's server, stopped by the teardown even when the test fails. */
static Nbd *live;

static bool in_path(const char *prog)
{
    const char *path = getenv("PATH");
    char *dirs, *dir, *save = NULL, file[512];
    bool found = false;

    dirs = strdup(path ? path : "/usr/bin:/bin");
    for (dir = strtok_r(dirs, ":", &save); dir && !found;
         dir = strtok_r(NULL, ":", &save)) {
        snprintf(file, sizeof(file), "%s/%s", dir, prog);
        found = access(file, X_OK) == 0;
    }
    free(dirs);
    return found;
}

/* First thing in a test that needs them: skip without them. */
static void need_qemu_nbd(void)
{
    if (!in_path("qemu-nbd") || !in_path("qemu-img")) {
        fprintf(stderr, "# qemu-nbd or qemu-img missing (qemu-utils)\n");
        skip();
    }
}

static void sh(const char *fmt, ...)
{
    char cmd[1024];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(cmd, sizeof(cmd), fmt, ap);
    va_end(ap);
    assert_int_equal(system(cmd), 0);
}

static Nbd *nbd_new(void)
{
    Nbd *n = calloc(1, sizeof(*n));

    assert_non_null(n);
    strcpy(n->dir, "/tmp/dm-test-nbd-XXXXXX");
    assert_non_null(mkdtemp(n->dir));
    snprintf(n->sock, sizeof(n->sock), "%s/nbd.sock", n->dir);
    snprintf(n->img, sizeof(n->img), "%s/disk.qcow2", n->dir);
    snprintf(n->back, sizeof(n->back), "%s/base.raw", n->dir);
    snprintf(n->raw, sizeof(n->raw), "%s/out.raw", n->dir);
    snprintf(n->uri, sizeof(n->uri), "nbd+unix:///disk?socket=%s", n->sock);
    live = n;
    return n;
}

/* A whole NBD handshake with the server (a bare connect makes it
 * complain of a broken pipe). */
static bool can_connect(const char *uri)
{
    struct nbd_handle *h = nbd_create();
    bool ok;

    assert_non_null(h);
    ok = nbd_connect_uri(h, uri) == 0;
    if (ok) {
        nbd_shutdown(h, 0);
    }
    nbd_close(h);
    return ok;
}

/*
 * qemu-nbd on the image: two clients at once (the model and the test's
 * own look), discards passed to qcow2, alive across disconnections.
 */
static void nbd_start(Nbd *n, bool readonly)
{
    pid_t pid = fork();

    assert_true(pid >= 0);
    if (pid == 0) {
        execlp("qemu-nbd", "qemu-nbd", "--socket", n->sock,
               "--format=qcow2", "--export-name=disk", "--persistent",
               "--shared=2", "--discard=unmap",
               readonly ? "--read-only" : "--cache=writeback", n->img,
               (char *)NULL);
        _exit(127);
    }
    n->pid = pid;
    /* Until it listens (a bound on the wait, not a check of its speed). */
    for (int i = 0; i < 1000 && !can_connect(n->uri); i++) {
        usleep(10000);
    }
    assert_true(can_connect(n->uri));
}

static void nbd_stop(Nbd *n, int sig)
{
    int status;

    if (n->pid > 0) {
        kill(n->pid, sig);
        assert_int_equal(waitpid(n->pid, &status, 0), n->pid);
        n->pid = 0;
    }
}

static void nbd_free(Nbd *n)
{
    nbd_stop(n, SIGTERM);
    sh("rm -rf %s", n->dir);
    free(n);
    live = NULL;
}

static int stop_server(void **unused)
{
    if (live) {
        nbd_free(live);
    }
    return 0;
}

static Blk *blk_nbd_new(Nbd *n, const char *extra)
{
    Blk *r = calloc(1, sizeof(*r));
    char spec[256];

    snprintf(spec, sizeof(spec), "virtio-blk,file=%s,queue_size=%d%s",
             n->uri, QSIZE, extra);
    r->rig = rig_new(spec);
    r->dev = &r->rig->dev;
    return r;
}

static void blk_nbd_free(Blk *r)
{
    rig_free(r->rig);
    free(r);
}

/* qemu-img map's entry for the byte at @off: whether its data is in the
 * image (data) and at which depth of the backing chain. */
static void map_at(const char *img, uint64_t off, bool *data, int *depth)
{
    char cmd[256], line[512];
    FILE *f;
    bool found = false;

    snprintf(cmd, sizeof(cmd), "qemu-img map --output=json -f qcow2 %s",
             img);
    f = popen(cmd, "r");
    assert_non_null(f);
    while (fgets(line, sizeof(line), f)) {
        const char *s = strstr(line, "\"start\": "),
                   *l = strstr(line, "\"length\": "),
                   *d = strstr(line, "\"depth\": "),
                   *a = strstr(line, "\"data\": ");
        unsigned long long start, len;

        if (!s || !l || !d || !a) {
            continue;
        }
        start = strtoull(s + 9, NULL, 10);
        len = strtoull(l + 10, NULL, 10);
        if (off >= start && off - start < len) {
            *depth = atoi(d + 9);
            *data = !strncmp(a + 8, "true", 4);
            found = true;
        }
    }
    assert_int_equal(pclose(f), 0);
    assert_true(found);
}

static bool allocated(const char *img, uint64_t off)
{
    bool data;
    int depth;

    map_at(img, off, &data, &depth);
    return data && depth == 0;
}

/* @len bytes at @off of a raw file. */
static void read_raw(const char *file, uint64_t off, void *buf, size_t len)
{
    int fd = open(file, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, len, off), len);
    close(fd);
}

static bool all(const uint8_t *p, uint8_t v, size_t len)
{
    for (size_t i = 0; i < len; i++) {
        if (p[i] != v) {
            return false;
        }
    }
    return true;
}

#define ALL_FEATURES ((1ULL << VIRTIO_F_VERSION_1) | (1ULL << BLK_F_RO) | \
                      (1ULL << BLK_F_FLUSH) | (1ULL << BLK_F_DISCARD) |   \
                      (1ULL << BLK_F_WRITE_ZEROES))

/*
 * A thin qcow2 image: what the guest writes is read back, seen by another
 * NBD client after FLUSH and by qemu-img once the server is gone; only
 * the clusters written are allocated, and a discarded one is freed.
 */
static void test_qcow2(void **unused)
{
    Nbd *n = nbd_new();
    struct nbd_handle *h;
    uint8_t buf[4096];
    uint64_t offered;
    Blk *r;

    need_qemu_nbd();

    sh("qemu-img create -q -f qcow2 %s %u", n->img, IMG_BYTES);
    nbd_start(n, false);
    r = blk_nbd_new(n, "");
    offered = driver_init(r, ALL_FEATURES);
    assert_int_equal(rd(r, 0x2000, 4), IMG_BYTES / 512);    /* capacity */
    assert_true(offered & (1ULL << BLK_F_DISCARD));
    assert_true(offered & (1ULL << BLK_F_WRITE_ZEROES));
    assert_false(offered & (1ULL << BLK_F_RO));

    /* A fresh image reads as zeroes. */
    memset(at(r, DATA), 0xee, 4096);
    assert_int_equal(request(r, BLK_T_IN, 0, 4096, true), 0);
    assert_true(all(at(r, DATA), 0, 4096));

    /* Cluster 2: 4 KiB of 0x5a, the second sector zeroed after. */
    memset(at(r, DATA), 0x5a, 4096);
    assert_int_equal(request(r, BLK_T_OUT, 2 * CLUSTER_SECTORS, 4096, false),
                     0);
    assert_int_equal(request_range(r, BLK_T_WRITE_ZEROES,
                                   2 * CLUSTER_SECTORS + 1, 1, 0), 0);
    /* Cluster 5: written, then discarded whole. */
    memset(at(r, DATA), 0x33, 512);
    assert_int_equal(request(r, BLK_T_OUT, 5 * CLUSTER_SECTORS, 512, false),
                     0);
    assert_int_equal(request_range(r, BLK_T_DISCARD, 5 * CLUSTER_SECTORS,
                                   CLUSTER_SECTORS, 0), 0);
    assert_int_equal(request(r, BLK_T_FLUSH, 0, 0, false), 0);

    memset(at(r, DATA), 0xee, 4096);
    assert_int_equal(request(r, BLK_T_IN, 2 * CLUSTER_SECTORS, 4096, true),
                     0);
    assert_true(all(at(r, DATA), 0x5a, 512));
    assert_true(all(at(r, DATA) + 512, 0, 512));
    assert_true(all(at(r, DATA) + 1024, 0x5a, 4096 - 1024));
    memset(at(r, DATA), 0xee, 512);
    assert_int_equal(request(r, BLK_T_IN, 5 * CLUSTER_SECTORS, 512, true),
                     0);
    assert_true(all(at(r, DATA), 0, 512));

    /* A second connection to the same export sees the writes. */
    h = nbd_create();
    assert_non_null(h);
    assert_int_equal(nbd_connect_uri(h, n->uri), 0);
    assert_int_equal(nbd_pread(h, buf, sizeof(buf), 2 * CLUSTER, 0), 0);
    assert_true(all(buf, 0x5a, 512));
    assert_true(all(buf + 512, 0, 512));
    assert_true(all(buf + 1024, 0x5a, sizeof(buf) - 1024));
    nbd_close(h);

    blk_nbd_free(r);
    nbd_stop(n, SIGTERM);

    /* Thin: cluster 2 only; the discarded cluster 5 is not kept. */
    assert_true(allocated(n->img, 2 * CLUSTER));
    assert_false(allocated(n->img, 0));
    assert_false(allocated(n->img, 3 * CLUSTER));
    assert_false(allocated(n->img, 5 * CLUSTER));
    assert_false(allocated(n->img, IMG_BYTES - 1));
    /* And the bytes are in the image, as qemu-img reads it. */
    sh("qemu-img convert -f qcow2 -O raw %s %s", n->img, n->raw);
    read_raw(n->raw, 2 * CLUSTER, buf, sizeof(buf));
    assert_true(all(buf, 0x5a, 512));
    assert_true(all(buf + 512, 0, 512));
    assert_true(all(buf + 1024, 0x5a, sizeof(buf) - 1024));
    read_raw(n->raw, 5 * CLUSTER, buf, 512);
    assert_true(all(buf, 0, 512));
    nbd_free(n);
}

/* A qcow2 overlay on a raw backing file: reads see the backing file's
 * bytes, writes go to the overlay, the backing file never changes. */
static void test_backing_file(void **unused)
{
    Nbd *n = nbd_new();
    uint8_t sector[512];
    Blk *r;
    int fd;

    need_qemu_nbd();

    fd = open(n->back, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    for (unsigned s = 0; s < IMG_BYTES / 512; s++) {
        memset(sector, s & 0xff, sizeof(sector));
        assert_int_equal(write(fd, sector, sizeof(sector)), sizeof(sector));
    }
    close(fd);
    sh("qemu-img create -q -f qcow2 -b %s -F raw %s", n->back, n->img);
    nbd_start(n, false);
    r = blk_nbd_new(n, "");
    driver_init(r, ALL_FEATURES);
    assert_int_equal(rd(r, 0x2000, 4), IMG_BYTES / 512);

    assert_int_equal(request(r, BLK_T_IN, 7, 512, true), 0);
    assert_true(all(at(r, DATA), 7, 512));
    memset(at(r, DATA), 0xab, 512);
    assert_int_equal(request(r, BLK_T_OUT, 9, 512, false), 0);
    assert_int_equal(request(r, BLK_T_FLUSH, 0, 0, false), 0);
    assert_int_equal(request(r, BLK_T_IN, 9, 512, true), 0);
    assert_true(all(at(r, DATA), 0xab, 512));
    blk_nbd_free(r);
    nbd_stop(n, SIGTERM);

    read_raw(n->back, 9 * 512, sector, sizeof(sector));
    assert_true(all(sector, 9, sizeof(sector)));          /* unchanged */
    sh("qemu-img convert -f qcow2 -O raw %s %s", n->img, n->raw);
    read_raw(n->raw, 9 * 512, sector, sizeof(sector));
    assert_true(all(sector, 0xab, sizeof(sector)));
    read_raw(n->raw, 10 * 512, sector, sizeof(sector));
    assert_true(all(sector, 10, sizeof(sector)));
    /* The overlay holds the written cluster, the rest is the base's. */
    assert_true(allocated(n->img, 0));
    assert_false(allocated(n->img, CLUSTER));
    nbd_free(n);
}

/* A read-only export makes a read-only disk, whatever readonly= says. */
static void test_readonly_export(void **unused)
{
    Nbd *n = nbd_new();
    Blk *r;

    need_qemu_nbd();

    sh("qemu-img create -q -f qcow2 %s %u", n->img, IMG_BYTES);
    nbd_start(n, true);
    r = blk_nbd_new(n, "");
    assert_true(driver_init(r, ALL_FEATURES) & (1ULL << BLK_F_RO));
    assert_int_equal(request(r, BLK_T_OUT, 0, 512, false), 1);
    assert_int_equal(request(r, BLK_T_IN, 0, 512, true), 0);
    blk_nbd_free(r);
    nbd_free(n);
}

/* The server killed under the model: IOERR, and the model lives on. */
static void test_server_killed(void **unused)
{
    Nbd *n = nbd_new();
    Blk *r;

    need_qemu_nbd();

    sh("qemu-img create -q -f qcow2 %s %u", n->img, IMG_BYTES);
    nbd_start(n, false);
    r = blk_nbd_new(n, "");
    driver_init(r, ALL_FEATURES);
    assert_int_equal(request(r, BLK_T_IN, 0, 512, true), 0);
    nbd_stop(n, SIGKILL);

    assert_int_equal(request(r, BLK_T_IN, 0, 512, true), 1);
    assert_int_equal(request(r, BLK_T_OUT, 0, 512, false), 1);
    assert_int_equal(request(r, BLK_T_FLUSH, 0, 0, false), 1);
    assert_int_equal(used_idx(r), 4);
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    /* A driver's reset and a new request: still an answer, still IOERR. */
    driver_init(r, ALL_FEATURES);
    assert_int_equal(request(r, BLK_T_IN, 8, 512, true), 1);
    blk_nbd_free(r);
    nbd_free(n);
}

/* Make chain @head available without a kick. */
static void make_available(Blk *r, uint16_t head)
{
    uint16_t le = htole16(head), idx;

    put(r, AVAIL + 4 + 2 * (r->avail_idx % QSIZE), &le, 2);
    idx = htole16(++r->avail_idx);
    put(r, AVAIL + 2, &idx, 2);
}

/* Chain @i (descriptors 3i..3i+2): @type of 4 KiB at @sector. */
static void chain(Blk *r, unsigned i, uint32_t type, uint64_t sector)
{
    struct { uint32_t type, reserved; uint64_t sector; } h = {
        htole32(type), 0, htole64(sector),
    };

    put(r, HDR + 16 * i, &h, sizeof(h));
    *(uint8_t *)at(r, STATUS + i) = 0xee;
    desc(r, 3 * i, HDR + 16 * i, 16, 1, 3 * i + 1);
    desc(r, 3 * i + 1, DATA + 4096 * i, 4096,
         1 | (type == BLK_T_IN ? 2 : 0), 3 * i + 2);
    desc(r, 3 * i + 2, STATUS + i, 1, 2, 0);
    make_available(r, 3 * i);
}

/*
 * Four requests on the wire at once (one connection, libnbd's
 * asynchronous API), then a quiesce, as before a reset or a hand-over:
 * it returns with all of them answered, without the loop running.
 */
static void test_in_flight_and_quiesce(void **unused)
{
    Nbd *n = nbd_new();
    Blk *r;

    need_qemu_nbd();
    sh("qemu-img create -q -f qcow2 %s %u", n->img, IMG_BYTES);
    nbd_start(n, false);
    r = blk_nbd_new(n, "");
    driver_init(r, ALL_FEATURES);
    for (unsigned i = 0; i < 4; i++) {
        memset(at(r, DATA + 4096 * i), 0x10 + i, 4096);
        chain(r, i, BLK_T_OUT, 8 * i);
    }
    wr(r, 0x3000, 0, 2);                        /* taken and sent */
    assert_int_equal(used_idx(r), 0);
    dm_device_quiesce(r->dev);
    assert_int_equal(used_idx(r), 4);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(*(uint8_t *)at(r, STATUS + i), 0);
        memset(at(r, DATA + 4096 * i), 0, 4096);
        chain(r, i, BLK_T_IN, 8 * i);
    }
    wr(r, 0x3000, 0, 2);
    dm_device_quiesce(r->dev);
    assert_int_equal(used_idx(r), 8);
    for (unsigned i = 0; i < 4; i++) {
        assert_int_equal(*(uint8_t *)at(r, STATUS + i), 0);
        assert_true(all(at(r, DATA + 4096 * i), 0x10 + i, 4096));
    }
    blk_nbd_free(r);
    nbd_free(n);
}

/*
 * A server that stops answering without closing (SIGSTOP): after
 * nbd_timeout the connection is dropped and the request fails; the
 * model lives on.
 */
static void test_server_stopped(void **unused)
{
    Nbd *n = nbd_new();
    Blk *r;

    need_qemu_nbd();
    sh("qemu-img create -q -f qcow2 %s %u", n->img, IMG_BYTES);
    nbd_start(n, false);
    r = blk_nbd_new(n, ",nbd_timeout=1");
    driver_init(r, ALL_FEATURES);
    assert_int_equal(request(r, BLK_T_IN, 0, 512, true), 0);
    kill(n->pid, SIGSTOP);
    assert_int_equal(request(r, BLK_T_IN, 0, 512, true), 1);
    assert_int_equal(request(r, BLK_T_IN, 8, 512, true), 1);
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    kill(n->pid, SIGCONT);
    blk_nbd_free(r);
    nbd_free(n);
}

/* No server at the address: realize fails, nothing crashes. */
static void test_no_server(void **unused)
{
    Nbd *n = nbd_new();
    DmLoop *loop = dm_loop_new();
    DmDevice dev;
    DmModelArgs args = { 0 };
    char spec[256], err[256], *name;

    snprintf(spec, sizeof(spec), "virtio-blk,file=%s", n->uri);
    assert_int_equal(dm_props_split(spec, &name, &args.props, err,
                                    sizeof(err)), 0);
    assert_true(dm_device_realize(&dev, dm_model_find(name), loop,
                                  &args) < 0);
    free(name);
    dm_props_free(&args.props);
    dm_loop_free(loop);
    nbd_free(n);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(test_qcow2, stop_server),
        cmocka_unit_test_teardown(test_backing_file, stop_server),
        cmocka_unit_test_teardown(test_readonly_export, stop_server),
        cmocka_unit_test_teardown(test_server_killed, stop_server),
        cmocka_unit_test_teardown(test_in_flight_and_quiesce, stop_server),
        cmocka_unit_test_teardown(test_server_stopped, stop_server),
        cmocka_unit_test_teardown(test_no_server, stop_server),
    };

    /* A write to a server just killed must fail, not kill us. */
    signal(SIGPIPE, SIG_IGN);
    return cmocka_run_group_tests(tests, NULL, NULL);
}
