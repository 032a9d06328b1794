/*
 * -remote-device: a device served by a remote model.
 *
 *   -remote-device [id=ID,]bus=isa|pci,server=unix:PATH|tcp:HOST:PORT
 *                  [,iobase=N][,irq=N][,rtc=on|off]
 *                  [,addr=SLOT.FN][,bootindex=N][,timeout=MS][,hold=MS]
 *                  [,poll-us=N]
 *                  [,posted-writes=on|off][,ioeventfd=on|off]
 *                  [,irqfd=on|off][,vq-fetch=on|off][,mmap=on|off]
 *                  [,dirty-fps=N][,irq-hold-us=auto|N]
 *                  [,vm-id=..,...,token-secret=SECRET]
 *                  [,tls-creds=CREDS[,tls-hostname=NAME]]
 *                  [,tcp-congestion=NAME]
 *
 * It becomes -device dm-proxy-isa or -device dm-proxy-pci with the same
 * properties; checks here catch what a person gets wrong by hand, with
 * the devices' own checks (server= by libvup's address parser; the
 * identifiers are checked when the device is realized).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/option.h"
#include "hw/remote-dm/dm-proxy.h"
#include "hw/remote-dm/remote-device.h"

static QemuOptsList remote_device_opts = {
    .name = "remote-device",
    .head = QTAILQ_HEAD_INITIALIZER(remote_device_opts.head),
    .desc = {
        { .name = "id", .type = QEMU_OPT_STRING },
        { .name = "bus", .type = QEMU_OPT_STRING },
        { .name = "server", .type = QEMU_OPT_STRING },
        { .name = "iobase", .type = QEMU_OPT_NUMBER },
        { .name = "irq", .type = QEMU_OPT_NUMBER },
        { .name = "rtc", .type = QEMU_OPT_BOOL },
        { .name = "addr", .type = QEMU_OPT_STRING },
        { .name = "bootindex", .type = QEMU_OPT_NUMBER },
        { .name = "timeout", .type = QEMU_OPT_NUMBER },
        { .name = "hold", .type = QEMU_OPT_NUMBER },
        { .name = "poll-us", .type = QEMU_OPT_NUMBER },
        { .name = "posted-writes", .type = QEMU_OPT_BOOL },
        { .name = "ioeventfd", .type = QEMU_OPT_BOOL },
        { .name = "irqfd", .type = QEMU_OPT_BOOL },
        { .name = "vq-fetch", .type = QEMU_OPT_BOOL },
        { .name = "mmap", .type = QEMU_OPT_BOOL },
        { .name = "dirty-fps", .type = QEMU_OPT_NUMBER },
        { .name = "irq-hold-us", .type = QEMU_OPT_STRING },
        { .name = "vm-id", .type = QEMU_OPT_STRING },
        { .name = "hypervisor-id", .type = QEMU_OPT_STRING },
        { .name = "client-platform-id", .type = QEMU_OPT_STRING },
        { .name = "device-model-id", .type = QEMU_OPT_STRING },
        { .name = "server-platform-id", .type = QEMU_OPT_STRING },
        { .name = "token-secret", .type = QEMU_OPT_STRING },
        { .name = "tls-creds", .type = QEMU_OPT_STRING },
        { .name = "tls-hostname", .type = QEMU_OPT_STRING },
        { .name = "tcp-congestion", .type = QEMU_OPT_STRING },
        { /* end of list */ }
    },
};

/* Append ",key=value" with QemuOpts' comma escaping. */
static void append_opt(GString *s, const char *key, const char *val)
{
    g_string_append_printf(s, ",%s=", key);
    for (; *val; val++) {
        if (*val == ',') {
            g_string_append_c(s, ',');
        }
        g_string_append_c(s, *val);
    }
}

char *remote_device_to_device_opts(const char *optarg, Error **errp)
{
    g_autoptr(GString) dev = g_string_new(NULL);
    QemuOpts *opts;
    const char *bus, *server;
    VupAddress addr;
    static const char *const passed[] = {
        "id", "server", "iobase", "irq", "rtc", "addr", "bootindex",
        "timeout", "hold", "poll-us", "ioeventfd", "irqfd", "vq-fetch", "mmap",
        "dirty-fps", "irq-hold-us", "posted-writes", "vm-id", "hypervisor-id", "client-platform-id",
        "device-model-id", "server-platform-id", "token-secret",
        "tls-creds", "tls-hostname", "tcp-congestion",
    };
    char *ret = NULL;

    opts = qemu_opts_parse(&remote_device_opts, optarg, false, errp);
    if (!opts) {
        return NULL;
    }
    bus = qemu_opt_get(opts, "bus");
    server = qemu_opt_get(opts, "server");
    if (!bus) {
        error_setg(errp, "'bus' is required: bus=isa or bus=pci");
        goto out;
    }
    /* The proxy's own check, here before anything is created. */
    if (!dm_proxy_parse_server(server, &addr, errp)) {
        goto out;
    }
    if (g_str_equal(bus, "isa")) {
        static const char *const pci_only[] = {
            "addr", "bootindex", "ioeventfd", "irqfd", "vq-fetch", "mmap",
            "dirty-fps", "irq-hold-us",
        };

        for (size_t i = 0; i < G_N_ELEMENTS(pci_only); i++) {
            if (qemu_opt_get(opts, pci_only[i])) {
                error_setg(errp, "'%s' is for bus=pci; bus=isa takes "
                           "iobase and irq", pci_only[i]);
                goto out;
            }
        }
        g_string_append(dev, "dm-proxy-isa");
    } else if (g_str_equal(bus, "pci")) {
        if (qemu_opt_get(opts, "iobase") || qemu_opt_get(opts, "irq")) {
            error_setg(errp, "'iobase' and 'irq' are for bus=isa; a PCI "
                       "device gets its resources from the guest");
            goto out;
        }
        if (qemu_opt_get(opts, "rtc")) {
            error_setg(errp, "'rtc' is for bus=isa: a remote mc146818 in "
                       "place of the machine's real-time clock");
            goto out;
        }
        g_string_append(dev, "dm-proxy-pci");
    } else {
        error_setg(errp, "unknown bus '%s' (isa or pci)", bus);
        goto out;
    }
    for (size_t i = 0; i < G_N_ELEMENTS(passed); i++) {
        const char *v = qemu_opt_get(opts, passed[i]);

        if (v) {
            append_opt(dev, passed[i], v);
        }
    }
    ret = g_strdup(dev->str);
out:
    qemu_opts_del(opts);
    return ret;
}
