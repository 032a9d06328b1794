/*
 * vfio-user per-command facts: names, directions and minimum payloads.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <stddef.h>

#include "vup/dm-ext.h"
#include "vup/proto.h"

#define C2S VUP_DIR_CLIENT_TO_SERVER
#define S2C VUP_DIR_SERVER_TO_CLIENT

static const VupCommandInfo command_info[VUP_CMD_MAX] = {
    [VUP_CMD_VERSION] = { "VFIO_USER_VERSION", C2S,
        sizeof(VupVersion), sizeof(VupVersion) },
    [VUP_CMD_DMA_MAP] = { "VFIO_USER_DMA_MAP", C2S, sizeof(VupDmaMap), 0 },
    [VUP_CMD_DMA_UNMAP] = { "VFIO_USER_DMA_UNMAP", C2S,
        sizeof(VupDmaUnmap), 0 },
    [VUP_CMD_DEVICE_GET_INFO] = { "VFIO_USER_DEVICE_GET_INFO", C2S,
        sizeof(VupDeviceInfo), sizeof(VupDeviceInfo) },
    [VUP_CMD_DEVICE_GET_REGION_INFO] = {
        "VFIO_USER_DEVICE_GET_REGION_INFO", C2S,
        sizeof(VupRegionInfo), sizeof(VupRegionInfo) },
    [VUP_CMD_DEVICE_GET_REGION_IO_FDS] = {
        "VFIO_USER_DEVICE_GET_REGION_IO_FDS", C2S,
        sizeof(VupRegionIoFds), sizeof(VupRegionIoFds) },
    [VUP_CMD_DEVICE_GET_IRQ_INFO] = { "VFIO_USER_DEVICE_GET_IRQ_INFO", C2S,
        sizeof(VupIrqInfo), sizeof(VupIrqInfo) },
    [VUP_CMD_DEVICE_SET_IRQS] = { "VFIO_USER_DEVICE_SET_IRQS", C2S,
        sizeof(VupIrqSet), 0 },
    [VUP_CMD_REGION_READ] = { "VFIO_USER_REGION_READ", C2S,
        sizeof(VupRegionAccess), sizeof(VupRegionAccess) },
    [VUP_CMD_REGION_WRITE] = { "VFIO_USER_REGION_WRITE", C2S,
        sizeof(VupRegionAccess), sizeof(VupRegionAccess) },
    [VUP_CMD_DMA_READ] = { "VFIO_USER_DMA_READ", S2C,
        sizeof(VupDmaAccess), sizeof(VupDmaAccess) },
    [VUP_CMD_DMA_WRITE] = { "VFIO_USER_DMA_WRITE", S2C,
        sizeof(VupDmaAccess), sizeof(VupDmaWriteReply) },
    [VUP_CMD_DEVICE_RESET] = { "VFIO_USER_DEVICE_RESET", C2S, 0, 0 },
    [VUP_CMD_REGION_WRITE_MULTI] = { "VFIO_USER_REGION_WRITE_MULTI", C2S,
        sizeof(VupWriteMulti), sizeof(VupWriteMulti) },
    [VUP_CMD_DEVICE_FEATURE] = { "VFIO_USER_DEVICE_FEATURE", C2S,
        sizeof(VupDeviceFeature), sizeof(VupDeviceFeature) },
    [VUP_CMD_MIG_DATA_READ] = { "VFIO_USER_MIG_DATA_READ", C2S,
        sizeof(VupMigData), sizeof(VupMigData) },
    [VUP_CMD_MIG_DATA_WRITE] = { "VFIO_USER_MIG_DATA_WRITE", C2S,
        sizeof(VupMigData), 0 },
};

static const VupCommandInfo dm_irq_info = {
    "DM_IRQ", S2C, sizeof(VupDmIrq), 0,
};

static const VupCommandInfo dm_activate_info = {
    "DM_ACTIVATE", C2S, 0, 0,
};

static const VupCommandInfo dm_vm_state_info = {
    "DM_VM_STATE", C2S, sizeof(VupDmVmState), 0,
};

static const VupCommandInfo dm_vq_fetch_info = {
    "DM_VQ_FETCH", S2C, sizeof(VupDmVqFetch), sizeof(VupDmVqFetchReply),
};

static const VupCommandInfo dm_vq_rings_info = {
    "DM_VQ_RINGS", S2C, sizeof(VupDmVqRings), 0,
};

static const VupCommandInfo dm_vq_kick_info = {
    "DM_VQ_KICK", C2S, sizeof(VupDmVqKick) + sizeof(VupDmVqFetchReply), 0,
};

static const VupCommandInfo dm_vq_recheck_info = {
    "DM_VQ_RECHECK", S2C, sizeof(VupDmVqRecheck), 0,
};

static const VupCommandInfo dm_event_info = {
    "DM_EVENT", S2C, sizeof(VupDmEvent), 0,
};

static const VupCommandInfo dm_control_info = {
    "DM_CONTROL", C2S, sizeof(VupDmControl), 0,
};

static const VupCommandInfo dm_applied_info = {
    "DM_APPLIED", C2S, sizeof(VupDmApplied), sizeof(VupDmApplied),
};

static const VupCommandInfo dm_vq_irq_info = {
    "DM_VQ_IRQ", S2C, sizeof(VupDmVqIrq), 0,
};

static const VupCommandInfo dm_dirty_pages_info = {
    "DM_DIRTY_PAGES", C2S, sizeof(VupDmDirtyPages), 0,
};

const VupCommandInfo *vup_command_info(uint32_t command)
{
    if (command == VUP_CMD_DM_DIRTY_PAGES) {
        return &dm_dirty_pages_info;
    }
    if (command == VUP_CMD_DM_VQ_FETCH) {
        return &dm_vq_fetch_info;
    }
    if (command == VUP_CMD_DM_VQ_IRQ) {
        return &dm_vq_irq_info;
    }
    if (command == VUP_CMD_DM_VQ_RINGS) {
        return &dm_vq_rings_info;
    }
    if (command == VUP_CMD_DM_VQ_KICK) {
        return &dm_vq_kick_info;
    }
    if (command == VUP_CMD_DM_VQ_RECHECK) {
        return &dm_vq_recheck_info;
    }
    if (command == VUP_CMD_DM_EVENT) {
        return &dm_event_info;
    }
    if (command == VUP_CMD_DM_CONTROL) {
        return &dm_control_info;
    }
    if (command == VUP_CMD_DM_APPLIED) {
        return &dm_applied_info;
    }
    if (command == VUP_CMD_DM_VM_STATE) {
        return &dm_vm_state_info;
    }
    if (command == VUP_CMD_DM_IRQ) {
        return &dm_irq_info;
    }
    if (command == VUP_CMD_DM_ACTIVATE) {
        return &dm_activate_info;
    }
    if (command >= VUP_CMD_MAX || command_info[command].name == NULL) {
        return NULL;
    }
    return &command_info[command];
}

const char *vup_command_name(uint32_t command)
{
    const VupCommandInfo *info = vup_command_info(command);

    return info ? info->name : "unknown";
}
