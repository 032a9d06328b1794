/*
 * Server-side consoles for character devices (the patent's central
 * console): where a model's output goes and its input comes from.
 *
 *   stdio        the server's stdin and stdout
 *   file:PATH    output appended to PATH, no input
 *   unix:PATH    a UNIX socket; one console client at a time, who first
 *                receives the last 64 KiB of output, then the live stream,
 *                and whose keystrokes are the device's input
 *
 * Runs in the event loop's thread.  Output never blocks the server: what
 * a slow console client cannot take is dropped (and counted).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_CONSOLE_H
#define DM_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

#include "loop.h"

typedef struct DmConsole DmConsole;

/* Bytes typed into the console; return how many were taken (0: full). */
typedef size_t DmConsoleInput(void *opaque, const uint8_t *buf, size_t len);

/* Open the console described by @spec; NULL with a reason in @err. */
DmConsole *dm_console_open(const char *spec, DmLoop *loop,
                           DmConsoleInput *input, void *opaque, char *err,
                           size_t errlen);
void dm_console_close(DmConsole *c);

void dm_console_write(DmConsole *c, const uint8_t *buf, size_t len);

/* The device can take input again (after DmConsoleInput returned short). */
void dm_console_resume_input(DmConsole *c);

/* SIGUSR1: the client, the input waiting, the output dropped, logged. */
void dm_console_dump(const DmConsole *c);

/* Check @spec without opening anything; 0 or -EINVAL with a reason. */
int dm_console_check_spec(const char *spec, char *err, size_t errlen);

#endif /* DM_CONSOLE_H */
