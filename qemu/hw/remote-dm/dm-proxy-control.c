/*
 * Controls of a remote device that the VM's management sets, as it sets
 * them on a local device through QMP (the dm_controls extension,
 * docs/protocol.md): today QMP's set_link on a remote network card.
 *
 * Threads: the monitor's, under the BQL; dm_proxy_call() serializes with
 * the vCPUs' accesses.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include "qemu/osdep.h"
#include "qapi/error.h"
#include "qemu/module.h"
#include "net/net.h"
#include "hw/remote-dm/dm-proxy.h"
#include "vup/dm-ext.h"

bool dm_proxy_control(DMProxy *p, uint32_t type, uint64_t value,
                      Error **errp)
{
    VupDmControl c = { .type = type, .value = value };
    int ret;

    if (!dm_proxy_connected(p)) {
        error_setg(errp, "remote device '%s' is not connected to its model",
                   p->id);
        return false;
    }
    /* Read without p->lock: set once per connection, before this. */
    if (!p->caps.dm_controls) {
        error_setg(errp, "the model of remote device '%s' takes no "
                   "controls (its server does not offer dm_controls)",
                   p->id);
        return false;
    }
    ret = dm_proxy_call(p, VUP_CMD_DM_CONTROL, &c, sizeof(c), NULL, 0,
                        NULL);
    if (ret == -ENOTSUP) {
        error_setg(errp, "the model of remote device '%s' has no such "
                   "control", p->id);
    } else if (ret < 0) {
        error_setg_errno(errp, -ret, "remote device '%s' refused the "
                         "control", p->id);
    }
    return ret == 0;
}

/* QMP's set_link for a name no net client has: a remote card's id. */
static bool dm_proxy_set_link(const char *name, bool up, Error **errp)
{
    DMProxy *p = dm_proxy_find(name);

    if (!p) {
        return false;
    }
    dm_proxy_control(p, VUP_DM_CONTROL_LINK, up, errp);
    return true;
}

static void dm_proxy_control_register(void)
{
    qmp_set_link_other = dm_proxy_set_link;
}

type_init(dm_proxy_control_register)
