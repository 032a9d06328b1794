/*
 * A scripted vfio-user client for tests (see vup-client.h).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "vup-client.h"

uint16_t vc_next_id = 1;

int vc_connect(const char *path)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct timeval tv = { .tv_sec = 5 };
    struct timespec ms = { 0, 1000000 };
    int ret = -1;

    assert_true(fd >= 0);
    assert_true(strlen(path) < sizeof(sun.sun_path));
    strcpy(sun.sun_path, path);
    for (int i = 0; i < 2000 && ret < 0; i++) {
        ret = connect(fd, (struct sockaddr *)&sun, sizeof(sun));
        if (ret < 0) {
            nanosleep(&ms, NULL);
        }
    }
    assert_int_equal(ret, 0);
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
    return fd;
}

int vc_call(int fd, uint16_t cmd, const void *payload, size_t len,
            const int *fds, unsigned nfds, VupMsg *ret_reply)
{
    VupHeader h = { .msg_id = vc_next_id++, .command = cmd };
    VupMsg r;
    int ret;

    assert_int_equal(vup_send_msg(fd, &h, payload, len, fds, nfds), 0);
    assert_int_equal(vup_recv_msg(fd, &r, VUP_MAX_MSG_SIZE, VUP_MAX_FDS), 0);
    ret = vup_check_reply(&r, &h);
    if (ret_reply) {
        *ret_reply = r;
    } else {
        vup_msg_clear(&r);
    }
    return -ret;
}

void vc_hello(int fd, const VupCaps *caps)
{
    void *buf;
    size_t len;

    assert_int_equal(vup_version_build(0, 0, caps, &buf, &len), 0);
    assert_int_equal(vc_call(fd, VUP_CMD_VERSION, buf, len, NULL, 0, NULL),
                     0);
    free(buf);
}
