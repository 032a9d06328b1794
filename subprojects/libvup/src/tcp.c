/*
 * TCP socket options both ends of a connection set.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "vup/tcp.h"

#define ERR(...) do { if (err) snprintf(err, errlen, __VA_ARGS__); } while (0)

#define ALLOWED_PATH "/proc/sys/net/ipv4/tcp_allowed_congestion_control"

/* The host's list of congestion controls any process may set. */
static void read_allowed(char *buf, size_t len)
{
    FILE *f = fopen(ALLOWED_PATH, "r");

    if (!f || !fgets(buf, len, f)) {
        snprintf(buf, len, "unknown");
    }
    if (f) {
        fclose(f);
    }
    buf[strcspn(buf, "\n")] = '\0';
}

static int set_congestion(int fd, const char *name, char *err,
                          size_t errlen)
{
    char allowed[256];
    int e;

    if (setsockopt(fd, IPPROTO_TCP, TCP_CONGESTION, name,
                   strlen(name)) == 0) {
        return 0;
    }
    e = errno;
    read_allowed(allowed, sizeof(allowed));
    ERR("cannot use TCP congestion control '%s': %s (this host allows: "
        "%s; see %s)", name, strerror(e), allowed, ALLOWED_PATH);
    return -e;
}

int vup_tcp_congestion_check(const char *name, char *err, size_t errlen)
{
    size_t len = name ? strlen(name) : 0;
    int fd, ret;

    if (!len || len >= VUP_TCP_CONGESTION_MAX) {
        ERR("a TCP congestion control name is 1 to %d bytes",
            VUP_TCP_CONGESTION_MAX - 1);
        return -EINVAL;
    }
    for (size_t i = 0; i < len; i++) {
        char c = name[i];

        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-')) {
            ERR("invalid TCP congestion control name '%s' (a-z 0-9 _ -)",
                name);
            return -EINVAL;
        }
    }
    fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        fd = socket(AF_INET6, SOCK_STREAM | SOCK_CLOEXEC, 0);
    }
    if (fd < 0) {
        ret = -errno;
        ERR("cannot check TCP congestion control '%s': socket: %s", name,
            strerror(-ret));
        return ret;
    }
    ret = set_congestion(fd, name, err, errlen);
    close(fd);
    return ret;
}

int vup_tcp_tune(int fd, const char *congestion, char *err, size_t errlen)
{
    int one = 1;

    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
    setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &one, sizeof(one));
    return congestion ? set_congestion(fd, congestion, err, errlen) : 0;
}
