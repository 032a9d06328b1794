/*
 * Addresses of the orchestrator and of launchers: libvup's syntax
 * (vup_address_parse), made GIO connectables and listening sockets.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <gio/gunixsocketaddress.h>

#include <vup/address.h>

#include "address.h"

/* Connections waiting to be accepted: a browser opens several at once. */
#define ORCH_LISTEN_BACKLOG 128

/*
 * Parse @str with libvup's rule, the one the fork and dm-remote use,
 * and refuse port 0 (nothing to connect to; we never listen on one).
 */
static gboolean address_parse(const char *str, VupAddress *ret,
                              GError **errp)
{
    char why[256];

    if (vup_address_parse(str, ret, why, sizeof(why)) < 0) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "bad address: %s", why);
        return FALSE;
    }
    if (ret->kind == VUP_ADDRESS_TCP && strcmp(ret->port, "0") == 0) {
        g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                    "bad address: port 0 in '%s'", str);
        return FALSE;
    }
    return TRUE;
}

gboolean orch_address_valid(const char *str, GError **errp)
{
    VupAddress a;

    return address_parse(str, &a, errp);
}

GSocketConnectable *orch_address_connectable(const char *str,
                                             GError **errp)
{
    VupAddress a;

    if (!address_parse(str, &a, errp)) {
        return NULL;
    }
    if (a.kind == VUP_ADDRESS_UNIX) {
        return G_SOCKET_CONNECTABLE(g_unix_socket_address_new(a.path));
    }
    return g_network_address_new(a.host, atoi(a.port));
}

/* Is someone accepting on the UNIX socket at @path? */
static gboolean address_unix_alive(GSocketAddress *sa)
{
    g_autoptr(GSocket) s = g_socket_new(G_SOCKET_FAMILY_UNIX,
                                        G_SOCKET_TYPE_STREAM,
                                        G_SOCKET_PROTOCOL_DEFAULT, NULL);

    return s && g_socket_connect(s, sa, NULL, NULL);
}

static GSocket *address_listen_unix(const char *path, GError **errp)
{
    g_autoptr(GSocketAddress) sa = g_unix_socket_address_new(path);
    g_autoptr(GSocket) s = NULL;

    if (g_file_test(path, G_FILE_TEST_EXISTS)) {
        if (address_unix_alive(sa)) {
            g_set_error(errp, G_IO_ERROR, G_IO_ERROR_ADDRESS_IN_USE,
                        "%s: in use by another process", path);
            return NULL;
        }
        unlink(path);
    }
    s = g_socket_new(G_SOCKET_FAMILY_UNIX, G_SOCKET_TYPE_STREAM,
                     G_SOCKET_PROTOCOL_DEFAULT, errp);
    if (!s || !g_socket_bind(s, sa, FALSE, errp)) {
        return NULL;
    }
    /* GLib's default backlog (10) refuses a burst of clients (EAGAIN). */
    g_socket_set_listen_backlog(s, ORCH_LISTEN_BACKLOG);
    if (!g_socket_listen(s, errp)) {
        return NULL;
    }
    return g_steal_pointer(&s);
}

static GSocket *address_listen_tcp(const char *host, guint16 port,
                                   GError **errp)
{
    g_autoptr(GInetAddress) ia = NULL;
    g_autoptr(GSocketAddress) sa = NULL;
    g_autoptr(GSocket) s = NULL;

    ia = g_inet_address_new_from_string(host);
    if (!ia) {
        g_autoptr(GList) list = NULL;

        list = g_resolver_lookup_by_name(g_resolver_get_default(), host,
                                         NULL, errp);
        if (!list) {
            return NULL;
        }
        ia = g_object_ref(list->data);
        g_list_free_full(g_steal_pointer(&list), g_object_unref);
    }
    sa = g_inet_socket_address_new(ia, port);
    s = g_socket_new(g_inet_address_get_family(ia), G_SOCKET_TYPE_STREAM,
                     G_SOCKET_PROTOCOL_TCP, errp);
    if (!s || !g_socket_bind(s, sa, TRUE, errp)) {
        return NULL;
    }
    g_socket_set_listen_backlog(s, ORCH_LISTEN_BACKLOG);
    if (!g_socket_listen(s, errp)) {
        return NULL;
    }
    return g_steal_pointer(&s);
}

GSocket *orch_address_listen(const char *str, GError **errp)
{
    VupAddress a;

    if (!address_parse(str, &a, errp)) {
        return NULL;
    }
    if (a.kind == VUP_ADDRESS_UNIX) {
        return address_listen_unix(a.path, errp);
    }
    return address_listen_tcp(a.host, atoi(a.port), errp);
}

void orch_address_cleanup(const char *str)
{
    if (g_str_has_prefix(str, "unix:")) {
        unlink(str + 5);
    }
}
