/*
 * dmctl: the command-line client of dm-orchestrator.
 *
 *   dmctl [--orchestrator ADDRESS] [--json] COMMAND ...
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>

#include "../address.h"
#include "api.h"
#include "console.h"
#include "options.h"
#include "dms.h"
#include "events.h"
#include "platforms.h"
#include "vms.h"

typedef struct DmctlCommand {
    const char *name;
    const char *usage;
    const char *help;
    int (*run)(int argc, char **argv);
} DmctlCommand;

static const DmctlCommand commands[] = {
    { "platform add", "NAME --role client|server --address ADDRESS\n"
      "             [--capacity N] [--models a,b] [--hypervisor ID]",
      "register a platform; its launcher (dm-remote daemon) at ADDRESS\n"
      "(unix:PATH or tcp:HOST:PORT) must answer with the same role.\n"
      "Capacity and models default to what the launcher reports.",
      dmctl_platform_add },
    { "platform list", "", "list the platforms and their load",
      dmctl_platform_list },
    { "platform remove", "NAME",
      "forget a platform (refused while VMs or device models use it)",
      dmctl_platform_remove },
    { "vm create", "NAME [--memory 256M] [--kernel F] [--initrd F]\n"
      "             [--append S] [--restart never|on-failure] [--boot DEVICE]\n"
      "             --device NAME=MODEL[@SERVER][,via=OWNER][,PROP=VALUE]...",
      "define a VM and its remote devices (the models the server\n"
      "platforms offer: edu, edu-msix, uart16550, virtio-blk, virtio-net...;\n"
      "@SERVER pins a device to a server platform; via=OWNER reaches it\n"
      "through the router of server platform OWNER, which forwards the\n"
      "session to the server hosting the model; PROP=VALUE are the\n"
      "model's properties, a bare PROP is PROP=on: a disk is\n"
      "disk0=virtio-blk@srv1,file=IMAGE[,readonly], IMAGE a name in\n"
      "the server launcher's --images-dir; a network card on a bridge\n"
      "of the server is net0=virtio-net@srv1,bridge=BR (or tap=BR), BR\n"
      "one of its launcher's --bridges: the launcher makes the tap;\n"
      "--boot DEVICE makes the firmware boot from that disk, for a VM\n"
      "without --kernel)",
      dmctl_vm_create },
    { "vm start", "NAME [--on CLIENT]",
      "place the devices, launch them and start QEMU (on the least\n"
      "loaded client platform unless --on is given)", dmctl_vm_start },
    { "vm stop", "NAME [--timeout SECONDS]",
      "power the guest down (QEMU quits after the timeout, default 30)\n"
      "and stop its device models", dmctl_vm_stop },
    { "vm suspend", "NAME", "pause the guest", dmctl_vm_suspend },
    { "vm resume", "NAME", "continue a paused guest", dmctl_vm_resume },
    { "vm link", "NAME DEVICE up|down",
      "set a network card's link down or up (QMP set_link on the\n"
      "device's proxy; the guest's driver sees the cable out or in)",
      dmctl_vm_link },
    { "vm migrate", "NAME --to CLIENT",
      "live-migrate the VM to another client platform, with a progress\n"
      "line; its device models stay where they are", dmctl_vm_migrate },
    { "vm save", "NAME [--file NAME]",
      "save the VM to a file in the orchestrator's --save-dir (default\n"
      "NAME.vmstate; a plain file name, no '/')\n"
      "written by QEMU on its client platform, and stop its QEMU; the\n"
      "device models keep running and hold the device state",
      dmctl_vm_save },
    { "vm restore", "NAME [--on CLIENT]",
      "run a saved VM again from its file (on the least loaded client\n"
      "platform unless --on is given)", dmctl_vm_restore },
    { "vm list", "", "list the VMs", dmctl_vm_list },
    { "vm show", "NAME", "show a VM and where its devices run",
      dmctl_vm_show },
    { "vm remove", "NAME", "forget a stopped VM", dmctl_vm_remove },
    { "dm list", "", "list the running device models, with the state\n"
      "their launchers report", dmctl_dm_list },
    { "events", "[--vm NAME] [--since ID] [--limit N]",
      "what happened to the VMs (starts, stops, migrations, saves,\n"
      "restores, repairs at the orchestrator's start-up), oldest first:\n"
      "the last N (default 100, at most 1000), or the first N after\n"
      "event ID", dmctl_events },
    { "console", "VM",
      "attach stdin/stdout to the VM's remote UART console; Ctrl-]\n"
      "detaches", dmctl_console },
};

static void help(void)
{
    size_t i;

    printf("Usage: dmctl [--orchestrator ADDRESS] [--tls-creds DIR] "
           "[--json] COMMAND ...\n"
           "\n"
           "Drive dm-orchestrator: platforms, VMs and their remote device\n"
           "models.\n"
           "\n"
           "Options:\n"
           "  -o, --orchestrator=ADDRESS  its API: unix:PATH or "
           "tcp:HOST:PORT\n"
           "                              (default $DMCTL_ORCHESTRATOR, "
           "else\n"
           "                              unix:/run/dm-orchestrator.sock)\n"
           "  -t, --tls-creds=DIR         HTTPS to a tcp: orchestrator: DIR\n"
           "                              holds ca-cert.pem, client-cert.pem\n"
           "                              and client-key.pem (default\n"
           "                              $DMCTL_TLS_CREDS)\n"
           "  -j, --json                  print the API's JSON\n"
           "  -h, --help                  show this help (COMMAND --help: "
           "its own)\n"
           "\n"
           "Commands:\n");
    for (i = 0; i < G_N_ELEMENTS(commands); i++) {
        printf("  %s %s\n", commands[i].name, commands[i].usage);
    }
    printf("\nExit status: 0 done, 1 the orchestrator refused (its message\n"
           "is printed), 2 bad usage.\n");
}

static void command_help(const DmctlCommand *cmd)
{
    printf("Usage: dmctl %s %s\n\n%s\n", cmd->name, cmd->usage, cmd->help);
}

/* Find the command named by the words at @argv; its word count. */
static const DmctlCommand *find_command(int argc, char **argv, int *ret_n)
{
    size_t i;

    for (i = 0; i < G_N_ELEMENTS(commands); i++) {
        g_auto(GStrv) words = g_strsplit(commands[i].name, " ", -1);
        int n = g_strv_length(words), j;

        for (j = 0; j < n && j < argc && !strcmp(words[j], argv[j]); j++) {
        }
        if (j == n) {
            *ret_n = n;
            return &commands[i];
        }
    }
    return NULL;
}

static bool wants_help(int argc, char **argv)
{
    int i;

    for (i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) {
            return true;
        }
        if (!strcmp(argv[i], "--")) {
            break;
        }
    }
    return false;
}

/* Global options; 0 to go on, 1 when done (--help), 2 on bad usage. */
static int parse_global(int argc, char **argv)
{
    static const struct option opts[] = {
        { "orchestrator", required_argument, NULL, 'o' },
        { "tls-creds", required_argument, NULL, 't' },
        { "json", no_argument, NULL, 'j' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 },
    };
    g_autoptr(GError) err = NULL;
    const char *env = getenv("DMCTL_ORCHESTRATOR");
    const char *tls_creds = getenv("DMCTL_TLS_CREDS");
    int c;

    if (env && *env) {
        arg_orchestrator = env;
    }
    opterr = 0;
    while ((c = dmctl_getopt(argc, argv, "+:o:t:jh", opts, "")) != -1) {
        switch (c) {
        case 'o':
            arg_orchestrator = optarg;
            break;
        case 't':
            tls_creds = optarg;
            break;
        case 'j':
            arg_json = true;
            break;
        case 'h':
            help();
            return 1;
        default:
            return 2;
        }
    }
    if (!orch_address_valid(arg_orchestrator, &err)) {
        fprintf(stderr, "dmctl: --orchestrator: %s\n", err->message);
        return 2;
    }
    if (tls_creds && *tls_creds) {
        if (!g_str_has_prefix(arg_orchestrator, "tcp:")) {
            fprintf(stderr, "dmctl: --tls-creds needs a tcp: orchestrator "
                    "address\n");
            return 2;
        }
        return dmctl_api_tls(tls_creds);
    }
    return 0;
}

int main(int argc, char **argv)
{
    const DmctlCommand *cmd;
    int ret, n;

    ret = parse_global(argc, argv);
    if (ret) {
        return ret == 1 ? DMCTL_OK : DMCTL_USAGE;
    }
    argc -= optind;
    argv += optind;
    if (argc == 0) {
        fprintf(stderr, "dmctl: a command is required (see --help)\n");
        return DMCTL_USAGE;
    }
    cmd = find_command(argc, argv, &n);
    if (!cmd) {
        fprintf(stderr, "dmctl: unknown command '%s%s%s' (see --help)\n",
                argv[0], argc > 1 ? " " : "", argc > 1 ? argv[1] : "");
        return DMCTL_USAGE;
    }
    /* The subcommand sees its own name as argv[0]. */
    argc -= n - 1;
    argv += n - 1;
    if (wants_help(argc, argv)) {
        command_help(cmd);
        return DMCTL_OK;
    }
    optind = 0;
    return cmd->run(argc, argv);
}
