/*
 * Split virtqueues (dm-remote/virtio/virtq.c) on their own, on the rig's
 * fake guest RAM: several chains given back at once (a network frame
 * over several receive buffers, MRG_RXBUF) and a restarted process
 * settling such a batch from its journal.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "model-rig.h"
#include "../../dm-remote/virtio/virtq.h"

#define QSIZE   16
#define DESC    (RIG_RAM_BASE + 0x0000)
#define AVAIL   (RIG_RAM_BASE + 0x0400)
#define USED    (RIG_RAM_BASE + 0x0800)
#define BUF(i)  (RIG_RAM_BASE + 0x1000 + (i) * 0x100)

typedef struct VqRig {
    Rig *rig;
    DmVirtq *q;
    DmVirtqJournal *j;
    DmVirtqElem *e;
    uint16_t avail;
} VqRig;

static void desc(VqRig *v, unsigned i, uint64_t addr, uint32_t len,
                 uint16_t flags, uint16_t next)
{
    struct { uint64_t a; uint32_t l; uint16_t f, n; } d = {
        htole64(addr), htole32(len), htole16(flags), htole16(next),
    };

    memcpy(rig_ram(v->rig, DESC + 16 * i), &d, sizeof(d));
}

static void offer(VqRig *v, uint16_t head)
{
    uint16_t h = htole16(head), idx;

    memcpy(rig_ram(v->rig, AVAIL + 4 + 2 * (v->avail % QSIZE)), &h, 2);
    idx = htole16(++v->avail);
    memcpy(rig_ram(v->rig, AVAIL + 2), &idx, 2);
}

static uint16_t used_idx(VqRig *v)
{
    return le16toh(*(uint16_t *)rig_ram(v->rig, USED + 2));
}

static uint32_t used_elem(VqRig *v, uint16_t i, uint32_t *len)
{
    uint32_t *e = rig_ram(v->rig, USED + 4 + 8 * (i % QSIZE));

    *len = le32toh(e[1]);
    return le32toh(e[0]);
}

/* Queue 0's rings in the rig's RAM, started, @n one-buffer chains made
 * available (heads 0..n-1). */
static void vq_rig_init(VqRig *v, unsigned n)
{
    memset(v, 0, sizeof(*v));
    v->rig = rig_new("edu");
    v->q = calloc(1, sizeof(*v->q));
    v->j = calloc(1, sizeof(*v->j));
    v->e = calloc(8, sizeof(*v->e));
    memset(rig_ram(v->rig, DESC), 0, 0x1000);
    dm_virtq_reset(v->q, &v->rig->dev, QSIZE, v->j);
    v->q->desc = DESC;
    v->q->avail = AVAIL;
    v->q->used = USED;
    dm_virtq_start(v->q);
    for (unsigned i = 0; i < n; i++) {
        desc(v, i, BUF(i), 100, 2, 0);
        offer(v, i);
    }
}

static void vq_rig_free(VqRig *v)
{
    dm_virtq_reset(v->q, &v->rig->dev, QSIZE, v->j);
    free(v->q);
    free(v->j);
    free(v->e);
    rig_free(v->rig);
}

static void vq_pop(VqRig *v, unsigned n)
{
    char why[128];

    for (unsigned i = 0; i < n; i++) {
        assert_int_equal(dm_virtq_pop(v->q, &v->e[i], why, sizeof(why)), 1);
    }
}

/* The used ring gets every entry, the index moves by all, the journal
 * forgets them: in the order given, whatever the order popped. */
static void test_virtq_push_batch(void **unused)
{
    VqRig v;
    const DmVirtqElem *p[2];
    uint32_t w[2] = { 10, 20 }, len;

    vq_rig_init(&v, 3);
    vq_pop(&v, 3);
    p[0] = &v.e[2];
    p[1] = &v.e[0];
    assert_int_equal(dm_virtq_push_batch(v.q, p, w, 2), 0);
    assert_int_equal(used_idx(&v), 2);
    assert_int_equal(used_elem(&v, 0, &len), 2);
    assert_int_equal(len, 10);
    assert_int_equal(used_elem(&v, 1, &len), 0);
    assert_int_equal(len, 20);
    assert_int_equal(v.j->popped[0], 0);
    assert_int_equal(v.j->popped[2], 0);
    assert_true(v.j->popped[1] != 0);
    assert_int_equal(v.j->used_idx, 2);
    assert_int_equal(v.j->batch, 0);
    /* More than the queue holds is refused, nothing written. */
    assert_int_equal(dm_virtq_push_batch(v.q, p, w, QSIZE + 1), -EIO);
    assert_int_equal(used_idx(&v), 2);
    vq_rig_free(&v);
}

/*
 * A process killed after a batch's index reached the guest and before
 * its journal was settled: the restarted one finds the batch's heads in
 * the used ring, forgets them, and runs again only what was in flight.
 */
static void test_virtq_recover_batch(void **unused)
{
    VqRig v;
    DmVirtq *q2 = calloc(1, sizeof(*q2));
    uint32_t *used = NULL;
    char why[128];

    vq_rig_init(&v, 3);
    vq_pop(&v, 3);
    /* The push of {2, 0} as far as the index, as a kill leaves it. */
    v.j->last_head = 0;
    v.j->batch = 2;
    used = rig_ram(v.rig, USED + 4);
    used[0] = htole32(2);
    used[2] = htole32(0);
    *(uint16_t *)rig_ram(v.rig, USED + 2) = htole16(2);
    dm_virtq_reset(q2, &v.rig->dev, QSIZE, v.j);
    q2->desc = DESC;
    q2->avail = AVAIL;
    q2->used = USED;
    q2->enabled = true;
    assert_int_equal(dm_virtq_recover(q2, why, sizeof(why)), 0);
    assert_int_equal(v.j->popped[0], 0);
    assert_int_equal(v.j->popped[2], 0);
    assert_int_equal(v.j->used_idx, 2);
    assert_int_equal(q2->nresubmit, 1);
    assert_int_equal(q2->resubmit[0], 1);
    assert_int_equal(q2->last_avail, 3);
    dm_virtq_reset(q2, &v.rig->dev, QSIZE, v.j);

    /* The same with a used ring that names a head past the queue. */
    v.j->popped[0] = 100;
    v.j->popped[2] = 101;
    v.j->used_idx = 0;
    v.j->batch = 2;
    used[2] = htole32(QSIZE + 5);
    q2->desc = DESC;
    q2->avail = AVAIL;
    q2->used = USED;
    q2->enabled = true;
    assert_int_equal(dm_virtq_recover(q2, why, sizeof(why)), -EIO);
    dm_virtq_reset(q2, &v.rig->dev, QSIZE, v.j);
    free(q2);
    vq_rig_free(&v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_virtq_push_batch),
        cmocka_unit_test(test_virtq_recover_batch),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
