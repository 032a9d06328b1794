/*
 * Listen addresses.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdbool.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"
#include "log.h"
#include "vup/tcp.h"

int dm_address_parse(const char *str, DmAddress *ret_addr, char *err,
                     size_t errlen)
{
    return vup_address_parse(str, ret_addr, err, errlen);
}

void dm_address_tune_tcp(int fd, const char *congestion)
{
    char err[512];

    if (vup_tcp_tune(fd, congestion, err, sizeof(err)) < 0) {
        dm_warn("%s: the connection keeps the host's default", err);
    }
}

static int tcp_listen(const DmAddress *addr, char *err, size_t errlen)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_PASSIVE | AI_NUMERICSERV,
    };
    struct addrinfo *res, *ai;
    int ret = getaddrinfo(addr->host, addr->port, &hints, &res);
    int fd = -1, saved = 0;

    if (ret) {
        snprintf(err, errlen, "cannot resolve %s: %s", addr->host,
                 gai_strerror(ret));
        return -EINVAL;
    }
    for (ai = res; ai; ai = ai->ai_next) {
        int one = 1;

        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd < 0) {
            saved = errno;
            continue;
        }
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 &&
            listen(fd, 8) == 0) {
            break;
        }
        saved = errno;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot listen on tcp:%s:%s: %s", addr->host,
                 addr->port, strerror(saved));
        return saved == EADDRINUSE ? -EADDRINUSE : -EINVAL;
    }
    return fd;
}

/* Is something accepting connections on @path? */
static bool unix_path_live(const struct sockaddr_un *sun)
{
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool live;

    if (fd < 0) {
        return true;            /* be careful: do not unlink */
    }
    live = connect(fd, (const struct sockaddr *)sun, sizeof(*sun)) == 0 ||
           errno != ECONNREFUSED;
    close(fd);
    return live;
}

int dm_address_listen(const DmAddress *addr, char *err, size_t errlen)
{
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct stat st;
    bool tmp;
    int fd, ret;

    if (addr->kind == DM_ADDRESS_TCP) {
        return tcp_listen(addr, err, errlen);
    }
    strcpy(sun.sun_path, addr->path);
    if (lstat(addr->path, &st) == 0) {
        if (!S_ISSOCK(st.st_mode)) {
            snprintf(err, errlen, "%s exists and is not a socket",
                     addr->path);
            return -EEXIST;
        }
        if (unix_path_live(&sun)) {
            snprintf(err, errlen, "address in use: %s (another server is "
                     "listening)", addr->path);
            return -EADDRINUSE;
        }
        unlink(addr->path);     /* stale socket of a dead server */
    }

    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        ret = -errno;
        snprintf(err, errlen, "socket: %s", strerror(errno));
        return ret;
    }
    /*
     * Bind a temporary name, listen, then rename: whoever sees the socket
     * file can connect (between bind and listen, connect is refused).
     * Without room for the suffix, bind the name itself.
     */
    tmp = snprintf(sun.sun_path, sizeof(sun.sun_path), "%s.new",
                   addr->path) < (int)sizeof(sun.sun_path);
    if (tmp) {
        unlink(sun.sun_path);   /* left by a server that died here */
    } else {
        strcpy(sun.sun_path, addr->path);
    }
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 8) < 0 ||
        (tmp && rename(sun.sun_path, addr->path) < 0)) {
        ret = -errno;
        snprintf(err, errlen, "cannot listen on %s: %s", addr->path,
                 strerror(errno));
        if (tmp) {
            unlink(sun.sun_path);
        }
        close(fd);
        return ret;
    }
    return fd;
}

void dm_address_cleanup(const DmAddress *addr)
{
    if (addr->kind == DM_ADDRESS_UNIX) {
        unlink(addr->path);
    }
}

int dm_address_connect(const DmAddress *addr, const char *congestion,
                       char *err, size_t errlen)
{
    struct addrinfo hints = {
        .ai_family = AF_UNSPEC,
        .ai_socktype = SOCK_STREAM,
        .ai_flags = AI_NUMERICSERV,
    };
    struct sockaddr_un sun = { .sun_family = AF_UNIX };
    struct addrinfo *res, *ai;
    int fd = -1, saved = ECONNREFUSED, ret;

    if (addr->kind == DM_ADDRESS_UNIX) {
        memcpy(sun.sun_path, addr->path, sizeof(sun.sun_path));
        fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd >= 0 &&
            connect(fd, (struct sockaddr *)&sun, sizeof(sun)) == 0) {
            return fd;
        }
        saved = errno;
        if (fd >= 0) {
            close(fd);
        }
        snprintf(err, errlen, "cannot connect to unix:%s: %s", addr->path,
                 strerror(saved));
        return -saved;
    }
    ret = getaddrinfo(addr->host, addr->port, &hints, &res);
    if (ret) {
        snprintf(err, errlen, "cannot resolve %s: %s", addr->host,
                 gai_strerror(ret));
        return -EHOSTUNREACH;
    }
    for (ai = res; ai && fd < 0; ai = ai->ai_next) {
        fd = socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC,
                    ai->ai_protocol);
        if (fd >= 0 && connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
            saved = errno;
            close(fd);
            fd = -1;
        }
    }
    freeaddrinfo(res);
    if (fd < 0) {
        snprintf(err, errlen, "cannot connect to tcp:%s:%s: %s", addr->host,
                 addr->port, strerror(saved));
        return -saved;
    }
    dm_address_tune_tcp(fd, congestion);
    return fd;
}
