/*
 * Byte order of the wire: one description of every payload's fields.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "vup/dm-ext.h"
#include "vup/wire.h"

static void swap_field(uint8_t *p, unsigned size)
{
    for (unsigned i = 0; i < size / 2; i++) {
        uint8_t t = p[i];

        p[i] = p[size - 1 - i];
        p[size - 1 - i] = t;
    }
}

/*
 * Swap fields laid out as @layout ("448": u32, u32, u64) from @off, as
 * far as @len allows; returns the offset after them.
 */
static size_t swap_layout(uint8_t *p, size_t len, size_t off,
                          const char *layout)
{
    for (; *layout; layout++) {
        unsigned size = *layout - '0';

        if (off + size > len) {
            return len;
        }
        swap_field(p + off, size);
        off += size;
    }
    return off;
}

/* Read a field stored little-endian (@le) or in host order. */
static uint64_t get(const uint8_t *p, unsigned size, bool le)
{
    uint64_t v = 0;

    if (le || VUP_HOST_IS_LE) {
        for (unsigned i = size; i-- > 0;) {
            v = (v << 8) | p[i];
        }
    } else {
        for (unsigned i = 0; i < size; i++) {
            v = (v << 8) | p[i];
        }
    }
    return v;
}

void vup_header_swap(VupHeader *h)
{
    swap_layout((uint8_t *)h, sizeof(*h), 0, "22444");
}

static void swap_region_caps(uint8_t *p, size_t len, bool to_host)
{
    size_t off;
    unsigned guard = 0;

    if (len < sizeof(VupRegionInfo)) {
        return;
    }
    /* cap_offset is in host order here either way (see the caller). */
    off = get(p + 12, 4, false);
    while (off && off + sizeof(VupInfoCapHeader) <= len && guard++ < 16) {
        uint16_t id;
        size_t next;

        if (to_host) {
            swap_layout(p, len, off, "224");
        }
        id = get(p + off, 2, false);
        next = get(p + off + 4, 4, false);
        if (!to_host) {
            swap_layout(p, len, off, "224");
        }
        if (id == VUP_REGION_INFO_CAP_DM_ISA) {
            swap_layout(p, len, off + 8, "44");
        } else if ((id == VUP_REGION_INFO_CAP_SPARSE_MMAP ||
                    id == VUP_REGION_INFO_CAP_DM_DIRTY) &&
                   off + sizeof(VupRegionInfoCapSparseMmap) <= len) {
            /* The count only if it is there: a cap may be cut short. */
            uint32_t n = get(p + off + 8, 4, to_host);

            swap_layout(p, len, off + 8, "44");
            for (uint32_t i = 0; i < n && i < 4096; i++) {
                swap_layout(p, len, off + 16 + 16 * i, "88");
            }
        }
        off = next > off ? next : 0;    /* forward only: no loops */
    }
}

/* DM_VQ_FETCH's reply: a header, then chains of segments and bytes. */
static void swap_vq_fetch_reply(uint8_t *p, size_t len, bool to_host)
{
    uint16_t nchains = len >= 4 ? get(p + 2, 2, to_host) : 0;
    size_t off = swap_layout(p, len, 0, "224");

    for (uint16_t c = 0; c < nchains && off + 16 <= len; c++) {
        uint16_t nsegs = get(p + off + 2, 2, to_host);
        uint64_t data = get(p + off + 8, 4, to_host);

        off = swap_layout(p, len, off, "222244");
        for (uint16_t i = 0; i < nsegs && off < len; i++) {
            off = swap_layout(p, len, off, "844");
        }
        off += (data + 7) & ~7ULL;      /* bytes: never swapped */
    }
}

void vup_payload_swap(uint16_t command, bool reply, bool to_host,
                      uint8_t *p, size_t len)
{
    switch (command) {
    case VUP_CMD_VERSION:
        swap_layout(p, len, 0, "22");
        break;
    case VUP_CMD_DMA_MAP:
        if (!reply) {
            swap_layout(p, len, 0, "44888");
        }
        break;
    case VUP_CMD_DMA_UNMAP:
        swap_layout(p, len, 0, "4488");
        break;
    case VUP_CMD_DEVICE_GET_INFO:
    case VUP_CMD_DEVICE_GET_IRQ_INFO:
        swap_layout(p, len, 0, "4444");
        break;
    case VUP_CMD_DEVICE_GET_REGION_INFO:
        if (reply && !to_host) {
            swap_region_caps(p, len, to_host);
        }
        swap_layout(p, len, 0, "444488");
        if (reply && to_host) {
            swap_region_caps(p, len, to_host);
        }
        break;
    case VUP_CMD_DEVICE_GET_REGION_IO_FDS: {
        uint32_t n = len >= 16 ? get(p + 12, 4, to_host) : 0;

        swap_layout(p, len, 0, "4444");
        for (uint32_t i = 0; reply && i < n && i < 4096; i++) {
            swap_layout(p, len, 16 + 40 * i, "8844448");
        }
        break;
    }
    case VUP_CMD_DEVICE_SET_IRQS:
        swap_layout(p, len, 0, "44444");
        break;
    case VUP_CMD_REGION_READ:
    case VUP_CMD_REGION_WRITE:
        swap_layout(p, len, 0, "844");
        break;
    case VUP_CMD_DMA_READ:
        swap_layout(p, len, 0, "88");
        break;
    case VUP_CMD_DMA_WRITE:
        swap_layout(p, len, 0, reply ? "84" : "88");
        break;
    case VUP_CMD_REGION_WRITE_MULTI: {
        uint64_t n = len >= 8 ? get(p, 8, to_host) : 0;

        swap_layout(p, len, 0, "8");
        for (uint64_t i = 0; !reply && i < n && i < VUP_WRITE_MULTI_MAX;
             i++) {
            swap_layout(p, len, 8 + 24 * i, "844");
        }
        break;
    }
    case VUP_CMD_DEVICE_FEATURE:
    case VUP_CMD_MIG_DATA_READ:
    case VUP_CMD_MIG_DATA_WRITE:
    case VUP_CMD_DM_IRQ:
        swap_layout(p, len, 0, "44");
        break;
    case VUP_CMD_DM_VM_STATE:
    case VUP_CMD_DM_EVENT:
    case VUP_CMD_DM_CONTROL:
        swap_layout(p, len, 0, "448");
        break;
    case VUP_CMD_DM_APPLIED:
        swap_layout(p, len, 0, "8422");
        break;
    case VUP_CMD_DM_VQ_IRQ:
        swap_layout(p, len, 0, "4482222");
        break;
    case VUP_CMD_DM_DIRTY_PAGES: {
        /* The header, its runs; the pages' bytes are bytes. */
        uint64_t n = len >= 8 && !reply ? get(p + 4, 4, to_host) : 0;

        swap_layout(p, len, 0, "4444");
        for (uint64_t i = 0; i < n && i < VUP_DM_DIRTY_MAX_RUNS; i++) {
            swap_layout(p, len, 16 + 16 * i, "88");
        }
        break;
    }
    case VUP_CMD_DM_VQ_FETCH:
        if (reply) {
            swap_vq_fetch_reply(p, len, to_host);
        } else {
            swap_layout(p, len, 0, "88222244");
        }
        break;
    default:
        break;                  /* unknown: bytes only */
    }
}
