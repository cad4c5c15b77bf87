/* Maintenance (Status, Snapshot) and Auth (Authenticate). */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "etcd/internal.h"
#include "etcd/maint.h"

int etcd_auth_unary(etcd_client_t *c, const char *user, const char *password, etcd_cb cb,
                    void *data);

int etcd_maint_status(etcd_client_t *c, const etcd_call_opts_t *opts, etcd_cb cb, void *data)
{
    Etcdserverpb__StatusRequest req = ETCDSERVERPB__STATUS_REQUEST__INIT;
    return etcd_unary(c, &etcd_m_status, &req.base, opts, cb, data);
}

int etcd_auth_authenticate(etcd_client_t *c, const char *user, const char *password,
                           const etcd_call_opts_t *opts, etcd_cb cb, void *data)
{
    (void)opts;
    if (!c || !user || !password || !cb)
        return -EINVAL;
    return etcd_auth_unary(c, user, password, cb, data);
}

/* ---- snapshot ---- */

typedef struct snap_s {
    etcd_client_t *c;
    unsigned timeout_ms;
    char *path, *tmp;
    int fd;
    int err; /* first local failure (write), reported at the end */
    uint64_t size;
    int64_t revision;
    etcd_cb cb;
    void *data;
} snap_t;

static void snap_free(snap_t *s)
{
    if (s->fd >= 0)
        close(s->fd);
    free(s->path);
    free(s->tmp);
    free(s);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static void snap_on_message(etcd_stream_t *st, grpc_byte_buffer *bb, void *owner)
{
    snap_t *s = owner;
    Etcdserverpb__SnapshotResponse *r = (Etcdserverpb__SnapshotResponse *)rpc_unpack(
        &etcdserverpb__snapshot_response__descriptor, bb);
    if (!r) {
        s->err = -EIO;
        etcd_stream_cancel(st);
        return;
    }
    if (!s->err && r->blob.len) {
        s->err = write_all(s->fd, r->blob.data, r->blob.len);
        s->size += r->blob.len;
        if (s->err)
            etcd_stream_cancel(st);
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

/* Makes the finished file durable and visible under its final name. */
static int snap_commit(snap_t *s)
{
    if (fsync(s->fd) < 0)
        return -errno;
    int err = close(s->fd) < 0 ? -errno : 0;
    s->fd = -1;
    if (err)
        return err;
    if (rename(s->tmp, s->path) < 0)
        return -errno;
    char *d = strdup(s->path);
    if (!d)
        return -ENOMEM;
    int dfd = open(dirname(d), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    free(d);
    if (dfd < 0)
        return -errno;
    err = fsync(dfd) < 0 ? -errno : 0;
    close(dfd);
    return err;
}

static void snap_on_closed(etcd_stream_t *st, int err, const char *msg, void *owner)
{
    snap_t *s = owner;
    (void)st;
    if (s->err)
        err = s->err, msg = NULL;
    else if (!err && !s->size)
        err = -EIO, msg = "etcd sent an empty snapshot";
    if (!err && (err = snap_commit(s)) < 0)
        msg = NULL;
    if (err)
        unlink(s->tmp);
    etcd_snapshot_info_t info = {s->path, s->size, s->revision};
    etcd_result_t res = {err, msg ? msg : etcd_strerror(err), err ? NULL : &info, 0};
    s->cb(&res, s->data);
    snap_free(s);
}

static const etcd_stream_ops_t snap_ops = {snap_on_message, snap_on_closed};

static void snap_fail_early(snap_t *s, int err, const char *msg)
{
    unlink(s->tmp);
    etcd_result_t res = {err, msg ? msg : etcd_strerror(err), NULL, 0};
    s->cb(&res, s->data);
    snap_free(s);
}

/* etcd 3.4 sends no header in snapshot chunks: the revision comes from a
 * Status answer taken just before, so it is a lower bound of the snapshot's. */
static void snap_status_done(const etcd_result_t *res, void *data)
{
    snap_t *s = data;
    if (res->err) {
        snap_fail_early(s, res->err, res->message);
        return;
    }
    const Etcdserverpb__StatusResponse *r = res->response;
    s->revision = r->header ? r->header->revision : 0;
    etcd_stream_t *st;
    Etcdserverpb__SnapshotRequest req = ETCDSERVERPB__SNAPSHOT_REQUEST__INIT;
    int err = etcd_stream_open(s->c, etcd_path_snapshot, s->timeout_ms, &snap_ops, s, &req.base,
                               true, &st);
    if (err < 0)
        snap_fail_early(s, err, NULL);
}

int etcd_maint_snapshot(etcd_client_t *c, const char *path, const etcd_call_opts_t *opts,
                        etcd_cb cb, void *data)
{
    if (!c || !path || !*path || !cb)
        return -EINVAL;
    snap_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->fd = -1;
    s->c = c;
    s->cb = cb;
    s->data = data;
    s->timeout_ms = opts && opts->timeout_ms ? opts->timeout_ms : 60000;
    if (!(s->path = strdup(path)) || asprintf(&s->tmp, "%s.tmp", path) < 0) {
        s->tmp = NULL;
        snap_free(s);
        return -ENOMEM;
    }
    s->fd = open(s->tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    if (s->fd < 0) {
        int err = -errno;
        snap_free(s);
        return err;
    }
    int err = etcd_maint_status(c, NULL, snap_status_done, s);
    if (err < 0) {
        unlink(s->tmp);
        snap_free(s);
    }
    return err;
}
