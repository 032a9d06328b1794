/*
 * dmctl dm ...: the device models.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DMCTL_DMS_H
#define DMCTL_DMS_H


int dmctl_dm_list(int argc, char **argv);

#endif /* DMCTL_DMS_H */
