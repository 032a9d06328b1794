/*
 * dmctl dm list: the device models the VMs' devices run as.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>
#include <stdlib.h>

#include "api.h"
#include "call.h"
#include "options.h"
#include "dms.h"
#include "table.h"

static void print_dms(JsonNode *reply)
{
    static const DmctlColumn cols[] = {
        { "VM", "vm" }, { "DEVICE", "device" }, { "MODEL", "model" },
        { "PROPS", "props" }, { "SERVER", "server" }, { "STATE", "state" },
        { "ADDRESS", "address" }, { "TLS", "tls" }, { "VIA", "via" },
        { "ROUTE", "route" }, { "CONSOLE", "console" },
    };

    dmctl_table(cols, G_N_ELEMENTS(cols), dmctl_member_array(reply, "dms"));
}

int dmctl_dm_list(int argc, char **argv)
{
    return dmctl_plain(argc, argv, "dm list", "/v1/dms", print_dms);
}

