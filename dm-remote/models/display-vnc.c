/*
 * The display's VNC server (display-vnc.h), on Debian's libvncserver.
 *
 * Threads, and why: the model's event loop must never wait for a viewer.
 * libvncserver writes to a viewer with blocking sends (rfbWriteExact
 * waits up to rfbMaxClientWait for a slow one), so it does not run on
 * the loop: it runs its threaded mode (rfbRunEventLoop in the
 * background), a listener thread that accepts on the socket we opened
 * (unix: or tcp:, from libvup's address parser) and two threads per
 * viewer, so a slow or hostile viewer stalls only its own thread.  A
 * scanner thread of ours compares the guest's framebuffer with a shadow
 * copy fps= times a second, by tiles, and marks only what changed; it
 * sleeps while nobody watches.  The loop's only call, dm_vnc_set_mode,
 * takes a mutex that nobody holds across I/O.
 *
 * Buffers: "raw" is the last frame seen, in the guest's format (XRGB
 * little endian), for memcmp; "rfb" is what viewers are sent, in
 * libvncserver's default layout (R, G, B, 0 in memory), so that a mode
 * change never touches pixel formats the viewers' threads are using.
 * Both are fb_size bytes (any valid mode fits), allocated once, so a
 * resize never frees memory a viewer's thread may be reading.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>
#include <linux/input-event-codes.h>
#include <glib.h>
#include <rfb/rfb.h>
#include <rfb/keysym.h>

#include "address.h"
#include "log.h"
#include "display-vnc.h"
#include "input-sender.h"

#define TILE_W          64
#define TILE_H          16
#define BLANK_W         640     /* what a viewer sees while disabled */
#define BLANK_H         480
#define TABLET_MAX      32767   /* the tablet's ABS_X/ABS_Y range */

struct DmVnc {
    DmAddress addr;
    int listen_fd;
    rfbScreenInfoPtr screen;
    char *passwords[2];
    const uint8_t *fb;
    uint64_t fb_size;
    uint8_t *raw;
    uint8_t *rfb;
    unsigned fps;

    pthread_mutex_t lock;
    pthread_cond_t cond;        /* wakes the scanner */
    pthread_cond_t scanned;     /* a full refresh is done */
    bool stop;
    DmDisplayMode mode;         /* as the model last said */
    uint64_t mode_gen;
    uint64_t refresh_asked, refresh_done;

    /* The scanner's own. */
    pthread_t scanner;
    DmDisplayMode shown;
    uint64_t shown_gen;

    atomic_int viewers;
    atomic_uint width, height;  /* shown, for the pointer's scale */
    atomic_ullong frames, tiles;

    DmInputSender *kbd, *tablet;
    atomic_int buttons;         /* the last RFB button mask sent */
    atomic_ullong keys_unknown;
};

/* ---- The screen ---- */

/* Guest XRGB (B, G, R, X in memory) to R, G, B, 0. */
static void vnc_convert(uint8_t *dst, const uint8_t *src, unsigned pixels)
{
    for (unsigned i = 0; i < pixels; i++, dst += 4, src += 4) {
        dst[0] = src[2];
        dst[1] = src[1];
        dst[2] = src[0];
        dst[3] = 0;
    }
}

/* Take the new mode: a new RFB size, the whole screen sent again. */
static void vnc_resize(DmVnc *v, const DmDisplayMode *m)
{
    unsigned w = m->enabled ? m->width : BLANK_W;
    unsigned h = m->enabled ? m->height : BLANK_H;

    memset(v->rfb, 0, (size_t)w * h * 4);
    memset(v->raw, 0, (size_t)w * h * 4);
    if ((int)w != v->screen->width || (int)h != v->screen->height) {
        rfbNewFramebuffer(v->screen, (char *)v->rfb, w, h, 8, 3, 4);
    }
    atomic_store(&v->width, w);
    atomic_store(&v->height, h);
    v->shown = *m;
    if (m->enabled) {
        for (unsigned y = 0; y < h; y++) {
            const uint8_t *src = v->fb + m->offset + (uint64_t)y * m->stride;

            memcpy(v->raw + (size_t)y * w * 4, src, (size_t)w * 4);
            vnc_convert(v->rfb + (size_t)y * w * 4, src, w);
        }
    }
    rfbMarkRectAsModified(v->screen, 0, 0, w, h);
}

/* Compare by tiles, copy and mark the ones that changed. */
static void vnc_scan(DmVnc *v)
{
    const DmDisplayMode *m = &v->shown;
    unsigned w = m->width, h = m->height;

    if (!m->enabled) {
        return;
    }
    for (unsigned ty = 0; ty < h; ty += TILE_H) {
        unsigned th = MIN(TILE_H, h - ty);

        for (unsigned tx = 0; tx < w; tx += TILE_W) {
            unsigned tw = MIN(TILE_W, w - tx);
            bool changed = false;

            for (unsigned y = ty; y < ty + th && !changed; y++) {
                const uint8_t *src = v->fb + m->offset +
                                     (uint64_t)y * m->stride + tx * 4;

                changed = memcmp(v->raw + ((size_t)y * w + tx) * 4, src,
                                 (size_t)tw * 4) != 0;
            }
            if (!changed) {
                continue;
            }
            for (unsigned y = ty; y < ty + th; y++) {
                const uint8_t *src = v->fb + m->offset +
                                     (uint64_t)y * m->stride + tx * 4;
                size_t at = ((size_t)y * w + tx) * 4;

                memcpy(v->raw + at, src, (size_t)tw * 4);
                vnc_convert(v->rfb + at, src, tw);
            }
            rfbMarkRectAsModified(v->screen, tx, ty, tx + tw, ty + th);
            atomic_fetch_add(&v->tiles, 1);
        }
    }
    atomic_fetch_add(&v->frames, 1);
}

static void *vnc_scanner(void *opaque)
{
    DmVnc *v = opaque;
    struct timespec next;

    pthread_mutex_lock(&v->lock);
    clock_gettime(CLOCK_MONOTONIC, &next);
    while (!v->stop) {
        DmDisplayMode m;
        uint64_t gen, asked;

        if (v->refresh_asked == v->refresh_done &&
            atomic_load(&v->viewers) == 0) {
            /* Nobody watches: sleep until a viewer or a stop. */
            pthread_cond_wait(&v->cond, &v->lock);
            continue;
        }
        if (v->refresh_asked == v->refresh_done) {
            next.tv_nsec += 1000000000L / v->fps;
            if (next.tv_nsec >= 1000000000L) {
                next.tv_sec++;
                next.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&v->cond, &v->lock, &next);
            if (v->stop) {
                break;
            }
        }
        m = v->mode;
        gen = v->mode_gen;
        asked = v->refresh_asked;
        pthread_mutex_unlock(&v->lock);

        /* Nobody watches: nothing to compare (a viewer asks first). */
        if (atomic_load(&v->viewers) > 0 || asked != v->refresh_done) {
            if (gen != v->shown_gen || asked != v->refresh_done) {
                vnc_resize(v, &m);
                v->shown_gen = gen;
            } else {
                vnc_scan(v);
            }
        }

        pthread_mutex_lock(&v->lock);
        if (asked != v->refresh_done) {
            v->refresh_done = asked;
            pthread_cond_broadcast(&v->scanned);
        }
        clock_gettime(CLOCK_MONOTONIC, &next);
    }
    pthread_mutex_unlock(&v->lock);
    return NULL;
}

void dm_vnc_set_mode(DmVnc *v, const DmDisplayMode *m)
{
    pthread_mutex_lock(&v->lock);
    if (memcmp(&v->mode, m, sizeof(*m)) != 0) {
        v->mode = *m;
        v->mode_gen++;
        pthread_cond_signal(&v->cond);
    }
    pthread_mutex_unlock(&v->lock);
}

/* ---- Viewers ---- */

static void vnc_viewer_gone(rfbClientPtr cl)
{
    DmVnc *v = cl->screen->screenData;

    atomic_fetch_sub(&v->viewers, 1);
}

/*
 * A viewer connected (on libvncserver's listener thread): bring the
 * screen up to date before its first update, since nothing was compared
 * while nobody watched.  Waits for the scanner only, a bounded time.
 */
static enum rfbNewClientAction vnc_viewer_new(rfbClientPtr cl)
{
    DmVnc *v = cl->screen->screenData;
    struct timespec deadline;
    uint64_t ticket;

    cl->clientGoneHook = vnc_viewer_gone;
    atomic_fetch_add(&v->viewers, 1);
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += 2;
    pthread_mutex_lock(&v->lock);
    ticket = ++v->refresh_asked;
    pthread_cond_signal(&v->cond);
    while (!v->stop && v->refresh_done < ticket &&
           pthread_cond_timedwait(&v->scanned, &v->lock, &deadline) == 0) {
    }
    pthread_mutex_unlock(&v->lock);
    return RFB_CLIENT_ACCEPT;
}

/* ---- Input ---- */

static const uint16_t vnc_letters[26] = {
    KEY_A, KEY_B, KEY_C, KEY_D, KEY_E, KEY_F, KEY_G, KEY_H, KEY_I, KEY_J,
    KEY_K, KEY_L, KEY_M, KEY_N, KEY_O, KEY_P, KEY_Q, KEY_R, KEY_S, KEY_T,
    KEY_U, KEY_V, KEY_W, KEY_X, KEY_Y, KEY_Z,
};

static const struct {
    uint32_t keysym;
    uint16_t key;
} vnc_keys[] = {
    { '1', KEY_1 }, { '!', KEY_1 }, { '2', KEY_2 }, { '@', KEY_2 },
    { '3', KEY_3 }, { '#', KEY_3 }, { '4', KEY_4 }, { '$', KEY_4 },
    { '5', KEY_5 }, { '%', KEY_5 }, { '6', KEY_6 }, { '^', KEY_6 },
    { '7', KEY_7 }, { '&', KEY_7 }, { '8', KEY_8 }, { '*', KEY_8 },
    { '9', KEY_9 }, { '(', KEY_9 }, { '0', KEY_0 }, { ')', KEY_0 },
    { ' ', KEY_SPACE }, { '-', KEY_MINUS }, { '_', KEY_MINUS },
    { '=', KEY_EQUAL }, { '+', KEY_EQUAL }, { '[', KEY_LEFTBRACE },
    { '{', KEY_LEFTBRACE }, { ']', KEY_RIGHTBRACE }, { '}', KEY_RIGHTBRACE },
    { ';', KEY_SEMICOLON }, { ':', KEY_SEMICOLON },
    { '\'', KEY_APOSTROPHE }, { '"', KEY_APOSTROPHE }, { '`', KEY_GRAVE },
    { '~', KEY_GRAVE }, { '\\', KEY_BACKSLASH }, { '|', KEY_BACKSLASH },
    { ',', KEY_COMMA }, { '<', KEY_COMMA }, { '.', KEY_DOT },
    { '>', KEY_DOT }, { '/', KEY_SLASH }, { '?', KEY_SLASH },
    { XK_BackSpace, KEY_BACKSPACE }, { XK_Tab, KEY_TAB },
    { XK_ISO_Left_Tab, KEY_TAB }, { XK_Return, KEY_ENTER },
    { XK_KP_Enter, KEY_KPENTER }, { XK_Escape, KEY_ESC },
    { XK_Delete, KEY_DELETE }, { XK_Insert, KEY_INSERT },
    { XK_Home, KEY_HOME }, { XK_End, KEY_END }, { XK_Page_Up, KEY_PAGEUP },
    { XK_Page_Down, KEY_PAGEDOWN }, { XK_Left, KEY_LEFT }, { XK_Up, KEY_UP },
    { XK_Right, KEY_RIGHT }, { XK_Down, KEY_DOWN },
    { XK_Shift_L, KEY_LEFTSHIFT }, { XK_Shift_R, KEY_RIGHTSHIFT },
    { XK_Control_L, KEY_LEFTCTRL }, { XK_Control_R, KEY_RIGHTCTRL },
    { XK_Alt_L, KEY_LEFTALT }, { XK_Alt_R, KEY_RIGHTALT },
    { XK_Meta_L, KEY_LEFTALT }, { XK_Meta_R, KEY_RIGHTALT },
    { XK_Super_L, KEY_LEFTMETA }, { XK_Super_R, KEY_RIGHTMETA },
    { XK_Caps_Lock, KEY_CAPSLOCK },
    { XK_F1, KEY_F1 }, { XK_F2, KEY_F2 }, { XK_F3, KEY_F3 },
    { XK_F4, KEY_F4 }, { XK_F5, KEY_F5 }, { XK_F6, KEY_F6 },
    { XK_F7, KEY_F7 }, { XK_F8, KEY_F8 }, { XK_F9, KEY_F9 },
    { XK_F10, KEY_F10 }, { XK_F11, KEY_F11 }, { XK_F12, KEY_F12 },
};

/* The KEY_* code of an X keysym, 0 when we do not know it. */
static uint16_t vnc_keysym_to_key(uint32_t keysym)
{
    if (keysym >= 'a' && keysym <= 'z') {
        return vnc_letters[keysym - 'a'];
    }
    if (keysym >= 'A' && keysym <= 'Z') {
        return vnc_letters[keysym - 'A'];
    }
    for (size_t i = 0; i < G_N_ELEMENTS(vnc_keys); i++) {
        if (vnc_keys[i].keysym == keysym) {
            return vnc_keys[i].key;
        }
    }
    return 0;
}

/* On the viewer's thread; the link never blocks it. */
static void vnc_key(rfbBool down, rfbKeySym keysym, rfbClientPtr cl)
{
    DmVnc *v = cl->screen->screenData;
    DmInputEvent ev = { EV_KEY, vnc_keysym_to_key(keysym), down ? 1 : 0 };

    if (!ev.code) {
        atomic_fetch_add(&v->keys_unknown, 1);
        return;
    }
    if (v->kbd) {
        dm_input_sender_send(v->kbd, &ev, 1);
    }
}

static int32_t vnc_scale(int pos, unsigned size)
{
    if (pos <= 0 || size <= 1) {
        return 0;
    }
    if ((unsigned)pos >= size - 1) {
        return TABLET_MAX;
    }
    return (int64_t)pos * TABLET_MAX / (size - 1);
}

static void vnc_pointer(int mask, int x, int y, rfbClientPtr cl)
{
    static const uint16_t buttons[3] = { BTN_LEFT, BTN_MIDDLE, BTN_RIGHT };
    DmVnc *v = cl->screen->screenData;
    int old = atomic_exchange(&v->buttons, mask);
    DmInputEvent ev[8];
    unsigned n = 0;

    if (!v->tablet) {
        return;
    }
    ev[n++] = (DmInputEvent){ EV_ABS, ABS_X,
                              vnc_scale(x, atomic_load(&v->width)) };
    ev[n++] = (DmInputEvent){ EV_ABS, ABS_Y,
                              vnc_scale(y, atomic_load(&v->height)) };
    for (unsigned b = 0; b < 3; b++) {
        if ((old ^ mask) & (1 << b)) {
            ev[n++] = (DmInputEvent){ EV_KEY, buttons[b], !!(mask & (1 << b)) };
        }
    }
    /* RFB's buttons 4 and 5: the wheel, one step per press. */
    if (mask & ~old & (1 << 3)) {
        ev[n++] = (DmInputEvent){ EV_REL, REL_WHEEL, 1 };
    }
    if (mask & ~old & (1 << 4)) {
        ev[n++] = (DmInputEvent){ EV_REL, REL_WHEEL, -1 };
    }
    dm_input_sender_send(v->tablet, ev, n);
}

/* ---- Start and stop ---- */

/*
 * libvncserver logs to stderr, a lot (statistics per viewer): its errors
 * through ours, its chatter nowhere.
 */
static void vnc_log_error(const char *fmt, ...)
{
    char buf[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(buf, sizeof(buf), fmt, ap);
    va_end(ap);
    /* It sets TCP_NODELAY on every viewer: a UNIX socket has none. */
    if (!strstr(buf, "TCP_NODELAY")) {
        dm_warn("vnc: %s", g_strchomp(buf));
    }
}

static void vnc_log_quiet(const char *fmt, ...)
{
}

static void vnc_free(DmVnc *v)
{
    dm_input_sender_free(v->kbd);
    dm_input_sender_free(v->tablet);
    g_free(v->raw);
    g_free(v->rfb);
    g_free(v->passwords[0]);
    pthread_mutex_destroy(&v->lock);
    pthread_cond_destroy(&v->cond);
    pthread_cond_destroy(&v->scanned);
    g_free(v);
}

DmVnc *dm_vnc_start(const DmVncConfig *cfg, char *err, size_t errlen)
{
    DmVnc *v = g_new0(DmVnc, 1);
    pthread_condattr_t ca;
    int argc = 0;

    pthread_mutex_init(&v->lock, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&v->cond, &ca);
    pthread_cond_init(&v->scanned, &ca);
    pthread_condattr_destroy(&ca);
    v->fb = cfg->fb;
    v->fb_size = cfg->fb_size;
    v->fps = cfg->fps ? cfg->fps : 30;
    v->listen_fd = -1;
    /* Pages only become memory when a mode uses them. */
    v->raw = g_malloc0(MAX(cfg->fb_size, BLANK_W * BLANK_H * 4));
    v->rfb = g_malloc0(MAX(cfg->fb_size, BLANK_W * BLANK_H * 4));
    if (cfg->keyboard && !(v->kbd = dm_input_sender_new(cfg->keyboard))) {
        snprintf(err, errlen, "bad keyboard= address");
        goto fail;
    }
    if (cfg->tablet && !(v->tablet = dm_input_sender_new(cfg->tablet))) {
        snprintf(err, errlen, "bad tablet= address");
        goto fail;
    }
    if (dm_address_parse(cfg->listen, &v->addr, err, errlen) < 0) {
        goto fail;
    }
    v->listen_fd = dm_address_listen(&v->addr, err, errlen);
    if (v->listen_fd < 0) {
        goto fail;
    }
    if (v->addr.kind == DM_ADDRESS_UNIX) {
        /* The screen and the keyboard are the VM's: its owner's alone. */
        chmod(v->addr.path, 0600);
    }

    rfbLog = vnc_log_quiet;
    rfbErr = vnc_log_error;
    v->screen = rfbGetScreen(&argc, NULL, BLANK_W, BLANK_H, 8, 3, 4);
    if (!v->screen) {
        snprintf(err, errlen, "libvncserver: no screen");
        goto fail;
    }
    v->screen->desktopName = "dm-remote bochs-display";
    v->screen->frameBuffer = (char *)v->rfb;
    v->screen->alwaysShared = TRUE;
    /*
     * No cursor of libvncserver's: it would draw one into the frame the
     * viewers share, under a screen-wide lock; the guest draws its own.
     */
    v->screen->cursor = NULL;
    /*
     * A viewer that stops reading holds its send lock, which a resize
     * (rfbNewFramebuffer) waits for: drop such a viewer after 5 s, not
     * libvncserver's 20, so the others' screens go on.
     */
    v->screen->maxClientWait = 5000;
    v->screen->screenData = v;
    v->screen->newClientHook = vnc_viewer_new;
    v->screen->kbdAddEvent = vnc_key;
    v->screen->ptrAddEvent = vnc_pointer;
    /* We listen ourselves (UNIX sockets too): no port of its own. */
    v->screen->port = 0;
    v->screen->ipv6port = 0;
    v->screen->autoPort = FALSE;
    v->screen->httpPort = 0;
    if (cfg->password && *cfg->password) {
        v->passwords[0] = g_strdup(cfg->password);
        v->screen->authPasswdData = v->passwords;
        v->screen->passwordCheck = rfbCheckPasswordByList;
    }
    rfbInitServer(v->screen);
    v->screen->listenSock = v->listen_fd;
    v->screen->maxFd = MAX(v->screen->maxFd, v->listen_fd);
    FD_SET(v->listen_fd, &v->screen->allFds);
    v->shown_gen = UINT64_MAX;  /* the first pass sets the size */

    if (pthread_create(&v->scanner, NULL, vnc_scanner, v) != 0) {
        snprintf(err, errlen, "cannot start a thread");
        v->screen->listenSock = RFB_INVALID_SOCKET;
        rfbScreenCleanup(v->screen);
        goto fail;
    }
    rfbRunEventLoop(v->screen, -1, TRUE);
    return v;

fail:
    if (v->listen_fd >= 0) {
        close(v->listen_fd);
        dm_address_cleanup(&v->addr);
    }
    vnc_free(v);
    return NULL;
}

void dm_vnc_dump(DmVnc *v)
{
    uint64_t ks = 0, kd = 0, ts = 0, td = 0;

    if (v->kbd) {
        dm_input_sender_stats(v->kbd, &ks, &kd);
    }
    if (v->tablet) {
        dm_input_sender_stats(v->tablet, &ts, &td);
    }
    dm_info("vnc: %d viewers, %llu frames compared, %llu tiles sent; keys "
            "%llu sent %llu dropped %llu unknown; pointer %llu sent %llu "
            "dropped", atomic_load(&v->viewers),
            (unsigned long long)atomic_load(&v->frames),
            (unsigned long long)atomic_load(&v->tiles),
            (unsigned long long)ks, (unsigned long long)kd,
            (unsigned long long)atomic_load(&v->keys_unknown),
            (unsigned long long)ts, (unsigned long long)td);
}

void dm_vnc_stop(DmVnc *v)
{
    pthread_mutex_lock(&v->lock);
    v->stop = true;
    pthread_cond_broadcast(&v->cond);
    pthread_cond_broadcast(&v->scanned);
    pthread_mutex_unlock(&v->lock);
    pthread_join(v->scanner, NULL);
    /* Closes the viewers and joins their threads, closes listenSock. */
    rfbShutdownServer(v->screen, TRUE);
    rfbScreenCleanup(v->screen);
    dm_address_cleanup(&v->addr);
    vnc_free(v);
}
