/*
 * Messages gathered to leave in one send (see vup/batch.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>

#include "vup/batch.h"
#include "vup/wire.h"

int vup_batch_add(VupBatch *b, const VupHeader *hdr, const void *payload,
                  size_t len)
{
    VupHeader h = *hdr;
    uint8_t *at = b->buf + b->len;

    if ((len && !payload) || len > VUP_MAX_MSG_SIZE - sizeof(h)) {
        return -EINVAL;
    }
    if (sizeof(h) + len > sizeof(b->buf) - b->len) {
        return -ENOSPC;
    }
    h.msg_size = sizeof(h) + len;
    if (len) {
        memcpy(at + sizeof(h), payload, len);
    }
    if (!VUP_HOST_IS_LE) {
        vup_payload_swap(h.command, (h.flags & VUP_FLAG_TYPE_MASK) ==
                         VUP_FLAG_TYPE_REPLY, false, at + sizeof(h), len);
        vup_header_swap(&h);
    }
    memcpy(at, &h, sizeof(h));
    b->len += sizeof(h) + len;
    b->count++;
    return 0;
}

int vup_stream_send_batch(const VupStream *s, VupBatch *b)
{
    int ret = b->len ? vup_stream_send_bytes(s, b->buf, b->len) : 0;

    vup_batch_clear(b);
    return ret;
}
