/*
 * display-vnc.h without libvncserver (Debian's libvncserver-dev was
 * absent at build time): the display model works, nobody can watch it.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stdio.h>

#include "display-vnc.h"

DmVnc *dm_vnc_start(const DmVncConfig *cfg, char *err, size_t errlen)
{
    snprintf(err, errlen, "dm-remote was built without libvncserver "
             "(Debian's libvncserver-dev)");
    return NULL;
}

void dm_vnc_set_mode(DmVnc *v, const DmDisplayMode *m)
{
}

void dm_vnc_dump(DmVnc *v)
{
}

void dm_vnc_stop(DmVnc *v)
{
}
