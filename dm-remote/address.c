/*
 * Listen addresses.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "address.h"

int dm_address_parse(const char *str, DmAddress *ret_addr, char *err,
                     size_t errlen)
{
    DmAddress a = { 0 };

    if (strncmp(str, "unix:", 5) == 0) {
        const char *path = str + 5;

        if (!*path) {
            snprintf(err, errlen, "empty path in '%s'", str);
            return -EINVAL;
        }
        if (strlen(path) >= sizeof(a.path)) {
            snprintf(err, errlen, "socket path too long (max %zu bytes): %s",
                     sizeof(a.path) - 1, path);
            return -EINVAL;
        }
        a.kind = DM_ADDRESS_UNIX;
        strcpy(a.path, path);
        *ret_addr = a;
        return 0;
    }
    snprintf(err, errlen, "unsupported address '%s' (expected unix:PATH)",
             str);
    return -EINVAL;
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
    int fd, ret;

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
    if (bind(fd, (struct sockaddr *)&sun, sizeof(sun)) < 0 ||
        listen(fd, 8) < 0) {
        ret = -errno;
        snprintf(err, errlen, "cannot listen on %s: %s", addr->path,
                 strerror(errno));
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
