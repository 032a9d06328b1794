/*
 * EDID 1.4 (VESA E-EDID, release A revision 2): the base block only.
 * Timings are reduced-blanking-like (160 pixels of horizontal blanking,
 * a few percent of lines vertically): a virtual display has no beam, the
 * numbers only need to be self-consistent for the guest's parser.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <string.h>

#include "display-edid.h"

/* Millimetres of @px pixels at 96 dots per inch. */
static unsigned edid_mm(unsigned px)
{
    return px * 254 / 960;
}

/* An 18-byte detailed timing descriptor for @w x @h at 60 Hz. */
static void edid_dtd(uint8_t *d, unsigned w, unsigned h)
{
    unsigned hblank = 160, hfront = 48, hsync = 32;
    unsigned vblank = h / 32 + 3 > 23 ? h / 32 + 3 : 23;
    unsigned vfront = 3, vsync = 6;
    unsigned clock = (w + hblank) * (h + vblank) * 60 / 10000;
    unsigned wmm = edid_mm(w), hmm = edid_mm(h);

    d[0] = clock & 0xff;
    d[1] = clock >> 8;
    d[2] = w & 0xff;
    d[3] = hblank & 0xff;
    d[4] = (w >> 8) << 4 | hblank >> 8;
    d[5] = h & 0xff;
    d[6] = vblank & 0xff;
    d[7] = (h >> 8) << 4 | vblank >> 8;
    d[8] = hfront;
    d[9] = hsync;
    d[10] = vfront << 4 | vsync;
    d[11] = 0;
    d[12] = wmm & 0xff;
    d[13] = hmm & 0xff;
    d[14] = (wmm >> 8) << 4 | hmm >> 8;
    d[15] = d[16] = 0;
    d[17] = 0x1a;       /* digital separate sync, hsync +, vsync - */
}

/* A display descriptor: @tag, then @text padded as the standard says. */
static void edid_text(uint8_t *d, uint8_t tag, const char *text)
{
    size_t n = strlen(text);

    for (unsigned i = 0; i < 5; i++) {
        d[i] = i == 3 ? tag : 0;
    }
    /* Up to 13 characters, a newline after a shorter text, then spaces. */
    for (size_t i = 0; i < 13; i++) {
        d[5 + i] = i < n ? text[i] : i == n ? '\n' : ' ';
    }
}

void dm_edid_build(uint8_t edid[DM_EDID_SIZE], unsigned xres, unsigned yres,
                   uint64_t vgamem)
{
    static const struct { unsigned w, h, aspect; } std[] = {
        /* aspect: 0 16:10, 1 4:3, 2 5:4, 3 16:9 */
        { 1152, 864, 1 }, { 1280, 720, 3 }, { 1280, 800, 0 },
        { 1280, 1024, 2 }, { 1440, 900, 0 }, { 1600, 900, 3 },
        { 1680, 1050, 0 }, { 1920, 1080, 3 },
    };
    /* sRGB's primaries and white point, 10-bit binary fractions. */
    static const unsigned chroma[8] = {
        655, 338, 307, 614, 154, 61, 320, 337,
    };
    const char *mfg = "DMR";
    uint16_t id = (mfg[0] - '@') << 10 | (mfg[1] - '@') << 5 | (mfg[2] - '@');
    unsigned n = 0;
    uint8_t sum = 0;

    memset(edid, 0, DM_EDID_SIZE);
    memset(edid + 1, 0xff, 6);                  /* 00 ff ff ff ff ff ff 00 */
    edid[8] = id >> 8;
    edid[9] = id & 0xff;
    edid[10] = 0x11;                            /* product 0x1111 */
    edid[11] = 0x11;
    edid[16] = 0xff;                            /* model year, not week */
    edid[17] = 2024 - 1990;
    edid[18] = 1;
    edid[19] = 4;
    edid[20] = 0xa0;                            /* digital, 8 bits/colour */
    edid[21] = (edid_mm(xres) + 5) / 10;
    edid[22] = (edid_mm(yres) + 5) / 10;
    edid[23] = 120;                             /* gamma 2.2 */
    edid[24] = 0x06;                            /* sRGB, preferred native */
    edid[25] = (chroma[0] & 3) << 6 | (chroma[1] & 3) << 4 |
               (chroma[2] & 3) << 2 | (chroma[3] & 3);
    edid[26] = (chroma[4] & 3) << 6 | (chroma[5] & 3) << 4 |
               (chroma[6] & 3) << 2 | (chroma[7] & 3);
    for (unsigned i = 0; i < 8; i++) {
        edid[27 + i] = chroma[i] >> 2;
    }
    edid[35] = 0x21;                            /* 640x480, 800x600 @60 */
    edid[36] = 0x08;                            /* 1024x768 @60 */
    memset(edid + 38, 0x01, 16);                /* unused standard timings */
    for (unsigned i = 0; i < sizeof(std) / sizeof(std[0]); i++) {
        if ((uint64_t)std[i].w * std[i].h * 4 * 2 > vgamem) {
            continue;
        }
        edid[38 + 2 * n] = std[i].w / 8 - 31;
        edid[39 + 2 * n] = std[i].aspect << 6 | (60 - 60);
        n++;
    }
    edid_dtd(edid + 54, xres, yres);
    /* Range limits: 50-75 Hz, 30-160 kHz, 200 MHz, nothing more. */
    memset(edid + 72, 0, 18);
    edid[72 + 3] = 0xfd;
    edid[72 + 5] = 50;
    edid[72 + 6] = 75;
    edid[72 + 7] = 30;
    edid[72 + 8] = 160;
    edid[72 + 9] = 20;
    edid[72 + 10] = 0x01;
    edid[72 + 11] = '\n';
    memset(edid + 72 + 12, ' ', 6);
    edid_text(edid + 90, 0xfc, "dm-remote");
    edid_text(edid + 108, 0xfe, "bochs-display");
    for (unsigned i = 0; i < DM_EDID_SIZE - 1; i++) {
        sum += edid[i];
    }
    edid[127] = -sum;
}
