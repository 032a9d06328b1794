/*
 * How both ends tune a vfio-user TCP connection: no Nagle delay (every
 * message is a request or its answer), keepalive (a peer that vanished
 * is noticed), and optionally a congestion control of the operator's
 * choosing (docs/performance.md: BBR's pacing can throttle a bursty
 * vfio-user stream to a stale bandwidth estimate).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VUP_TCP_H
#define VUP_TCP_H

#include <stddef.h>

/* The kernel's limit on a congestion-control name, NUL included. */
#define VUP_TCP_CONGESTION_MAX 16

/*
 * Can this process set congestion control @name on its TCP sockets?
 * Tried on a scratch socket, so a bad name fails at start, not at the
 * first connection.  0, or -errno with a reason in @err (if not NULL)
 * that names the algorithms this host allows.
 */
int vup_tcp_congestion_check(const char *name, char *err, size_t errlen);

/*
 * Tune connected TCP socket @fd: TCP_NODELAY, SO_KEEPALIVE and, if
 * @congestion is not NULL, that congestion control.  0, or -errno with
 * a reason in @err (if not NULL) when the congestion control cannot be
 * set; the other two are best effort.
 */
int vup_tcp_tune(int fd, const char *congestion, char *err, size_t errlen);

#endif /* VUP_TCP_H */
