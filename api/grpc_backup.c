/*
 * gRPC: Backups.Create — the backup of POST /backup/db (api_backup_start),
 * then, when the client asks for it, the snapshot's bytes streamed at the
 * client's pace (one chunk at a time: the next is read when the last one
 * left).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "enjoliver/v1/enjoliver.pb-c.h"

#define CHUNK (256u << 10)

typedef struct download_s {
    rpc_call_t *call;
    int fd;
    uint64_t left;
    uint8_t buf[CHUNK];
} download_t;

static void download_free(download_t *d)
{
    if (d->fd >= 0)
        close(d->fd);
    free(d);
}

static void download_cancelled(rpc_call_t *call, void *data)
{
    (void)call;
    download_free(data);
}

/* Sends the next chunk, or ends the stream. */
static void download_next(rpc_call_t *call, void *data)
{
    download_t *d = data;
    if (!d->left) {
        rpc_call_on_drain(call, NULL, NULL);
        rpc_call_on_cancel(call, NULL, NULL);
        download_free(d);
        rpc_call_finish(call, GRPC_STATUS_OK, "%s", "");
        return;
    }
    size_t want = d->left < CHUNK ? (size_t)d->left : CHUNK;
    ssize_t n = read(d->fd, d->buf, want);
    if (n <= 0) {
        int err = n < 0 ? errno : EIO;
        rpc_call_on_drain(call, NULL, NULL);
        rpc_call_on_cancel(call, NULL, NULL);
        download_free(d);
        rpc_call_finish(call, GRPC_STATUS_INTERNAL, "cannot read the snapshot: %s", strerror(err));
        return;
    }
    d->left -= (uint64_t)n;
    Enjoliver__V1__BackupChunk chunk = ENJOLIVER__V1__BACKUP_CHUNK__INIT;
    chunk.data.data = d->buf;
    chunk.data.len = (size_t)n;
    rpc_call_send(call, &chunk.base); /* -EPIPE: the cancel hook freed d */
}

static void backed_up(const api_backup_result_t *r, void *data)
{
    rpc_call_t *call = data;
    const Enjoliver__V1__CreateBackupRequest *req = (const void *)rpc_call_request(call);
    if (r->err) {
        rpc_call_finish(call, r->err == -EBUSY ? GRPC_STATUS_ABORTED : api_grpc_status(r->err),
                        "%s", api_grpc_message(r->err, r->message));
        return;
    }
    Enjoliver__V1__BackupInfo info = ENJOLIVER__V1__BACKUP_INFO__INIT;
    info.path = (char *)r->path;
    info.size_bytes = r->size;
    info.revision = r->revision;
    Enjoliver__V1__BackupChunk first = ENJOLIVER__V1__BACKUP_CHUNK__INIT;
    first.info = &info;
    download_t *d = req->download ? malloc(sizeof(*d)) : NULL;
    if (req->download && (!d || (d->fd = open(r->path, O_RDONLY | O_CLOEXEC)) < 0)) {
        int err = d ? errno : ENOMEM;
        free(d);
        rpc_call_finish(call, GRPC_STATUS_INTERNAL,
                        "the snapshot %s was written but cannot be "
                        "read back: %s",
                        r->path, strerror(err));
        return;
    }
    if (d) {
        d->call = call;
        d->left = r->size;
        rpc_call_on_cancel(call, download_cancelled, d);
        rpc_call_on_drain(call, download_next, d);
    }
    int rc = rpc_call_send(call, &first.base);
    if (d)
        return; /* the chunks follow as the queue drains, or the hook ran */
    rpc_call_finish(call, rc ? GRPC_STATUS_RESOURCE_EXHAUSTED : GRPC_STATUS_OK, "%s",
                    rc ? "cannot send the answer" : "");
}

static void backups_create(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    (void)msg;
    int rc = api_backup_start(data, backed_up, call);
    if (rc)
        rpc_call_finish(call, api_grpc_status(rc), "%s", api_grpc_message(rc, NULL));
}

int api_grpc_backups(api_t *api)
{
    rpc_method_t m = {"/enjoliver.v1.Backups/Create",
                      &enjoliver__v1__create_backup_request__descriptor,
                      backups_create,
                      api,
                      .streaming = true,
                      .admin = true};
    return rpc_server_method(api->rpc, &m);
}
