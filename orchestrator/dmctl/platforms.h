/*
 * dmctl platform ...: the client and server platforms; argv[0] is the
 * subcommand's name.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DMCTL_PLATFORMS_H
#define DMCTL_PLATFORMS_H


int dmctl_platform_add(int argc, char **argv);
int dmctl_platform_list(int argc, char **argv);
int dmctl_platform_remove(int argc, char **argv);

#endif /* DMCTL_PLATFORMS_H */
