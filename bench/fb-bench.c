/*
 * In the guest, for bench/run-display-bench.sh: how fast the guest draws
 * on its display.
 *
 *   fb-bench redraw N   N full frames written to /dev/fb0, each another
 *                       colour (one write() per frame, as a program that
 *                       redraws its window does; the DRM fbdev copies the
 *                       damage to the device)
 *   fb-bench scroll N   N lines of text written to the framebuffer
 *                       console (/dev/tty1), which scrolls once the
 *                       screen is full
 *
 * Both end with fsync() of what they wrote, so that the time includes
 * the copy into the device where the kernel does it then.  Prints
 * "FB-BENCH <what> <n> <seconds>" (guest time).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <fcntl.h>
#include <linux/fb.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Write all @len bytes of @buf at offset 0 of @fd. */
static int write_frame(int fd, const uint8_t *buf, size_t len)
{
    size_t done = 0;

    while (done < len) {
        ssize_t n = pwrite(fd, buf + done, len - done, done);

        if (n <= 0) {
            return -1;
        }
        done += n;
    }
    return 0;
}

static int redraw(long n)
{
    struct fb_var_screeninfo var;
    struct fb_fix_screeninfo fix;
    int fd = open("/dev/fb0", O_RDWR);
    uint8_t *frame;
    size_t len;
    double t0;

    if (fd < 0 || ioctl(fd, FBIOGET_VSCREENINFO, &var) < 0 ||
        ioctl(fd, FBIOGET_FSCREENINFO, &fix) < 0) {
        perror("fb-bench: /dev/fb0");
        return 1;
    }
    len = (size_t)fix.line_length * var.yres;
    frame = malloc(len);
    if (!frame) {
        return 1;
    }
    t0 = now();
    for (long i = 0; i < n; i++) {
        /* A colour per frame: every pixel changes every frame. */
        uint32_t px = 0x00102030u + (uint32_t)i * 0x00070b0du;

        for (size_t o = 0; o + 4 <= len; o += 4) {
            memcpy(frame + o, &px, 4);
        }
        if (write_frame(fd, frame, len) < 0) {
            perror("fb-bench: write");
            return 1;
        }
    }
    fsync(fd);
    printf("FB-BENCH redraw %ld %.3f %ux%u\n", n, now() - t0, var.xres,
           var.yres);
    close(fd);
    free(frame);
    return 0;
}

static int scroll(long n)
{
    int fd = open("/dev/tty1", O_WRONLY);
    char line[128];
    double t0;

    if (fd < 0) {
        perror("fb-bench: /dev/tty1");
        return 1;
    }
    t0 = now();
    for (long i = 0; i < n; i++) {
        int len = snprintf(line, sizeof(line), "%06ld the quick brown fox "
                           "jumps over the lazy dog, a scrolling console "
                           "line\r\n", i);

        if (write(fd, line, len) != len) {
            perror("fb-bench: write");
            return 1;
        }
    }
    fsync(fd);
    printf("FB-BENCH scroll %ld %.3f\n", n, now() - t0);
    close(fd);
    return 0;
}

int main(int argc, char **argv)
{
    long n = argc > 2 ? strtol(argv[2], NULL, 0) : 0;

    if (argc != 3 || n <= 0) {
        fprintf(stderr, "usage: fb-bench redraw|scroll N\n");
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!strcmp(argv[1], "redraw")) {
        return redraw(n);
    }
    if (!strcmp(argv[1], "scroll")) {
        return scroll(n);
    }
    fprintf(stderr, "fb-bench: redraw or scroll\n");
    return 2;
}
