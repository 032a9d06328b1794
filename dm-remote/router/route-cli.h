/*
 * dm-remote route: the router's command line (route-cli.c), over the
 * router (route.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_ROUTE_CLI_H
#define DM_ROUTE_CLI_H

/* `dm-remote route ...`: @argv[0] is "route"; the exit status. */
int dm_route_main(int argc, char **argv);

#endif /* DM_ROUTE_CLI_H */
