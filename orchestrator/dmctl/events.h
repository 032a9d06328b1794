/*
 * dmctl events: what happened to the VMs.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DMCTL_EVENTS_H
#define DMCTL_EVENTS_H


int dmctl_events(int argc, char **argv);

#endif /* DMCTL_EVENTS_H */
