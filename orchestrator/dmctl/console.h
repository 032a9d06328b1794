/*
 * dmctl console: a VM's console on the terminal.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DMCTL_CONSOLE_H
#define DMCTL_CONSOLE_H


int dmctl_console(int argc, char **argv);

#endif /* DMCTL_CONSOLE_H */
