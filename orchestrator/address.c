/*
 * Addresses of the orchestrator and of launchers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/un.h>
#include <unistd.h>
#include <gio/gunixsocketaddress.h>

#include "address.h"

#define UNIX_PATH_MAX (sizeof(((struct sockaddr_un *)0)->sun_path) - 1)

/* Split "tcp:HOST:PORT" (HOST may be [IPv6]); FALSE if malformed. */
static gboolean address_split_tcp(const char *hp, char **ret_host,
                                  guint16 *ret_port)
{
    const char *colon;
    g_autofree char *host = NULL;
    char *end;
    long port;

    if (*hp == '[') {
        const char *close = strchr(hp, ']');

        if (!close || close[1] != ':') {
            return FALSE;
        }
        host = g_strndup(hp + 1, close - hp - 1);
        colon = close + 1;
    } else {
        colon = strrchr(hp, ':');
        if (!colon) {
            return FALSE;
        }
        host = g_strndup(hp, colon - hp);
    }
    errno = 0;
    port = strtol(colon + 1, &end, 10);
    if (!*host || colon[1] == '\0' || *end || errno || port < 1 ||
        port > 65535) {
        return FALSE;
    }
    *ret_host = g_steal_pointer(&host);
    *ret_port = port;
    return TRUE;
}

gboolean orch_address_valid(const char *str, GError **errp)
{
    g_autofree char *host = NULL;
    guint16 port;

    if (g_str_has_prefix(str, "unix:")) {
        size_t len = strlen(str + 5);

        if (len == 0 || len > UNIX_PATH_MAX) {
            g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                        "bad socket path in '%s' (1 to %zu bytes)", str,
                        UNIX_PATH_MAX);
            return FALSE;
        }
        return TRUE;
    }
    if (g_str_has_prefix(str, "tcp:") &&
        address_split_tcp(str + 4, &host, &port)) {
        return TRUE;
    }
    g_set_error(errp, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                "bad address '%s' (expected unix:PATH or tcp:HOST:PORT)",
                str);
    return FALSE;
}

GSocketConnectable *orch_address_connectable(const char *str,
                                             GError **errp)
{
    g_autofree char *host = NULL;
    guint16 port;

    if (!orch_address_valid(str, errp)) {
        return NULL;
    }
    if (g_str_has_prefix(str, "unix:")) {
        return G_SOCKET_CONNECTABLE(g_unix_socket_address_new(str + 5));
    }
    address_split_tcp(str + 4, &host, &port);
    return g_network_address_new(host, port);
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
    if (!s || !g_socket_bind(s, sa, FALSE, errp) ||
        !g_socket_listen(s, errp)) {
        return NULL;
    }
    return g_steal_pointer(&s);
}

static GSocket *address_listen_tcp(const char *hp, GError **errp)
{
    g_autofree char *host = NULL;
    g_autoptr(GInetAddress) ia = NULL;
    g_autoptr(GSocketAddress) sa = NULL;
    g_autoptr(GSocket) s = NULL;
    guint16 port;

    address_split_tcp(hp, &host, &port);
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
    if (!s || !g_socket_bind(s, sa, TRUE, errp) ||
        !g_socket_listen(s, errp)) {
        return NULL;
    }
    return g_steal_pointer(&s);
}

GSocket *orch_address_listen(const char *str, GError **errp)
{
    if (!orch_address_valid(str, errp)) {
        return NULL;
    }
    if (g_str_has_prefix(str, "unix:")) {
        return address_listen_unix(str + 5, errp);
    }
    return address_listen_tcp(str + 4, errp);
}

void orch_address_cleanup(const char *str)
{
    if (g_str_has_prefix(str, "unix:")) {
        unlink(str + 5);
    }
}
