/*
 * Listen addresses: "unix:PATH" and "tcp:HOST:PORT" (IPv6 as [ADDR]:PORT).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_ADDRESS_H
#define DM_ADDRESS_H

#include <sys/un.h>

#include "vup/address.h"

/* The project's one address parser is libvup's (vup/address.h). */
typedef VupAddress DmAddress;
#define DM_ADDRESS_UNIX VUP_ADDRESS_UNIX
#define DM_ADDRESS_TCP VUP_ADDRESS_TCP

/*
 * Set TCP_NODELAY, keepalive and, unless NULL, congestion control
 * @congestion (checked at start with vup_tcp_congestion_check) on a
 * connected TCP socket; a failure is a warning.
 */
void dm_address_tune_tcp(int fd, const char *congestion);

/* Parse @str; on failure return -EINVAL with a reason in @err. */
int dm_address_parse(const char *str, DmAddress *ret_addr, char *err,
                     size_t errlen);

/*
 * Create a listening socket for @addr.  A stale UNIX socket file (nobody
 * listening) is replaced; a live one is "in use".  Returns the fd or
 * -errno with a reason in @err.
 */
int dm_address_listen(const DmAddress *addr, char *err, size_t errlen);

/*
 * Connect to @addr (blocking), tuned as dm_address_tune_tcp(fd,
 * @congestion) if TCP; the fd or -errno with a reason in @err.
 */
int dm_address_connect(const DmAddress *addr, const char *congestion,
                       char *err, size_t errlen);

/* Undo what listening left behind (the UNIX socket file). */
void dm_address_cleanup(const DmAddress *addr);

#endif /* DM_ADDRESS_H */
