/*
 * A scripted vfio-user client for the tests that talk to a live
 * dm-remote over its socket (test-malformed, test-applied): connect, say
 * VERSION, send a command and take its reply, with cmocka's asserts and
 * one counter of message ids.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VUP_CLIENT_H
#define VUP_CLIENT_H

#include <stddef.h>
#include <stdint.h>

#include "vup/caps.h"
#include "vup/msg.h"

/* The id the next message takes (vc_call's, or one sent by hand). */
extern uint16_t vc_next_id;

/*
 * Connect to the UNIX socket @path, trying for up to 2 s (a server
 * still letting go of the previous client), with a receive timeout of
 * 5 s: a server that never answers fails the test instead of hanging it.
 */
int vc_connect(const char *path);

/* Send a command and take its reply: the reply's errno (0: success). */
int vc_call(int fd, uint16_t cmd, const void *payload, size_t len,
            const int *fds, unsigned nfds, VupMsg *ret_reply);

/* VERSION with @caps (0.0); asserts the server accepted it. */
void vc_hello(int fd, const VupCaps *caps);

#endif /* VUP_CLIENT_H */
