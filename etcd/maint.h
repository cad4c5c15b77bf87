/* etcd Maintenance: Status and Snapshot; Auth: Authenticate. */
#ifndef ETCD_MAINT_H
#define ETCD_MAINT_H

#include "etcd/client.h"

/*
 * Maintenance.Status of the endpoint in use: version, db size, leader,
 * raft index and term, alarms (res->response: StatusResponse). 0 when
 * started (cb runs once, on the loop) or -EINVAL / -ENOMEM / -ECANCELED.
 */
int etcd_maint_status(etcd_client_t *c, const etcd_call_opts_t *opts, etcd_cb cb, void *data);

/* Result of a snapshot written to disk. */
typedef struct etcd_snapshot_info_s {
    const char *path;
    uint64_t size;    /* bytes written */
    int64_t revision; /* store revision when the snapshot began (a lower bound) */
} etcd_snapshot_info_t;

/*
 * Streams a snapshot into `path`: written to "<path>.tmp", fsync'ed, renamed
 * over `path`, and the directory fsync'ed, so `path` is either the complete
 * old file or the complete new one. On failure the tmp file is removed.
 * cb's res->response is an etcd_snapshot_info_t on success. timeout_ms in
 * opts bounds the whole transfer (0 = 60 s). The file is written with
 * blocking I/O on the loop thread (fast on local disks; a daemon that
 * snapshots to slow storage should do it from a helper process). 0 when
 * started (cb runs once) or -EINVAL / -ENOMEM / -ECANCELED.
 */
int etcd_maint_snapshot(etcd_client_t *c, const char *path, const etcd_call_opts_t *opts,
                        etcd_cb cb, void *data);

/*
 * Auth.Authenticate: exchanges user and password for a token
 * (res->response: AuthenticateResponse). The client calls it by itself when
 * etcd_config_t has a user; exposed for tools. -EACCES on bad credentials.
 */
int etcd_auth_authenticate(etcd_client_t *c, const char *user, const char *password,
                           const etcd_call_opts_t *opts, etcd_cb cb, void *data);

#endif
