/*
 * virtio-blk on the virtio-pci transport, driven in-process the way
 * Linux's virtio_pci and virtio_blk drivers drive it: discovery, feature
 * negotiation, queue set-up, requests through a split ring in a fake
 * guest RAM, interrupts; and a hostile driver's rings.
 *
 * The suite runs in several set-ups (tests/dm-remote/meson.build): the
 * raw back end on io_uring or on worker threads (DM_BLK_IO=threads), and
 * guest memory copied (as across hosts) or shared (BLK_TEST_SHARED=1:
 * zero-copy, as on one host).  A few cases choose for themselves.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <poll.h>
#include <pthread.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "blk-driver.h"
#include "model-rig.h"
#include "pci.h"

#define IMG_SECTORS 2048

static void make_image(char *path)
{
    uint8_t sector[512];
    int fd = mkstemp(path);

    assert_true(fd >= 0);
    for (int s = 0; s < IMG_SECTORS; s++) {
        memset(sector, s & 0xff, sizeof(sector));
        assert_int_equal(write(fd, sector, sizeof(sector)), sizeof(sector));
    }
    close(fd);
}

/* Guest memory shared with the model in this run (BLK_TEST_SHARED). */
static bool shared_memory;
/* The queues on I/O threads in this run (BLK_TEST_IOTHREAD). */
static bool iothread;

static Rig *rig_for_run(Rig *rig)
{
    rig->link.shared = shared_memory;
    return rig;
}

static Blk *blk_new(const char *extra)
{
    Blk *r = calloc(1, sizeof(*r));
    char spec[256];

    strcpy(r->img, "/tmp/dm-test-vblk-XXXXXX");
    make_image(r->img);
    snprintf(spec, sizeof(spec), "virtio-blk,file=%s,queue_size=%d%s%s",
             r->img, QSIZE, extra, iothread ? ",iothread=on" : "");
    r->rig = rig_for_run(rig_new(spec));
    r->dev = &r->rig->dev;
    return r;
}

static void blk_free(Blk *r)
{
    rig_free(r->rig);
    unlink(r->img);
    free(r);
}

static void test_identity(void **unused)
{
    Blk *r = blk_new("");
    DmPci *pci = dm_device_pci(r->dev);
    unsigned cap, types = 0;

    assert_int_equal(dm_pci_get_word(pci, 0x00), 0x1af4);
    assert_int_equal(dm_pci_get_word(pci, 0x02), 0x1042);
    /* The four vendor capabilities Linux looks for, each in BAR4, and
     * the PCI_CFG window (type 5) every device must have. */
    for (cap = pci->config[0x34]; cap; cap = pci->config[cap + 1]) {
        if (pci->config[cap] == 0x09) {
            if (pci->config[cap + 3] != 5) {
                assert_int_equal(pci->config[cap + 4], 4);
            }
            types |= 1u << pci->config[cap + 3];
        }
    }
    assert_int_equal(types, (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) |
                            (1u << 5));
    /* Capacity in the device config. */
    assert_int_equal(rd(r, 0x2000, 4), IMG_SECTORS);
    blk_free(r);
}

static void test_read_write_flush(void **unused)
{
    Blk *r = blk_new(",serial=disk-42");
    uint8_t buf[512];
    int fd;

    driver_init(r, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 9));
    assert_int_equal(request(r, 0, 7, 512, true), 0);          /* IN */
    memset(buf, 7, sizeof(buf));
    assert_memory_equal(at(r, DATA), buf, 512);
    assert_int_equal(le32toh(*(uint32_t *)at(r, USED + 8)), 513);
    /* INTx: no MSI-X wired; the ISR says a queue, reading it clears. */
    assert_true(dm_irq_level(&r->dev->irqs, VUP_PCI_INTX_IRQ_INDEX, 0));
    assert_int_equal(rd(r, 0x1000, 1), 1);
    assert_false(dm_irq_level(&r->dev->irqs, VUP_PCI_INTX_IRQ_INDEX, 0));

    memset(at(r, DATA), 0xab, 512);
    assert_int_equal(request(r, 1, 9, 512, false), 0);         /* OUT */
    assert_int_equal(request(r, 4, 0, 0, false), 0);           /* FLUSH */
    fd = open(r->img, O_RDONLY);
    assert_int_equal(pread(fd, buf, 512, 9 * 512), 512);
    close(fd);
    memset(at(r, DATA), 0xab, 512);
    assert_memory_equal(buf, at(r, DATA), 512);

    assert_int_equal(request(r, 8, 0, 20, true), 0);           /* GET_ID */
    assert_string_equal((char *)at(r, DATA), "disk-42");
    blk_free(r);
}

/*
 * The VM stopped (DM_VM_STATE, as a migration's last pass comes next):
 * the session quiesces the device, and a chain made available and
 * kicked then is not taken, its answer written into no guest memory,
 * until the VM runs again; then it is served.  With iothread=on (the
 * -iothread run) the queue's thread, which the quiesce stopped, does not
 * start again meanwhile: a target once found the used index 4 behind.
 */
static void test_vm_stopped(void **unused)
{
    Blk *r = blk_new("");
    uint16_t want;

    r->rig->link.shared = true;         /* threads need shared memory */
    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    assert_int_equal(request(r, 0, 7, 512, true), 0);  /* the thread's */
    rig_run_for(r->rig, 20);
    dm_device_set_vm_stopped(r->dev, true);
    dm_device_quiesce(r->dev);
    request_prepare(r, 0, 3, 512, true);
    want = offer_head0(r);
    wr(r, 0x3000, 0, 2);                                /* kick */
    rig_run_for(r->rig, 200);
    assert_int_not_equal(used_idx(r), want);
    assert_int_equal(*(uint8_t *)at(r, STATUS), 0xee);
    dm_device_set_vm_stopped(r->dev, false);
    wait_used_idx(r, want);
    assert_int_equal(*(uint8_t *)at(r, STATUS), 0);
    blk_free(r);
}

static void test_errors(void **unused)
{
    Blk *r = blk_new("");

    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    assert_int_equal(request(r, 0, IMG_SECTORS, 512, true), 1);  /* past */
    assert_int_equal(request(r, 0, UINT64_MAX, 512, true), 1);
    assert_int_equal(request(r, 0, 0, 100, true), 1);   /* not sectors */
    assert_int_equal(request(r, 99, 0, 0, false), 2);   /* UNSUPP */
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    blk_free(r);
}

/* A DISCARD or WRITE_ZEROES of one range at DATA: its status. */
static uint8_t range_request(Blk *r, uint32_t type, uint64_t sector,
                             uint32_t num, uint32_t flags)
{
    struct { uint64_t sector; uint32_t num, flags; } range = {
        htole64(sector), htole32(num), htole32(flags),
    };

    put(r, DATA, &range, sizeof(range));
    return request(r, type, 0, sizeof(range), false);
}

/*
 * Ranges: a range past the end is IOERR; unknown flags, and UNMAP on a
 * DISCARD, are UNSUPP (virtio 1.2 5.2.6.2), as QEMU's device answers.
 */
static void test_range_errors(void **unused)
{
    Blk *r = blk_new("");

    driver_init(r, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 13) |
                (1ULL << 14));
    assert_int_equal(range_request(r, 13, 0, 8, 0), 0);         /* OK */
    assert_int_equal(range_request(r, 13, 0, 8, 1), 0);         /* UNMAP */
    assert_int_equal(range_request(r, 11, 0, 8, 0), 0);
    assert_int_equal(range_request(r, 13, IMG_SECTORS, 1, 0), 1);
    assert_int_equal(range_request(r, 11, IMG_SECTORS - 1, 2, 0), 1);
    assert_int_equal(range_request(r, 13, 0, 8, 2), 2);
    assert_int_equal(range_request(r, 11, 0, 8, 1), 2);
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    blk_free(r);
}

static void test_readonly(void **unused)
{
    Blk *r = blk_new(",readonly=on");

    driver_init(r, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 5));
    assert_int_equal(request(r, 1, 0, 512, false), 1);  /* OUT refused */
    assert_int_equal(request(r, 0, 0, 512, true), 0);   /* IN served */
    blk_free(r);
}

/* A chain that loops breaks the device; a reset brings it back. */
static void test_broken_ring(void **unused)
{
    Blk *r = blk_new("");
    uint16_t head = 0, idx;

    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    desc(r, 0, HDR, 16, 1, 1);
    desc(r, 1, DATA, 512, 1 | 2, 0);            /* back to 0: a loop */
    put(r, AVAIL + 4, &head, 2);
    idx = htole16(1);
    put(r, AVAIL + 2, &idx, 2);
    wr(r, 0x3000, 0, 2);
    assert_true(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(rd(r, 0x1000, 1), 2);      /* a config interrupt */
    /* An available index far ahead breaks it too, after a reset. */
    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(request(r, 0, 1, 512, true), 0);
    idx = htole16(r->avail_idx + QSIZE + 1);
    put(r, AVAIL + 2, &idx, 2);
    wr(r, 0x3000, 0, 2);
    assert_true(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    blk_free(r);
}

/*
 * A driver that reaches BAR4 only through the PCI_CFG window (SeaBIOS,
 * when the BAR is above 4 GiB) sets the device up and reads, writes and
 * flushes sectors; a window that is no valid access does nothing.
 */
static void test_pci_cfg_window(void **unused)
{
    Blk *r = blk_new("");
    DmPci *pci = dm_device_pci(r->dev);
    uint8_t buf[512];
    unsigned cap;
    int fd;

    for (cap = pci->config[0x34]; cap; cap = pci->config[cap + 1]) {
        if (pci->config[cap] == 0x09 && pci->config[cap + 3] == 5) {
            assert_int_equal(pci->config[cap + 2], 20);
            r->window = cap;
        }
    }
    assert_int_not_equal(r->window, 0);
    driver_init(r, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << 9));
    assert_int_equal(rd(r, 0x2000, 4), IMG_SECTORS);  /* device config */
    assert_int_equal(rd(r, 0x14, 1), 1 | 2 | 4 | 8);  /* DRIVER_OK */
    assert_int_equal(request(r, 0, 7, 512, true), 0);           /* IN */
    memset(buf, 7, sizeof(buf));
    assert_memory_equal(at(r, DATA), buf, 512);
    memset(at(r, DATA), 0x5a, 512);
    assert_int_equal(request(r, 1, 11, 512, false), 0);         /* OUT */
    assert_int_equal(request(r, 4, 0, 0, false), 0);            /* FLUSH */
    fd = open(r->img, O_RDONLY);
    assert_int_equal(pread(fd, buf, 512, 11 * 512), 512);
    close(fd);
    assert_memory_equal(buf, at(r, DATA), 512);
    /* The same register, directly. */
    assert_int_equal(rig_read(r->rig, BAR4, 0x14, 1), 1 | 2 | 4 | 8);

    /* Ignored: another BAR, a length of 3 or 8, an unaligned offset, an
     * offset past the BAR.  A write changes nothing (queue_select stays
     * 0), a read leaves the data as written. */
    window_set(r, 0, 0x16, 2);
    cfg_wr(r, r->window + 16, 1, 4);
    window_set(r, DM_VIRTIO_BAR, 0x16, 3);
    cfg_wr(r, r->window + 16, 1, 4);
    window_set(r, DM_VIRTIO_BAR, 0x16, 8);
    cfg_wr(r, r->window + 16, 1, 4);
    window_set(r, DM_VIRTIO_BAR, 0x15, 2);
    cfg_wr(r, r->window + 16, 0x100, 4);
    window_set(r, DM_VIRTIO_BAR, DM_VIRTIO_BAR_SIZE, 4);
    cfg_wr(r, r->window + 16, 0x12345678, 4);
    assert_int_equal(cfg_rd(r, r->window + 16, 4), 0x12345678);
    assert_int_equal(rig_read(r->rig, BAR4, 0x16, 2), 0);
    assert_int_equal(rig_read(r->rig, BAR4, 0x14, 1), 1 | 2 | 4 | 8);
    /* A valid window again: a read fills the data. */
    window_set(r, DM_VIRTIO_BAR, 0x14, 1);
    assert_int_equal(cfg_rd(r, r->window + 16, 4), 1 | 2 | 4 | 8);
    blk_free(r);
}

/* Features outside the offer, or without VERSION_1, are not accepted. */
static void test_features(void **unused)
{
    Blk *r = blk_new("");

    wr(r, 0x14, 0, 1);
    wr(r, 0x14, 3, 1);
    wr(r, 0x08, 0, 4);
    wr(r, 0x0c, 1u << 9, 4);                    /* no VERSION_1 */
    wr(r, 0x14, 3 | 8, 1);
    assert_false(rd(r, 0x14, 1) & 8);
    blk_free(r);
}

/* A second model on @img, with @extra properties: dm_device_realize's. */
static int realize_on(const char *img, const char *extra, DmDevice *dev,
                      DmLoop *loop)
{
    DmModelArgs args = { 0 };
    char spec[256], err[256], *name;
    int ret;

    snprintf(spec, sizeof(spec), "virtio-blk,file=%s%s", img, extra);
    assert_int_equal(dm_props_split(spec, &name, &args.props, err,
                                    sizeof(err)), 0);
    ret = dm_device_realize(dev, dm_model_find(name), loop, &args);
    free(name);
    dm_props_free(&args.props);
    return ret;
}

/* Two models never open one image for writing. */
static void test_lock(void **unused)
{
    Blk *r = blk_new("");
    DmLoop *loop = dm_loop_new();
    DmDevice dev;

    assert_int_equal(realize_on(r->img, ",lock_wait=0", &dev, loop), -EBUSY);
    /* Waited for, the lock of a model that stays is still refused. */
    assert_int_equal(realize_on(r->img, ",lock_wait=1", &dev, loop), -EBUSY);
    dm_loop_free(loop);
    blk_free(r);
}

/*
 * Another process (a model killed just now, whose io_uring the kernel
 * has not let go of) holds the image's lock, then lets go: a model
 * started meanwhile waits for it and starts, where it failed at once.
 */
static void test_lock_wait(void **unused)
{
    char img[] = "/tmp/dm-test-vblk-lock-XXXXXX";
    struct flock lock = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
    DmLoop *loop = dm_loop_new();
    DmDevice dev;
    int p[2], status;
    char c;
    pid_t pid;

    make_image(img);
    assert_int_equal(pipe(p), 0);
    pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        int fd = open(img, O_RDWR);

        if (fd < 0 || fcntl(fd, F_OFD_SETLK, &lock) < 0 ||
            write(p[1], "L", 1) != 1) {
            _exit(1);
        }
        usleep(300 * 1000);     /* the kernel's clean-up, as it were */
        _exit(0);               /* the lock goes with the process */
    }
    close(p[1]);
    assert_int_equal(read(p[0], &c, 1), 1);
    /* Held now; bound far above the child's time, however loaded. */
    assert_int_equal(realize_on(img, ",lock_wait=60", &dev, loop), 0);
    assert_int_equal(waitpid(pid, &status, 0), pid);
    assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    dm_device_unrealize(&dev);
    close(p[0]);
    dm_loop_free(loop);
    unlink(img);
}

/* ---- A restart with requests in flight ---- */

#define DATA2       (RAM_BASE + 0x5000)
#define STATUS2     (RAM_BASE + 0x3f80)

typedef struct Restart {
    char dir[64], state[96], state2[96], mem[128], mem2[128];
    uint8_t ram[RIG_RAM_SIZE];  /* guest RAM when the process "died" */
    Blk *a;
    Rig *b;
} Restart;

static void copy_file(const char *from, const char *to)
{
    char buf[65536];
    int in = open(from, O_RDONLY), out = open(to, O_WRONLY | O_CREAT |
                                                   O_TRUNC, 0600);
    ssize_t n;

    assert_true(in >= 0 && out >= 0);
    while ((n = read(in, buf, sizeof(buf))) > 0) {
        assert_int_equal(write(out, buf, n), n);
    }
    close(in);
    close(out);
}

static void make_available(Blk *r, uint16_t head)
{
    uint16_t le = htole16(head), idx;

    put(r, AVAIL + 4 + 2 * (r->avail_idx % QSIZE), &le, 2);
    idx = htole16(++r->avail_idx);
    put(r, AVAIL + 2, &idx, 2);
}

/*
 * Model A (state kept in a file) serves one request, then takes two
 * (head 0 writes sector 9 with 0xab, head 3 reads sector 5) that are in
 * flight when its files and guest RAM are copied: what a SIGKILL at that
 * moment leaves.  A goes; B starts from the copies.
 */
static Restart *restart_setup(void)
{
    Restart *t = calloc(1, sizeof(*t));
    struct { uint32_t type, reserved; uint64_t sector; } out_hdr = {
        htole32(1), 0, htole64(9),
    }, in_hdr = { htole32(0), 0, htole64(5) };
    char spec[256], *old_io;

    strcpy(t->dir, "/tmp/dm-test-restart-XXXXXX");
    assert_non_null(mkdtemp(t->dir));
    snprintf(t->state, sizeof(t->state), "%s/a.state", t->dir);
    snprintf(t->state2, sizeof(t->state2), "%s/b.state", t->dir);
    snprintf(t->mem, sizeof(t->mem), "%s.mem", t->state);
    snprintf(t->mem2, sizeof(t->mem2), "%s.mem", t->state2);

    t->a = calloc(1, sizeof(*t->a));
    strcpy(t->a->img, "/tmp/dm-test-vblk-XXXXXX");
    make_image(t->a->img);
    snprintf(spec, sizeof(spec), "virtio-blk,file=%s,queue_size=%d",
             t->a->img, QSIZE);
    /*
     * A on worker threads: their completions wait for the loop, so the
     * two requests are still in flight below.  On io_uring a read from
     * the page cache completes within the kick (blk-file.c, unplug).
     */
    old_io = getenv("DM_BLK_IO") ? strdup(getenv("DM_BLK_IO")) : NULL;
    setenv("DM_BLK_IO", "threads", 1);
    t->a->rig = rig_for_run(rig_new_state(spec, t->state));
    if (old_io) {
        setenv("DM_BLK_IO", old_io, 1);
        free(old_io);
    } else {
        unsetenv("DM_BLK_IO");
    }
    t->a->dev = &t->a->rig->dev;
    driver_init(t->a, 1ULL << VIRTIO_F_VERSION_1);
    assert_int_equal(request(t->a, 0, 1, 512, true), 0);
    assert_int_equal(used_idx(t->a), 1);

    put(t->a, HDR, &out_hdr, sizeof(out_hdr));
    memset(at(t->a, DATA), 0xab, 512);
    *(uint8_t *)at(t->a, STATUS) = 0xee;
    desc(t->a, 0, HDR, 16, 1, 1);
    desc(t->a, 1, DATA, 512, 1, 2);
    desc(t->a, 2, STATUS, 1, 2, 0);
    put(t->a, HDR + 16, &in_hdr, sizeof(in_hdr));
    memset(at(t->a, DATA2), 0, 512);
    *(uint8_t *)at(t->a, STATUS2) = 0xee;
    desc(t->a, 3, HDR + 16, 16, 1, 4);
    desc(t->a, 4, DATA2, 512, 1 | 2, 5);
    desc(t->a, 5, STATUS2, 1, 2, 0);
    make_available(t->a, 0);
    make_available(t->a, 3);
    wr(t->a, 0x3000, 0, 2);                     /* taken, loop not run */

    copy_file(t->state, t->state2);
    copy_file(t->mem, t->mem2);
    memcpy(t->ram, t->a->rig->link.ram, RIG_RAM_SIZE);
    rig_free(t->a->rig);                        /* finishes A's requests */

    snprintf(spec, sizeof(spec), "virtio-blk,file=%s,queue_size=%d",
             t->a->img, QSIZE);
    t->b = rig_for_run(rig_new_state(spec, t->state2));
    return t;
}

/* B loads the state and gets the RAM as A left it. */
static Blk *restart_b(Restart *t)
{
    char err[256];

    assert_int_equal(dm_device_load_file(&t->b->dev, t->state2, err,
                                         sizeof(err)), 0);
    memcpy(t->b->link.ram, t->ram, RIG_RAM_SIZE);
    t->a->rig = t->b;
    t->a->dev = &t->b->dev;
    t->a->avail_idx = 3;
    return t->a;
}

static void restart_free(Restart *t)
{
    char cmd[128];

    blk_free(t->a);
    snprintf(cmd, sizeof(cmd), "rm -rf %s", t->dir);
    assert_int_equal(system(cmd), 0);
    free(t);
}

/* How often @head is in the used ring's first @n entries. */
static unsigned times_used(Blk *r, unsigned n, uint32_t head)
{
    unsigned count = 0;

    for (unsigned i = 0; i < n; i++) {
        count += le32toh(*(uint32_t *)at(r, USED + 4 + 8 * i)) == head;
    }
    return count;
}

static void wait_used(Blk *r, uint16_t want)
{
    for (int i = 0; i < 500 && used_idx(r) != want; i++) {
        rig_run_for(r->rig, 10);
    }
}

/* Both requests in flight run again, each completes once. */
static void test_restart_in_flight(void **unused)
{
    Restart *t = restart_setup();
    uint16_t no_notify = htole16(1);
    Blk *r;
    uint8_t sector[512], want[512];
    int fd;

    /* A died polling (poll_us), the driver's kicks off: B turns them on. */
    memcpy(t->ram + (USED - RAM_BASE), &no_notify, 2);
    r = restart_b(t);
    assert_int_equal(rd(r, 0x14, 1), 1 | 2 | 8 | 4);    /* DRIVER_OK */
    assert_int_equal(used_idx(r), 1);
    dm_device_irqs_changed(r->dev);             /* the client is back */
    wait_used(r, 3);
    assert_int_equal(le16toh(*(uint16_t *)at(r, USED)), 0);
    assert_int_equal(used_idx(r), 3);
    assert_int_equal(times_used(r, 3, 0), 2);   /* the first request too */
    assert_int_equal(times_used(r, 3, 3), 1);
    assert_int_equal(*(uint8_t *)at(r, STATUS), 0);
    assert_int_equal(*(uint8_t *)at(r, STATUS2), 0);
    memset(want, 5, sizeof(want));
    assert_memory_equal(at(r, DATA2), want, 512);
    fd = open(r->img, O_RDONLY);
    assert_int_equal(pread(fd, sector, 512, 9 * 512), 512);
    close(fd);
    memset(want, 0xab, sizeof(want));
    assert_memory_equal(sector, want, 512);
    /* And B serves the next request as usual. */
    assert_int_equal(request(r, 0, 2, 512, true), 0);
    assert_int_equal(used_idx(r), 4);
    restart_free(t);
}

/* Killed after publishing head 3 but before the journal said so. */
static void test_restart_after_used_index(void **unused)
{
    Restart *t = restart_setup();
    DmVirtqJournal *j = t->b->dev.persist.mem;
    uint32_t elem[2] = { htole32(3), htole32(513) };
    uint16_t idx = htole16(2);
    Blk *r;

    assert_non_null(j);
    memcpy(t->ram + (USED - RAM_BASE) + 4 + 8 * 1, elem, sizeof(elem));
    memcpy(t->ram + (USED - RAM_BASE) + 2, &idx, 2);
    j->last_head = 3;
    r = restart_b(t);
    dm_device_irqs_changed(r->dev);
    wait_used(r, 3);
    assert_int_equal(used_idx(r), 3);
    assert_int_equal(times_used(r, 3, 3), 1);   /* not completed twice */
    assert_int_equal(le32toh(*(uint32_t *)at(r, USED + 4 + 8 * 2)), 0);
    restart_free(t);
}

/*
 * Killed after pushing head 3 by posted writes (TCP) that never reached
 * the client: the journal says answered, the guest's used index says
 * not.  B runs it again, and the guest sees it used once.
 */
static void test_restart_lost_push(void **unused)
{
    Restart *t = restart_setup();
    DmVirtqJournal *j = t->b->dev.persist.mem;
    uint8_t want[512];
    Blk *r;

    assert_non_null(j);
    assert_int_equal(j->used_head[0], 0);       /* A's first answer */
    j->popped[3] = 0;
    j->used_head[1] = 3;
    j->used_idx = 2;
    r = restart_b(t);
    assert_int_equal(used_idx(r), 1);
    dm_device_irqs_changed(r->dev);
    wait_used(r, 3);
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(used_idx(r), 3);
    assert_int_equal(times_used(r, 3, 3), 1);
    assert_int_equal(times_used(r, 3, 0), 2);   /* the first request too */
    assert_int_equal(*(uint8_t *)at(r, STATUS2), 0);
    memset(want, 5, sizeof(want));
    assert_memory_equal(at(r, DATA2), want, 512);
    /* And B serves the next request as usual. */
    assert_int_equal(request(r, 0, 2, 512, true), 0);
    assert_int_equal(used_idx(r), 4);
    restart_free(t);
}

/* A used index in guest memory the journal cannot explain: NEEDS_RESET. */
static void test_restart_bad_used_index(void **unused)
{
    Restart *t = restart_setup();
    uint16_t idx = htole16(7);
    Blk *r;

    memcpy(t->ram + (USED - RAM_BASE) + 2, &idx, 2);
    r = restart_b(t);
    dm_device_irqs_changed(r->dev);
    rig_run_for(r->rig, 20);                    /* its VM timer fires */
    assert_true(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    assert_int_equal(request(r, 0, 1, 512, true), 0);
    restart_free(t);
}

/* A state file of another queue count is refused, not half-loaded. */
static void test_restart_other_queues(void **unused)
{
    Restart *t = restart_setup();
    Rig *other;
    char spec[256], err[256];

    rig_free(t->b);
    snprintf(spec, sizeof(spec), "virtio-blk,file=%s,queue_size=%d,"
             "queues=2", t->a->img, QSIZE);
    other = rig_new_state(spec, t->state2);
    assert_int_equal(dm_device_load_file(&other->dev, t->state2, err,
                                         sizeof(err)), -EINVAL);
    t->b = other;
    t->a->rig = other;
    restart_free(t);
}

/* ---- The malformed-ring suite: each breaks the device, none the model ---- */

#define TABLE (RAM_BASE + 0x6000)

/* Head 0 available and kicked, without waiting for it to be used. */
static void kick_head0(Blk *r)
{
    uint16_t head = htole16(0), idx;

    put(r, AVAIL + 4 + 2 * (r->avail_idx % QSIZE), &head, 2);
    idx = htole16(++r->avail_idx);
    put(r, AVAIL + 2, &idx, 2);
    wr(r, 0x3000, 0, 2);
    rig_run_for(r->rig, 20);
}

static void hdr_read(Blk *r)
{
    struct { uint32_t type, reserved; uint64_t sector; } h = {
        htole32(BLK_T_IN), 0, htole64(1),
    };

    put(r, HDR, &h, sizeof(h));
}

static void bad_indirect_in_indirect(Blk *r)
{
    struct { uint64_t a; uint32_t l; uint16_t f, n; } d = {
        htole64(TABLE + 64), htole32(32), htole16(4), 0,
    };

    hdr_read(r);
    put(r, TABLE, &d, sizeof(d));               /* INDIRECT inside */
    desc(r, 0, TABLE, 16, 4, 0);
    kick_head0(r);
}

static void bad_address(Blk *r)
{
    desc(r, 0, 0xdead00000000ULL, 16, 1, 1);    /* header nowhere */
    desc(r, 1, STATUS, 1, 2, 0);
    kick_head0(r);
}

static void bad_zero_length(Blk *r)
{
    hdr_read(r);
    desc(r, 0, HDR, 0, 1, 1);                   /* no header bytes */
    desc(r, 1, STATUS, 1, 2, 0);
    kick_head0(r);
}

static void bad_head(Blk *r)
{
    uint16_t head = htole16(QSIZE + 3), idx;

    put(r, AVAIL + 4 + 2 * (r->avail_idx % QSIZE), &head, 2);
    idx = htole16(++r->avail_idx);
    put(r, AVAIL + 2, &idx, 2);
    wr(r, 0x3000, 0, 2);
    rig_run_for(r->rig, 20);
}

static void bad_next(Blk *r)
{
    hdr_read(r);
    desc(r, 0, HDR, 16, 1, QSIZE + 1);          /* next past the table */
    kick_head0(r);
}

static void bad_writable_then_readable(Blk *r)
{
    hdr_read(r);
    desc(r, 0, STATUS, 1, 2 | 1, 1);
    desc(r, 1, HDR, 16, 1, 0);                  /* readable after it */
    kick_head0(r);
}

static void bad_wrapping(Blk *r)
{
    hdr_read(r);
    desc(r, 0, HDR, 16, 1, 1);
    desc(r, 1, UINT64_MAX - 8, 512, 1 | 2, 2);  /* wraps around */
    desc(r, 2, STATUS, 1, 2, 0);
    kick_head0(r);
}

/*
 * Each broken ring sets DEVICE_NEEDS_RESET with a config interrupt; the
 * model goes on and serves again after the driver resets it (under
 * ASan/UBSan too: dm-remote-virtio-blk-asan).
 */
static void test_malformed_rings(void **unused)
{
    static const struct {
        const char *name;
        void (*make)(Blk *r);
    } cases[] = {
        { "indirect inside indirect", bad_indirect_in_indirect },
        { "a buffer outside guest memory", bad_address },
        { "a zero-length header", bad_zero_length },
        { "a head past the queue", bad_head },
        { "a next past the table", bad_next },
        { "readable after writable", bad_writable_then_readable },
        { "a buffer that wraps around", bad_wrapping },
    };
    Blk *r = blk_new("");

    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        driver_init(r, (1ULL << VIRTIO_F_VERSION_1) |
                       (1ULL << VIRTIO_F_INDIRECT_DESC));
        cases[i].make(r);
        if (!(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET)) {
            fail_msg("%s: the device did not need a reset", cases[i].name);
        }
        driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
        assert_int_equal(request(r, BLK_T_IN, 3, 512, true), 0);
    }
    blk_free(r);
}

/* A huge data buffer is the request's error, not the device's. */
static void test_huge_descriptor(void **unused)
{
    Blk *r = blk_new("");

    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    hdr_read(r);
    *(uint8_t *)at(r, STATUS) = 0xee;
    desc(r, 0, HDR, 16, 1, 1);
    desc(r, 1, DATA, 0xfffffe00u, 1 | 2, 2);    /* ~4 GiB to read into */
    desc(r, 2, STATUS, 1, 2, 0);
    kick_and_wait(r);
    assert_int_equal(*(uint8_t *)at(r, STATUS), 1);     /* IOERR */
    assert_false(rd(r, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET);
    assert_int_equal(request(r, BLK_T_IN, 3, 512, true), 0);
    blk_free(r);
}

/* With queues=2: MQ offered, two queues, a request served on queue 1. */
static void test_multiqueue(void **unused)
{
    Blk *r = blk_new(",queues=2");
    const uint64_t desc1 = RAM_BASE + 0x8000, avail1 = RAM_BASE + 0x9000,
                   used1 = RAM_BASE + 0xa000;
    struct { uint32_t type, reserved; uint64_t sector; } h = {
        htole32(BLK_T_IN), 0, htole64(7),
    };
    uint8_t want[512];
    uint16_t v;
    uint32_t offered;

    wr(r, 0x14, 0, 1);
    wr(r, 0x14, 1 | 2, 1);
    wr(r, 0x00, 0, 4);
    offered = rd(r, 0x04, 4);
    assert_true(offered & (1u << 12));          /* VIRTIO_BLK_F_MQ */
    wr(r, 0x08, 0, 4);
    wr(r, 0x0c, 1u << 12, 4);
    wr(r, 0x08, 1, 4);
    wr(r, 0x0c, 1, 4);                          /* VERSION_1 */
    wr(r, 0x14, 1 | 2 | 8, 1);
    assert_true(rd(r, 0x14, 1) & 8);
    assert_int_equal(rd(r, 0x12, 2), 2);        /* num_queues */
    assert_int_equal(rd(r, 0x2000 + 34, 2), 2); /* config num_queues */
    memset(at(r, avail1), 0, 0x1000);
    memset(at(r, used1), 0, 0x1000);
    wr(r, 0x16, 1, 2);                          /* queue 1 only */
    wr(r, 0x20, (uint32_t)desc1, 4);
    wr(r, 0x24, 0, 4);
    wr(r, 0x28, (uint32_t)avail1, 4);
    wr(r, 0x2c, 0, 4);
    wr(r, 0x30, (uint32_t)used1, 4);
    wr(r, 0x34, 0, 4);
    wr(r, 0x1c, 1, 2);
    wr(r, 0x14, 1 | 2 | 8 | 4, 1);
    put(r, HDR, &h, sizeof(h));
    *(uint8_t *)at(r, STATUS) = 0xee;
    for (unsigned i = 0; i < 3; i++) {
        static const uint64_t addr[] = { HDR, DATA, STATUS };
        static const uint32_t len[] = { 16, 512, 1 };
        static const uint16_t flags[] = { 1, 1 | 2, 2 };
        struct { uint64_t a; uint32_t l; uint16_t f, n; } d = {
            htole64(addr[i]), htole32(len[i]), htole16(flags[i]),
            htole16(i + 1),
        };

        put(r, desc1 + 16 * i, &d, sizeof(d));
    }
    v = htole16(0);
    put(r, avail1 + 4, &v, 2);
    v = htole16(1);
    put(r, avail1 + 2, &v, 2);
    wr(r, 0x3000 + DM_VIRTIO_NOTIFY_MULT, 1, 2);    /* notify queue 1 */
    for (int i = 0; i < 500 && le16toh(*(uint16_t *)at(r, used1 + 2)) != 1;
         i++) {
        rig_run_for(r->rig, 10);
    }
    assert_int_equal(le16toh(*(uint16_t *)at(r, used1 + 2)), 1);
    assert_int_equal(*(uint8_t *)at(r, STATUS), 0);
    memset(want, 7, sizeof(want));
    assert_memory_equal(at(r, DATA), want, sizeof(want));
    assert_int_equal(le16toh(*(uint16_t *)at(r, USED + 2)), 0);
    blk_free(r);
}

/*
 * Each queue's notify address is a doorbell: rung through its eventfd
 * (what the client signals instead of a REGION_WRITE, on one host) or by
 * a write there, the same kick either way.
 */
static void test_doorbells(void **unused)
{
    Blk *r = blk_new(",queues=2");
    DmDoorbells *t = &r->dev->doorbells;
    const DmDoorbell *bells[4];
    uint64_t one = 1;
    uint16_t want;
    uint8_t buf[512];

    assert_int_equal(dm_doorbells_of_region(t, BAR4, bells, 4), 2);
    for (unsigned i = 0; i < 2; i++) {
        assert_int_equal(bells[i]->offset,
                         0x3000 + i * DM_VIRTIO_NOTIFY_MULT);
        assert_int_equal(bells[i]->size, 0);    /* any width */
        assert_true(bells[i]->fd >= 0);         /* the rig's client is on */
    }
    assert_int_equal(dm_doorbells_of_region(t, VUP_PCI_BAR0_REGION_INDEX +
                                            DM_VIRTIO_MSIX_BAR, NULL, 0), 0);
    blk_free(r);

    /* One queue (what driver_init sets up): a request through each way. */
    r = blk_new(",queues=1");
    t = &r->dev->doorbells;
    assert_int_equal(dm_doorbells_of_region(t, BAR4, bells, 4), 1);
    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    request_prepare(r, BLK_T_IN, 3, 512, true);
    want = offer_head0(r);
    assert_int_equal(write(bells[0]->fd, &one, sizeof(one)), sizeof(one));
    wait_used_idx(r, want);
    assert_int_equal(used_idx(r), want);
    assert_int_equal(*(uint8_t *)at(r, STATUS), 0);
    memset(buf, 3, sizeof(buf));
    assert_memory_equal(at(r, DATA), buf, sizeof(buf));
    assert_int_equal(t->kicks_fd, 1);
    assert_int_equal(t->kicks_write, 0);

    /* A REGION_WRITE there (16 bits, as Linux; 32 too): the same kick. */
    assert_int_equal(request(r, BLK_T_IN, 5, 512, true), 0);
    memset(buf, 5, sizeof(buf));
    assert_memory_equal(at(r, DATA), buf, sizeof(buf));
    request_prepare(r, BLK_T_IN, 6, 512, true);
    want = offer_head0(r);
    wr(r, 0x3000, 0, 4);
    wait_used_idx(r, want);
    assert_int_equal(used_idx(r), want);
    assert_int_equal(t->kicks_write, 2);
    assert_int_equal(t->kicks_fd, 1);

    /* The client goes: its eventfds with it. */
    dm_device_detach(r->dev);
    assert_int_equal(bells[0]->fd, -1);
    blk_free(r);
}

/* ---- The data path: zero-copy, cache=none, EVENT_IDX, queues, polling ---- */

typedef struct Buf {
    uint64_t addr;
    uint32_t len;
} Buf;

/* Fill guest memory at @bufs with @seed's pattern; compare with it. */
static uint8_t pattern(unsigned seed, unsigned i)
{
    return (uint8_t)(seed * 31 + i * 7 + (i >> 9));
}

static void fill(Blk *r, const Buf *bufs, unsigned n, unsigned seed)
{
    for (unsigned b = 0, k = 0; b < n; b++) {
        for (uint32_t i = 0; i < bufs[b].len; i++, k++) {
            ((uint8_t *)at(r, bufs[b].addr))[i] = pattern(seed, k);
        }
    }
}

static void check(Blk *r, const Buf *bufs, unsigned n, unsigned seed)
{
    for (unsigned b = 0, k = 0; b < n; b++) {
        for (uint32_t i = 0; i < bufs[b].len; i++, k++) {
            if (((uint8_t *)at(r, bufs[b].addr))[i] != pattern(seed, k)) {
                fail_msg("byte %u of buffer %u differs", i, b);
            }
        }
    }
}

/* The image's bytes at @sector hold @seed's pattern. */
static void check_image(Blk *r, uint64_t sector, uint32_t len,
                        unsigned seed)
{
    uint8_t *buf = malloc(len);
    int fd = open(r->img, O_RDONLY);

    assert_true(fd >= 0);
    assert_int_equal(pread(fd, buf, len, sector * 512), len);
    close(fd);
    for (uint32_t i = 0; i < len; i++) {
        if (buf[i] != pattern(seed, i)) {
            fail_msg("byte %u at sector %llu differs", i,
                     (unsigned long long)sector);
        }
    }
    free(buf);
}

/* IN or OUT at @sector with the data in @bufs (head 0): its status. */
static uint8_t rw_request(Blk *r, uint32_t type, uint64_t sector,
                          const Buf *bufs, unsigned n)
{
    struct { uint32_t type, reserved; uint64_t sector; } h = {
        htole32(type), 0, htole64(sector),
    };
    uint16_t data_flags = type == BLK_T_IN ? 2 : 0;

    put(r, HDR, &h, sizeof(h));
    *(uint8_t *)at(r, STATUS) = 0xee;
    desc(r, 0, HDR, 16, 1, 1);
    for (unsigned i = 0; i < n; i++) {
        desc(r, 1 + i, bufs[i].addr, bufs[i].len, 1 | data_flags, 2 + i);
    }
    desc(r, 1 + n, STATUS, 1, 2, 0);
    kick_and_wait(r);
    return *(uint8_t *)at(r, STATUS);
}

/* Write @bufs to @sector, read them back into zeroed @bufs, compare. */
static void write_read_back(Blk *r, uint64_t sector, const Buf *bufs,
                            unsigned n, unsigned seed)
{
    uint32_t len = 0;

    for (unsigned i = 0; i < n; i++) {
        len += bufs[i].len;
    }
    fill(r, bufs, n, seed);
    assert_int_equal(rw_request(r, BLK_T_OUT, sector, bufs, n), 0);
    assert_int_equal(request(r, BLK_T_FLUSH, 0, 0, false), 0);
    check_image(r, sector, len, seed);
    for (unsigned i = 0; i < n; i++) {
        memset(at(r, bufs[i].addr), 0, bufs[i].len);
    }
    assert_int_equal(rw_request(r, BLK_T_IN, sector, bufs, n), 0);
    check(r, bufs, n, seed);
    assert_int_equal(le32toh(*(uint32_t *)at(r, USED + 4 +
                                             8 * ((used_idx(r) - 1) %
                                                  QSIZE) + 4)), len + 1);
}

/*
 * Shared memory: requests go straight between the image and the guest's
 * buffers (the link gave pieces of guest memory), several buffers per
 * request, the header and status byte untouched by the data; the same
 * requests copied where memory is not shared.  Byte for byte either way.
 */
static void test_zero_copy(void **unused)
{
    static const Buf bufs[] = {
        { DATA, 1536 }, { DATA + 0x2000, 512 }, { DATA + 0x3000, 2048 },
    };

    for (int shared = 0; shared <= 1; shared++) {
        Blk *r = blk_new("");
        unsigned given;

        r->rig->link.shared = shared;
        driver_init(r, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << BLK_F_FLUSH));
        given = r->rig->link.iovs_given;
        write_read_back(r, 100, bufs, 3, 1 + shared);
        if (shared) {
            /* 3 pieces out, 3 in (the status byte is written apart). */
            assert_true(r->rig->link.iovs_given >= given + 6);
        } else {
            assert_int_equal(r->rig->link.iovs_given, 0);
        }
        /* The sectors around it kept theirs. */
        assert_int_equal(request(r, BLK_T_IN, 99, 512, true), 0);
        assert_int_equal(((uint8_t *)at(r, DATA))[511], 99);
        assert_int_equal(request(r, BLK_T_IN, 108, 512, true), 0);
        assert_int_equal(((uint8_t *)at(r, DATA))[0], 108);
        blk_free(r);
    }
}

/*
 * inline_writes (on by default): a buffered write of up to 64 KiB is
 * written at once, not through io_uring.  Where the kick's handler runs
 * the whole request (the loop, guest memory shared, io_uring), its
 * answer is in the used ring when the kick returns, before the loop runs
 * again: through io_uring a kernel worker would most often still hold
 * it (ext4; this fails two runs in three with the property off).
 * Byte for byte the same either way, past 64 KiB and with it off.
 */
static void test_inline_writes(void **unused)
{
    static const Buf small[] = { { DATA, 4096 } };
    static const Buf big[] = { { DATA, 0x20000 } };
    const char *io = getenv("DM_BLK_IO");
    bool at_once = !(io && !strcmp(io, "threads")) && shared_memory &&
                   !iothread;

    for (int on = 1; on >= 0; on--) {
        Blk *r = blk_new(on ? "" : ",inline_writes=off");
        struct { uint32_t type, reserved; uint64_t sector; } h = {
            htole32(BLK_T_OUT), 0, htole64(300),
        };
        uint16_t want;

        driver_init(r, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << BLK_F_FLUSH));
        write_read_back(r, 64, small, 1, 11 + on);
        write_read_back(r, 512, big, 1, 13 + on);
        if (!on || !at_once) {
            blk_free(r);
            continue;
        }
        fill(r, small, 1, 17);
        put(r, HDR, &h, sizeof(h));
        *(uint8_t *)at(r, STATUS) = 0xee;
        desc(r, 0, HDR, 16, 1, 1);
        desc(r, 1, DATA, 4096, 1, 2);
        desc(r, 2, STATUS, 1, 2, 0);
        want = offer_head0(r);
        wr(r, 0x3000, 0, 2);
        assert_int_equal(used_idx(r), want);    /* the loop did not run */
        assert_int_equal(*(uint8_t *)at(r, STATUS), 0);
        check_image(r, 300, 4096, 17);
        blk_free(r);
    }
}

/*
 * A field of the fdinfo of this process's descriptors that link to
 * @target, read with @fmt ("flags: %lo"), summed or (@or) OR-ed.
 */
static unsigned long fdinfo_fields(const char *target, const char *fmt,
                                   bool or)
{
    char link[64], path[256], info[512];
    unsigned long all = 0;

    for (int fd = 0; fd < 1024; fd++) {
        ssize_t n;
        FILE *f;

        snprintf(link, sizeof(link), "/proc/self/fd/%d", fd);
        n = readlink(link, path, sizeof(path) - 1);
        if (n < 0) {
            continue;
        }
        path[n] = 0;
        if (strcmp(path, target)) {
            continue;
        }
        snprintf(link, sizeof(link), "/proc/self/fdinfo/%d", fd);
        f = fopen(link, "r");
        assert_non_null(f);
        while (fgets(info, sizeof(info), f)) {
            unsigned long v;

            if (sscanf(info, fmt, &v) == 1) {
                all = or ? all | v : all + v;
            }
        }
        fclose(f);
    }
    return all;
}

/* Is the image open with O_DIRECT in this process? */
static bool image_direct(Blk *r)
{
    return fdinfo_fields(r->img, "flags: %lo", true) & O_DIRECT;
}

/* The requests this process's io_uring instances were given so far. */
static unsigned long uring_submitted(void)
{
    return fdinfo_fields("anon_inode:[io_uring]", "SqTail: %lu", false);
}

/*
 * A slow write done at once (here every one: DM_BLK_INLINE_SLOW_US=0)
 * sends the next second's writes through io_uring, so that the loop does
 * not wait behind a stall twice; a second later they are done at once
 * again.  On the loop's io_uring or the queue's I/O thread's.
 */
static void test_inline_slow(void **unused)
{
    static const Buf small[] = { { DATA, 4096 } };
    unsigned long before;
    Blk *r;

    setenv("DM_BLK_INLINE_SLOW_US", "0", 1);
    r = blk_new("");
    unsetenv("DM_BLK_INLINE_SLOW_US");
    driver_init(r, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << BLK_F_FLUSH));

    fill(r, small, 1, 21);
    before = uring_submitted();
    assert_int_equal(rw_request(r, BLK_T_OUT, 40, small, 1), 0);
    assert_int_equal(uring_submitted(), before);        /* at once */
    check_image(r, 40, 4096, 21);

    fill(r, small, 1, 22);
    assert_int_equal(rw_request(r, BLK_T_OUT, 48, small, 1), 0);
    assert_true(uring_submitted() > before);            /* io_uring's */
    check_image(r, 48, 4096, 22);

    usleep(1100 * 1000);
    fill(r, small, 1, 23);
    before = uring_submitted();
    assert_int_equal(rw_request(r, BLK_T_OUT, 56, small, 1), 0);
    assert_int_equal(uring_submitted(), before);        /* at once again */
    check_image(r, 56, 4096, 23);
    blk_free(r);
}

/*
 * cache=none: the image is open with O_DIRECT; buffers aligned to the
 * page go to the kernel as they are, unaligned ones (an odd address, a
 * 24-byte piece) through the back end's aligned copy, copied or shared.
 */
static void test_cache_none(void **unused)
{
    static const Buf aligned[] = { { DATA, 4096 }, { DATA + 0x2000, 4096 } };
    static const Buf unaligned[] = {
        { DATA + 8, 1000 }, { DATA + 0x2003, 24 }, { DATA + 0x3001, 512 },
    };
    static const Buf odd[] = { { DATA + 0x1005, 488 }, { DATA + 0x2003, 24 } };
    Blk *r = blk_new(",cache=none");

    assert_true(image_direct(r));
    driver_init(r, (1ULL << VIRTIO_F_VERSION_1) | (1ULL << BLK_F_FLUSH));
    for (int shared = 0; shared <= 1; shared++) {
        r->rig->link.shared = shared;
        write_read_back(r, 16, aligned, 2, 3 + shared);
        write_read_back(r, 40, unaligned, 3, 5 + shared);
        write_read_back(r, 7, odd, 2, 7 + shared);
    }
    blk_free(r);

    r = blk_new(",cache=writeback");
    assert_false(image_direct(r));
    blk_free(r);
}

/* MSI-X through messages, vector 0 for queue 0 (as Linux wires it). */
static void wire_msix(Blk *r)
{
    dm_irq_set_messages(&r->dev->irqs, VUP_PCI_MSIX_IRQ_INDEX, 0, 2);
    wr(r, 0x16, 0, 2);
    wr(r, 0x1a, 0, 2);                          /* queue_msix_vector */
    assert_int_equal(rd(r, 0x1a, 2), 0);
}

#define BATCH 5

/* BATCH reads (sector 200 + i), made available together, one kick. */
static void read_batch(Blk *r)
{
    for (unsigned i = 0; i < BATCH; i++) {
        struct { uint32_t type, reserved; uint64_t sector; } h = {
            htole32(BLK_T_IN), 0, htole64(200 + i),
        };

        put(r, HDR + 16 * i, &h, sizeof(h));
        *(uint8_t *)at(r, STATUS + i) = 0xee;
        desc(r, 3 * i, HDR + 16 * i, 16, 1, 3 * i + 1);
        desc(r, 3 * i + 1, DATA + 512 * i, 512, 1 | 2, 3 * i + 2);
        desc(r, 3 * i + 2, STATUS + i, 1, 2, 0);
        make_available(r, 3 * i);
    }
    wr(r, 0x3000, 0, 2);
    wait_used(r, r->avail_idx);
    assert_int_equal(used_idx(r), r->avail_idx);
    for (unsigned i = 0; i < BATCH; i++) {
        assert_int_equal(*(uint8_t *)at(r, STATUS + i), 0);
        assert_int_equal(((uint8_t *)at(r, DATA + 512 * i))[0],
                         (200 + i) & 0xff);
    }
}

/*
 * EVENT_IDX both ways: the device writes avail_event as it takes chains
 * (the driver kicks only past it), and interrupts only when the used
 * index passes the driver's used_event: a batch whose used_event is its
 * last entry gets the first interrupt (nothing was signalled yet) and the
 * last, not one per request.  Without EVENT_IDX, one per request.
 */
static void test_event_idx(void **unused)
{
    Blk *r = blk_new("");
    uint16_t event;
    unsigned before;

    driver_init(r, (1ULL << VIRTIO_F_VERSION_1) |
                   (1ULL << VIRTIO_F_EVENT_IDX));
    wire_msix(r);
    event = htole16(BATCH - 1);                 /* used_event */
    put(r, AVAIL + 4 + 2 * QSIZE, &event, 2);
    before = r->rig->link.irqs_sent;
    read_batch(r);
    assert_int_equal(r->rig->link.irqs_sent - before, 2);
    /* avail_event: kick me when you make entry BATCH available. */
    assert_int_equal(le16toh(*(uint16_t *)at(r, USED + 4 + 8 * QSIZE)),
                     BATCH);

    /* The next batch: used_event at its third entry: one interrupt. */
    event = htole16(2 * BATCH - 3);
    put(r, AVAIL + 4 + 2 * QSIZE, &event, 2);
    before = r->rig->link.irqs_sent;
    read_batch(r);
    assert_int_equal(r->rig->link.irqs_sent - before, 1);
    assert_int_equal(le16toh(*(uint16_t *)at(r, USED + 4 + 8 * QSIZE)),
                     2 * BATCH);

    /* Without EVENT_IDX: an interrupt per request. */
    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    wire_msix(r);
    before = r->rig->link.irqs_sent;
    read_batch(r);
    assert_int_equal(r->rig->link.irqs_sent - before, BATCH);
    blk_free(r);
}

/*
 * irq_delay_us: interrupts held only while holding pays.  Lone requests
 * get theirs at once, but every 16th is held to see.  A hold pays when
 * the driver makes new requests during it (their answers share the
 * interrupt, and the next one is held too); it does not when nothing new
 * came (a lone request, or a batch taken before the hold: the parts of
 * one big request), and interrupts go at once again.  No EVENT_IDX: else
 * one interrupt an answer.  Times are only read to know whether a hold
 * may have ended already (a slow machine skips those checks).
 */
#define IRQ_DELAY_NS (100 * 1000000LL)

static unsigned irqs_after(Blk *r, unsigned before, unsigned want)
{
    for (int i = 0; i < 500 && r->rig->link.irqs_sent - before < want; i++) {
        rig_run_for(r->rig, 10);
    }
    return r->rig->link.irqs_sent - before;
}

/*
 * A read whose interrupt is held (unless the hold may be over already):
 * the count of interrupts before it.
 */
static unsigned irq_held_request(Blk *r, uint64_t sector)
{
    unsigned before = r->rig->link.irqs_sent;
    int64_t t0 = dm_clock_ns();

    assert_int_equal(request(r, BLK_T_IN, sector, 512, true), 0);
    if (dm_clock_ns() - t0 < IRQ_DELAY_NS) {
        assert_int_equal(r->rig->link.irqs_sent - before, 0);
    }
    return before;
}

/* @n lone requests, each interrupt at once. */
static void irq_lone_at_once(Blk *r, unsigned n)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned before = r->rig->link.irqs_sent;

        assert_int_equal(request(r, BLK_T_IN, 3, 512, true), 0);
        assert_int_equal(r->rig->link.irqs_sent - before, 1);
    }
}

/* The driver (re)started, no EVENT_IDX: up to the first probe at once. */
static void irq_driver_start(Blk *r)
{
    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    wire_msix(r);
    irq_lone_at_once(r, 15);
}

static void test_irq_delay(void **unused)
{
    Blk *r;
    unsigned before;
    int64_t t0;

    if (iothread) {
        /* The loop's queues only (the other runs of this suite). */
        print_message("# irq_delay_us: not on I/O threads\n");
        return;
    }
    r = blk_new(",irq_delay_us=100000");
    irq_driver_start(r);

    /* The 16th is held; a batch made meanwhile shares its interrupt. */
    before = r->rig->link.irqs_sent;
    t0 = dm_clock_ns();
    assert_int_equal(request(r, BLK_T_IN, 4, 512, true), 0);
    read_batch(r);
    if (dm_clock_ns() - t0 < IRQ_DELAY_NS) {
        assert_int_equal(r->rig->link.irqs_sent - before, 0);
        assert_int_equal(irqs_after(r, before, 1), 1);
        rig_run_for(r->rig, 10);
        assert_int_equal(r->rig->link.irqs_sent - before, 1);

        /* It paid: the next one is held too, and nothing comes. */
        before = irq_held_request(r, 5);
    }
    assert_int_equal(irqs_after(r, before, 1), 1);
    rig_run_for(r->rig, 10);

    /* That did not pay: at once again, up to the next probe. */
    irq_lone_at_once(r, 15);
    /* A batch taken before its hold: one interrupt, and it did not pay. */
    before = r->rig->link.irqs_sent;
    read_batch(r);
    assert_int_equal(irqs_after(r, before, 1), 1);
    rig_run_for(r->rig, 10);
    assert_int_equal(r->rig->link.irqs_sent - before, 1);
    /* A probe that did not pay: the next one comes half as often. */
    irq_lone_at_once(r, 31);
    before = irq_held_request(r, 8);
    assert_int_equal(irqs_after(r, before, 1), 1);
    rig_run_for(r->rig, 10);
    irq_lone_at_once(r, 63);
    before = irq_held_request(r, 8);
    assert_int_equal(irqs_after(r, before, 1), 1);
    rig_run_for(r->rig, 10);
    irq_lone_at_once(r, 1);

    /* A reset forgets holding, and how rarely it probed. */
    irq_driver_start(r);
    /* The next probe's hold ends at a quiesce (a save, a DMA_MAP). */
    before = irq_held_request(r, 7);
    dm_device_quiesce(r->dev);
    assert_int_equal(r->rig->link.irqs_sent - before, 1);
    blk_free(r);
}

/*
 * irq_delay_us=auto, the default: interrupts held (the probe after 15 at
 * once) for a TCG guest whose rings are in shared memory, at once for
 * KVM, a client that did not say, or rings reached by messages.  Auto's
 * hold is made 100 ms (DM_BLK_IRQ_DELAY_AUTO_US) to be seen.  Values out
 * of range are refused.
 */
static void test_irq_delay_auto(void **unused)
{
    static const char *const accels[] = { "tcg", "kvm", NULL };
    DmLoop *loop = dm_loop_new();
    DmDevice dev;
    char img[] = "/tmp/dm-test-vblk-irq-XXXXXX";

    if (iothread) {
        print_message("# irq_delay_us: not on I/O threads\n");
        dm_loop_free(loop);
        return;
    }
    make_image(img);
    assert_int_equal(realize_on(img, ",irq_delay_us=100001", &dev, loop),
                     -EINVAL);
    assert_int_equal(realize_on(img, ",irq_delay_us=-1", &dev, loop),
                     -EINVAL);
    assert_int_equal(realize_on(img, ",irq_delay_us=soon", &dev, loop),
                     -EINVAL);
    /* The tests' hooks refuse what is not microseconds in range too. */
    setenv("DM_BLK_IRQ_DELAY_AUTO_US", "-5", 1);
    assert_int_equal(realize_on(img, "", &dev, loop), -EINVAL);
    unsetenv("DM_BLK_IRQ_DELAY_AUTO_US");
    setenv("DM_BLK_INLINE_SLOW_US", "soon", 1);
    assert_int_equal(realize_on(img, "", &dev, loop), -EINVAL);
    unsetenv("DM_BLK_INLINE_SLOW_US");
    unlink(img);
    dm_loop_free(loop);

    for (unsigned i = 0; i < 3; i++) {
        bool held = accels[i] && !strcmp(accels[i], "tcg") && shared_memory;
        unsigned before;
        Blk *r;

        setenv("DM_BLK_IRQ_DELAY_AUTO_US", "100000", 1);
        r = blk_new("");
        unsetenv("DM_BLK_IRQ_DELAY_AUTO_US");
        r->rig->link.accel = accels[i];
        irq_driver_start(r);
        if (held) {
            before = irq_held_request(r, 9);
            assert_int_equal(irqs_after(r, before, 1), 1);
        } else {
            irq_lone_at_once(r, 1);     /* the probe's turn: at once */
        }
        blk_free(r);
    }
}

/*
 * irq_delay_us=auto's hold grows while holding pays: twice as long after
 * a hold during which the driver made requests (up to four times), back
 * to its base after one that did not.  The base made 50 ms to be seen;
 * times only say whether a check is still in time (a slow machine skips
 * it).
 */
#define GROW_BASE_NS (50 * 1000000LL)

/*
 * A read of @sector, then the loop for one and a half bases: @want
 * interrupts by then, checked unless that took two bases (a slow
 * machine).  The count of interrupts before the read.
 */
static unsigned irqs_after_1_5_bases(Blk *r, uint64_t sector, unsigned want)
{
    unsigned before = r->rig->link.irqs_sent;
    int64_t t0 = dm_clock_ns();

    assert_int_equal(request(r, BLK_T_IN, sector, 512, true), 0);
    rig_run_for(r->rig, GROW_BASE_NS * 3 / 2 / 1000000);
    if (dm_clock_ns() - t0 < 2 * GROW_BASE_NS) {
        assert_int_equal(r->rig->link.irqs_sent - before, want);
    }
    return before;
}

static void test_irq_delay_grows(void **unused)
{
    unsigned before;
    int64_t t0;
    Blk *r;

    if (iothread || !shared_memory) {
        print_message("# auto holds where rings are shared, on the loop\n");
        return;
    }
    setenv("DM_BLK_IRQ_DELAY_AUTO_US", "50000", 1);
    r = blk_new("");
    unsetenv("DM_BLK_IRQ_DELAY_AUTO_US");
    r->rig->link.accel = "tcg";
    irq_driver_start(r);

    /* The probe, held for the base; a batch made meanwhile: it paid. */
    before = r->rig->link.irqs_sent;
    t0 = dm_clock_ns();
    assert_int_equal(request(r, BLK_T_IN, 4, 512, true), 0);
    read_batch(r);
    if (dm_clock_ns() - t0 >= GROW_BASE_NS) {
        /* The batch came after the hold: it may not have paid. */
        print_message("# too slow to see the hold grow\n");
        blk_free(r);
        return;
    }
    assert_int_equal(irqs_after(r, before, 1), 1);

    /* Held again, twice as long: nothing yet after one and a half. */
    before = irqs_after_1_5_bases(r, 5, 0);
    assert_int_equal(irqs_after(r, before, 1), 1);
    rig_run_for(r->rig, 10);

    /* That hold did not pay: at once again, up to the next probe. */
    irq_lone_at_once(r, 15);
    /* The probe's hold is the base again: its interrupt by then. */
    irqs_after_1_5_bases(r, 6, 1);
    blk_free(r);
}

/* ---- queues=N: requests on every queue at once, data intact ---- */

#define MQ_RINGS    (RAM_BASE + 0x10000)    /* 0x4000 per queue */
#define MQ_HDRS     (RAM_BASE + 0xc000)
#define MQ_STATUS   (RAM_BASE + 0xd000)
#define MQ_DATA     (RAM_BASE + 0x20000)    /* 0x8000 per queue */
#define MQ_REQS     5                       /* 3 descriptors each */
#define MQ_LEN      4096

static uint64_t mq_ring(unsigned q, unsigned part)
{
    return MQ_RINGS + 0x4000 * q + 0x1000 * part;
}

/* What Linux does with num_queues queues: set each up. */
static void mq_init(Blk *r, unsigned nq)
{
    wr(r, 0x14, 0, 1);
    wr(r, 0x14, 1 | 2, 1);
    wr(r, 0x00, 0, 4);
    wr(r, 0x08, 0, 4);
    wr(r, 0x0c, rd(r, 0x04, 4) & ((1u << 12) | (1u << BLK_F_FLUSH)), 4);
    wr(r, 0x08, 1, 4);
    wr(r, 0x0c, 1, 4);                          /* VERSION_1 */
    wr(r, 0x14, 1 | 2 | 8, 1);
    assert_true(rd(r, 0x14, 1) & 8);
    assert_int_equal(rd(r, 0x12, 2), nq);
    for (unsigned q = 0; q < nq; q++) {
        memset(at(r, mq_ring(q, 0)), 0, 0x3000);
        wr(r, 0x16, q, 2);
        wr(r, 0x20, (uint32_t)mq_ring(q, 0), 4);
        wr(r, 0x24, 0, 4);
        wr(r, 0x28, (uint32_t)mq_ring(q, 1), 4);
        wr(r, 0x2c, 0, 4);
        wr(r, 0x30, (uint32_t)mq_ring(q, 2), 4);
        wr(r, 0x34, 0, 4);
        wr(r, 0x1c, 1, 2);
    }
    wr(r, 0x14, 1 | 2 | 8 | 4, 1);
}

/* MQ_REQS requests of @type on each queue, all kicked, then all waited. */
static void mq_round(Blk *r, unsigned nq, uint32_t type, uint16_t round)
{
    bool all;

    for (unsigned q = 0; q < nq; q++) {
        for (unsigned i = 0; i < MQ_REQS; i++) {
            unsigned k = q * MQ_REQS + i;
            struct { uint32_t type, reserved; uint64_t sector; } h = {
                htole32(type), 0, htole64(k * (MQ_LEN / 512)),
            };
            struct { uint64_t a; uint32_t l; uint16_t f, n; } d[3] = {
                { htole64(MQ_HDRS + 16 * k), htole32(16), htole16(1),
                  htole16(3 * i + 1) },
                { htole64(MQ_DATA + (uint64_t)MQ_LEN * k), htole32(MQ_LEN),
                  htole16(1 | (type == BLK_T_IN ? 2 : 0)),
                  htole16(3 * i + 2) },
                { htole64(MQ_STATUS + k), htole32(1), htole16(2), 0 },
            };
            uint16_t head = htole16(3 * i);

            put(r, MQ_HDRS + 16 * k, &h, sizeof(h));
            *(uint8_t *)at(r, MQ_STATUS + k) = 0xee;
            put(r, mq_ring(q, 0) + 16 * 3 * i, d, sizeof(d));
            put(r, mq_ring(q, 1) + 4 + 2 * ((round * MQ_REQS + i) % QSIZE),
                &head, 2);
        }
        uint16_t idx = htole16((round + 1) * MQ_REQS);

        put(r, mq_ring(q, 1) + 2, &idx, 2);
    }
    for (unsigned q = 0; q < nq; q++) {
        wr(r, 0x3000 + DM_VIRTIO_NOTIFY_MULT * q, q, 2);
    }
    for (int t = 0; t < 500; t++) {
        all = true;
        for (unsigned q = 0; q < nq; q++) {
            all &= le16toh(*(uint16_t *)at(r, mq_ring(q, 2) + 2)) ==
                   (uint16_t)((round + 1) * MQ_REQS);
        }
        if (all) {
            break;
        }
        rig_run_for(r->rig, 10);
    }
    assert_true(all);
    for (unsigned k = 0; k < nq * MQ_REQS; k++) {
        assert_int_equal(*(uint8_t *)at(r, MQ_STATUS + k), 0);
    }
}

/*
 * queues=1 and queues=4: writes of a pattern per request on every queue
 * at once, a flush, reads back into zeroed buffers on every queue at
 * once: each request's bytes are its own, in guest memory and the image.
 */
static void mq_integrity(unsigned nq)
{
    char extra[32];
    Blk *r;

    snprintf(extra, sizeof(extra), ",queues=%u", nq);
    r = blk_new(extra);
    mq_init(r, nq);
    for (unsigned k = 0; k < nq * MQ_REQS; k++) {
        Buf b = { MQ_DATA + (uint64_t)MQ_LEN * k, MQ_LEN };

        fill(r, &b, 1, 10 + k);
    }
    mq_round(r, nq, BLK_T_OUT, 0);
    memset(at(r, MQ_DATA), 0, (size_t)nq * MQ_REQS * MQ_LEN);
    mq_round(r, nq, BLK_T_IN, 1);
    for (unsigned k = 0; k < nq * MQ_REQS; k++) {
        Buf b = { MQ_DATA + (uint64_t)MQ_LEN * k, MQ_LEN };

        check(r, &b, 1, 10 + k);
        check_image(r, k * (MQ_LEN / 512), MQ_LEN, 10 + k);
    }
    blk_free(r);
}

static void test_queues_1(void **unused)
{
    mq_integrity(1);
}

/*
 * queues=0 (the default): the queues a driver finds when it starts are
 * one per vCPU of the client's VM, up to 4; 1 when the client does not
 * say; an explicit count stays what it is.
 */
static void test_queues_auto(void **unused)
{
    static const struct { const char *extra; unsigned vcpus, want; } t[] = {
        { "", 0, 1 }, { "", 1, 1 }, { "", 3, 3 }, { "", 8, 4 },
        { ",queues=2", 3, 2 },
    };

    for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
        Blk *r = blk_new(t[i].extra);

        r->rig->link.vcpus = t[i].vcpus;
        wr(r, 0x14, 0, 1);                      /* reset */
        wr(r, 0x14, 1, 1);                      /* ACKNOWLEDGE */
        assert_int_equal(rd(r, 0x12, 2), t[i].want);
        assert_int_equal(rd(r, 0x2000 + 34, 2), t[i].want);  /* config */
        /* Queues past the count do not exist for the driver. */
        wr(r, 0x16, t[i].want, 2);
        assert_int_equal(rd(r, 0x18, 2), 0);
        blk_free(r);
    }
}

static void test_queues_4(void **unused)
{
    mq_integrity(4);
}

/*
 * poll_us: after a kick's request the model polls the ring with kicks
 * off (NO_NOTIFY in the used ring's flags), takes a request made
 * available without a kick, and turns kicks on again once nothing came
 * for poll_us.  Only where memory is shared: copied, kicks stay on.
 */
static void test_poll(void **unused)
{
    Blk *r = blk_new(",poll_us=1000000");
    uint16_t head = htole16(0), idx;

    r->rig->link.shared = true;
    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    assert_int_equal(request(r, BLK_T_IN, 3, 512, true), 0);
    assert_int_equal(le16toh(*(uint16_t *)at(r, USED)), 1);    /* off */
    /* A request without a kick: the polling finds it. */
    *(uint8_t *)at(r, STATUS) = 0xee;
    put(r, HDR + 8, &(uint64_t){ htole64(4) }, 8);
    put(r, AVAIL + 4 + 2 * (r->avail_idx % QSIZE), &head, 2);
    idx = htole16(++r->avail_idx);
    put(r, AVAIL + 2, &idx, 2);
    wait_used(r, r->avail_idx);
    assert_int_equal(used_idx(r), r->avail_idx);
    assert_int_equal(*(uint8_t *)at(r, STATUS), 0);
    assert_int_equal(((uint8_t *)at(r, DATA))[0], 4);
    /* Nothing more: kicks come back on (bounded wait, no timing check). */
    for (int i = 0; i < 500 && *(uint16_t *)at(r, USED); i++) {
        rig_run_for(r->rig, 10);
    }
    assert_int_equal(le16toh(*(uint16_t *)at(r, USED)), 0);
    /* A reset stops the polling: a chain without a kick then waits. */
    assert_int_equal(request(r, BLK_T_IN, 5, 512, true), 0);
    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    *(uint8_t *)at(r, STATUS) = 0xee;
    put(r, AVAIL + 4, &head, 2);
    idx = htole16(++r->avail_idx);
    put(r, AVAIL + 2, &idx, 2);
    rig_run_for(r->rig, 50);
    assert_int_equal(used_idx(r), 0);
    wr(r, 0x3000, 0, 2);
    wait_used(r, 1);
    assert_int_equal(used_idx(r), 1);
    assert_int_equal(*(uint8_t *)at(r, STATUS), 0);
    blk_free(r);

    r = blk_new(",poll_us=1000000");
    r->rig->link.shared = false;
    driver_init(r, 1ULL << VIRTIO_F_VERSION_1);
    assert_int_equal(request(r, BLK_T_IN, 3, 512, true), 0);
    assert_int_equal(le16toh(*(uint16_t *)at(r, USED)), 0);    /* on */
    blk_free(r);
}

/* ---- iothread=on: queues on threads of their own ---- */

#define IOT_QUEUES  2
#define IOT_DEPTH   4           /* requests in flight per queue, 3 descs */
#define IOT_ROUNDS  400

/* Queue @q's rings, headers, statuses and data in the fake RAM. */
#define IOT_BASE(q)     (RAM_BASE + 0x10000 + (q) * 0x8000)
#define IOT_DESC(q)     (IOT_BASE(q) + 0x0000)
#define IOT_AVAIL(q)    (IOT_BASE(q) + 0x1000)
#define IOT_USED(q)     (IOT_BASE(q) + 0x2000)
#define IOT_HDR(q, k)   (IOT_BASE(q) + 0x3000 + 16 * (k))
#define IOT_STATUS(q, k) (IOT_BASE(q) + 0x3800 + (k))
#define IOT_DATA(q, k)  (IOT_BASE(q) + 0x4000 + 512 * (k))

/* What Linux does at start, with IOT_QUEUES queues on MSI-X vectors. */
static void iot_driver_init(Blk *r)
{
    wr(r, 0x14, 0, 1);
    wr(r, 0x14, 1 | 2, 1);
    wr(r, 0x08, 0, 4);
    wr(r, 0x0c, 1u << 12, 4);                   /* VIRTIO_BLK_F_MQ */
    wr(r, 0x08, 1, 4);
    wr(r, 0x0c, 1, 4);                          /* VERSION_1 */
    wr(r, 0x14, 1 | 2 | 8, 1);
    assert_true(rd(r, 0x14, 1) & 8);
    wr(r, 0x10, IOT_QUEUES, 2);                 /* config: the last vector */
    for (unsigned q = 0; q < IOT_QUEUES; q++) {
        memset(at(r, IOT_AVAIL(q)), 0, 0x1000);
        memset(at(r, IOT_USED(q)), 0, 0x1000);
        wr(r, 0x16, q, 2);
        wr(r, 0x1a, q, 2);                      /* queue q: vector q */
        wr(r, 0x20, (uint32_t)IOT_DESC(q), 4);
        wr(r, 0x24, 0, 4);
        wr(r, 0x28, (uint32_t)IOT_AVAIL(q), 4);
        wr(r, 0x2c, 0, 4);
        wr(r, 0x30, (uint32_t)IOT_USED(q), 4);
        wr(r, 0x34, 0, 4);
        wr(r, 0x1c, 1, 2);
    }
    wr(r, 0x14, 1 | 2 | 8 | 4, 1);
}

/* A guest's vCPU driving one queue: batches of reads, each checked. */
typedef struct IotSubmitter {
    Blk *r;
    unsigned q;
    int kick_fd;                /* the queue's doorbell eventfd */
    uint16_t avail_idx;
    unsigned rounds;
    unsigned done, bad;
} IotSubmitter;

static uint16_t iot_used_idx(Blk *r, unsigned q)
{
    return le16toh(__atomic_load_n((uint16_t *)at(r, IOT_USED(q) + 2),
                                   __ATOMIC_ACQUIRE));
}

/* Offer IOT_DEPTH reads of sectors from @first and kick: the used index
 * that says they are all done. */
static uint16_t iot_offer(IotSubmitter *s, unsigned first)
{
    Blk *r = s->r;
    unsigned q = s->q;
    uint64_t one = 1;

    for (unsigned k = 0; k < IOT_DEPTH; k++) {
        struct { uint32_t type, reserved; uint64_t sector; } h = {
            htole32(BLK_T_IN), 0, htole64((first + k) % IMG_SECTORS),
        };
        unsigned head = 3 * k;
        struct { uint64_t a; uint32_t l; uint16_t f, n; } d[3] = {
            { htole64(IOT_HDR(q, k)), htole32(16), htole16(1),
              htole16(head + 1) },
            { htole64(IOT_DATA(q, k)), htole32(512), htole16(1 | 2),
              htole16(head + 2) },
            { htole64(IOT_STATUS(q, k)), htole32(1), htole16(2), 0 },
        };
        uint16_t e = htole16(head);

        put(r, IOT_HDR(q, k), &h, sizeof(h));
        memset(at(r, IOT_DATA(q, k)), 0xee, 512);
        *(uint8_t *)at(r, IOT_STATUS(q, k)) = 0xee;
        put(r, IOT_DESC(q) + 16 * head, d, sizeof(d));
        put(r, IOT_AVAIL(q) + 4 + 2 * ((s->avail_idx + k) % QSIZE), &e, 2);
    }
    s->avail_idx += IOT_DEPTH;
    __atomic_store_n((uint16_t *)at(r, IOT_AVAIL(q) + 2),
                     htole16(s->avail_idx), __ATOMIC_RELEASE);
    assert_int_equal(write(s->kick_fd, &one, sizeof(one)), sizeof(one));
    return s->avail_idx;
}

/* Wait (bounded: 10 s) for the used index to reach @want. */
static bool iot_wait(Blk *r, unsigned q, uint16_t want)
{
    for (int i = 0; i < 100000; i++) {
        if (iot_used_idx(r, q) == want) {
            return true;
        }
        usleep(100);
    }
    return false;
}

static void *iot_submit(void *opaque)
{
    IotSubmitter *s = opaque;

    for (unsigned round = 0; round < s->rounds; round++) {
        unsigned first = round * IOT_DEPTH + 100 * s->q;

        if (!iot_wait(s->r, s->q, iot_offer(s, first))) {
            __atomic_fetch_add(&s->bad, 1, __ATOMIC_RELEASE);
            break;
        }
        for (unsigned k = 0; k < IOT_DEPTH; k++) {
            uint8_t want[512];

            memset(want, (first + k) % IMG_SECTORS & 0xff, sizeof(want));
            if (*(uint8_t *)at(s->r, IOT_STATUS(s->q, k)) != 0 ||
                memcmp(at(s->r, IOT_DATA(s->q, k)), want, 512)) {
                __atomic_fetch_add(&s->bad, 1, __ATOMIC_RELEASE);
            }
        }
        __atomic_fetch_add(&s->done, 1, __ATOMIC_RELEASE);
    }
    return NULL;
}

/* Has the submitter run its rounds, or stopped at a bad one? */
static bool iot_finished(IotSubmitter *s)
{
    unsigned done = __atomic_load_n(&s->done, __ATOMIC_ACQUIRE);
    unsigned bad = __atomic_load_n(&s->bad, __ATOMIC_ACQUIRE);

    return bad || done >= s->rounds;
}

/* Are all IOT_QUEUES queues' doorbells watched by their threads? */
static bool iot_threaded(Blk *r)
{
    for (unsigned q = 0; q < IOT_QUEUES; q++) {
        if (!r->dev->doorbells.bells[q].taken) {
            return false;
        }
    }
    return true;
}

/* Wire MSI-X vectors 0..IOT_QUEUES to eventfds, as a client on one host. */
static void iot_wire_msix(Blk *r, int *fds)
{
    int copies[IOT_QUEUES + 1];

    for (unsigned i = 0; i <= IOT_QUEUES; i++) {
        fds[i] = eventfd(0, EFD_NONBLOCK);
        assert_true(fds[i] >= 0);
        copies[i] = dup(fds[i]);        /* the table owns what it gets */
    }
    dm_irq_set_triggers(&r->dev->irqs, VUP_PCI_MSIX_IRQ_INDEX, 0,
                        IOT_QUEUES + 1, copies);
}

static uint64_t iot_irqs(int fd)
{
    uint64_t n = 0;

    return read(fd, &n, sizeof(n)) == sizeof(n) ? n : 0;
}

/*
 * Two queues, each driven by a thread of the test's as a vCPU would,
 * batches of reads checked for their data: served by the queues' I/O
 * threads, which stop for a DMA window's change (as the session's
 * DMA_MAP quiesces) and come back; interrupts through the MSI-X
 * eventfds; then a reset while requests are in flight, and the queues
 * threaded again after it.  Under ASan (and helgrind, docs/testing.md).
 */
static void test_iothread(void **unused)
{
    Blk *r;
    IotSubmitter sub[IOT_QUEUES];
    pthread_t tid[IOT_QUEUES];
    int irq_fds[IOT_QUEUES + 1];
    unsigned maps = 0, threaded_rounds = 0;
    bool running = true;

    r = blk_new(iothread ? ",queues=2" : ",queues=2,iothread=on");
    r->rig->link.shared = true;         /* threads need shared memory */
    iot_wire_msix(r, irq_fds);
    iot_driver_init(r);
    for (unsigned q = 0; q < IOT_QUEUES; q++) {
        sub[q] = (IotSubmitter) {
            .r = r, .q = q, .rounds = IOT_ROUNDS,
            .kick_fd = r->dev->doorbells.bells[q].fd,
        };
        assert_true(sub[q].kick_fd >= 0);
        assert_int_equal(pthread_create(&tid[q], NULL, iot_submit, &sub[q]),
                         0);
    }
    /* The loop: the first kicks, hand-offs, the threads' (re)starts. */
    for (int i = 0; running && i < 20000; i++) {
        rig_run_for(r->rig, 1);
        if (iot_threaded(r)) {
            threaded_rounds++;
        }
        /* A DMA_MAP now and then: the threads stop, the queues go on. */
        if (i % 5 == 4) {
            dm_device_dma_mapping(r->dev);
            assert_false(r->dev->doorbells.bells[0].taken);
            maps++;
        }
        running = false;
        for (unsigned q = 0; q < IOT_QUEUES; q++) {
            running |= !iot_finished(&sub[q]);
        }
    }
    for (unsigned q = 0; q < IOT_QUEUES; q++) {
        pthread_join(tid[q], NULL);
        assert_int_equal(sub[q].bad, 0);
        assert_int_equal(sub[q].done, IOT_ROUNDS);
        assert_int_equal(iot_used_idx(r, q), IOT_ROUNDS * IOT_DEPTH);
        /* Interrupts came through the eventfds (no DM_IRQ message). */
        assert_true(iot_irqs(irq_fds[q]) > 0);
    }
    assert_int_equal(r->rig->link.irqs_sent, 0);
    assert_true(maps > 0);
    assert_true(threaded_rounds > 0);

    /* The threads come back after the last change; then a reset with
     * requests in flight on both: quiesced, the threads joined. */
    for (int i = 0; i < 500 && !iot_threaded(r); i++) {
        rig_run_for(r->rig, 2);
    }
    assert_true(iot_threaded(r));
    for (unsigned q = 0; q < IOT_QUEUES; q++) {
        iot_offer(&sub[q], 7 * q);
    }
    wr(r, 0x14, 0, 1);
    assert_int_equal(rd(r, 0x14, 1), 0);
    assert_false(r->dev->doorbells.bells[0].taken);
    assert_false(r->dev->doorbells.bells[1].taken);
    rig_run_for(r->rig, 20);
    assert_false(iot_threaded(r));      /* no driver: no thread */

    /* A driver again: served, on the threads once the loop gave them. */
    iot_driver_init(r);
    for (unsigned q = 0; q < IOT_QUEUES; q++) {
        sub[q].avail_idx = 0;
        sub[q].rounds = 1;
        sub[q].done = 0;
        assert_int_equal(pthread_create(&tid[q], NULL, iot_submit, &sub[q]),
                         0);
    }
    for (int i = 0; i < 2000 && (!iot_finished(&sub[0]) ||
                                 !iot_finished(&sub[1])); i++) {
        rig_run_for(r->rig, 1);
    }
    for (unsigned q = 0; q < IOT_QUEUES; q++) {
        pthread_join(tid[q], NULL);
        assert_int_equal(sub[q].bad, 0);
        assert_int_equal(sub[q].done, 1);
    }
    for (int i = 0; i < 500 && !iot_threaded(r); i++) {
        rig_run_for(r->rig, 2);
    }
    assert_true(iot_threaded(r));
    /*
     * A read into memory the client mapped without an fd (messages): the
     * thread leaves it to the loop, which answers it; the queue gets its
     * thread back.
     */
    __atomic_store_n(&r->rig->link.unshared_from, IOT_DATA(0, 0),
                     __ATOMIC_RELEASE);
    sub[0].rounds = 1;
    sub[0].done = 0;
    assert_int_equal(pthread_create(&tid[0], NULL, iot_submit, &sub[0]), 0);
    for (int i = 0; i < 2000 && !iot_finished(&sub[0]); i++) {
        rig_run_for(r->rig, 1);
    }
    pthread_join(tid[0], NULL);
    assert_int_equal(sub[0].bad, 0);
    assert_int_equal(sub[0].done, 1);
    __atomic_store_n(&r->rig->link.unshared_from, 0, __ATOMIC_RELEASE);
    for (int i = 0; i < 500 && !iot_threaded(r); i++) {
        rig_run_for(r->rig, 2);
    }
    assert_true(iot_threaded(r));
    /* The client goes (detach quiesces): the threads end with it. */
    rig_detach(r->rig);
    assert_false(iot_threaded(r));
    for (unsigned i = 0; i <= IOT_QUEUES; i++) {
        close(irq_fds[i]);
    }
    rig_reattach(r->rig);
    blk_free(r);
}

/* poll_us on the threads: kicks off while polled, requests all served. */
static void test_iothread_poll(void **unused)
{
    Blk *r;
    IotSubmitter sub = { .q = 1, .rounds = 20 };
    int irq_fds[IOT_QUEUES + 1];
    pthread_t tid;

    r = blk_new(iothread ? ",queues=2,poll_us=2000"
                         : ",queues=2,poll_us=2000,iothread=on");
    sub.r = r;
    r->rig->link.shared = true;
    iot_wire_msix(r, irq_fds);
    iot_driver_init(r);
    sub.kick_fd = r->dev->doorbells.bells[1].fd;
    assert_int_equal(pthread_create(&tid, NULL, iot_submit, &sub), 0);
    for (int i = 0; i < 20000 && !iot_finished(&sub); i++) {
        rig_run_for(r->rig, 1);
    }
    pthread_join(tid, NULL);
    assert_int_equal(sub.bad, 0);
    assert_int_equal(sub.done, sub.rounds);
    blk_free(r);
    for (unsigned i = 0; i <= IOT_QUEUES; i++) {
        close(irq_fds[i]);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_read_write_flush),
        cmocka_unit_test(test_vm_stopped),
        cmocka_unit_test(test_errors),
        cmocka_unit_test(test_readonly),
        cmocka_unit_test(test_range_errors),
        cmocka_unit_test(test_broken_ring),
        cmocka_unit_test(test_pci_cfg_window),
        cmocka_unit_test(test_features),
        cmocka_unit_test(test_lock),
        cmocka_unit_test(test_lock_wait),
        cmocka_unit_test(test_malformed_rings),
        cmocka_unit_test(test_huge_descriptor),
        cmocka_unit_test(test_multiqueue),
        cmocka_unit_test(test_doorbells),
        cmocka_unit_test(test_restart_in_flight),
        cmocka_unit_test(test_restart_after_used_index),
        cmocka_unit_test(test_restart_lost_push),
        cmocka_unit_test(test_restart_bad_used_index),
        cmocka_unit_test(test_restart_other_queues),
        cmocka_unit_test(test_zero_copy),
        cmocka_unit_test(test_cache_none),
        cmocka_unit_test(test_inline_writes),
        cmocka_unit_test(test_event_idx),
        cmocka_unit_test(test_irq_delay),
        cmocka_unit_test(test_irq_delay_auto),
        cmocka_unit_test(test_irq_delay_grows),
        cmocka_unit_test(test_queues_1),
        cmocka_unit_test(test_queues_auto),
        cmocka_unit_test(test_queues_4),
        cmocka_unit_test(test_poll),
        cmocka_unit_test(test_inline_slow),
        cmocka_unit_test(test_iothread),
        cmocka_unit_test(test_iothread_poll),
    };

    size_t n = sizeof(tests) / sizeof(tests[0]);
    const char *io = getenv("DM_BLK_IO");

    shared_memory = getenv("BLK_TEST_SHARED") != NULL;
    iothread = getenv("BLK_TEST_IOTHREAD") != NULL;
    /* The last three need io_uring (I/O threads need its completions). */
    if (io && !strcmp(io, "threads")) {
        n -= 3;
    }
    /* Some tests only (a glob), e.g. under helgrind: BLK_TEST_ONLY. */
    if (getenv("BLK_TEST_ONLY")) {
        cmocka_set_test_filter(getenv("BLK_TEST_ONLY"));
    }
    return _cmocka_run_group_tests("tests", tests, n, NULL, NULL);
}
