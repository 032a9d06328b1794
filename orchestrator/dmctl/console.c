/*
 * dmctl: attach the terminal to a VM's remote UART console.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <unistd.h>
#include <gio/gio.h>

#include "../address.h"
#include "api.h"
#include "console.h"
#include "options.h"

#define CONSOLE_DETACH 0x1d     /* Ctrl-] */
/* After our side's EOF (a pipe, not a terminal), wait this long for the
 * rest of the console's output before leaving. */
#define CONSOLE_DRAIN_MS 2000

static struct termios console_saved;
static bool console_raw;

static void console_restore(void)
{
    if (console_raw) {
        tcsetattr(STDIN_FILENO, TCSADRAIN, &console_saved);
        console_raw = false;
    }
}

static void console_make_raw(void)
{
    struct termios t;

    if (!isatty(STDIN_FILENO) || tcgetattr(STDIN_FILENO, &console_saved)) {
        return;
    }
    t = console_saved;
    cfmakeraw(&t);
    if (tcsetattr(STDIN_FILENO, TCSADRAIN, &t) == 0) {
        console_raw = true;
        atexit(console_restore);
    }
}

static bool console_write_all(int fd, const char *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        buf += n;
        len -= n;
    }
    return true;
}

/* Copy stdin to the socket until Ctrl-] or EOF; false once detached. */
static bool console_from_stdin(int sock, bool *eof)
{
    char buf[4096];
    ssize_t n = read(STDIN_FILENO, buf, sizeof(buf));
    char *detach;

    if (n <= 0) {
        *eof = true;
        shutdown(sock, SHUT_WR);
        return true;
    }
    detach = memchr(buf, CONSOLE_DETACH, n);
    if (detach) {
        console_write_all(sock, buf, detach - buf);
        return false;
    }
    return console_write_all(sock, buf, n);
}

static int console_relay(int sock)
{
    struct pollfd fds[2] = {
        { .fd = sock, .events = POLLIN },
        { .fd = STDIN_FILENO, .events = POLLIN },
    };
    bool eof = false;
    char buf[4096];

    for (;;) {
        int n = poll(fds, eof ? 1 : 2, eof ? CONSOLE_DRAIN_MS : -1);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return DMCTL_OK;        /* drained after EOF */
        }
        if (fds[0].revents) {
            ssize_t len = read(sock, buf, sizeof(buf));

            if (len <= 0) {
                return DMCTL_OK;    /* the console went away */
            }
            console_write_all(STDOUT_FILENO, buf, len);
        }
        if (!eof && fds[1].revents && !console_from_stdin(sock, &eof)) {
            return DMCTL_OK;
        }
    }
}

/* Attach stdin/stdout to the console at @address until Ctrl-]. */
static int console_attach(const char *vm, const char *address)
{
    g_autoptr(GError) err = NULL;
    g_autoptr(GSocketConnectable) peer = NULL;
    g_autoptr(GSocketClient) client = g_socket_client_new();
    g_autoptr(GSocketConnection) conn = NULL;
    int ret;

    peer = orch_address_connectable(address, &err);
    if (peer) {
        conn = g_socket_client_connect(client, peer, NULL, &err);
    }
    if (!conn) {
        fprintf(stderr, "dmctl: cannot attach to %s's console at %s: %s\n",
                vm, address, err->message);
        return DMCTL_FAIL;
    }
    if (isatty(STDIN_FILENO)) {
        fprintf(stderr, "Connected to %s's console (Ctrl-] detaches)\r\n",
                vm);
    }
    console_make_raw();
    ret = console_relay(g_socket_get_fd(g_socket_connection_get_socket(
                                            conn)));
    console_restore();
    if (isatty(STDIN_FILENO)) {
        fprintf(stderr, "\nDetached from %s's console\n", vm);
    }
    return ret;
}

int dmctl_console(int argc, char **argv)
{
    g_autoptr(JsonNode) reply = NULL;
    g_autofree char *path = NULL;
    const char *vm, *address = NULL;
    JsonNode *n;
    int ret;

    if (dmctl_getopt(argc, argv, ":", (struct option[]){ { 0 } },
                     "console") != -1) {
        return DMCTL_USAGE;
    }
    vm = dmctl_one_name(argc, argv, "console");
    if (!vm) {
        return DMCTL_USAGE;
    }
    path = g_strdup_printf("/v1/vms/%s/console", vm);
    ret = dmctl_api("GET", path, NULL, &reply);
    if (ret != DMCTL_OK) {
        return ret;
    }
    n = JSON_NODE_HOLDS_OBJECT(reply) ?
        json_object_get_member(json_node_get_object(reply), "console") : NULL;
    if (n && JSON_NODE_HOLDS_VALUE(n) &&
        json_node_get_value_type(n) == G_TYPE_STRING) {
        address = json_node_get_string(n);
    }
    if (!address) {
        fprintf(stderr, "dmctl: the orchestrator gave no console address\n");
        return DMCTL_FAIL;
    }
    return console_attach(vm, address);
}
