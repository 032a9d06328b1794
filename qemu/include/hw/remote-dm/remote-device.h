/*
 * -remote-device: a device served by a remote model, typed without
 * knowing the proxy devices' names.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef HW_REMOTE_DM_REMOTE_DEVICE_H
#define HW_REMOTE_DM_REMOTE_DEVICE_H

/*
 * Turn "-remote-device id=ser0,bus=isa,server=unix:PATH,iobase=0x3f8,irq=4"
 * into the matching -device option string (dm-proxy-isa or dm-proxy-pci);
 * NULL with @errp set for bad input.
 */
char *remote_device_to_device_opts(const char *optarg, Error **errp);

#endif /* HW_REMOTE_DM_REMOTE_DEVICE_H */
