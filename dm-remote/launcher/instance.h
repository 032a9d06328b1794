/*
 * One device-model instance of the server role: a `dm-remote serve`
 * child, its address, files, exit status and restart policy.  The
 * lowest of the server role's modules, it also holds the role's state
 * (DmServer).
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */
#ifndef DM_INSTANCE_H
#define DM_INSTANCE_H

#include <sys/socket.h>

#include <json-glib/json-glib.h>
#include <libsoup/soup.h>

#include "device.h"
#include "child.h"
#include "launcher.h"

typedef enum DmInstState {
    DM_INST_STARTING,
    DM_INST_RUNNING,
    DM_INST_EXITED,
    DM_INST_RESTARTING,
    DM_INST_STOPPED,
} DmInstState;

/* "bind" members, in the order of dm-remote's --bind-* options. */
#define DM_BIND_COUNT 5
extern const char *const dm_bind_names[DM_BIND_COUNT];

typedef struct DmInstance DmInstance;

/*
 * The server role's state, shared by its modules: instance.c (one model,
 * or the router), instances.c (/v1/instances and the port range),
 * route-list.c (the routes and their file), router.c (the router child)
 * and routes.c (/v1/routes).  daemon.c fills in the options; the tables
 * are made and freed by dm_instances_init/free and dm_routes_init/free.
 */
typedef struct DmServer {
    DmLauncher *l;
    char **models;              /* the models this platform offers */
    const char *model_host;     /* as given, for addresses */
    struct sockaddr_storage model_addr;     /* resolved, port 0 */
    socklen_t model_addrlen;
    const char *vnc_host;       /* displays' VNC servers: --vnc-host */
    struct sockaddr_storage vnc_addr;       /* resolved, port 0 */
    socklen_t vnc_addrlen;
    unsigned port_lo, port_hi;
    /* instances.c's choice of a free port of the range (not a taken one) */
    int (*pick_port)(struct DmServer *s, unsigned *ret_port);
    char *images_dir;           /* absolute, --images-dir; NULL: none */
    char **bridges;             /* --bridges a tap may join; NULL: none */
    GHashTable *instances;      /* id -> DmInstance, the API's */
    DmInstance *router;         /* `dm-remote route`, NULL: none yet */
    GPtrArray *routes;          /* DmRouteEntry, in the order added */
    GQueue *route_waiting;      /* POSTs waiting for the router */
} DmServer;

/*
 * An internal instance's owner is told when it starts running, when it
 * exits (restarting or not) and, with @gone, just before it is freed.
 */
typedef void DmInstanceWatchFn(DmInstance *inst, bool gone, void *opaque);

/* Adds an internal instance's own members to its record. */
typedef void DmInstanceRecordFn(DmInstance *inst, JsonObject *rec);

struct DmInstance {
    DmChild child;              /* id, directory, process, probe, restarts */
    DmServer *s;
    const DmModel *model;       /* NULL: @args say what to run */
    const char *what;           /* the model's name, or "router" */
    char **args;                /* instead of serve's, after our exe */
    bool internal;              /* not in s->instances: the router */
    DmInstanceWatchFn *watch;   /* internal ones */
    void *watch_opaque;
    DmInstanceRecordFn *record_extra;   /* internal ones, or NULL */
    bool tcp;
    unsigned port;              /* tcp */
    unsigned port_tries;        /* other ports tried at start (taken) */
    char *address;              /* tcp:HOST:PORT or unix:PATH */
    char *sock_path;            /* unix */
    char *console_path;         /* NULL: no console */
    /* A model with an input link (docs/input-link.md): its socket, ours
     * to choose, in the instance's directory; NULL: none. */
    char *input_path;
    /*
     * A display (a model with "vnc"): its VNC server, on a port of the
     * range (vnc_port) or a socket in its directory (vnc_path), with a
     * password the launcher made (vnc_password_path, 0600), and its
     * input links: two symbolic links in its directory that pairing.c
     * points at the input sockets of its VM's keyboard and tablet.
     */
    char *vnc;                  /* tcp:HOST:PORT or unix:PATH; NULL: none */
    unsigned vnc_port;          /* 0: a UNIX socket */
    char *vnc_path;
    char *vnc_password_path;
    char *keyboard_link, *tablet_link;
    char *token_path;           /* NULL: no token */
    /* The tap the launcher made for it ("bridge", tap.h); NULL: none. */
    char *tap;
    char *bind[DM_BIND_COUNT];  /* NULL: not bound */
    JsonObject *props;          /* the model's properties, as strings */
    bool restart_on_failure;
    bool restart_always;        /* whatever the exit (internal ones) */
    DmInstState state;
};

/* A new instance in state "starting"; the caller fills in the rest. */
DmInstance *dm_instance_new(DmServer *s, const char *id,
                            const DmModel *model);

/*
 * An internal instance (not in the API's table) running `dm-remote
 * ARGS...`, e.g. the router; @what names it in logs.
 */
DmInstance *dm_instance_new_internal(DmServer *s, const char *id,
                                     const char *what, char **args,
                                     DmInstanceWatchFn *watch,
                                     void *opaque);
void dm_instance_free(DmInstance *inst);
/*
 * A model that takes an input link (the "input" property) gets it in
 * the instance's directory, never where an API client says: from
 * creation and from a record alike.
 */
void dm_instance_set_input(DmInstance *inst);

/*
 * A display's VNC server: on @port of the VNC host (0: a socket in its
 * directory), its input links' paths in its directory (given to the
 * model whether or not an input model is there yet: the display
 * connects when it has a key to send).  No file is made.
 */
void dm_instance_set_vnc(DmInstance *inst, unsigned port);

/* The model listens on @port of the model host (its address follows). */
void dm_instance_set_port(DmInstance *inst, unsigned port);

/* Write DIR/vnc-password (mode 0600): a new random password. */
int dm_instance_make_vnc_password(DmInstance *inst, char **ret_err);

/* The password, read back from its file; NULL if none. */
char *dm_instance_vnc_password(DmInstance *inst);

/*
 * A model given "bridge" gets the tap named after its id (tap.h): from
 * creation and from a record alike.  The caller makes the tap.
 */
void dm_instance_set_tap(DmInstance *inst);

/* Write DIR/token (mode 0600) for --token-file. */
int dm_instance_set_token(DmInstance *inst, const char *token,
                          char **ret_err);

/*
 * Add @inst to the table (unless internal) and launch it.  @msg (may be
 * NULL) is answered later: 201 once the model accepts connections, or
 * 500 with its log's tail (and the instance is gone).  Returns 0, or
 * -errno with a reason in *@ret_err (then @inst is freed and @msg
 * untouched).
 */
int dm_instance_launch(DmInstance *inst, SoupServerMessage *msg,
                       char **ret_err);

/*
 * Launch an instance that stays exited (its restarts used up) again,
 * with a fresh restart budget; 0 or -errno with a reason in *@ret_err.
 */
int dm_instance_respawn(DmInstance *inst, char **ret_err);

/*
 * Take @inst out of the table and stop it.  @msg (may be NULL) gets 200
 * with the instance once its process is gone.
 */
void dm_instance_stop(DmInstance *inst, SoupServerMessage *msg);

/*
 * Rewrite its record (record.h) with the running process, e.g. after
 * the router's table changed; a failure is logged.
 */
void dm_instance_write_record(DmInstance *inst);

/*
 * Fill @inst (new, not launched) from its record @rec, and adopt @pid
 * if it still runs (started at @start): then it is launched in all but
 * the spawn (in the table unless internal, probed, restarted by its
 * policy) and 0 is returned.  Else -ESRCH (-EINVAL for a bad record):
 * its sockets, token and record are removed and @inst is freed.
 */
int dm_instance_adopt(DmInstance *inst, JsonObject *rec, pid_t pid,
                      guint64 start);

JsonObject *dm_instance_json(DmInstance *inst);
/* Whether its sessions are TLS (TCP under --model-tls-creds). */
bool dm_instance_tls(DmInstance *inst);

#endif /* DM_INSTANCE_H */
