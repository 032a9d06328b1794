/*
 * vfio-user VERSION negotiation: the capabilities JSON.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef VUP_CAPS_H
#define VUP_CAPS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Limits beyond which a capability value is refused as out of range. */
#define VUP_CAPS_MAX_MSG_FDS        253         /* SCM_MAX_FD */
#define VUP_CAPS_MAX_XFER_SIZE      (64u * 1024 * 1024)
#define VUP_CAPS_MIN_PGSIZE         4096

/* The longest identifier or token accepted, in bytes. */
#define VUP_ID_MAX 128
/* The longest accelerator name a client may tell (dm_accel, dm-ext.h). */
#define VUP_DM_ACCEL_MAX 15

/* Identifiers of the architecture (qemu-dm extension), "" when absent. */
typedef enum VupIdField {
    VUP_ID_VM,
    VUP_ID_HYPERVISOR,
    VUP_ID_CLIENT_PLATFORM,
    VUP_ID_DEVICE_MODEL,
    VUP_ID_SERVER_PLATFORM,
    VUP_ID_TOKEN,
    VUP_ID_COUNT,
} VupIdField;

/* The JSON key of @field ("vm", "client_platform", ...). */
const char *vup_id_name(VupIdField field);

typedef struct VupCaps {
    uint32_t max_msg_fds;
    uint64_t max_data_xfer_size;
    uint64_t pgsizes;               /* OR of supported page sizes */
    uint32_t max_dma_maps;
    bool has_migration;
    uint64_t migration_pgsize;
    uint64_t migration_max_bitmap_size;
    bool twin_socket_supported;
    int32_t twin_socket_fd_index;   /* -1 when absent */
    bool write_multiple;
    bool dm_irq_messages;           /* extension: VUP_CMD_DM_IRQ */
    bool dm_standby;                /* extension: standby sessions */
    bool dm_vm_clock;               /* extension: VUP_CMD_DM_VM_STATE */
    bool dm_doorbells;              /* extension: doorbells without fds */
    bool dm_vq_fetch;               /* extension: DM_VQ_FETCH, posted DMA */
    bool dm_vq_push;                /* extension: chains with the kick */
    bool dm_events;                 /* extension: VUP_CMD_DM_EVENT */
    bool dm_dirty_pages;            /* extension: VUP_CMD_DM_DIRTY_PAGES */
    bool dm_controls;               /* extension: VUP_CMD_DM_CONTROL */
    bool dm_applied;                /* extension: VUP_CMD_DM_APPLIED */
    uint32_t dm_vcpus;              /* told by the client; 0: not told */
    char dm_accel[VUP_DM_ACCEL_MAX + 1];   /* told by the client; "": not */
    char ids[VUP_ID_COUNT][VUP_ID_MAX + 1];    /* extension: dm_ids */
} VupCaps;

/* The values the spec says a peer must assume when a field is absent. */
void vup_caps_init_defaults(VupCaps *caps);

/*
 * Parse the JSON of a VERSION message (@len bytes, an optional trailing
 * NUL included) into @ret_caps, starting from the spec's defaults.
 * Unknown keys are ignored, as the spec's forward compatibility asks.
 * Returns 0, or -EINVAL with a readable reason in @err (if not NULL).
 * @ret_caps is untouched on failure.
 */
int vup_caps_parse(const char *json, size_t len, VupCaps *ret_caps,
                   char *err, size_t errlen);

/* Format @caps as {"capabilities":{...}}; malloc'd, NULL on ENOMEM. */
char *vup_caps_format(const VupCaps *caps);

/*
 * What both sides can live with: the smaller of each limit, the common
 * page sizes, features only if both offer them.
 */
void vup_caps_negotiate(const VupCaps *ours, const VupCaps *peer,
                        VupCaps *ret_caps);

/*
 * VERSION payload: major, minor and the capabilities JSON with its NUL.
 * vup_version_build() returns a malloc'd buffer in @ret_buf.
 */
int vup_version_build(uint16_t major, uint16_t minor, const VupCaps *caps,
                      void **ret_buf, size_t *ret_len);
int vup_version_parse(const void *payload, size_t len, uint16_t *ret_major,
                      uint16_t *ret_minor, VupCaps *ret_caps,
                      char *err, size_t errlen);

#endif /* VUP_CAPS_H */
