/*
 * A virtio-blk driver for the in-process model tests (blk-driver.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <endian.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "blk-driver.h"
#include "pci.h"

/* Config space accesses, as the session makes them. */
uint32_t cfg_rd(Blk *r, unsigned off, unsigned size)
{
    uint32_t v = 0;

    dm_pci_config_read(dm_device_pci(r->dev), off, &v, size);
    return le32toh(v);
}

void cfg_wr(Blk *r, unsigned off, uint32_t v, unsigned size)
{
    v = htole32(v);
    dm_pci_config_write(dm_device_pci(r->dev), off, &v, size);
}

/* Point the PCI_CFG window at @len bytes at @off of BAR @bar. */
void window_set(Blk *r, uint8_t bar, uint32_t off, uint32_t len)
{
    cfg_wr(r, r->window + 4, bar, 1);
    cfg_wr(r, r->window + 8, off, 4);
    cfg_wr(r, r->window + 12, len, 4);
}

/*
 * BAR4 registers, directly or (r->window) as SeaBIOS reaches a BAR above
 * 4 GiB: through the PCI_CFG capability's window in config space.
 */
uint32_t rd(Blk *r, uint64_t off, unsigned size)
{
    if (r->window) {
        window_set(r, DM_VIRTIO_BAR, off, size);
        return cfg_rd(r, r->window + 16, size);
    }
    return rig_read(r->rig, BAR4, off, size);
}

void wr(Blk *r, uint64_t off, uint32_t v, unsigned size)
{
    if (r->window) {
        window_set(r, DM_VIRTIO_BAR, off, size);
        cfg_wr(r, r->window + 16, v, size);
        return;
    }
    rig_write(r->rig, BAR4, off, v, size);
}

void *at(Blk *r, uint64_t addr)
{
    return rig_ram(r->rig, addr);
}

void put(Blk *r, uint64_t addr, const void *p, size_t n)
{
    memcpy(at(r, addr), p, n);
}

/* What Linux's virtio_pci_modern probe and virtio_blk do at start. */
uint64_t driver_init(Blk *r, uint64_t want)
{
    uint64_t offered;

    wr(r, 0x14, 0, 1);                          /* reset */
    assert_int_equal(rd(r, 0x14, 1), 0);
    wr(r, 0x14, 1 | 2, 1);                      /* ACKNOWLEDGE, DRIVER */
    wr(r, 0x00, 0, 4);
    offered = rd(r, 0x04, 4);
    wr(r, 0x00, 1, 4);
    offered |= (uint64_t)rd(r, 0x04, 4) << 32;
    assert_true(offered & (1ULL << VIRTIO_F_VERSION_1));
    want &= offered;
    wr(r, 0x08, 0, 4);
    wr(r, 0x0c, (uint32_t)want, 4);
    wr(r, 0x08, 1, 4);
    wr(r, 0x0c, want >> 32, 4);
    wr(r, 0x14, 1 | 2 | 8, 1);                  /* FEATURES_OK */
    assert_true(rd(r, 0x14, 1) & 8);
    assert_int_equal(rd(r, 0x12, 2), 1);        /* num_queues */
    /* Fresh rings, as a driver allocates them. */
    memset(at(r, AVAIL), 0, 0x1000);
    memset(at(r, USED), 0, 0x1000);
    wr(r, 0x16, 0, 2);                          /* queue 0 */
    assert_int_equal(rd(r, 0x18, 2), QSIZE);
    assert_int_equal(rd(r, 0x1c, 2), 0);
    wr(r, 0x20, (uint32_t)DESC, 4);
    wr(r, 0x24, 0, 4);
    wr(r, 0x28, (uint32_t)AVAIL, 4);
    wr(r, 0x2c, 0, 4);
    wr(r, 0x30, (uint32_t)USED, 4);
    wr(r, 0x34, 0, 4);
    wr(r, 0x1c, 1, 2);                          /* enable */
    wr(r, 0x14, 1 | 2 | 8 | 4, 1);              /* DRIVER_OK */
    r->avail_idx = 0;
    return offered;
}

void desc(Blk *r, unsigned i, uint64_t addr, uint32_t len, uint16_t flags,
          uint16_t next)
{
    struct { uint64_t a; uint32_t l; uint16_t f, n; } d = {
        htole64(addr), htole32(len), htole16(flags), htole16(next),
    };

    put(r, DESC + 16 * i, &d, sizeof(d));
}

uint16_t used_idx(Blk *r)
{
    return le16toh(*(uint16_t *)at(r, USED + 2));
}

uint16_t offer_head0(Blk *r)
{
    uint16_t want = used_idx(r) + 1, head = htole16(0), idx;

    put(r, AVAIL + 4 + 2 * (r->avail_idx % QSIZE), &head, 2);
    idx = htole16(++r->avail_idx);
    put(r, AVAIL + 2, &idx, 2);
    return want;
}

void wait_used_idx(Blk *r, uint16_t want)
{
    for (int i = 0; i < 500 && used_idx(r) != want; i++) {
        rig_run_for(r->rig, 10);
    }
}

/* Make head 0 available, kick, run the loop until it is used (bounded). */
void kick_and_wait(Blk *r)
{
    uint16_t want = offer_head0(r);

    wr(r, 0x3000, 0, 2);                        /* notify queue 0 */
    wait_used_idx(r, want);
}

void request_prepare(Blk *r, uint32_t type, uint64_t sector, uint32_t len,
                     bool data_in)
{
    struct { uint32_t type, reserved; uint64_t sector; } h = {
        htole32(type), 0, htole64(sector),
    };

    put(r, HDR, &h, sizeof(h));
    *(uint8_t *)at(r, STATUS) = 0xee;
    desc(r, 0, HDR, 16, 1, 1);
    if (len) {
        desc(r, 1, DATA, len, 1 | (data_in ? 2 : 0), 2);
        desc(r, 2, STATUS, 1, 2, 0);
    } else {
        desc(r, 1, STATUS, 1, 2, 0);
    }
}

/* A request of @type at @sector with @len data bytes: its status. */
uint8_t request(Blk *r, uint32_t type, uint64_t sector, uint32_t len,
                bool data_in)
{
    request_prepare(r, type, sector, len, data_in);
    kick_and_wait(r);
    return *(uint8_t *)at(r, STATUS);
}


uint8_t request_range(Blk *r, uint32_t type, uint64_t sector,
                      uint32_t sectors, uint32_t flags)
{
    struct { uint64_t sector; uint32_t num_sectors, flags; } range = {
        htole64(sector), htole32(sectors), htole32(flags),
    };

    put(r, DATA, &range, sizeof(range));
    return request(r, type, 0, sizeof(range), false);
}
