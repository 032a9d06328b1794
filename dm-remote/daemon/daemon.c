/*
 * dm-remote daemon: placeholder until the launcher lands.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>

#include "daemon.h"

int dm_daemon_main(int argc, char **argv)
{
    fprintf(stderr, "dm-remote: daemon: not built yet\n");
    return 1;
}
