/*
 * pingpong: the floor for a remote register read.  A raw request/reply
 * round trip over a UNIX stream socket between two processes, with the
 * message sizes of a 4-byte REGION_READ (32-byte request, 36-byte reply),
 * and nothing else: no protocol parsing, no device.
 *
 *   pingpong [ROUNDS [POLL_US [tcp]]]  prints PINGPONG-NS <median per round trip>
 *
 * With POLL_US, both sides poll (and yield) that long for the next
 * message before sleeping, as dm-remote and dm-proxy do: the floor for a
 * busy-polling transport.  With "tcp", the two ends talk over a TCP
 * loopback connection (TCP_NODELAY) instead of a UNIX socketpair.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sched.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench-util.h"

#include "vup/msg.h"

#define REQ_SIZE    32
#define REPLY_SIZE  36
#define PER_BATCH   100

static int64_t spin_ns;

static int full(int fd, char *buf, size_t len, int writing)
{
    if (!writing) {
        vup_spin_readable(fd, spin_ns);
    }
    size_t done = 0;

    while (done < len) {
        ssize_t n = writing ? write(fd, buf + done, len - done)
                            : read(fd, buf + done, len - done);

        if (n <= 0) {
            return -1;
        }
        done += n;
    }
    return 0;
}

/* A connected TCP loopback pair, with TCP_NODELAY on both ends. */
static int tcp_pair(int sv[2])
{
    struct sockaddr_in sin = { .sin_family = AF_INET,
                               .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    socklen_t len = sizeof(sin);
    int one = 1, l = socket(AF_INET, SOCK_STREAM, 0);

    if (l < 0 || bind(l, (struct sockaddr *)&sin, sizeof(sin)) < 0 ||
        listen(l, 1) < 0 ||
        getsockname(l, (struct sockaddr *)&sin, &len) < 0) {
        return -1;
    }
    sv[0] = socket(AF_INET, SOCK_STREAM, 0);
    if (connect(sv[0], (struct sockaddr *)&sin, sizeof(sin)) < 0) {
        return -1;
    }
    sv[1] = accept(l, NULL, NULL);
    close(l);
    setsockopt(sv[0], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(sv[1], IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    return sv[1] < 0 ? -1 : 0;
}

/* $@var=N: run on CPU N (the bench may pin the two ends apart). */
static void pin_to(const char *var)
{
    const char *cpu = getenv(var);
    cpu_set_t set;

    if (cpu && *cpu) {
        CPU_ZERO(&set);
        CPU_SET(atoi(cpu), &set);
        sched_setaffinity(0, sizeof(set), &set);
    }
}

int main(int argc, char **argv)
{
    int batches = argc > 1 ? atoi(argv[1]) / PER_BATCH : 200;
    char req[REQ_SIZE] = { 0 }, reply[REPLY_SIZE] = { 0 };
    int64_t *t;
    int sv[2];
    pid_t pid;

    spin_ns = argc > 2 ? atol(argv[2]) * 1000 : 0;
    bool tcp = argc > 3 && strcmp(argv[3], "tcp") == 0;

    if (batches < 1 ||
        (tcp ? tcp_pair(sv) : socketpair(AF_UNIX, SOCK_STREAM, 0, sv)) < 0) {
        fprintf(stderr, "usage: pingpong [ROUNDS >= %d [POLL_US [tcp]]]\n",
                PER_BATCH);
        return 2;
    }
    pid = fork();
    if (pid == 0) {
        pin_to("PINGPONG_PEER_CPU");
        close(sv[0]);
        while (full(sv[1], req, sizeof(req), 0) == 0 &&
               full(sv[1], reply, sizeof(reply), 1) == 0) {
            continue;
        }
        _exit(0);
    }
    pin_to("PINGPONG_CPU");
    close(sv[1]);
    t = calloc(batches, sizeof(*t));
    for (int b = 0; b < batches; b++) {
        int64_t t0 = bench_now_ns();

        for (int i = 0; i < PER_BATCH; i++) {
            if (full(sv[0], req, sizeof(req), 1) < 0 ||
                full(sv[0], reply, sizeof(reply), 0) < 0) {
                fprintf(stderr, "pingpong: peer went away\n");
                return 1;
            }
        }
        t[b] = (bench_now_ns() - t0) / PER_BATCH;
    }
    close(sv[0]);
    waitpid(pid, NULL, 0);
    printf("PINGPONG-NS %lld\n", (long long)bench_median(t, batches));
    free(t);
    return 0;
}
