/*
 * dm-remote daemon: the launcher of a platform (see daemon.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_DAEMON_H
#define DM_DAEMON_H

/* `dm-remote daemon ...`: @argv[0] is "daemon".  Returns the exit status. */
int dm_daemon_main(int argc, char **argv);

#endif /* DM_DAEMON_H */
