/*
 * dm-remote launcher: taps made for network models (see tap.h).
 *
 * ioctls only, no `ip` command: nothing from the API reaches a shell
 * or an argument vector, and the names are ours (dm_tap_name) or one
 * of the operator's --bridges.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <linux/sockios.h>
#include <net/if.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <glib.h>

#include "log.h"
#include "tap.h"

/* The model opens the tap with the same flags (models/net-tap.c). */
#define TAP_FLAGS (IFF_TAP | IFF_NO_PI | IFF_VNET_HDR)

char *dm_tap_name(const char *id)
{
    g_autofree char *sum = g_compute_checksum_for_string(G_CHECKSUM_SHA256,
                                                         id, -1);

    return g_strdup_printf("dmt%.12s", sum);
}

bool dm_tap_bridge_allowed(char **bridges, const char *bridge)
{
    return bridges && g_strv_contains((const char *const *)bridges, bridge);
}

bool dm_tap_bridge_exists(const char *bridge)
{
    g_autofree char *path = NULL;
    struct stat st;

    if (strlen(bridge) >= IFNAMSIZ || strchr(bridge, '/') ||
        bridge[0] == '.') {
        return false;
    }
    path = g_strdup_printf("/sys/class/net/%s/bridge", bridge);
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
}

bool dm_tap_bridge_up(const char *bridge)
{
    struct ifreq ifr = { 0 };
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    bool up;

    if (sock < 0) {
        return true;            /* not known to be down: dm_tap_create says */
    }
    g_strlcpy(ifr.ifr_name, bridge, sizeof(ifr.ifr_name));
    up = ioctl(sock, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP);
    close(sock);
    return up;
}

/*
 * With the host's bridge netfilter on, frames between two ports of a
 * bridge go through iptables' FORWARD chain (in this namespace), where a
 * policy of DROP (Docker sets one) cuts the guests off each other with
 * nothing in our logs: said once, for the operator.
 */
static void tap_warn_bridge_nf(void)
{
    static bool said;
    g_autofree char *v = NULL;

    if (!said && g_file_get_contents(
            "/proc/sys/net/bridge/bridge-nf-call-iptables", &v, NULL, NULL) &&
        v[0] == '1') {
        dm_warn("bridged frames go through iptables here "
                "(net.bridge.bridge-nf-call-iptables=1): a FORWARD chain "
                "that drops them cuts the taps off each other");
    }
    said = true;
}

/* An fd on tap @name (made if absent), or -errno. */
static int tap_attach(const char *name)
{
    struct ifreq ifr = { .ifr_flags = TAP_FLAGS };
    int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);

    if (fd < 0) {
        return -errno;
    }
    g_strlcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
        int err = -errno;

        close(fd);
        return err;
    }
    return fd;
}

/* Up, and a port of @bridge. */
static int tap_plug(const char *name, const char *bridge)
{
    struct ifreq ifr = { 0 };
    int sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0), err = 0;

    if (sock < 0) {
        return -errno;
    }
    g_strlcpy(ifr.ifr_name, bridge, sizeof(ifr.ifr_name));
    ifr.ifr_ifindex = if_nametoindex(name);
    if (!ifr.ifr_ifindex || ioctl(sock, SIOCBRADDIF, &ifr) < 0) {
        err = -errno;
        goto out;
    }
    memset(&ifr, 0, sizeof(ifr));
    g_strlcpy(ifr.ifr_name, name, sizeof(ifr.ifr_name));
    if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0) {
        err = -errno;
        goto out;
    }
    ifr.ifr_flags |= IFF_UP;
    if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0) {
        err = -errno;
    }
out:
    close(sock);
    return err;
}

int dm_tap_create(const char *name, const char *bridge, char **ret_err)
{
    int fd = tap_attach(name), err;

    if (fd < 0) {
        *ret_err = g_strdup_printf("tap %s: %s", name, g_strerror(-fd));
        return fd;
    }
    /* Outlives this fd and the model's, until dm_tap_delete(). */
    if (ioctl(fd, TUNSETPERSIST, 1) < 0 ||
        ioctl(fd, TUNSETOWNER, (unsigned long)geteuid()) < 0) {
        err = -errno;
        *ret_err = g_strdup_printf("tap %s: %s", name, g_strerror(errno));
        ioctl(fd, TUNSETPERSIST, 0);
        close(fd);
        return err;
    }
    close(fd);
    err = tap_plug(name, bridge);
    if (err < 0) {
        *ret_err = g_strdup_printf("tap %s on bridge %s: %s", name, bridge,
                                   g_strerror(-err));
        dm_tap_delete(name);
        return err;
    }
    dm_info("tap %s made on bridge %s", name, bridge);
    tap_warn_bridge_nf();
    return 0;
}

void dm_tap_delete(const char *name)
{
    int fd;

    if (!if_nametoindex(name)) {
        return;                 /* gone already */
    }
    fd = tap_attach(name);
    if (fd < 0) {
        dm_warn("tap %s: cannot delete it: %s", name, g_strerror(-fd));
        return;
    }
    if (ioctl(fd, TUNSETPERSIST, 0) < 0) {
        dm_warn("tap %s: cannot delete it: %s", name, g_strerror(errno));
    } else {
        dm_info("tap %s deleted", name);
    }
    close(fd);                  /* the last file: the device goes */
}
