/*
 * dm-remote route: the command line of the owner server's router.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "route.h"
#include "route-cli.h"
#include "vup/tcp.h"

#define ROUTE_MAX 256

static void route_help(void)
{
    printf("Usage: dm-remote route --listen ADDRESS [--route ROUTE]... "
           "[--routes-file PATH]\n"
           "\n"
           "Route vfio-user sessions through this owner server: read each\n"
           "client's VERSION, check its identifiers against the routes, and\n"
           "forward the whole session to the I/O server that hosts the\n"
           "model.\n"
           "\n"
           "  -l, --listen=ADDRESS   unix:PATH or tcp:HOST:PORT (plain TCP:\n"
           "                         trusted networks only)\n"
           "  -r, --route=ROUTE      DEVICE_MODEL=ADDRESS[,vm=VM]: sessions of\n"
           "                         that device-model id (and VM id, if "
           "given)\n"
           "                         go to ADDRESS; repeat for each model\n"
           "  -f, --routes-file=PATH one ROUTE a line (blank lines and "
           "lines\n"
           "                         starting with # are skipped), read "
           "again for\n"
           "                         each new session; a missing file or a "
           "bad\n"
           "                         line keeps the last good routes (one "
           "error\n"
           "                         per change).  --route ones apply too\n"
           "      --max-sessions=N   at most N sessions at a time, each with "
           "its\n"
           "                         thread and two descriptors; more are "
           "closed\n"
           "                         at once (default 256; 1..65536)\n"
           "      --hello-timeout=SEC a client must send its whole VERSION "
           "within\n"
           "                         SEC seconds of its accept (default 10;\n"
           "                         1..3600)\n"
           "      --tcp-congestion=NAME\n"
           "                         TCP congestion control of both legs "
           "of each\n"
           "                         session (TCP ones; default: the "
           "host's)\n"
           "  -v, --verbose, -q, --quiet, -h, --help\n"
           "\n"
           "At least one --route or a --routes-file.  A route for the\n"
           "session's VM wins over one without vm=.  A session without a\n"
           "route is refused with EHOSTUNREACH, one from another VM with "
           "EPERM\n"
           "(vfio-user error replies).  Sessions already forwarded are not\n"
           "affected by a change of routes.  Out of descriptors (accept\n"
           "fails with EMFILE), the router stops accepting for 250 ms at a\n"
           "time until sessions end.\n");
}

static int route_usage(const char *fmt, const char *what)
{
    return dm_usage_error("route", fmt, what);
}

int dm_route_main(int argc, char **argv)
{
    enum { OPT_MAX_SESSIONS = 0x100, OPT_HELLO_TIMEOUT, OPT_TCP_CONGESTION };
    static const struct option options[] = {
        { "listen", required_argument, NULL, 'l' },
        { "max-sessions", required_argument, NULL, OPT_MAX_SESSIONS },
        { "hello-timeout", required_argument, NULL, OPT_HELLO_TIMEOUT },
        { "tcp-congestion", required_argument, NULL, OPT_TCP_CONGESTION },
        { "route", required_argument, NULL, 'r' },
        { "routes-file", required_argument, NULL, 'f' },
        { "verbose", no_argument, NULL, 'v' },
        { "quiet", no_argument, NULL, 'q' },
        { "help", no_argument, NULL, 'h' },
        { 0 },
    };
    static DmRoute routes[ROUTE_MAX];
    const char *listen = NULL, *routes_file = NULL;
    DmRouteLimits limits = {
        .max_sessions = DM_ROUTE_MAX_SESSIONS_DEFAULT,
        .hello_timeout_ms = DM_ROUTE_HELLO_TIMEOUT_DEFAULT * 1000,
    };
    DmAddress addr;
    unsigned n = 0;
    long v;
    char err[512];
    int c;

    opterr = 0;
    while ((c = getopt_long(argc, argv, ":l:r:f:vqh", options, NULL)) != -1) {
        switch (c) {
        case 'l':
            listen = optarg;
            break;
        case 'r':
            if (n == ROUTE_MAX) {
                return route_usage("%s", "too many routes");
            }
            if (dm_route_parse(optarg, &routes[n], err, sizeof(err)) < 0) {
                return route_usage("bad --route: %s", err);
            }
            n++;
            break;
        case 'f':
            if (!optarg[0]) {
                return route_usage("%s", "--routes-file is empty");
            }
            routes_file = optarg;
            break;
        case OPT_MAX_SESSIONS:
            if (!dm_parse_number(optarg, 1, 65536, &v)) {
                return route_usage("invalid --max-sessions '%s' (1..65536)",
                                   optarg);
            }
            limits.max_sessions = v;
            break;
        case OPT_HELLO_TIMEOUT:
            if (!dm_parse_number(optarg, 1, 3600, &v)) {
                return route_usage("invalid --hello-timeout '%s' (1..3600)",
                                   optarg);
            }
            limits.hello_timeout_ms = v * 1000;
            break;
        case OPT_TCP_CONGESTION:
            if (vup_tcp_congestion_check(optarg, err, sizeof(err)) < 0) {
                return route_usage("bad --tcp-congestion: %s", err);
            }
            limits.tcp_congestion = optarg;
            break;
        case 'v':
            dm_log_level = DM_LOG_DEBUG;
            break;
        case 'q':
            dm_log_level = DM_LOG_ERROR;
            break;
        case 'h':
            route_help();
            return 0;
        case ':':
            return route_usage("option '%s' needs a value", argv[optind - 1]);
        default:
            return route_usage("unknown option '%s'", argv[optind - 1]);
        }
    }
    if (optind < argc) {
        return route_usage("unexpected argument '%s'", argv[optind]);
    }
    if (!listen) {
        return route_usage("%s", "route needs --listen");
    }
    if (dm_address_parse(listen, &addr, err, sizeof(err)) < 0) {
        return route_usage("bad --listen: %s", err);
    }
    if (n == 0 && !routes_file) {
        return route_usage("%s", "route needs at least one --route or "
                           "a --routes-file");
    }
    return dm_route_run(&addr, routes, n, routes_file, &limits);
}
