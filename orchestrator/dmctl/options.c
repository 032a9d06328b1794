/*
 * dmctl's options and exit statuses, and the argument parsing every
 * subcommand shares: below the subcommands, above nothing.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <getopt.h>
#include <stdio.h>

#include "options.h"

const char *arg_orchestrator = "unix:/run/dm-orchestrator.sock";
bool arg_json;

/*
 * getopt over a subcommand's own arguments.  @argv[0] names it.  Returns
 * the option, -1 at the end, or prints the error and returns '?'.
 */
int dmctl_getopt(int argc, char **argv, const char *shortopts,
                        const struct option *opts, const char *cmd)
{
    int c = getopt_long(argc, argv, shortopts, opts, NULL);

    if (c == '?') {
        fprintf(stderr, "dmctl %s: unknown option '%s' (see --help)\n",
                cmd, argv[optind - 1]);
    } else if (c == ':') {
        fprintf(stderr, "dmctl %s: option '%s' needs a value\n", cmd,
                argv[optind - 1]);
        c = '?';
    }
    return c;
}

/* The one positional NAME of a subcommand; NULL (usage) otherwise. */
const char *dmctl_one_name(int argc, char **argv, const char *cmd)
{
    if (optind >= argc) {
        fprintf(stderr, "dmctl %s: a name is required\n", cmd);
        return NULL;
    }
    if (optind + 1 < argc) {
        fprintf(stderr, "dmctl %s: unexpected argument '%s'\n", cmd,
                argv[optind + 1]);
        return NULL;
    }
    return argv[optind];
}
