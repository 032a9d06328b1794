/*
 * vup-rtt: the round trip of a 4-byte REGION_READ between a plain libvup
 * client and a vfio-user server, without QEMU: what the server and the
 * protocol cost on their own.
 *
 *   vup-rtt SOCKET [ROUNDS [POLL_US]]   prints VUP-RTT-NS <median>
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#include "vup/caps.h"
#include "vup/msg.h"

#define PER_BATCH 100

static int64_t spin_ns;         /* like dm-proxy's poll-us */

static int call(int fd, uint16_t id, uint16_t cmd, const void *p, size_t len)
{
    VupHeader h = { .msg_id = id, .command = cmd };
    VupMsg m;
    int ret;

    if (vup_send_msg(fd, &h, p, len, NULL, 0) < 0) {
        return -1;
    }
    vup_spin_readable(fd, spin_ns);
    if (vup_recv_msg(fd, &m, VUP_MAX_MSG_SIZE, VUP_MAX_FDS) < 0) {
        return -1;
    }
    ret = vup_check_reply(&m, &h);
    vup_msg_clear(&m);
    return ret;
}

int main(int argc, char **argv)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    int batches = argc > 2 ? atoi(argv[2]) / PER_BATCH : 200;
    VupRegionAccess rd = { .offset = 0, .region = 0, .count = 4 };
    VupCaps caps;
    void *buf;
    size_t len;
    int64_t *t;
    int fd;

    if (argc < 2 || batches < 1 ||
        strlen(argv[1]) >= sizeof(sun.sun_path)) {
        fprintf(stderr, "usage: vup-rtt SOCKET [ROUNDS >= %d]\n", PER_BATCH);
        return 2;
    }
    spin_ns = argc > 3 ? atol(argv[3]) * 1000 : 0;
    strcpy(sun.sun_path, argv[1]);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (connect(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0) {
        perror(argv[1]);
        return 1;
    }
    vup_caps_init_defaults(&caps);
    if (vup_version_build(0, 0, &caps, &buf, &len) < 0 ||
        call(fd, 0, VUP_CMD_VERSION, buf, len) < 0) {
        fprintf(stderr, "vup-rtt: VERSION failed\n");
        return 1;
    }
    free(buf);
    t = calloc(batches, sizeof(*t));
    for (int b = 0; b < batches; b++) {
        int64_t t0 = bench_now_ns();

        for (int i = 0; i < PER_BATCH; i++) {
            if (call(fd, i, VUP_CMD_REGION_READ, &rd, sizeof(rd)) < 0) {
                fprintf(stderr, "vup-rtt: REGION_READ failed\n");
                return 1;
            }
        }
        t[b] = (bench_now_ns() - t0) / PER_BATCH;
    }
    printf("VUP-RTT-NS %lld\n", (long long)bench_median(t, batches));
    free(t);
    close(fd);
    return 0;
}
