/*
 * bochs-display: QEMU's bochs-display programming model (PCI 1234:1111,
 * class display/other), which Linux's "bochs" DRM driver binds.  Written
 * from the register layout of QEMU's hw/display/bochs-display.c and what
 * drivers/gpu/drm/tiny/bochs.c does with it; no code of either.
 *
 * BAR0, vgamem= bytes of prefetchable memory: the linear framebuffer,
 * mappable (dm_device_add_mappable): on one host the client maps it and
 * guest writes land in memory the model reads; across hosts the client
 * keeps it and sends the pages the guest dirtied (dm_dirty_pages: the
 * model never writes it), or, without that extension, the guest's
 * writes come as region writes into the same memory.
 *
 * BAR2, 4 KiB of registers:
 *   0x000-0x3ff  EDID (one 128-byte block; the rest reads 0)
 *   0x400-0x41f  VGA ports 0x3c0-0x3df: none here (reads 0, writes
 *                dropped: Linux pokes the attribute register to unblank)
 *   0x500-0x515  the VBE "dispi" registers, 16 bits each, index
 *                (offset - 0x500) / 2
 *   0x600        QEMU's extended registers: size (RO, 8), endianness
 *                (0x1e1e1e1e little; big endian is refused)
 *
 * The scan-out format is 32 bits per pixel, XRGB8888 little endian: it
 * is the only one Linux's bochs driver sets (bochs_hw_setmode writes BPP
 * 32), so BPP takes 32 and nothing else.  Every dispi write is checked:
 * a value out of range is refused (the register keeps its value); with
 * the display enabled, XRES/YRES/BPP are read-only (Linux disables it
 * first) and a VIRT_WIDTH/X_OFFSET/Y_OFFSET that would put the visible
 * window outside vgamem is refused; ENABLE is refused when the window
 * does not fit.  So the mode the scan-out uses always lies in BAR0.
 *
 * vnc= serves the screen over RFB (display-vnc.c) and forwards the
 * viewer's keys and pointer to virtio-input models (input-sender.c).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <string.h>
#include <glib.h>

#include "address.h"
#include "log.h"
#include "model.h"
#include "pci.h"
#include "display-edid.h"
#include "display-vnc.h"
#include "input-sender.h"

#define BAR0                VUP_PCI_BAR0_REGION_INDEX
#define BAR2                (VUP_PCI_BAR0_REGION_INDEX + 2)
#define MMIO_SIZE           4096

#define EDID_BASE           0x000
#define EDID_SIZE           0x400
#define DISPI_BASE          0x500
#define QEXT_BASE           0x600
#define QEXT_SIZE           8
#define QEXT_LITTLE         0x1e1e1e1e

/* The dispi registers (QEMU's include/hw/display/bochs-vbe.h numbering). */
enum {
    DISPI_ID,
    DISPI_XRES,
    DISPI_YRES,
    DISPI_BPP,
    DISPI_ENABLE,
    DISPI_BANK,
    DISPI_VIRT_WIDTH,
    DISPI_VIRT_HEIGHT,
    DISPI_X_OFFSET,
    DISPI_Y_OFFSET,
    DISPI_VIDEO_MEMORY_64K,
    DISPI_NB
};

#define DISPI_ID5           0xb0c5
#define DISPI_ENABLED       0x01
#define DISPI_GETCAPS       0x02
#define DISPI_8BIT_DAC      0x20
#define DISPI_LFB_ENABLED   0x40
#define DISPI_NOCLEARMEM    0x80
#define DISPI_BPP_ONLY      32
/* Largest XRES/YRES/VIRT_*: RFB's 16-bit sizes, and stride * lines fits. */
#define DISPI_MAX_RES       8192

typedef struct BochsDisplay {
    /* Properties. */
    uint64_t vgamem;
    uint64_t xres, yres;        /* the EDID's preferred mode */
    const char *vnc;
    const char *vnc_password;
    const char *vnc_password_file;
    uint64_t fps;
    const char *keyboard;
    const char *tablet;

    DmDevice *dev;
    uint8_t *fb;                /* BAR0's memory */
    uint8_t edid[DM_EDID_SIZE];
    uint16_t dispi[DISPI_NB];
    uint32_t endian;
    uint64_t refused;           /* guest writes refused, for dump */
    uint64_t dirty_pages;       /* received from the client, for dump */
    DmVnc *vnc_server;
} BochsDisplay;

static void bochs_refuse(BochsDisplay *s, const char *what, uint64_t val)
{
    /* A guest may write nonsense in a loop: log the first few only. */
    if (s->refused++ < 16) {
        dm_warn("bochs-display: guest wrote %s=0x%llx, refused", what,
                (unsigned long long)val);
    }
}

/*
 * The visible window of (x/y resolution, virtual width, offsets) lies
 * in vgamem?  Computed in 64 bits from 16-bit values: no overflow.
 */
static bool bochs_window_fits(BochsDisplay *s, const uint16_t *r)
{
    uint64_t stride = (uint64_t)r[DISPI_VIRT_WIDTH] * 4;
    uint64_t start, end;

    if (!r[DISPI_XRES] || !r[DISPI_YRES] || r[DISPI_BPP] != DISPI_BPP_ONLY ||
        r[DISPI_VIRT_WIDTH] < r[DISPI_XRES] ||
        (uint64_t)r[DISPI_X_OFFSET] + r[DISPI_XRES] > r[DISPI_VIRT_WIDTH]) {
        return false;
    }
    start = r[DISPI_Y_OFFSET] * stride + (uint64_t)r[DISPI_X_OFFSET] * 4;
    end = start + (r[DISPI_YRES] - 1) * stride + (uint64_t)r[DISPI_XRES] * 4;
    return end <= s->vgamem;
}

/* Tell the scan-out (the VNC server) the mode the registers now say. */
static void bochs_publish_mode(BochsDisplay *s)
{
    const uint16_t *r = s->dispi;
    DmDisplayMode m = { 0 };

    if ((r[DISPI_ENABLE] & DISPI_ENABLED) && bochs_window_fits(s, r)) {
        m.enabled = true;
        m.width = r[DISPI_XRES];
        m.height = r[DISPI_YRES];
        m.stride = (uint32_t)r[DISPI_VIRT_WIDTH] * 4;
        m.offset = (uint64_t)r[DISPI_Y_OFFSET] * m.stride +
                   (uint64_t)r[DISPI_X_OFFSET] * 4;
    }
    if (s->vnc_server) {
        dm_vnc_set_mode(s->vnc_server, &m);
    }
}

static uint16_t bochs_dispi_read(BochsDisplay *s, unsigned index)
{
    switch (index) {
    case DISPI_ID:
        return DISPI_ID5;
    case DISPI_VIDEO_MEMORY_64K:
        return s->vgamem / 65536;
    case DISPI_XRES:
    case DISPI_YRES:
    case DISPI_BPP:
        /* GETCAPS: the largest values instead of the current ones. */
        if (s->dispi[DISPI_ENABLE] & DISPI_GETCAPS) {
            return index == DISPI_BPP ? DISPI_BPP_ONLY : DISPI_MAX_RES;
        }
        return s->dispi[index];
    default:
        return index < DISPI_NB ? s->dispi[index] : 0;
    }
}

static const char *const dispi_names[DISPI_NB] = {
    "ID", "XRES", "YRES", "BPP", "ENABLE", "BANK", "VIRT_WIDTH",
    "VIRT_HEIGHT", "X_OFFSET", "Y_OFFSET", "VIDEO_MEMORY_64K",
};

static void bochs_dispi_write(BochsDisplay *s, unsigned index, uint16_t val)
{
    bool enabled = s->dispi[DISPI_ENABLE] & DISPI_ENABLED;
    uint16_t next[DISPI_NB];

    if (index >= DISPI_NB) {
        return;
    }
    if (s->dispi[index] == val && index != DISPI_ENABLE) {
        return;                 /* the same again: nothing to check */
    }
    memcpy(next, s->dispi, sizeof(next));
    next[index] = val;
    switch (index) {
    case DISPI_ID:
    case DISPI_VIDEO_MEMORY_64K:
        return;                 /* read-only; the ID write is a probe */
    case DISPI_XRES:
    case DISPI_YRES:
    case DISPI_BPP:
        if (enabled ||
            (index == DISPI_BPP ? val != DISPI_BPP_ONLY
                                : !val || val > DISPI_MAX_RES)) {
            bochs_refuse(s, dispi_names[index], val);
            return;
        }
        break;
    case DISPI_BANK:
        /* Banked access to a window at 0xa0000: there is none. */
        if (val) {
            bochs_refuse(s, dispi_names[index], val);
            return;
        }
        break;
    case DISPI_VIRT_HEIGHT:
        break;                  /* Linux's hint of vgamem's lines: unused */
    case DISPI_VIRT_WIDTH:
    case DISPI_X_OFFSET:
    case DISPI_Y_OFFSET:
        if ((index == DISPI_VIRT_WIDTH && val > DISPI_MAX_RES) ||
            (enabled && !bochs_window_fits(s, next))) {
            bochs_refuse(s, dispi_names[index], val);
            return;
        }
        break;
    case DISPI_ENABLE:
        if (val & ~(DISPI_ENABLED | DISPI_GETCAPS | DISPI_8BIT_DAC |
                    DISPI_LFB_ENABLED | DISPI_NOCLEARMEM)) {
            bochs_refuse(s, dispi_names[index], val);
            return;
        }
        if ((val & DISPI_ENABLED) && !bochs_window_fits(s, next)) {
            bochs_refuse(s, "ENABLE (mode outside vgamem)", val);
            return;
        }
        break;
    }
    s->dispi[index] = val;
    bochs_publish_mode(s);
}

static uint64_t bochs_mmio_read(void *opaque, uint64_t addr, unsigned size)
{
    BochsDisplay *s = opaque;
    uint64_t val = 0;

    if (addr < EDID_BASE + EDID_SIZE) {
        /* Linux reads it a byte at a time; any width works. */
        for (unsigned i = 0; i < size; i++) {
            uint64_t o = addr - EDID_BASE + i;
            val |= (uint64_t)(o < DM_EDID_SIZE ? s->edid[o] : 0) << (8 * i);
        }
        return val;
    }
    if (addr >= DISPI_BASE && addr < DISPI_BASE + 2 * DISPI_NB) {
        unsigned index = (addr - DISPI_BASE) / 2;

        if (size == 2 && !(addr & 1)) {
            return bochs_dispi_read(s, index);
        }
        if (size == 4 && !(addr & 3)) {
            return bochs_dispi_read(s, index) |
                   (uint32_t)bochs_dispi_read(s, index + 1) << 16;
        }
        if (size == 1) {
            return bochs_dispi_read(s, index) >> (8 * (addr & 1)) & 0xff;
        }
        return 0;
    }
    if (addr == QEXT_BASE && size == 4) {
        return QEXT_SIZE;
    }
    if (addr == QEXT_BASE + 4 && size == 4) {
        return s->endian;
    }
    return 0;
}

static void bochs_mmio_write(void *opaque, uint64_t addr, uint64_t val,
                             unsigned size)
{
    BochsDisplay *s = opaque;

    if (addr >= DISPI_BASE && addr < DISPI_BASE + 2 * DISPI_NB) {
        unsigned index = (addr - DISPI_BASE) / 2;

        if (size == 2 && !(addr & 1)) {
            bochs_dispi_write(s, index, val);
        } else if (size == 4 && !(addr & 3)) {
            bochs_dispi_write(s, index, val);
            bochs_dispi_write(s, index + 1, val >> 16);
        } else {
            /* Half a register would be a value nobody meant. */
            bochs_refuse(s, "a dispi register, not 16 bits wide", addr);
        }
        /* A mode set ends with ENABLE: the moment to keep the state. */
        if (index == DISPI_ENABLE || (size == 4 && index + 1 == DISPI_ENABLE)) {
            dm_device_state_changed(s->dev);
        }
        return;
    }
    if (addr == QEXT_BASE + 4 && size == 4) {
        if (val == QEXT_LITTLE) {
            s->endian = val;
        } else {
            bochs_refuse(s, "framebuffer endianness", val);
        }
    }
    /* EDID, VGA ports, the rest: read-only or absent. */
}

static const DmRegionOps bochs_mmio_ops = {
    .read = bochs_mmio_read,
    .write = bochs_mmio_write,
    .valid = { .min_access_size = 1, .max_access_size = 4 },
    .impl = { .max_access_size = 4 },
};

/* BAR0 is all mappable memory: these never run. */
static uint64_t bochs_fb_read(void *opaque, uint64_t addr, unsigned size)
{
    return 0;
}

static void bochs_fb_write(void *opaque, uint64_t addr, uint64_t val,
                           unsigned size)
{
}

static const DmRegionOps bochs_fb_ops = {
    .read = bochs_fb_read,
    .write = bochs_fb_write,
};

static int bochs_check_vnc(const char *val, char *err, size_t errlen)
{
    DmAddress a;

    return dm_address_parse(val, &a, err, errlen);
}

/*
 * vnc-password-file=: the password's first line.  A launcher gives it
 * so: a password on the command line is anybody's to read in ps.
 */
static char *bochs_read_password(const char *path)
{
    g_autofree char *text = NULL;
    g_autoptr(GError) gerr = NULL;

    if (!g_file_get_contents(path, &text, NULL, &gerr)) {
        dm_error("bochs-display: vnc-password-file: %s", gerr->message);
        return NULL;
    }
    text[strcspn(text, "\r\n")] = '\0';
    if (!text[0]) {
        dm_error("bochs-display: vnc-password-file=%s is empty", path);
        return NULL;
    }
    return g_steal_pointer(&text);
}

/*
 * Pages the client sent (dm_dirty_pages) landed in the framebuffer.
 * Nothing to wake: the VNC scanner compares the screen with its shadow
 * at its own rate and finds them, as it finds a mapped client's writes.
 */
static void bochs_fb_written(void *opaque, unsigned region, uint64_t offset,
                             uint64_t size)
{
    BochsDisplay *s = opaque;

    s->dirty_pages += size / 4096;
}

static int bochs_realize(DmDevice *dev)
{
    BochsDisplay *s = dm_device_state(dev);
    DmPci *pci = dm_device_pci(dev);
    int ret;

    s->dev = dev;
    if (s->vgamem & (s->vgamem - 1)) {
        dm_error("bochs-display: vgamem=0x%llx is not a power of two",
                 (unsigned long long)s->vgamem);
        return -EINVAL;
    }
    if (s->xres * s->yres * 4 > s->vgamem) {
        dm_error("bochs-display: %llux%llu does not fit in vgamem=0x%llx",
                 (unsigned long long)s->xres, (unsigned long long)s->yres,
                 (unsigned long long)s->vgamem);
        return -EINVAL;
    }
    /* Revision 2: Linux reads the extended registers only from it on. */
    dm_pci_init(pci, 0x1234, 0x1111, 0x02, 0x0380);
    ret = dm_pci_set_bar(pci, 0, s->vgamem,
                         DM_PCI_BAR_MEM32 | DM_PCI_BAR_PREFETCH);
    if (ret >= 0) {
        ret = dm_pci_set_bar(pci, 2, MMIO_SIZE, DM_PCI_BAR_MEM32);
    }
    if (ret < 0) {
        return ret;
    }
    dm_device_init_region(dev, BAR0, s->vgamem, &bochs_fb_ops, s);
    dm_device_init_region(dev, BAR2, MMIO_SIZE, &bochs_mmio_ops, s);
    s->fb = dm_device_add_mappable(dev, BAR0, 0, s->vgamem);
    if (!s->fb ||
        dm_device_mappable_guest_only(dev, BAR0, 0, bochs_fb_written,
                                      s) < 0) {
        return -ENOMEM;
    }
    dm_edid_build(s->edid, s->xres, s->yres, s->vgamem);
    s->endian = QEXT_LITTLE;

    if (s->vnc_password && s->vnc_password_file) {
        dm_error("bochs-display: vnc-password= or vnc-password-file=, "
                 "not both");
        return -EINVAL;
    }
    if (s->vnc) {
        g_autofree char *password = s->vnc_password_file ?
            bochs_read_password(s->vnc_password_file) : NULL;
        DmVncConfig cfg = {
            .listen = s->vnc,
            .password = password ? password : s->vnc_password,
            .fps = s->fps,
            .keyboard = s->keyboard,
            .tablet = s->tablet,
            .fb = s->fb,
            .fb_size = s->vgamem,
        };
        char err[256];

        if (s->vnc_password_file && !password) {
            return -EINVAL;
        }
        s->vnc_server = dm_vnc_start(&cfg, err, sizeof(err));
        if (!s->vnc_server) {
            dm_error("bochs-display: vnc=%s: %s", s->vnc, err);
            return -EINVAL;
        }
    } else if (s->keyboard || s->tablet || s->vnc_password ||
               s->vnc_password_file) {
        dm_error("bochs-display: keyboard=, tablet=, vnc-password= and "
                 "vnc-password-file= need vnc=");
        return -EINVAL;
    }
    return 0;
}

static void bochs_reset(DmDevice *dev)
{
    BochsDisplay *s = dm_device_state(dev);

    memset(s->dispi, 0, sizeof(s->dispi));
    s->endian = QEXT_LITTLE;
    bochs_publish_mode(s);
}

/*
 * Saved state: the dispi registers and the endianness, not the
 * framebuffer (a restarted model shows black until the guest draws).
 */
static void bochs_save(DmDevice *dev, DmStateOut *out)
{
    BochsDisplay *s = dm_device_state(dev);

    for (unsigned i = 0; i < DISPI_NB; i++) {
        dm_state_put_u64(out, s->dispi[i]);
    }
    dm_state_put_u64(out, s->endian);
}

/* Loaded as a guest would write them, through the same checks. */
static void bochs_load(DmDevice *dev, DmStateIn *in, uint32_t version)
{
    static const unsigned order[] = {
        DISPI_BPP, DISPI_XRES, DISPI_YRES, DISPI_BANK, DISPI_VIRT_WIDTH,
        DISPI_VIRT_HEIGHT, DISPI_X_OFFSET, DISPI_Y_OFFSET, DISPI_ENABLE,
    };
    BochsDisplay *s = dm_device_state(dev);
    uint64_t v[DISPI_NB], endian;

    for (unsigned i = 0; i < DISPI_NB; i++) {
        v[i] = dm_state_get_u64(in);
    }
    endian = dm_state_get_u64(in);
    memset(s->dispi, 0, sizeof(s->dispi));
    for (unsigned i = 0; i < G_N_ELEMENTS(order); i++) {
        unsigned r = order[i];

        if (v[r] > UINT16_MAX) {
            dm_state_fail(in);
            return;
        }
        bochs_dispi_write(s, r, v[r]);
        if (s->dispi[r] != v[r]) {
            dm_state_fail(in);
            return;
        }
    }
    if (endian != QEXT_LITTLE) {
        dm_state_fail(in);
        return;
    }
    s->endian = endian;
}

static void bochs_dump(DmDevice *dev)
{
    BochsDisplay *s = dm_device_state(dev);
    const uint16_t *r = s->dispi;

    dm_info("bochs-display: %ux%u bpp %u enable 0x%x virt %ux%u offset "
            "%u,%u; %llu writes refused; %llu dirty pages received",
            r[DISPI_XRES], r[DISPI_YRES],
            r[DISPI_BPP], r[DISPI_ENABLE], r[DISPI_VIRT_WIDTH],
            r[DISPI_VIRT_HEIGHT], r[DISPI_X_OFFSET], r[DISPI_Y_OFFSET],
            (unsigned long long)s->refused,
            (unsigned long long)s->dirty_pages);
    if (s->vnc_server) {
        dm_vnc_dump(s->vnc_server);
    }
}

static void bochs_unrealize(DmDevice *dev)
{
    BochsDisplay *s = dm_device_state(dev);

    if (s->vnc_server) {
        dm_vnc_stop(s->vnc_server);
        s->vnc_server = NULL;
    }
}

static const DmProp bochs_props[] = {
    DM_PROP_UINT64("vgamem", BochsDisplay, vgamem, "0x1000000", 0x400000,
                   0x10000000, "BAR0's framebuffer: a power of two, 4 MiB "
                   "to 256 MiB"),
    DM_PROP_UINT64("xres", BochsDisplay, xres, "1024", 640, 1920,
                   "the EDID's preferred width"),
    DM_PROP_UINT64("yres", BochsDisplay, yres, "768", 480, 1080,
                   "the EDID's preferred height"),
    DM_PROP_STRING_CHECKED("vnc", BochsDisplay, vnc, NULL, bochs_check_vnc,
                           "serve the screen over VNC: unix:PATH or "
                           "tcp:HOST:PORT"),
    DM_PROP_STRING("vnc-password", BochsDisplay, vnc_password, NULL,
                   "VNC authentication's password (up to 8 characters "
                   "count); none: no authentication"),
    DM_PROP_STRING("vnc-password-file", BochsDisplay, vnc_password_file,
                   NULL, "the same, read from the first line of this file "
                   "(not seen in ps)"),
    DM_PROP_UINT64("fps", BochsDisplay, fps, "30", 1, 60,
                   "how often the screen is compared for updates while a "
                   "viewer is connected"),
    DM_PROP_STRING_CHECKED("keyboard", BochsDisplay, keyboard, NULL,
                           dm_input_sender_check_addr,
                           "the keyboard's input link: unix:PATH"),
    DM_PROP_STRING_CHECKED("tablet", BochsDisplay, tablet, NULL,
                           dm_input_sender_check_addr,
                           "the tablet's input link: unix:PATH"),
    DM_PROP_END,
};

static const DmModel dm_model_bochs_display = {
    .name = "bochs-display",
    .description = "QEMU's bochs-display (Linux's bochs DRM driver), with "
                   "a VNC server",
    .bus = DM_BUS_PCI,
    .state_size = sizeof(BochsDisplay),
    .props = bochs_props,
    .realize = bochs_realize,
    .reset = bochs_reset,
    .state_version = 1,
    .save = bochs_save,
    .load = bochs_load,
    .dump = bochs_dump,
    .unrealize = bochs_unrealize,
};
DM_MODEL_REGISTER(dm_model_bochs_display)
