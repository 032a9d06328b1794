/*
 * vfio-user VERSION negotiation: the capabilities JSON, with json-c.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <json-c/json.h>

#include "vup/caps.h"
#include "vup/dm-ext.h"
#include "vup/proto.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
    if (err && errlen) {
        va_list ap;

        va_start(ap, fmt);
        vsnprintf(err, errlen, fmt, ap);
        va_end(ap);
    }
    return -EINVAL;
}

static const char *const id_names[VUP_ID_COUNT] = {
    [VUP_ID_VM] = "vm",
    [VUP_ID_HYPERVISOR] = "hypervisor",
    [VUP_ID_CLIENT_PLATFORM] = "client_platform",
    [VUP_ID_DEVICE_MODEL] = "device_model",
    [VUP_ID_SERVER_PLATFORM] = "server_platform",
    [VUP_ID_TOKEN] = "token",
};

const char *vup_id_name(VupIdField field)
{
    return field < VUP_ID_COUNT ? id_names[field] : "unknown";
}

static int parse_ids(json_object *ids, VupCaps *c, char *err, size_t errlen)
{
    if (!json_object_is_type(ids, json_type_object)) {
        return fail(err, errlen, "capability \"dm_ids\" must be an object");
    }
    for (int i = 0; i < VUP_ID_COUNT; i++) {
        json_object *v;
        const char *str;
        size_t len;

        if (!json_object_object_get_ex(ids, id_names[i], &v)) {
            continue;
        }
        if (!json_object_is_type(v, json_type_string)) {
            return fail(err, errlen, "\"dm_ids.%s\" must be a string",
                        id_names[i]);
        }
        str = json_object_get_string(v);
        len = json_object_get_string_len(v);
        if (len > VUP_ID_MAX) {
            return fail(err, errlen, "\"dm_ids.%s\" is longer than %d "
                        "bytes", id_names[i], VUP_ID_MAX);
        }
        for (size_t k = 0; k < len; k++) {
            if ((unsigned char)str[k] < 0x20 || str[k] == 0x7f) {
                return fail(err, errlen, "\"dm_ids.%s\" holds a control "
                            "character", id_names[i]);
            }
        }
        memcpy(c->ids[i], str, len);
        c->ids[i][len] = '\0';
    }
    return 0;
}

void vup_caps_init_defaults(VupCaps *caps)
{
    *caps = (VupCaps) {
        .max_msg_fds = VUP_DEFAULT_MAX_MSG_FDS,
        .max_data_xfer_size = VUP_DEFAULT_MAX_DATA_XFER_SIZE,
        .pgsizes = VUP_DEFAULT_PGSIZES,
        .max_dma_maps = VUP_DEFAULT_MAX_DMA_MAPS,
        .twin_socket_fd_index = -1,
    };
}

/* A non-negative JSON integer within [min, max]. */
static int get_uint(json_object *obj, const char *name, uint64_t min,
                    uint64_t max, uint64_t *ret, char *err, size_t errlen)
{
    uint64_t v;

    if (!json_object_is_type(obj, json_type_int) ||
        json_object_get_int64(obj) < 0) {
        return fail(err, errlen, "capability \"%s\" must be a "
                    "non-negative integer", name);
    }
    v = json_object_get_uint64(obj);
    if (v < min || v > max) {
        return fail(err, errlen, "capability \"%s\" out of range: %llu "
                    "(allowed %llu..%llu)", name, (unsigned long long)v,
                    (unsigned long long)min, (unsigned long long)max);
    }
    *ret = v;
    return 0;
}

/* dm_accel: a short name in [a-z0-9_-]. */
static int get_accel(json_object *obj, char *ret, char *err, size_t errlen)
{
    const char *str;
    size_t len;

    if (!json_object_is_type(obj, json_type_string)) {
        return fail(err, errlen, "capability \"%s\" must be a string",
                    VUP_CAP_DM_ACCEL);
    }
    str = json_object_get_string(obj);
    len = json_object_get_string_len(obj);
    if (len < 1 || len > VUP_DM_ACCEL_MAX) {
        return fail(err, errlen, "capability \"%s\" must be 1 to %d bytes",
                    VUP_CAP_DM_ACCEL, VUP_DM_ACCEL_MAX);
    }
    for (size_t k = 0; k < len; k++) {
        char ch = str[k];

        if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-')) {
            return fail(err, errlen, "capability \"%s\" may hold only "
                        "a-z, 0-9, '_' and '-'", VUP_CAP_DM_ACCEL);
        }
    }
    memcpy(ret, str, len);
    ret[len] = '\0';
    return 0;
}

static int get_bool(json_object *obj, const char *name, bool *ret,
                    char *err, size_t errlen)
{
    if (!json_object_is_type(obj, json_type_boolean)) {
        return fail(err, errlen, "capability \"%s\" must be a boolean",
                    name);
    }
    *ret = json_object_get_boolean(obj);
    return 0;
}

static int parse_migration(json_object *mig, VupCaps *c, char *err,
                           size_t errlen)
{
    json_object *v;
    uint64_t u;

    if (!json_object_is_type(mig, json_type_object)) {
        return fail(err, errlen, "capability \"migration\" must be an "
                    "object");
    }
    c->has_migration = true;
    c->migration_pgsize = VUP_DEFAULT_PGSIZES;
    if (json_object_object_get_ex(mig, VUP_CAP_MIGRATION_PGSIZE, &v)) {
        if (get_uint(v, "migration.pgsize", VUP_CAPS_MIN_PGSIZE,
                     UINT64_C(1) << 30, &u, err, errlen) < 0) {
            return -EINVAL;
        }
        if (u & (u - 1)) {
            return fail(err, errlen, "capability \"migration.pgsize\" must "
                        "be a power of two: %llu", (unsigned long long)u);
        }
        c->migration_pgsize = u;
    }
    if (json_object_object_get_ex(mig, VUP_CAP_MIGRATION_MAX_BITMAP, &v)) {
        if (get_uint(v, "migration.max_bitmap_size", 1, UINT32_MAX * 64ull,
                     &u, err, errlen) < 0) {
            return -EINVAL;
        }
        c->migration_max_bitmap_size = u;
    }
    return 0;
}

static int parse_twin(json_object *twin, VupCaps *c, char *err,
                      size_t errlen)
{
    json_object *v;
    uint64_t u;

    if (!json_object_is_type(twin, json_type_object)) {
        return fail(err, errlen, "capability \"twin_socket\" must be an "
                    "object");
    }
    if (json_object_object_get_ex(twin, VUP_CAP_TWIN_SUPPORTED, &v) &&
        get_bool(v, "twin_socket.supported", &c->twin_socket_supported,
                 err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(twin, VUP_CAP_TWIN_FD_INDEX, &v)) {
        if (get_uint(v, "twin_socket.fd_index", 0, VUP_CAPS_MAX_MSG_FDS - 1,
                     &u, err, errlen) < 0) {
            return -EINVAL;
        }
        c->twin_socket_fd_index = u;
    }
    return 0;
}

static int parse_caps_object(json_object *caps, VupCaps *c, char *err,
                             size_t errlen)
{
    json_object *v;
    uint64_t u;

    if (!json_object_is_type(caps, json_type_object)) {
        return fail(err, errlen, "\"capabilities\" must be an object");
    }
    if (json_object_object_get_ex(caps, VUP_CAP_MAX_MSG_FDS, &v)) {
        if (get_uint(v, VUP_CAP_MAX_MSG_FDS, 0, VUP_CAPS_MAX_MSG_FDS, &u,
                     err, errlen) < 0) {
            return -EINVAL;
        }
        c->max_msg_fds = u;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_MAX_DATA_XFER_SIZE, &v)) {
        if (get_uint(v, VUP_CAP_MAX_DATA_XFER_SIZE, 1,
                     VUP_CAPS_MAX_XFER_SIZE, &u, err, errlen) < 0) {
            return -EINVAL;
        }
        c->max_data_xfer_size = u;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_PGSIZES, &v)) {
        if (get_uint(v, VUP_CAP_PGSIZES, VUP_CAPS_MIN_PGSIZE, UINT64_MAX,
                     &u, err, errlen) < 0) {
            return -EINVAL;
        }
        if (u & (VUP_CAPS_MIN_PGSIZE - 1)) {
            return fail(err, errlen, "capability \"pgsizes\" has a page "
                        "size below 4096: 0x%llx", (unsigned long long)u);
        }
        c->pgsizes = u;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_MAX_DMA_MAPS, &v)) {
        if (get_uint(v, VUP_CAP_MAX_DMA_MAPS, 1, VUP_DEFAULT_MAX_DMA_MAPS,
                     &u, err, errlen) < 0) {
            return -EINVAL;
        }
        c->max_dma_maps = u;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_MIGRATION, &v) &&
        parse_migration(v, c, err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_TWIN_SOCKET, &v) &&
        parse_twin(v, c, err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_WRITE_MULTIPLE, &v) &&
        get_bool(v, VUP_CAP_WRITE_MULTIPLE, &c->write_multiple,
                 err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_IDS, &v) &&
        parse_ids(v, c, err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_IRQ_MESSAGES, &v) &&
        get_bool(v, VUP_CAP_DM_IRQ_MESSAGES, &c->dm_irq_messages,
                 err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_STANDBY, &v) &&
        get_bool(v, VUP_CAP_DM_STANDBY, &c->dm_standby, err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_VM_CLOCK, &v) &&
        get_bool(v, VUP_CAP_DM_VM_CLOCK, &c->dm_vm_clock, err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_DOORBELLS, &v) &&
        get_bool(v, VUP_CAP_DM_DOORBELLS, &c->dm_doorbells, err,
                 errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_VCPUS, &v)) {
        uint64_t n;

        if (get_uint(v, VUP_CAP_DM_VCPUS, 1, VUP_DM_VCPUS_MAX, &n, err,
                     errlen) < 0) {
            return -EINVAL;
        }
        c->dm_vcpus = n;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_ACCEL, &v) &&
        get_accel(v, c->dm_accel, err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_VQ_FETCH, &v) &&
        get_bool(v, VUP_CAP_DM_VQ_FETCH, &c->dm_vq_fetch, err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_VQ_PUSH, &v) &&
        get_bool(v, VUP_CAP_DM_VQ_PUSH, &c->dm_vq_push, err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_EVENTS, &v) &&
        get_bool(v, VUP_CAP_DM_EVENTS, &c->dm_events, err, errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_DIRTY_PAGES, &v) &&
        get_bool(v, VUP_CAP_DM_DIRTY_PAGES, &c->dm_dirty_pages, err,
                 errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_CONTROLS, &v) &&
        get_bool(v, VUP_CAP_DM_CONTROLS, &c->dm_controls, err,
                 errlen) < 0) {
        return -EINVAL;
    }
    if (json_object_object_get_ex(caps, VUP_CAP_DM_APPLIED, &v) &&
        get_bool(v, VUP_CAP_DM_APPLIED, &c->dm_applied, err,
                 errlen) < 0) {
        return -EINVAL;
    }
    return 0;
}

int vup_caps_parse(const char *json, size_t len, VupCaps *ret_caps,
                   char *err, size_t errlen)
{
    enum json_tokener_error jerr;
    json_tokener *tok;
    json_object *root, *caps;
    size_t end;
    char *buf;
    VupCaps c;
    int ret = 0;

    /* One trailing NUL is the spec's terminator; any other is garbage. */
    if (len > 0 && json[len - 1] == '\0') {
        len--;
    }
    if (memchr(json, '\0', len)) {
        return fail(err, errlen, "capabilities contain a NUL byte");
    }
    if (len > INT32_MAX) {
        return fail(err, errlen, "capabilities too long");
    }

    /* json-c needs the terminator to know that a bare number ended. */
    buf = malloc(len + 1);
    tok = json_tokener_new();
    if (!buf || !tok) {
        free(buf);
        if (tok) {
            json_tokener_free(tok);
        }
        return -ENOMEM;
    }
    memcpy(buf, json, len);
    buf[len] = '\0';
    root = json_tokener_parse_ex(tok, buf, (int)len + 1);
    jerr = json_tokener_get_error(tok);
    end = root ? json_tokener_get_parse_end(tok) : 0;
    json_tokener_free(tok);
    while (root && end < len && isspace((unsigned char)buf[end])) {
        end++;
    }
    free(buf);
    if (!root || end < len) {
        json_object_put(root);
        return fail(err, errlen, "capabilities are not valid JSON: %s",
                    root ? "trailing data" : json_tokener_error_desc(jerr));
    }

    vup_caps_init_defaults(&c);
    if (!json_object_is_type(root, json_type_object)) {
        ret = fail(err, errlen, "capabilities JSON is not an object");
    } else if (json_object_object_get_ex(root, VUP_CAP_CAPABILITIES,
                                         &caps)) {
        ret = parse_caps_object(caps, &c, err, errlen);
    }
    json_object_put(root);
    if (ret == 0) {
        *ret_caps = c;
    }
    return ret;
}

char *vup_caps_format(const VupCaps *c)
{
    json_object *root = json_object_new_object();
    json_object *caps = json_object_new_object();
    char *out = NULL;

    if (!root || !caps) {
        goto out;
    }
    json_object_object_add(caps, VUP_CAP_MAX_MSG_FDS,
                           json_object_new_int64(c->max_msg_fds));
    json_object_object_add(caps, VUP_CAP_MAX_DATA_XFER_SIZE,
                           json_object_new_int64(c->max_data_xfer_size));
    json_object_object_add(caps, VUP_CAP_PGSIZES,
                           json_object_new_uint64(c->pgsizes));
    json_object_object_add(caps, VUP_CAP_MAX_DMA_MAPS,
                           json_object_new_int64(c->max_dma_maps));
    if (c->has_migration) {
        json_object *mig = json_object_new_object();

        json_object_object_add(mig, VUP_CAP_MIGRATION_PGSIZE,
                               json_object_new_uint64(c->migration_pgsize));
        /* 0: the peer gave none, and 0 is no value the key may take. */
        if (c->migration_max_bitmap_size) {
            json_object_object_add(mig, VUP_CAP_MIGRATION_MAX_BITMAP,
                    json_object_new_uint64(c->migration_max_bitmap_size));
        }
        json_object_object_add(caps, VUP_CAP_MIGRATION, mig);
    }
    if (c->twin_socket_supported) {
        json_object *twin = json_object_new_object();

        json_object_object_add(twin, VUP_CAP_TWIN_SUPPORTED,
                               json_object_new_boolean(1));
        if (c->twin_socket_fd_index >= 0) {
            json_object_object_add(twin, VUP_CAP_TWIN_FD_INDEX,
                    json_object_new_int64(c->twin_socket_fd_index));
        }
        json_object_object_add(caps, VUP_CAP_TWIN_SOCKET, twin);
    }
    json_object_object_add(caps, VUP_CAP_WRITE_MULTIPLE,
                           json_object_new_boolean(c->write_multiple));
    if (c->dm_irq_messages) {
        json_object_object_add(caps, VUP_CAP_DM_IRQ_MESSAGES,
                               json_object_new_boolean(1));
    }
    if (c->dm_standby) {
        json_object_object_add(caps, VUP_CAP_DM_STANDBY,
                               json_object_new_boolean(1));
    }
    if (c->dm_vm_clock) {
        json_object_object_add(caps, VUP_CAP_DM_VM_CLOCK,
                               json_object_new_boolean(1));
    }
    if (c->dm_doorbells) {
        json_object_object_add(caps, VUP_CAP_DM_DOORBELLS,
                               json_object_new_boolean(1));
    }
    if (c->dm_vq_fetch) {
        json_object_object_add(caps, VUP_CAP_DM_VQ_FETCH,
                               json_object_new_boolean(1));
    }
    if (c->dm_vq_push) {
        json_object_object_add(caps, VUP_CAP_DM_VQ_PUSH,
                               json_object_new_boolean(1));
    }
    if (c->dm_events) {
        json_object_object_add(caps, VUP_CAP_DM_EVENTS,
                               json_object_new_boolean(1));
    }
    if (c->dm_dirty_pages) {
        json_object_object_add(caps, VUP_CAP_DM_DIRTY_PAGES,
                               json_object_new_boolean(1));
    }
    if (c->dm_controls) {
        json_object_object_add(caps, VUP_CAP_DM_CONTROLS,
                               json_object_new_boolean(1));
    }
    if (c->dm_applied) {
        json_object_object_add(caps, VUP_CAP_DM_APPLIED,
                               json_object_new_boolean(1));
    }
    if (c->dm_vcpus) {
        json_object_object_add(caps, VUP_CAP_DM_VCPUS,
                               json_object_new_int64(c->dm_vcpus));
    }
    if (c->dm_accel[0]) {
        json_object_object_add(caps, VUP_CAP_DM_ACCEL,
                               json_object_new_string(c->dm_accel));
    }
    for (int i = 0; i < VUP_ID_COUNT; i++) {
        if (c->ids[i][0]) {
            json_object *ids = NULL;

            if (!json_object_object_get_ex(caps, VUP_CAP_DM_IDS, &ids)) {
                ids = json_object_new_object();
                json_object_object_add(caps, VUP_CAP_DM_IDS, ids);
            }
            json_object_object_add(ids, id_names[i],
                                   json_object_new_string(c->ids[i]));
        }
    }
    json_object_object_add(root, VUP_CAP_CAPABILITIES, caps);
    caps = NULL;
    out = strdup(json_object_to_json_string_ext(root,
                                                JSON_C_TO_STRING_PLAIN));
out:
    json_object_put(caps);
    json_object_put(root);
    return out;
}

#define MIN(a, b) ((a) < (b) ? (a) : (b))

void vup_caps_negotiate(const VupCaps *ours, const VupCaps *peer,
                        VupCaps *ret_caps)
{
    VupCaps c = *ours;

    c.max_msg_fds = MIN(ours->max_msg_fds, peer->max_msg_fds);
    c.max_data_xfer_size = MIN(ours->max_data_xfer_size,
                               peer->max_data_xfer_size);
    c.pgsizes = ours->pgsizes & peer->pgsizes;
    if (!c.pgsizes) {
        c.pgsizes = VUP_DEFAULT_PGSIZES;
    }
    c.max_dma_maps = MIN(ours->max_dma_maps, peer->max_dma_maps);
    c.has_migration = ours->has_migration && peer->has_migration;
    c.twin_socket_supported = ours->twin_socket_supported &&
                              peer->twin_socket_supported;
    c.twin_socket_fd_index = -1;
    c.write_multiple = ours->write_multiple && peer->write_multiple;
    c.dm_irq_messages = ours->dm_irq_messages && peer->dm_irq_messages;
    c.dm_standby = ours->dm_standby && peer->dm_standby;
    c.dm_vm_clock = ours->dm_vm_clock && peer->dm_vm_clock;
    c.dm_doorbells = ours->dm_doorbells && peer->dm_doorbells;
    c.dm_vq_fetch = ours->dm_vq_fetch && peer->dm_vq_fetch;
    /* Pushed chains are a fetch's: no use without it. */
    c.dm_vq_push = c.dm_vq_fetch && ours->dm_vq_push && peer->dm_vq_push;
    c.dm_events = ours->dm_events && peer->dm_events;
    c.dm_dirty_pages = ours->dm_dirty_pages && peer->dm_dirty_pages;
    c.dm_controls = ours->dm_controls && peer->dm_controls;
    c.dm_applied = ours->dm_applied && peer->dm_applied;
    /*
     * Identifiers, vCPUs and the accelerator are the client's to tell,
     * not negotiated.
     */
    c.dm_vcpus = 0;
    c.dm_accel[0] = '\0';
    memset(c.ids, 0, sizeof(c.ids));
    *ret_caps = c;
}

int vup_version_build(uint16_t major, uint16_t minor, const VupCaps *caps,
                      void **ret_buf, size_t *ret_len)
{
    char *json = vup_caps_format(caps);
    size_t jlen, len;
    uint8_t *buf;
    VupVersion v = { .major = major, .minor = minor };

    if (!json) {
        return -ENOMEM;
    }
    jlen = strlen(json) + 1;
    len = sizeof(v) + jlen;
    buf = malloc(len);
    if (!buf) {
        free(json);
        return -ENOMEM;
    }
    memcpy(buf, &v, sizeof(v));
    memcpy(buf + sizeof(v), json, jlen);
    free(json);
    *ret_buf = buf;
    *ret_len = len;
    return 0;
}

int vup_version_parse(const void *payload, size_t len, uint16_t *ret_major,
                      uint16_t *ret_minor, VupCaps *ret_caps,
                      char *err, size_t errlen)
{
    VupVersion v;
    VupCaps c;

    if (len < sizeof(v)) {
        return fail(err, errlen, "VERSION payload too short: %zu bytes",
                    len);
    }
    memcpy(&v, payload, sizeof(v));
    if (len == sizeof(v)) {
        vup_caps_init_defaults(&c);
    } else if (vup_caps_parse((const char *)payload + sizeof(v),
                              len - sizeof(v), &c, err, errlen) < 0) {
        return -EINVAL;
    }
    *ret_major = v.major;
    *ret_minor = v.minor;
    *ret_caps = c;
    return 0;
}
