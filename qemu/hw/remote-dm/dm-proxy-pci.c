/*
 * dm-proxy-pci: a PCI device whose config space and BARs are forwarded
 * to a remote device model over vfio-user.
 *
 * This first version only registers the type; it proves that our files
 * and patches reach the fetched QEMU tree and its build.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include "qemu/osdep.h"
#include "hw/pci/pci_device.h"
#include "qapi/error.h"
#include "qemu/module.h"
#include "qom/object.h"

#define TYPE_DM_PROXY_PCI "dm-proxy-pci"
OBJECT_DECLARE_SIMPLE_TYPE(DMProxyPCIState, DM_PROXY_PCI)

struct DMProxyPCIState {
    PCIDevice parent_obj;
};

static void dm_proxy_pci_realize(PCIDevice *pdev, Error **errp)
{
    error_setg(errp, "%s: not implemented yet", TYPE_DM_PROXY_PCI);
}

static void dm_proxy_pci_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = dm_proxy_pci_realize;
    dc->desc = "PCI device proxied to a remote device model (vfio-user)";
    set_bit(DEVICE_CATEGORY_MISC, dc->categories);
}

static const TypeInfo dm_proxy_pci_info = {
    .name = TYPE_DM_PROXY_PCI,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(DMProxyPCIState),
    .class_init = dm_proxy_pci_class_init,
    .interfaces = (const InterfaceInfo[]) {
        { INTERFACE_CONVENTIONAL_PCI_DEVICE },
        { },
    },
};

static void dm_proxy_pci_register_types(void)
{
    type_register_static(&dm_proxy_pci_info);
}

type_init(dm_proxy_pci_register_types)
