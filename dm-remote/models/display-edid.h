/*
 * The EDID a display model offers its guest: one 128-byte EDID 1.4 block
 * built from the preferred mode, with the usual modes up to 1920x1080
 * that fit the framebuffer twice (Linux's bochs driver wants room for a
 * second buffer).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_DISPLAY_EDID_H
#define DM_DISPLAY_EDID_H

#include <stdint.h>

#define DM_EDID_SIZE 128

/* Fill @edid: preferred mode @xres x @yres at 60 Hz, @vgamem bytes. */
void dm_edid_build(uint8_t edid[DM_EDID_SIZE], unsigned xres, unsigned yres,
                   uint64_t vgamem);

#endif /* DM_DISPLAY_EDID_H */
