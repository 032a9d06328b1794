/*
 * A display model's VNC server: serves a framebuffer in the model's
 * memory over RFB (Debian's libvncserver) and forwards the viewers' keys
 * and pointer over input links (input-sender.h).  The model tells it the
 * mode the guest set; the server does the rest on threads of its own.
 *
 * Without libvncserver at build time dm_vnc_start fails with a reason
 * (display-vnc-none.c), and the model works without a viewer.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_DISPLAY_VNC_H
#define DM_DISPLAY_VNC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* What the guest shows: 32-bit XRGB little endian, inside the memory. */
typedef struct DmDisplayMode {
    bool enabled;               /* false: a blank screen */
    uint32_t width, height;
    uint32_t stride;            /* bytes per line */
    uint64_t offset;            /* of the first pixel */
} DmDisplayMode;

typedef struct DmVncConfig {
    const char *listen;         /* unix:PATH or tcp:HOST:PORT */
    const char *password;       /* NULL: no authentication */
    unsigned fps;               /* screen comparisons per second */
    const char *keyboard;       /* input links, unix:PATH, or NULL */
    const char *tablet;
    const uint8_t *fb;          /* the framebuffer memory */
    uint64_t fb_size;
} DmVncConfig;

typedef struct DmVnc DmVnc;

/* Listen and serve; NULL with a reason in @err. */
DmVnc *dm_vnc_start(const DmVncConfig *cfg, char *err, size_t errlen);
/* The guest set a new mode (from the model's loop; does not block). */
void dm_vnc_set_mode(DmVnc *v, const DmDisplayMode *m);
/* One dm_info line: viewers, updates, input sent and dropped. */
void dm_vnc_dump(DmVnc *v);
/* Disconnect the viewers, stop the threads, free. */
void dm_vnc_stop(DmVnc *v);

#endif /* DM_DISPLAY_VNC_H */
