/*
 * dm-remote: the device-model side of the disaggregated QEMU.
 *
 *   dm-remote serve --model MODEL --listen unix:PATH
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <getopt.h>
#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "console.h"
#include "daemon.h"
#include "log.h"
#include "route-cli.h"
#include "server.h"
#include "vup/tcp.h"

static const char *arg_model;
static const char *arg_listen;
static DmDmaLayout arg_dma_layout = DM_DMA_LAYOUT_AUTO;
static long arg_poll_us = 50;
static long arg_hello_timeout = 10;
static const char *arg_console;
static const char *arg_tls_creds;
static const char *arg_state_file;
static const char *arg_tcp_congestion;
static DmBinding arg_binding;
static char *arg_token_buf;

static void print_model(const DmModel *m, void *opaque)
{
    printf("  %-12s %s\n", m->name, m->description);
}

/* --model NAME,help: the model's properties, as the declaration says. */
static void print_model_props(const DmModel *m)
{
    printf("%s: %s (%s%s)\n", m->name, m->description,
           m->bus == DM_BUS_PCI ? "PCI" : "platform",
           m->save ? ", --state-file" : "");
    if (!m->props || !m->props->name) {
        printf("  no properties\n");
        return;
    }
    for (const DmProp *p = m->props; p->name; p++) {
        printf("  %s=<%s>", p->name, dm_prop_type_name(p->type));
        if (p->type == DM_PROP_UINT && p->max != UINT64_MAX) {
            printf(" (%llu..%llu)", (unsigned long long)p->min,
                   (unsigned long long)p->max);
        }
        if (p->required) {
            printf(" (required)");
        } else if (p->defval) {
            printf(" (default %s)", p->defval);
        }
        printf("\n      %s\n", p->help);
    }
}

static void help(void)
{
    printf("Usage: dm-remote COMMAND [OPTIONS]\n"
           "\n"
           "Serve an emulated device to a QEMU over vfio-user.\n"
           "\n"
           "Commands:\n"
           "  serve             run one device model on one socket\n"
           "  daemon            the platform's launcher (see daemon --help)\n"
           "  route             an owner server's router (see route --help)\n"
           "\n"
           "Options of serve:\n"
           "  -m, --model=MODEL[,PROP=VALUE...]\n"
           "                          the device model and its properties "
           "('help'\n"
           "                          lists the models, MODEL,help its "
           "properties)\n"
           "  -l, --listen=ADDRESS    where to listen: unix:PATH, or "
           "tcp:HOST:PORT\n"
           "                          (plain TCP: trusted networks only)\n"
           "      --tls-creds=DIR     require TLS on tcp: DIR has "
           "ca-cert.pem (the CA\n"
           "                          of the clients we accept), "
           "server-cert.pem and\n"
           "                          server-key.pem, as QEMU's "
           "tls-creds-x509\n"
           "      --dma-layout=L      DMA_READ/WRITE data layout: auto "
           "(default),\n"
           "                          spec, or qemu (QEMU 10.2's client, "
           "see\n"
           "                          docs/protocol.md)\n"
           "      --console=C         the same as the model's console=C "
           "property\n"
           "      --state-file=PATH   load the device's state from PATH at "
           "start if it\n"
           "                          exists, save it there at SIGTERM "
           "(models that\n"
           "                          can, see MODEL,help)\n"
           "      --bind-vm=ID, --bind-hypervisor=ID, --bind-client-platform=ID,\n"
           "      --bind-device-model=ID, --bind-server-platform=ID\n"
           "                          serve only clients presenting these "
           "identifiers\n"
           "      --token=T, --token-file=PATH\n"
           "                          and this access token (compared in "
           "constant\n"
           "                          time, never logged; prefer the file)\n"
           "      --poll-us=N         after a reply, poll N microseconds for "
           "the\n"
           "                          next request before sleeping (default "
           "50;\n"
           "                          0: never)\n"
           "      --tcp-congestion=NAME\n"
           "                          TCP congestion control of each "
           "client's\n"
           "                          connection (tcp: only; e.g. reno, "
           "cubic, bbr;\n"
           "                          default: the host's, see "
           "docs/performance.md)\n"
           "      --hello-timeout=SEC a client must finish its TLS handshake "
           "and\n"
           "                          VERSION within SEC seconds of "
           "connecting, or\n"
           "                          it is dropped (default 10; 1..3600),\n"
           "                          counted from its accept\n"
           "  -v, --verbose           log every failed request\n"
           "  -q, --quiet             log errors only\n"
           "  -h, --help              show this help\n"
           "\n"
           "Models:\n");
    dm_model_list(print_model, NULL);
    printf("\nOne client at a time; a second one is refused with EBUSY, "
           "unless it\nasks to wait as a standby (a migration target).\n"
           "The model keeps its state across reconnections. SIGTERM stops\n"
           "the server and removes its socket file.\n"
           "Before VERSION a connection never blocks the server: its bytes\n"
           "are gathered as they come (a message at most 64 KiB). At most\n"
           "8 connections may be before VERSION; a 9th closes the oldest of\n"
           "the peer (IPv4 address, IPv6 /64, UNIX uid) holding the most.\n");
}

static int usage_error(const char *fmt, const char *what)
{
    return dm_usage_error(NULL, fmt, what);
}

static int parse_serve(int argc, char **argv)
{
    enum {
        OPT_DMA_LAYOUT = 0x100, OPT_POLL_US, OPT_CONSOLE, OPT_TLS_CREDS,
        OPT_HELLO_TIMEOUT, OPT_STATE_FILE, OPT_TCP_CONGESTION,
        OPT_BIND = 0x200,       /* + VupIdField */
        OPT_TOKEN_FILE = 0x300,
    };
    static const struct option options[] = {
        { "model", required_argument, NULL, 'm' },
        { "listen", required_argument, NULL, 'l' },
        { "dma-layout", required_argument, NULL, OPT_DMA_LAYOUT },
        { "poll-us", required_argument, NULL, OPT_POLL_US },
        { "hello-timeout", required_argument, NULL, OPT_HELLO_TIMEOUT },
        { "console", required_argument, NULL, OPT_CONSOLE },
        { "tls-creds", required_argument, NULL, OPT_TLS_CREDS },
        { "state-file", required_argument, NULL, OPT_STATE_FILE },
        { "tcp-congestion", required_argument, NULL, OPT_TCP_CONGESTION },
        { "bind-vm", required_argument, NULL, OPT_BIND + VUP_ID_VM },
        { "bind-hypervisor", required_argument, NULL,
          OPT_BIND + VUP_ID_HYPERVISOR },
        { "bind-client-platform", required_argument, NULL,
          OPT_BIND + VUP_ID_CLIENT_PLATFORM },
        { "bind-device-model", required_argument, NULL,
          OPT_BIND + VUP_ID_DEVICE_MODEL },
        { "bind-server-platform", required_argument, NULL,
          OPT_BIND + VUP_ID_SERVER_PLATFORM },
        { "token", required_argument, NULL, OPT_BIND + VUP_ID_TOKEN },
        { "token-file", required_argument, NULL, OPT_TOKEN_FILE },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":m:l:vqh", options, NULL)) != -1) {
        switch (c) {
        case 'm':
            arg_model = optarg;
            break;
        case 'l':
            arg_listen = optarg;
            break;
        case OPT_DMA_LAYOUT:
            if (strcmp(optarg, "auto") == 0) {
                arg_dma_layout = DM_DMA_LAYOUT_AUTO;
            } else if (strcmp(optarg, "spec") == 0) {
                arg_dma_layout = DM_DMA_LAYOUT_SPEC;
            } else if (strcmp(optarg, "qemu") == 0) {
                arg_dma_layout = DM_DMA_LAYOUT_QEMU;
            } else {
                return usage_error("invalid --dma-layout '%s' (auto, spec "
                                   "or qemu)", optarg);
            }
            break;
        case OPT_HELLO_TIMEOUT:
            if (!dm_parse_number(optarg, 1, 3600, &arg_hello_timeout)) {
                return usage_error("invalid --hello-timeout '%s' (1..3600)",
                                   optarg);
            }
            break;
        case OPT_POLL_US:
            if (!dm_parse_number(optarg, 0, 1000000, &arg_poll_us)) {
                return usage_error("invalid --poll-us '%s' (0..1000000)",
                                   optarg);
            }
            break;
        case OPT_TLS_CREDS:
            arg_tls_creds = optarg;
            break;
        case OPT_CONSOLE:
            arg_console = optarg;
            break;
        case OPT_STATE_FILE:
            arg_state_file = optarg;
            break;
        case OPT_TCP_CONGESTION:
            arg_tcp_congestion = optarg;
            break;
        case OPT_BIND ... OPT_BIND + VUP_ID_COUNT - 1:
            if (strlen(optarg) > VUP_ID_MAX) {
                return usage_error("%s: identifiers and tokens are at most "
                                   "128 bytes", argv[optind - 1]);
            }
            arg_binding.ids[c - OPT_BIND] = optarg;
            break;
        case OPT_TOKEN_FILE: {
            FILE *f = fopen(optarg, "r");
            char buf[VUP_ID_MAX + 2] = "";

            if (!f || !fgets(buf, sizeof(buf), f)) {
                if (f) {
                    fclose(f);
                }
                return usage_error("cannot read a token from '%s'", optarg);
            }
            fclose(f);
            buf[strcspn(buf, "\r\n")] = '\0';
            if (!buf[0] || strlen(buf) > VUP_ID_MAX) {
                return usage_error("the token in '%s' must be 1 to 128 "
                                   "bytes", optarg);
            }
            free(arg_token_buf);
            arg_token_buf = strdup(buf);
            arg_binding.ids[VUP_ID_TOKEN] = arg_token_buf;
            break;
        }
        case 'v':
            dm_log_level = DM_LOG_DEBUG;
            break;
        case 'q':
            dm_log_level = DM_LOG_ERROR;
            break;
        case 'h':
            help();
            exit(0);
        case ':':
            return usage_error("option '%s' needs a value", argv[optind - 1]);
        default:
            return usage_error("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return usage_error("unexpected argument '%s'", argv[optind]);
    }
    return 0;
}

/*
 * glibc's malloc serves a large block (128 KiB at first) with a fresh
 * mmap() and shrinks its heap when the top is free past a threshold; it
 * moves both thresholds as it goes.  A model moving each request's data
 * in blocks of 256 KiB to 1 MiB then either reuses memory or faults in
 * and zeroes every page of every request, depending on the order its
 * first blocks came and went: sequential I/O over TCP ran 5x slower in
 * some runs than in others (docs/performance.md, "The sequential
 * transfers' two modes").  Fixed thresholds make it the first way, at
 * the cost of keeping up to MALLOC_KEEP_BYTES of freed memory.
 */
#define MALLOC_MMAP_BYTES (32 << 20)    /* glibc's largest on 64-bit */
#define MALLOC_KEEP_BYTES (32 << 20)

static void malloc_tune(void)
{
#ifndef __SANITIZE_ADDRESS__            /* ASan's allocator has no such thing */
    if (!mallopt(M_MMAP_THRESHOLD, MALLOC_MMAP_BYTES) ||
        !mallopt(M_TRIM_THRESHOLD, MALLOC_KEEP_BYTES)) {
        dm_warn("cannot set malloc's thresholds: large requests may be "
                "slow");
    }
#endif
}

int main(int argc, char **argv)
{
    DmServerConfig cfg = { 0 };
    char *model_name;
    char err[512];
    int ret;

    if (argc < 2) {
        return usage_error("%s", "missing command");
    }
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 ||
        strcmp(argv[1], "help") == 0) {
        help();
        return 0;
    }
    if (strcmp(argv[1], "daemon") == 0) {
        return dm_daemon_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "route") == 0) {
        return dm_route_main(argc - 1, argv + 1);
    }
    if (strcmp(argv[1], "serve") != 0) {
        return usage_error("unknown command '%s'", argv[1]);
    }
    ret = parse_serve(argc - 1, argv + 1);
    if (ret) {
        return ret;
    }
    if (!arg_model) {
        return usage_error("%s", "serve needs --model");
    }
    if (strcmp(arg_model, "help") == 0) {
        dm_model_list(print_model, NULL);
        return 0;
    }
    if (dm_props_split(arg_model, &model_name, &cfg.model_args.props, err,
                       sizeof(err)) < 0) {
        return usage_error("bad --model: %s", err);
    }
    cfg.model = dm_model_find(model_name);
    if (!cfg.model) {
        return usage_error("unknown model '%s' (--model help lists them)",
                           model_name);
    }
    free(model_name);
    for (unsigned i = 0; i < cfg.model_args.props.count; i++) {
        if (strcmp(cfg.model_args.props.names[i], "help") == 0) {
            print_model_props(cfg.model);
            return 0;
        }
    }
    if (arg_console) {
        if (!dm_model_find_prop(cfg.model, "console")) {
            return usage_error("model '%s' has no console", cfg.model->name);
        }
        if (dm_console_check_spec(arg_console, err, sizeof(err)) < 0) {
            return usage_error("bad --console: %s", err);
        }
        if (dm_props_add(&cfg.model_args.props, "console", arg_console) < 0) {
            return usage_error("%s", "out of memory");
        }
    }
    if (dm_props_apply(cfg.model->props, &cfg.model_args.props, NULL, err,
                       sizeof(err)) < 0) {
        return usage_error("bad --model: %s", err);
    }
    if (!arg_listen) {
        return usage_error("%s", "serve needs --listen");
    }
    if (dm_address_parse(arg_listen, &cfg.listen, err, sizeof(err)) < 0) {
        return usage_error("bad --listen: %s", err);
    }
    if (arg_state_file && !cfg.model->save) {
        return usage_error("model '%s' cannot save its state",
                           cfg.model->name);
    }
    cfg.state_file = arg_state_file;
    cfg.model_args.state_file = arg_state_file;
    if (arg_tls_creds && cfg.listen.kind != DM_ADDRESS_TCP) {
        return usage_error("%s", "--tls-creds needs a tcp: --listen address");
    }
    cfg.tls_creds = arg_tls_creds;
    if (arg_tcp_congestion) {
        if (cfg.listen.kind != DM_ADDRESS_TCP) {
            return usage_error("%s", "--tcp-congestion needs a tcp: --listen "
                               "address");
        }
        if (vup_tcp_congestion_check(arg_tcp_congestion, err,
                                     sizeof(err)) < 0) {
            return usage_error("bad --tcp-congestion: %s", err);
        }
    }
    cfg.tcp_congestion = arg_tcp_congestion;
    cfg.binding = arg_binding;
    cfg.dma_layout = arg_dma_layout;
    cfg.spin_ns = arg_poll_us * 1000;
    cfg.hello_timeout_ns = arg_hello_timeout * 1000000000LL;
    malloc_tune();
    ret = dm_server_run(&cfg);
    dm_props_free(&cfg.model_args.props);     /* the model is gone */
    return ret;
}
