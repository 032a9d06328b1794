/*
 * Server-side consoles for character devices.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "address.h"
#include "console.h"
#include "log.h"

#define BACKLOG_SIZE    (64 * 1024)

typedef enum DmConsoleKind {
    DM_CONSOLE_STDIO,
    DM_CONSOLE_FILE,
    DM_CONSOLE_UNIX,
} DmConsoleKind;

struct DmConsole {
    DmConsoleKind kind;
    DmLoop *loop;
    DmConsoleInput *input;
    void *opaque;
    int in_fd;                  /* where input comes from, or -1 */
    int out_fd;                 /* where output goes, or -1 */
    int listen_fd;              /* unix: */
    DmAddress addr;
    bool input_paused;
    /*
     * unix: the client hung up (a write failed, or poll said so while
     * its input was paused).  No more output goes to it, but what it
     * sent before leaving still reaches the device, up to its end; a
     * new client replaces it.  Its fd is watched for reading unless its
     * input is paused (a hang-up would be reported again and again).
     */
    bool client_gone;
    uint8_t pending[256];       /* read but not yet taken by the device */
    size_t pending_len;
    uint8_t *backlog;           /* unix: the last output, a ring */
    size_t backlog_pos;
    bool backlog_full;
    uint64_t dropped;
};

static void console_readable(void *opaque, int fd, short revents);

static void feed_device(DmConsole *c)
{
    size_t n = c->input(c->opaque, c->pending, c->pending_len);

    memmove(c->pending, c->pending + n, c->pending_len - n);
    c->pending_len -= n;
    /*
     * Device full: stop reading until it asks for more.  A console
     * client is still watched for a hang-up (poll reports POLLHUP
     * without asking), or a client that left while the guest was not
     * reading would keep the console busy for good.
     */
    if (c->pending_len && !c->input_paused) {
        c->input_paused = true;
        if (c->kind == DM_CONSOLE_UNIX && !c->client_gone) {
            dm_loop_set_events(c->loop, c->in_fd, 0);
        } else {
            dm_loop_del_fd(c->loop, c->in_fd);
        }
    }
}

static void drop_client(DmConsole *c)
{
    if (c->in_fd >= 0) {
        dm_loop_del_fd(c->loop, c->in_fd);
        close(c->in_fd);
    }
    c->in_fd = c->out_fd = -1;
    c->input_paused = false;
    c->client_gone = false;
    c->pending_len = 0;
}

/*
 * The client hung up: no more output to it, and the next one may attach.
 * Its input is still read up to its end: a client that sends a command
 * and leaves at once (a script) may be noticed gone by the write of the
 * guest's next output, before the loop has read the command.
 */
static void client_hung_up(DmConsole *c)
{
    if (!c->client_gone) {
        c->client_gone = true;
        if (c->input_paused) {
            dm_loop_del_fd(c->loop, c->in_fd);
        }
    }
}

static void console_readable(void *opaque, int fd, short revents)
{
    DmConsole *c = opaque;
    ssize_t n;

    if (c->input_paused) {
        client_hung_up(c);      /* only a hang-up is watched for now */
        return;
    }
    n = read(fd, c->pending + c->pending_len,
             sizeof(c->pending) - c->pending_len);

    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            return;
        }
        if (c->kind == DM_CONSOLE_UNIX) {
            drop_client(c);     /* the next console client may attach */
        } else {
            dm_loop_del_fd(c->loop, fd);    /* stdin closed: output only */
            c->in_fd = -1;
        }
        return;
    }
    c->pending_len += n;
    feed_device(c);
}

void dm_console_resume_input(DmConsole *c)
{
    if (c->pending_len) {
        feed_device(c);
    }
    if (c->input_paused && !c->pending_len && c->in_fd >= 0) {
        c->input_paused = false;
        if (c->kind == DM_CONSOLE_UNIX && !c->client_gone) {
            dm_loop_set_events(c->loop, c->in_fd, POLLIN);
        } else {
            /* stdin, or a client gone: read the rest up to its end. */
            dm_loop_add_fd(c->loop, c->in_fd, POLLIN, console_readable, c);
        }
    }
}

static void backlog_add(DmConsole *c, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        size_t n = BACKLOG_SIZE - c->backlog_pos;

        n = n < len ? n : len;
        memcpy(c->backlog + c->backlog_pos, buf, n);
        c->backlog_pos = (c->backlog_pos + n) % BACKLOG_SIZE;
        c->backlog_full |= c->backlog_pos == 0;
        buf += n;
        len -= n;
    }
}

/* Write without blocking; what does not fit is dropped. */
static void write_some(DmConsole *c, const uint8_t *buf, size_t len)
{
    while (len > 0) {
        ssize_t n = write(c->out_fd, buf, len);

        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            c->dropped += len;
            if (n < 0 && (errno == EPIPE || errno == ECONNRESET) &&
                c->kind == DM_CONSOLE_UNIX && c->out_fd >= 0) {
                client_hung_up(c);
            }
            return;
        }
        buf += n;
        len -= n;
    }
}

void dm_console_write(DmConsole *c, const uint8_t *buf, size_t len)
{
    if (c->backlog) {
        backlog_add(c, buf, len);
    }
    if (c->out_fd >= 0 && !c->client_gone) {
        write_some(c, buf, len);
    }
}

static void console_accept(void *opaque, int fd, short revents)
{
    DmConsole *c = opaque;
    int client = accept4(fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);

    if (client < 0) {
        return;
    }
    if (c->client_gone) {
        drop_client(c);         /* its unread input goes with it */
    }
    if (c->out_fd >= 0) {
        static const char busy[] = "console busy: another client is "
                                   "attached\r\n";

        (void)!write(client, busy, sizeof(busy) - 1);
        close(client);
        return;
    }
    c->in_fd = c->out_fd = client;
    /* What the device said before anyone was listening. */
    if (c->backlog_full) {
        write_some(c, c->backlog + c->backlog_pos,
                   BACKLOG_SIZE - c->backlog_pos);
    }
    write_some(c, c->backlog, c->backlog_pos);
    dm_loop_add_fd(c->loop, client, POLLIN, console_readable, c);
}

void dm_console_dump(const DmConsole *c)
{
    dm_info("console: %s, input %s, %zu bytes waiting for the device, "
            "%llu bytes of output dropped",
            c->in_fd < 0 ? "no client" :
            c->client_gone ? "its client gone" : "a client attached",
            c->input_paused ? "paused" : "read", c->pending_len,
            (unsigned long long)c->dropped);
}

int dm_console_check_spec(const char *spec, char *err, size_t errlen)
{
    DmAddress a;

    if (strcmp(spec, "stdio") == 0) {
        return 0;
    }
    if (strncmp(spec, "file:", 5) == 0 && spec[5]) {
        return 0;
    }
    if (strncmp(spec, "unix:", 5) == 0) {
        return dm_address_parse(spec, &a, err, errlen);
    }
    snprintf(err, errlen, "bad console '%s' (stdio, file:PATH or unix:PATH)",
             spec);
    return -EINVAL;
}

DmConsole *dm_console_open(const char *spec, DmLoop *loop,
                           DmConsoleInput *input, void *opaque, char *err,
                           size_t errlen)
{
    DmConsole *c;

    if (dm_console_check_spec(spec, err, errlen) < 0) {
        return NULL;
    }
    c = calloc(1, sizeof(*c));
    if (!c) {
        snprintf(err, errlen, "out of memory");
        return NULL;
    }
    *c = (DmConsole) { .loop = loop, .input = input, .opaque = opaque,
                       .in_fd = -1, .out_fd = -1, .listen_fd = -1 };
    if (strcmp(spec, "stdio") == 0) {
        c->kind = DM_CONSOLE_STDIO;
        c->in_fd = STDIN_FILENO;
        /*
         * Left blocking: O_NONBLOCK would change the file description we
         * share with the shell that started us.
         */
        c->out_fd = STDOUT_FILENO;
        dm_loop_add_fd(loop, c->in_fd, POLLIN, console_readable, c);
    } else if (strncmp(spec, "file:", 5) == 0) {
        c->kind = DM_CONSOLE_FILE;
        c->out_fd = open(spec + 5, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC,
                         0644);
        if (c->out_fd < 0) {
            snprintf(err, errlen, "cannot open console %s: %s", spec + 5,
                     strerror(errno));
            free(c);
            return NULL;
        }
    } else {
        c->kind = DM_CONSOLE_UNIX;
        dm_address_parse(spec, &c->addr, err, errlen);
        c->backlog = malloc(BACKLOG_SIZE);
        c->listen_fd = c->backlog ? dm_address_listen(&c->addr, err, errlen)
                                  : -ENOMEM;
        if (c->listen_fd < 0) {
            free(c->backlog);
            free(c);
            return NULL;
        }
        dm_loop_add_fd(loop, c->listen_fd, POLLIN, console_accept, c);
    }
    return c;
}

void dm_console_close(DmConsole *c)
{
    if (!c) {
        return;
    }
    if (c->kind == DM_CONSOLE_UNIX) {
        drop_client(c);
        dm_loop_del_fd(c->loop, c->listen_fd);
        close(c->listen_fd);
        dm_address_cleanup(&c->addr);
    } else if (c->kind == DM_CONSOLE_FILE) {
        close(c->out_fd);
    } else if (c->in_fd >= 0) {
        dm_loop_del_fd(c->loop, c->in_fd);
    }
    if (c->dropped) {
        dm_warn("console dropped %llu bytes nobody could take",
                (unsigned long long)c->dropped);
    }
    free(c->backlog);
    free(c);
}
