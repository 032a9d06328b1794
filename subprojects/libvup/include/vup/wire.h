/*
 * Byte order of the wire.  The spec's payloads are host-endian; this
 * project defines its wire as little-endian (docs/protocol.md) and
 * converts here, in one place: vup_send_msg() and vup_recv_msg() call
 * these, which do nothing on little-endian hosts.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VUP_WIRE_H
#define VUP_WIRE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "vup/proto.h"

#define VUP_HOST_IS_LE (__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__)

/* Reverse the byte order of every multi-byte field of a header. */
void vup_header_swap(VupHeader *h);

/*
 * Reverse the byte order of every multi-byte field of the payload of
 * @command (a request, or the reply if @reply), in place, within @len
 * bytes; data bytes are left alone.  @to_host says which order @p is in
 * now (needed to read counts and offsets before or after swapping).
 */
void vup_payload_swap(uint16_t command, bool reply, bool to_host,
                      uint8_t *p, size_t len);

#endif /* VUP_WIRE_H */
