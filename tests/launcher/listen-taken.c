/*
 * LD_PRELOAD for launcher-port-taken: the first listen() on TCP port
 * $DM_TEST_TAKEN_PORT fails with EADDRINUSE, as when an outgoing
 * connection takes a model's port between the launcher's check and the
 * model's bind (docs/scale-out.md).  Once per run: the file
 * $DM_TEST_TAKEN_ONCE is made when it happens, and is there after.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

static int taken_now(int fd)
{
    const char *port = getenv("DM_TEST_TAKEN_PORT");
    const char *once = getenv("DM_TEST_TAKEN_ONCE");
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    int m;

    if (!port || !once ||
        getsockname(fd, (struct sockaddr *)&ss, &len) < 0 ||
        ss.ss_family != AF_INET ||
        ntohs(((struct sockaddr_in *)&ss)->sin_port) != atoi(port)) {
        return 0;
    }
    m = open(once, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0600);
    if (m < 0) {
        return 0;
    }
    close(m);
    return 1;
}

int listen(int fd, int backlog)
{
    static int (*real)(int, int);

    if (!real) {
        real = (int (*)(int, int))dlsym(RTLD_NEXT, "listen");
    }
    if (taken_now(fd)) {
        errno = EADDRINUSE;
        return -1;
    }
    return real(fd, backlog);
}
