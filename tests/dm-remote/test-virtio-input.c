/*
 * virtio-keyboard and virtio-tablet in-process, driven the way Linux's
 * virtio_input drives them: the identity, every config select/subsel
 * question, events written to the input link's socket coming out of
 * the eventq in order with their SYN_REPORT, hostile link records
 * (unknown codes, values out of range, bad SYN, a short record, a
 * batch too long, a flood) dropped and counted, events waiting in the
 * bounded queue until the guest posts buffers, a new client replacing
 * the old, LED writes on the statusq, and chains that break the rules.
 * The split rings are in the rig's fake guest RAM; the link's socket
 * is real, on the loop the rig runs.  The counters are read from the
 * model's SIGUSR1 dump (its log on stderr).
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
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <cmocka.h>

#include "model-rig.h"
#include "pci.h"
#include "../../dm-remote/virtio/virtio-pci.h"

#define BAR4        (VUP_PCI_BAR0_REGION_INDEX + DM_VIRTIO_BAR)
#define QSIZE       64
#define EVQ         0
#define STQ         1
#define Q_DESC(q)   (RIG_RAM_BASE + (q) * 0x1000)
#define Q_AVAIL(q)  (Q_DESC(q) + 0x400)
#define Q_USED(q)   (Q_DESC(q) + 0x800)
#define EVBUF(i)    (RIG_RAM_BASE + 0x10000 + (i) * 0x10)
#define STBUF(i)    (RIG_RAM_BASE + 0x20000 + (i) * 0x10)
#define CFG         0x2000

#define EV_SYN      0
#define EV_KEY      1
#define EV_REL      2
#define EV_ABS      3
#define EV_LED      0x11
#define EV_REP      0x14
#define BTN_LEFT    0x110
#define BTN_RIGHT   0x111
#define BTN_MIDDLE  0x112
#define REL_WHEEL   8
#define KEY_A       30

typedef struct Ev {
    uint16_t type, code;
    uint32_t value;
} Ev;

typedef struct In {
    Rig *rig;
    char dir[64], path[128];
    uint16_t avail[2];
    unsigned next_desc[2];
    uint16_t seen[2];
} In;

/* ---- The driver ---- */

static uint32_t rd(In *k, uint64_t off, unsigned size)
{
    return rig_read(k->rig, BAR4, off, size);
}

static void wr(In *k, uint64_t off, uint32_t v, unsigned size)
{
    rig_write(k->rig, BAR4, off, v, size);
}

static void *at(In *k, uint64_t addr)
{
    return rig_ram(k->rig, addr);
}

/* @model with the input link in a directory of its own. */
static In *in_new(const char *model, const char *extra)
{
    In *k = calloc(1, sizeof(*k));
    char spec[256];

    strcpy(k->dir, "/tmp/test-virtio-input-XXXXXX");
    assert_non_null(mkdtemp(k->dir));
    snprintf(k->path, sizeof(k->path), "%s/input.sock", k->dir);
    snprintf(spec, sizeof(spec), "%s,input=unix:%s%s", model, k->path,
             extra);
    k->rig = rig_new(spec);
    return k;
}

/* "dm-remote serve --state-file=@state" of @model, link at @k's path. */
static Rig *rig_state(In *k, const char *model, const char *state)
{
    char spec[256];

    snprintf(spec, sizeof(spec), "%s,input=unix:%s", model, k->path);
    return rig_new_state(spec, state);
}

static void in_free(In *k)
{
    struct stat sb;

    rig_free(k->rig);
    /* The model removes its socket. */
    assert_int_equal(stat(k->path, &sb), -1);
    rmdir(k->dir);
    free(k);
}

static bool needs_reset(In *k)
{
    return rd(k, 0x14, 1) & VIRTIO_STATUS_NEEDS_RESET;
}

static uint64_t offered(In *k)
{
    uint64_t f;

    wr(k, 0x00, 0, 4);
    f = rd(k, 0x04, 4);
    wr(k, 0x00, 1, 4);
    return f | (uint64_t)rd(k, 0x04, 4) << 32;
}

static void driver_init(In *k)
{
    wr(k, 0x14, 0, 1);
    wr(k, 0x14, 1 | 2, 1);
    wr(k, 0x08, 0, 4);
    wr(k, 0x0c, 0, 4);
    wr(k, 0x08, 1, 4);
    wr(k, 0x0c, 1, 4);                  /* VERSION_1 */
    wr(k, 0x14, 1 | 2 | 8, 1);
    assert_true(rd(k, 0x14, 1) & 8);
    assert_int_equal(rd(k, 0x12, 2), 2);
    for (unsigned q = 0; q < 2; q++) {
        memset(at(k, Q_DESC(q)), 0, 0x1000);
        wr(k, 0x16, q, 2);
        assert_int_equal(rd(k, 0x18, 2), QSIZE);
        wr(k, 0x20, (uint32_t)Q_DESC(q), 4);
        wr(k, 0x24, 0, 4);
        wr(k, 0x28, (uint32_t)Q_AVAIL(q), 4);
        wr(k, 0x2c, 0, 4);
        wr(k, 0x30, (uint32_t)Q_USED(q), 4);
        wr(k, 0x34, 0, 4);
        wr(k, 0x1c, 1, 2);
        k->avail[q] = k->seen[q] = 0;
        k->next_desc[q] = 0;
    }
    wr(k, 0x14, 1 | 2 | 8 | 4, 1);
}

static void desc(In *k, unsigned q, unsigned i, uint64_t addr, uint32_t len,
                 uint16_t flags)
{
    struct { uint64_t a; uint32_t l; uint16_t f, n; } d = {
        htole64(addr), htole32(len), htole16(flags), 0,
    };

    memcpy(at(k, Q_DESC(q) + 16 * i), &d, sizeof(d));
}

static void offer(In *k, unsigned q, uint16_t head)
{
    uint16_t h = htole16(head), idx;

    memcpy(at(k, Q_AVAIL(q) + 4 + 2 * (k->avail[q] % QSIZE)), &h, 2);
    idx = htole16(++k->avail[q]);
    memcpy(at(k, Q_AVAIL(q) + 2), &idx, 2);
}

static void kick(In *k, unsigned q)
{
    wr(k, 0x3000 + 4 * q, q, 2);
}

static uint16_t used_idx(In *k, unsigned q)
{
    return le16toh(*(uint16_t *)at(k, Q_USED(q) + 2));
}

/* @n eventq buffers of @len bytes (write-only), one kick. */
static void ev_offer(In *k, unsigned n, uint32_t len, uint16_t flags)
{
    for (unsigned i = 0; i < n; i++) {
        unsigned d = k->next_desc[EVQ]++ % QSIZE;

        memset(at(k, EVBUF(d)), 0xee, 0x10);
        desc(k, EVQ, d, EVBUF(d), len, flags);
        offer(k, EVQ, d);
    }
    kick(k, EVQ);
}

static bool wait_used(In *k, unsigned q, uint16_t want)
{
    for (int i = 0; i < 500 && used_idx(k, q) != want && !needs_reset(k);
         i++) {
        rig_run_for(k->rig, 10);
    }
    return used_idx(k, q) == want;
}

/* The next event the device gave, as the driver reads it. */
static Ev next_event(In *k)
{
    uint16_t i = k->seen[EVQ]++;
    uint32_t *u = at(k, Q_USED(EVQ) + 4 + 8 * (i % QSIZE));
    uint32_t head = le32toh(u[0]);
    uint8_t *b = at(k, EVBUF(head));
    Ev e;

    assert_int_equal(le32toh(u[1]), 8);
    memcpy(&e, b, 8);
    e.type = le16toh(e.type);
    e.code = le16toh(e.code);
    e.value = le32toh(e.value);
    return e;
}

static void expect_event(In *k, uint16_t type, uint16_t code, int32_t value)
{
    Ev e = next_event(k);

    if (e.type != type || e.code != code || e.value != (uint32_t)value) {
        fail_msg("event %u: got %u/%u/%d, want %u/%u/%d", k->seen[EVQ] - 1,
                 e.type, e.code, (int32_t)e.value, type, code, value);
    }
}

/* ---- The link's client ---- */

static int link_connect(In *k)
{
    struct sockaddr_un sa = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    assert_true(fd >= 0);
    strcpy(sa.sun_path, k->path);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    rig_run_for(k->rig, 20);            /* accepted */
    return fd;
}

/* A record: 8, or -1 once the model closed this client. */
static ssize_t try_rec(int fd, uint16_t type, uint16_t code, int32_t value)
{
    struct { uint16_t t, c; uint32_t v; } r = {
        htole16(type), htole16(code), htole32((uint32_t)value),
    };

    return send(fd, &r, 8, MSG_NOSIGNAL);
}

static void send_rec(int fd, uint16_t type, uint16_t code, int32_t value)
{
    assert_int_equal(try_rec(fd, type, code, value), 8);
}

static void send_syn(int fd)
{
    send_rec(fd, EV_SYN, 0, 0);
}

/* The model's dump (SIGUSR1), as logged: a string to look into. */
static char *dump_text(In *k)
{
    char tmpl[] = "/tmp/test-virtio-input-log-XXXXXX";
    int fd = mkstemp(tmpl), saved = dup(2);
    char *buf = calloc(1, 65536);

    assert_true(fd >= 0 && saved >= 0);
    unlink(tmpl);
    fflush(stderr);
    dup2(fd, 2);
    k->rig->dev.model->dump(&k->rig->dev);
    fflush(stderr);
    dup2(saved, 2);
    close(saved);
    assert_true(pread(fd, buf, 65535, 0) > 0);
    close(fd);
    return buf;
}

static void expect_in_dump(In *k, const char *what)
{
    char *t = dump_text(k);

    if (!strstr(t, what)) {
        fail_msg("'%s' not in the dump:\n%s", what, t);
    }
    free(t);
}

/* ---- Config space: select/subsel questions ---- */

static unsigned ask(In *k, uint8_t select, uint8_t subsel)
{
    wr(k, CFG + 0, select, 1);
    wr(k, CFG + 1, subsel, 1);
    assert_int_equal(rd(k, CFG + 0, 1), select);
    assert_int_equal(rd(k, CFG + 1, 1), subsel);
    return rd(k, CFG + 2, 1);
}

static bool cfg_bit(In *k, unsigned bit)
{
    return rd(k, CFG + 8 + bit / 8, 1) & (1u << (bit % 8));
}

static void cfg_string(In *k, unsigned size, char *out)
{
    for (unsigned i = 0; i < size; i++) {
        out[i] = rd(k, CFG + 8 + i, 1);
    }
    out[size] = 0;
}

/* A size-0 answer leaves nothing behind from an earlier one. */
static void expect_none(In *k, uint8_t select, uint8_t subsel)
{
    if (ask(k, select, subsel) != 0) {
        fail_msg("select 0x%x subsel 0x%x: size %u, want 0", select, subsel,
                 rd(k, CFG + 2, 1));
    }
    for (unsigned i = 0; i < 128; i += 4) {
        assert_int_equal(rd(k, CFG + 8 + i, 4), 0);
    }
}

static void test_identity(void **unused)
{
    In *k = in_new("virtio-keyboard", "");
    DmPci *pci = dm_device_pci(&k->rig->dev);
    struct stat sb;

    assert_int_equal(dm_pci_get_word(pci, 0x00), 0x1af4);
    assert_int_equal(dm_pci_get_word(pci, 0x02), 0x1052);
    assert_int_equal(dm_pci_get_word(pci, 0x0a), 0x0980);
    /* No feature bits of its own: VERSION_1 and the transport's. */
    assert_int_equal(offered(k) & 0xffffffULL, 0);
    assert_true(offered(k) & (1ULL << VIRTIO_F_VERSION_1));
    /* The link's socket is the owner's only. */
    assert_int_equal(stat(k->path, &sb), 0);
    assert_true(S_ISSOCK(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0600);
    driver_init(k);
    assert_false(needs_reset(k));
    in_free(k);
}

static void test_config_keyboard(void **unused)
{
    In *k = in_new("virtio-keyboard", ",serial=kbd-7");
    char s[129];
    unsigned n;

    n = ask(k, 0x01, 0);                        /* ID_NAME */
    assert_true(n > 0 && n <= 128);
    cfg_string(k, n, s);
    assert_string_equal(s, "dm-remote virtio keyboard");
    expect_none(k, 0x01, 1);
    assert_int_equal(ask(k, 0x02, 0), 5);       /* ID_SERIAL */
    cfg_string(k, 5, s);
    assert_string_equal(s, "kbd-7");
    expect_none(k, 0x02, 1);
    assert_int_equal(ask(k, 0x03, 0), 8);       /* ID_DEVIDS */
    assert_int_equal(rd(k, CFG + 8, 2), 0x06);  /* BUS_VIRTUAL */
    assert_int_equal(rd(k, CFG + 10, 2), 0x1af4);
    assert_int_equal(rd(k, CFG + 12, 2), 0x0001);
    expect_none(k, 0x03, 1);
    expect_none(k, 0x10, 0);                    /* PROP_BITS: none */
    /* EV_BITS EV_KEY: KEY_* 1..248, so 32 bytes. */
    assert_int_equal(ask(k, 0x11, EV_KEY), 32);
    assert_false(cfg_bit(k, 0));
    assert_true(cfg_bit(k, 1));
    assert_true(cfg_bit(k, KEY_A));
    assert_true(cfg_bit(k, 248));
    assert_int_equal(ask(k, 0x11, EV_LED), 1);
    assert_int_equal(rd(k, CFG + 8, 1), 0x07);  /* num, caps, scroll */
    assert_true(ask(k, 0x11, EV_REP) > 0);
    expect_none(k, 0x11, EV_SYN);
    expect_none(k, 0x11, EV_REL);
    expect_none(k, 0x11, EV_ABS);
    expect_none(k, 0x11, 0x20);                 /* beyond EV_MAX */
    expect_none(k, 0x11, 0xff);
    expect_none(k, 0x12, 0);                    /* no axes */
    expect_none(k, 0x00, 0);                    /* UNSET */
    expect_none(k, 0x04, 0);
    expect_none(k, 0x13, 0);
    expect_none(k, 0xff, 0xff);
    /* The answer's bytes are the device's: the driver cannot set them. */
    ask(k, 0x01, 0);
    wr(k, CFG + 2, 0x7f, 1);
    wr(k, CFG + 8, 0x41414141, 4);
    cfg_string(k, 4, s);
    assert_string_equal(s, "dm-r");
    assert_int_equal(rd(k, CFG + 2, 1), strlen("dm-remote virtio keyboard"));
    in_free(k);
}

static void test_config_tablet(void **unused)
{
    In *k = in_new("virtio-tablet", "");
    char s[129];
    unsigned n;

    assert_int_equal(dm_pci_get_word(dm_device_pci(&k->rig->dev), 0x02),
                     0x1052);
    n = ask(k, 0x01, 0);
    cfg_string(k, n, s);
    assert_string_equal(s, "dm-remote virtio tablet");
    expect_none(k, 0x02, 0);                    /* no serial= */
    assert_int_equal(ask(k, 0x03, 0), 8);
    assert_int_equal(rd(k, CFG + 12, 2), 0x0003);
    /* Three buttons: BTN_LEFT..BTN_MIDDLE, bytes up to 0x112 / 8. */
    assert_int_equal(ask(k, 0x11, EV_KEY), 35);
    assert_true(cfg_bit(k, BTN_LEFT));
    assert_true(cfg_bit(k, BTN_RIGHT));
    assert_true(cfg_bit(k, BTN_MIDDLE));
    assert_false(cfg_bit(k, KEY_A));
    assert_false(cfg_bit(k, 0x113));
    assert_int_equal(ask(k, 0x11, EV_REL), 2);
    assert_true(cfg_bit(k, REL_WHEEL));
    assert_int_equal(rd(k, CFG + 8, 1), 0);     /* no REL_X, REL_Y */
    assert_int_equal(ask(k, 0x11, EV_ABS), 1);
    assert_int_equal(rd(k, CFG + 8, 1), 0x03);  /* ABS_X, ABS_Y */
    expect_none(k, 0x11, EV_LED);
    expect_none(k, 0x11, EV_REP);
    for (unsigned axis = 0; axis < 2; axis++) {
        assert_int_equal(ask(k, 0x12, axis), 20);
        assert_int_equal(rd(k, CFG + 8, 4), 0);         /* min */
        assert_int_equal(rd(k, CFG + 12, 4), 32767);    /* max */
        assert_int_equal(rd(k, CFG + 16, 4), 0);        /* fuzz */
        assert_int_equal(rd(k, CFG + 20, 4), 0);        /* flat */
        assert_int_equal(rd(k, CFG + 24, 4), 0);        /* res */
    }
    expect_none(k, 0x12, 2);
    expect_none(k, 0x12, 0x3f);
    expect_none(k, 0x12, 0xff);
    expect_none(k, 0x10, 0);
    in_free(k);
}

/* ---- Events ---- */

static void test_tablet_events(void **unused)
{
    In *k = in_new("virtio-tablet", "");
    int c;

    driver_init(k);
    ev_offer(k, 32, 8, 2);
    c = link_connect(k);
    send_rec(c, EV_ABS, 0, 100);
    send_rec(c, EV_ABS, 1, 32767);
    send_rec(c, EV_KEY, BTN_LEFT, 1);
    send_syn(c);
    send_rec(c, EV_KEY, BTN_LEFT, 0);
    send_rec(c, EV_REL, REL_WHEEL, -1);
    send_syn(c);
    assert_true(wait_used(k, EVQ, 7));
    expect_event(k, EV_ABS, 0, 100);
    expect_event(k, EV_ABS, 1, 32767);
    expect_event(k, EV_KEY, BTN_LEFT, 1);
    expect_event(k, EV_SYN, 0, 0);
    expect_event(k, EV_KEY, BTN_LEFT, 0);
    expect_event(k, EV_REL, REL_WHEEL, -1);
    expect_event(k, EV_SYN, 0, 0);
    assert_false(needs_reset(k));
    expect_in_dump(k, "5 records in 2 batches, 7 events to the guest");
    close(c);
    in_free(k);
}

static void test_keyboard_events(void **unused)
{
    In *k = in_new("virtio-keyboard", "");
    int c;

    driver_init(k);
    ev_offer(k, 8, 8, 2);
    c = link_connect(k);
    send_rec(c, EV_KEY, KEY_A, 1);
    send_syn(c);
    send_rec(c, EV_KEY, KEY_A, 2);              /* a repeat */
    send_syn(c);
    send_rec(c, EV_KEY, KEY_A, 0);
    send_rec(c, EV_KEY, 248, 1);
    send_syn(c);
    assert_true(wait_used(k, EVQ, 7));
    expect_event(k, EV_KEY, KEY_A, 1);
    expect_event(k, EV_SYN, 0, 0);
    expect_event(k, EV_KEY, KEY_A, 2);
    expect_event(k, EV_SYN, 0, 0);
    expect_event(k, EV_KEY, KEY_A, 0);
    expect_event(k, EV_KEY, 248, 1);
    expect_event(k, EV_SYN, 0, 0);
    close(c);
    in_free(k);
}

/* Records that break the link's rules go; the good ones around them stay. */
static void test_hostile_records(void **unused)
{
    In *k = in_new("virtio-tablet", "");
    int c;

    driver_init(k);
    ev_offer(k, 16, 8, 2);
    c = link_connect(k);
    send_rec(c, EV_ABS, 0, 5);
    send_rec(c, EV_ABS, 2, 5);                  /* ABS_Z: not advertised */
    send_rec(c, EV_KEY, KEY_A, 1);              /* a key on a tablet */
    send_rec(c, EV_LED, 0, 1);                  /* the guest's business */
    send_rec(c, 0x30, 0, 0);                    /* no such type */
    send_rec(c, 0xffff, 0xffff, -1);
    send_rec(c, EV_KEY, 0x113, 1);              /* a fourth button */
    send_rec(c, EV_ABS, 0, 32768);              /* out of range */
    send_rec(c, EV_ABS, 1, -1);
    send_rec(c, EV_KEY, BTN_LEFT, 3);           /* not 0, 1 or 2 */
    send_rec(c, EV_SYN, 1, 0);                  /* SYN_CONFIG */
    send_rec(c, EV_SYN, 0, 7);                  /* SYN_REPORT, value 7 */
    send_rec(c, EV_ABS, 1, 6);
    send_syn(c);
    send_syn(c);                                /* empty: nothing */
    assert_true(wait_used(k, EVQ, 3));
    expect_event(k, EV_ABS, 0, 5);
    expect_event(k, EV_ABS, 1, 6);
    expect_event(k, EV_SYN, 0, 0);
    rig_run_for(k->rig, 50);
    assert_int_equal(used_idx(k, EVQ), 3);
    assert_false(needs_reset(k));
    expect_in_dump(k, "dropped: 6 unknown, 3 out of range, 2 bad SYN, "
                   "0 short");
    /* A record cut by the client's going: counted, not queued. */
    send_rec(c, EV_ABS, 0, 9);
    assert_int_equal(write(c, "\x03\x00\x00", 3), 3);
    close(c);
    rig_run_for(k->rig, 50);
    assert_int_equal(used_idx(k, EVQ), 3);
    expect_in_dump(k, "1 short");
    expect_in_dump(k, "no client");
    in_free(k);
}

/* No buffers: events wait, bounded; the oldest whole batches go. */
static void test_flood(void **unused)
{
    In *k = in_new("virtio-tablet", ",queue=16");
    int c;

    driver_init(k);
    c = link_connect(k);
    for (int i = 0; i < 10; i++) {
        send_rec(c, EV_ABS, 0, i);
        send_syn(c);
    }
    /* A batch longer than the queue can never go whole: dropped. */
    for (int i = 0; i < 20; i++) {
        send_rec(c, EV_ABS, 1, i);
    }
    send_syn(c);
    rig_run_for(k->rig, 100);
    assert_int_equal(used_idx(k, EVQ), 0);
    expect_in_dump(k, "16 events queued (at most 16");
    expect_in_dump(k, "1 batches too long, 2 batches on a full queue");
    /* The newest eight batches, in order, once buffers come. */
    ev_offer(k, 32, 8, 2);
    assert_true(wait_used(k, EVQ, 16));
    for (int i = 2; i < 10; i++) {
        expect_event(k, EV_ABS, 0, i);
        expect_event(k, EV_SYN, 0, 0);
    }
    /* And the link goes on after the long batch. */
    send_rec(c, EV_ABS, 1, 77);
    send_syn(c);
    assert_true(wait_used(k, EVQ, 18));
    expect_event(k, EV_ABS, 1, 77);
    expect_event(k, EV_SYN, 0, 0);
    close(c);
    in_free(k);
}

/* A full eventq holds the rest of a batch until the next buffers. */
static void test_eventq_full(void **unused)
{
    In *k = in_new("virtio-tablet", ",queue=16");
    int c;

    driver_init(k);
    ev_offer(k, 2, 8, 2);
    c = link_connect(k);
    send_rec(c, EV_ABS, 0, 1);
    send_rec(c, EV_ABS, 1, 2);
    send_syn(c);
    assert_true(wait_used(k, EVQ, 2));
    rig_run_for(k->rig, 50);
    assert_int_equal(used_idx(k, EVQ), 2);
    expect_event(k, EV_ABS, 0, 1);
    expect_event(k, EV_ABS, 1, 2);
    /*
     * Meanwhile a flood: the batch begun is not dropped whole, its
     * SYN_REPORT stays so the guest ends it, then the newest batches.
     */
    for (int i = 0; i < 12; i++) {
        send_rec(c, EV_KEY, BTN_RIGHT, i & 1);
        send_syn(c);
    }
    rig_run_for(k->rig, 100);
    assert_int_equal(used_idx(k, EVQ), 2);
    ev_offer(k, 40, 8, 2);
    assert_true(wait_used(k, EVQ, 2 + 1 + 14));
    expect_event(k, EV_SYN, 0, 0);
    for (int i = 5; i < 12; i++) {
        expect_event(k, EV_KEY, BTN_RIGHT, i & 1);
        expect_event(k, EV_SYN, 0, 0);
    }
    close(c);
    in_free(k);
}

/*
 * A batch the guest began (one buffer for three events): when the queue
 * overflows, its rest goes but its SYN_REPORT stays, so the guest ends
 * the frame it began; then the newest batches.
 */
static void test_overflow_begun_batch(void **unused)
{
    In *k = in_new("virtio-tablet", ",queue=16");
    int c;

    driver_init(k);
    ev_offer(k, 1, 8, 2);
    c = link_connect(k);
    send_rec(c, EV_ABS, 0, 1);
    send_rec(c, EV_ABS, 1, 2);
    send_rec(c, EV_KEY, BTN_LEFT, 1);
    send_syn(c);
    assert_true(wait_used(k, EVQ, 1));
    expect_event(k, EV_ABS, 0, 1);
    for (int i = 0; i < 7; i++) {
        send_rec(c, EV_REL, REL_WHEEL, i + 1);
        send_syn(c);
    }
    rig_run_for(k->rig, 100);
    /* 3 left of the first + 14 > 16: ABS_Y and the button go. */
    expect_in_dump(k, "15 events queued (at most 16, 1 of the first "
                   "batch taken)");
    expect_in_dump(k, "1 batches on a full queue");
    ev_offer(k, 20, 8, 2);
    assert_true(wait_used(k, EVQ, 1 + 15));
    expect_event(k, EV_SYN, 0, 0);
    for (int i = 0; i < 7; i++) {
        expect_event(k, EV_REL, REL_WHEEL, i + 1);
        expect_event(k, EV_SYN, 0, 0);
    }
    close(c);
    in_free(k);
}

/* One client at a time: the new one replaces the old, its half batch too. */
static void test_new_client(void **unused)
{
    In *k = in_new("virtio-keyboard", "");
    int c1, c2;

    driver_init(k);
    ev_offer(k, 8, 8, 2);
    c1 = link_connect(k);
    send_rec(c1, EV_KEY, 2, 1);                 /* no SYN_REPORT yet */
    rig_run_for(k->rig, 20);
    c2 = link_connect(k);
    send_rec(c2, EV_KEY, 3, 1);
    send_syn(c2);
    try_rec(c1, EV_KEY, 4, 1);                  /* the old one: unheard */
    try_rec(c1, EV_SYN, 0, 0);
    assert_true(wait_used(k, EVQ, 2));
    rig_run_for(k->rig, 50);
    assert_int_equal(used_idx(k, EVQ), 2);
    expect_event(k, EV_KEY, 3, 1);
    expect_event(k, EV_SYN, 0, 0);
    expect_in_dump(k, "2 clients (1 replaced)");
    close(c1);
    close(c2);
    in_free(k);
}

/* The LEDs come on the statusq: read, kept, logged; nothing broken. */
static void test_statusq_leds(void **unused)
{
    In *k = in_new("virtio-keyboard", "");
    struct { uint16_t t, c; uint32_t v; } led[3] = {
        { htole16(EV_LED), htole16(1), htole32(1) },    /* caps on */
        { htole16(EV_LED), htole16(0), htole32(1) },    /* num on */
        { htole16(EV_LED), htole16(1), htole32(0) },    /* caps off */
    };

    driver_init(k);
    for (unsigned i = 0; i < 3; i++) {
        memcpy(at(k, STBUF(i)), &led[i], 8);
        desc(k, STQ, i, STBUF(i), 8, 0);
        offer(k, STQ, i);
    }
    kick(k, STQ);
    assert_true(wait_used(k, STQ, 3));
    assert_false(needs_reset(k));
    expect_in_dump(k, "LEDs 0x1 after 3 status events");
    in_free(k);
}

/* Chains that break the rules: the device needs a reset, nothing else. */
static void test_malformed(void **unused)
{
    In *k;
    int c;

    /* An eventq buffer the device could only read. */
    k = in_new("virtio-tablet", "");
    driver_init(k);
    ev_offer(k, 1, 8, 0);
    c = link_connect(k);
    send_rec(c, EV_ABS, 0, 1);
    send_syn(c);
    for (int i = 0; i < 50 && !needs_reset(k); i++) {
        rig_run_for(k->rig, 10);
    }
    assert_true(needs_reset(k));
    assert_int_equal(used_idx(k, EVQ), 0);
    close(c);
    in_free(k);

    /* Too short for an event. */
    k = in_new("virtio-tablet", "");
    driver_init(k);
    ev_offer(k, 1, 4, 2);
    c = link_connect(k);
    send_rec(c, EV_ABS, 0, 1);
    send_syn(c);
    for (int i = 0; i < 50 && !needs_reset(k); i++) {
        rig_run_for(k->rig, 10);
    }
    assert_true(needs_reset(k));
    close(c);
    in_free(k);

    /* Outside guest memory. */
    k = in_new("virtio-tablet", "");
    driver_init(k);
    desc(k, EVQ, 0, 0x7fff0000, 8, 2);
    offer(k, EVQ, 0);
    kick(k, EVQ);
    c = link_connect(k);
    send_rec(c, EV_ABS, 0, 1);
    send_syn(c);
    for (int i = 0; i < 50 && !needs_reset(k); i++) {
        rig_run_for(k->rig, 10);
    }
    assert_true(needs_reset(k));
    close(c);
    in_free(k);

    /* A status of 4 bytes, and one the device would have to write. */
    for (int bad = 0; bad < 2; bad++) {
        k = in_new("virtio-keyboard", "");
        driver_init(k);
        desc(k, STQ, 0, STBUF(0), bad ? 8 : 4, bad ? 2 : 0);
        offer(k, STQ, 0);
        kick(k, STQ);
        assert_true(needs_reset(k));
        assert_int_equal(used_idx(k, STQ), 0);
        in_free(k);
    }

    /* A head beyond the ring. */
    k = in_new("virtio-keyboard", "");
    driver_init(k);
    offer(k, STQ, QSIZE + 3);
    kick(k, STQ);
    assert_true(needs_reset(k));
    in_free(k);
}

/* A reset forgets what waited: a rebooted guest gets no stale keys. */
static void test_reset_flushes(void **unused)
{
    In *k = in_new("virtio-keyboard", "");
    int c;

    driver_init(k);
    c = link_connect(k);
    send_rec(c, EV_KEY, KEY_A, 1);
    send_syn(c);
    rig_run_for(k->rig, 50);
    expect_in_dump(k, "2 events queued");
    driver_init(k);
    expect_in_dump(k, "0 events queued");
    expect_in_dump(k, "1 at a reset");
    ev_offer(k, 4, 8, 2);
    send_rec(c, EV_KEY, KEY_A, 0);
    send_syn(c);
    assert_true(wait_used(k, EVQ, 2));
    expect_event(k, EV_KEY, KEY_A, 0);
    close(c);
    in_free(k);
}

/*
 * Killed and started again with its state file (as a copy taken before
 * the process goes, the way virtio-net's test does): the driver's set-up
 * and the LEDs come back, the eventq goes on where it was, and a new
 * client of the link (the old connection died with the process) is
 * heard.
 */
static void test_restart(void **unused)
{
    In *k = in_new("virtio-keyboard", "");
    static uint8_t ram[RIG_RAM_SIZE];
    struct { uint16_t t, c; uint32_t v; } led = {
        htole16(EV_LED), htole16(1), htole32(1),
    };
    char a[96], b[96], cmd[512], err[256];
    int c;

    /* The first rig is only a stand-in for its path: replaced. */
    rig_free(k->rig);
    snprintf(a, sizeof(a), "%s/a.state", k->dir);
    snprintf(b, sizeof(b), "%s/b.state", k->dir);
    k->rig = rig_state(k, "virtio-keyboard", a);
    driver_init(k);
    ev_offer(k, 8, 8, 2);
    memcpy(at(k, STBUF(0)), &led, 8);
    desc(k, STQ, 0, STBUF(0), 8, 0);
    offer(k, STQ, 0);
    kick(k, STQ);
    assert_true(wait_used(k, STQ, 1));
    c = link_connect(k);
    send_rec(c, EV_KEY, KEY_A, 1);
    send_syn(c);
    assert_true(wait_used(k, EVQ, 2));
    expect_event(k, EV_KEY, KEY_A, 1);
    expect_event(k, EV_SYN, 0, 0);
    snprintf(cmd, sizeof(cmd), "cp %s %s && cp %s.mem %s.mem", a, b, a, b);
    assert_int_equal(system(cmd), 0);
    memcpy(ram, k->rig->link.ram, RIG_RAM_SIZE);
    rig_free(k->rig);
    close(c);

    k->rig = rig_state(k, "virtio-keyboard", b);
    assert_int_equal(dm_device_load_file(&k->rig->dev, b, err, sizeof(err)),
                     0);
    memcpy(k->rig->link.ram, ram, RIG_RAM_SIZE);
    assert_int_equal(rd(k, 0x14, 1), 1 | 2 | 8 | 4);    /* DRIVER_OK */
    dm_device_irqs_changed(&k->rig->dev);               /* the client */
    expect_in_dump(k, "LEDs 0x2");
    c = link_connect(k);
    send_rec(c, EV_KEY, KEY_A, 0);
    send_syn(c);
    assert_true(wait_used(k, EVQ, 4));
    expect_event(k, EV_KEY, KEY_A, 0);
    expect_event(k, EV_SYN, 0, 0);
    assert_false(needs_reset(k));
    close(c);
    snprintf(cmd, sizeof(cmd), "rm -f %s %s %s.mem %s.mem", a, b, a, b);
    assert_int_equal(system(cmd), 0);
    in_free(k);
}

static void test_bad_properties(void **unused)
{
    static const char *bad[] = {
        ",input=tcp:127.0.0.1:5900",
        ",input=/tmp/x",
        ",input=unix:",
        ",queue=8",
        ",queue=70000",
    };

    for (unsigned i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        char err[256], spec[128];
        char *name;
        DmPropList list;
        const DmModel *m = dm_model_find("virtio-tablet");

        snprintf(spec, sizeof(spec), "virtio-tablet%s", bad[i]);
        assert_int_equal(dm_props_split(spec, &name, &list, err,
                                        sizeof(err)), 0);
        if (dm_props_apply(m->props, &list, NULL, err, sizeof(err)) >= 0) {
            fail_msg("%s taken", bad[i]);
        }
        dm_props_free(&list);
        free(name);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_identity),
        cmocka_unit_test(test_config_keyboard),
        cmocka_unit_test(test_config_tablet),
        cmocka_unit_test(test_tablet_events),
        cmocka_unit_test(test_keyboard_events),
        cmocka_unit_test(test_hostile_records),
        cmocka_unit_test(test_flood),
        cmocka_unit_test(test_eventq_full),
        cmocka_unit_test(test_overflow_begun_batch),
        cmocka_unit_test(test_new_client),
        cmocka_unit_test(test_statusq_leds),
        cmocka_unit_test(test_malformed),
        cmocka_unit_test(test_reset_flushes),
        cmocka_unit_test(test_restart),
        cmocka_unit_test(test_bad_properties),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
