/* The blocking wrapper: a private loop run until each answer arrives. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/sync.h"

struct etcd_sync_s {
    uv_loop_t loop;
    etcd_client_t *c;
    char *error;
};

/* One blocking call in progress. */
typedef struct wait_s {
    etcd_sync_t *s;
    int done, err;
    void *response;
    etcd_snapshot_info_t snap;
} wait_t;

static void set_error(etcd_sync_t *s, const char *msg)
{
    free(s->error);
    s->error = msg ? strdup(msg) : NULL;
}

static void on_result(const etcd_result_t *res, void *data)
{
    wait_t *w = data;
    w->err = res->err;
    set_error(w->s, res->err ? res->message : NULL);
    w->response = etcd_result_take(res);
    w->done = 1;
}

static int finish(etcd_sync_t *s, wait_t *w, int started)
{
    if (started < 0) {
        set_error(s, etcd_strerror(started));
        return started;
    }
    etcd_sync_run_until(s, &w->done);
    return w->err;
}

int etcd_sync_new(const etcd_config_t *cfg, etcd_sync_t **out)
{
    etcd_sync_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    if (uv_loop_init(&s->loop) < 0) {
        free(s);
        return -ENOMEM;
    }
    int err = etcd_client_new(&s->loop, cfg, &s->c);
    if (err < 0) {
        uv_loop_close(&s->loop);
        free(s);
        return err;
    }
    *out = s;
    return 0;
}

static void closed(void *data)
{
    *(int *)data = 1;
}

void etcd_sync_free(etcd_sync_t *s)
{
    if (!s)
        return;
    int done = 0;
    etcd_client_close(s->c, closed, &done);
    etcd_sync_run_until(s, &done);
    /* Let every close callback run before the loop goes. */
    while (uv_run(&s->loop, UV_RUN_NOWAIT))
        ;
    uv_loop_close(&s->loop);
    free(s->error);
    free(s);
}

etcd_client_t *etcd_sync_client(etcd_sync_t *s)
{
    return s->c;
}

uv_loop_t *etcd_sync_loop(etcd_sync_t *s)
{
    return &s->loop;
}

const char *etcd_sync_error(const etcd_sync_t *s)
{
    return s->error ? s->error : "";
}

void etcd_sync_run_until(etcd_sync_t *s, const int *flag)
{
    while (!*flag)
        uv_run(&s->loop, UV_RUN_ONCE);
}

int etcd_sync_put(etcd_sync_t *s, const void *key, size_t klen, const void *val, size_t vlen,
                  int64_t lease, int64_t *revision)
{
    Etcdserverpb__PutRequest req = ETCDSERVERPB__PUT_REQUEST__INIT;
    req.key = (ProtobufCBinaryData){klen, (uint8_t *)key};
    req.value = (ProtobufCBinaryData){vlen, (uint8_t *)val};
    req.lease = lease;
    wait_t w = {.s = s};
    int err = finish(s, &w, etcd_kv_put(s->c, &req, NULL, on_result, &w));
    if (!err && revision) {
        Etcdserverpb__PutResponse *r = w.response;
        *revision = r->header ? r->header->revision : 0;
    }
    etcd_response_free(w.response);
    return err;
}

int etcd_sync_get(etcd_sync_t *s, const void *key, size_t klen, Mvccpb__KeyValue **out)
{
    Etcdserverpb__RangeRequest req;
    etcd_range_init_key(&req, key, klen);
    Etcdserverpb__RangeResponse *r = NULL;
    int err = etcd_sync_range(s, &req, &r);
    if (err < 0)
        return err;
    if (!r->n_kvs) {
        etcd_response_free(r);
        set_error(s, "key not found");
        return -ENOENT;
    }
    /* Hand out the KeyValue alone: detach it from the response. */
    *out = r->kvs[0];
    r->kvs[0] = r->kvs[--r->n_kvs];
    etcd_response_free(r);
    return 0;
}

int etcd_sync_range(etcd_sync_t *s, const Etcdserverpb__RangeRequest *req,
                    Etcdserverpb__RangeResponse **out)
{
    wait_t w = {.s = s};
    int err = finish(s, &w, etcd_kv_range(s->c, req, NULL, on_result, &w));
    if (!err)
        *out = w.response;
    return err;
}

int etcd_sync_delete(etcd_sync_t *s, const void *key, size_t klen, int prefix, int64_t *deleted)
{
    Etcdserverpb__DeleteRangeRequest req = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    uint8_t *end = malloc(klen ? klen : 1);
    if (!end)
        return -ENOMEM;
    static uint8_t zero[1] = {0};
    req.key = (ProtobufCBinaryData){klen, (uint8_t *)key};
    if (prefix && !klen) /* every key */
        req.key = req.range_end = (ProtobufCBinaryData){1, zero};
    else if (prefix)
        req.range_end = (ProtobufCBinaryData){etcd_prefix_end(key, klen, end), end};
    wait_t w = {.s = s};
    int err = finish(s, &w, etcd_kv_delete(s->c, &req, NULL, on_result, &w));
    free(end);
    if (!err && deleted)
        *deleted = ((Etcdserverpb__DeleteRangeResponse *)w.response)->deleted;
    etcd_response_free(w.response);
    return err;
}

int etcd_sync_txn(etcd_sync_t *s, const Etcdserverpb__TxnRequest *req,
                  Etcdserverpb__TxnResponse **out)
{
    if (!req)
        return -EINVAL;
    wait_t w = {.s = s};
    int err = finish(s, &w, etcd_kv_txn(s->c, req, NULL, on_result, &w));
    if (!err && out)
        *out = w.response;
    else
        etcd_response_free(w.response);
    return err;
}

int etcd_sync_compact(etcd_sync_t *s, int64_t revision)
{
    Etcdserverpb__CompactionRequest req = ETCDSERVERPB__COMPACTION_REQUEST__INIT;
    req.revision = revision;
    req.physical = 1;
    wait_t w = {.s = s};
    int err = finish(s, &w, etcd_kv_compact(s->c, &req, NULL, on_result, &w));
    etcd_response_free(w.response);
    return err;
}

int etcd_sync_lease_grant(etcd_sync_t *s, int64_t ttl_s, int64_t *id)
{
    wait_t w = {.s = s};
    int err = finish(s, &w, etcd_lease_grant(s->c, ttl_s, 0, NULL, on_result, &w));
    if (!err)
        *id = ((Etcdserverpb__LeaseGrantResponse *)w.response)->id;
    etcd_response_free(w.response);
    return err;
}

int etcd_sync_lease_revoke(etcd_sync_t *s, int64_t id)
{
    wait_t w = {.s = s};
    int err = finish(s, &w, etcd_lease_revoke(s->c, id, NULL, on_result, &w));
    etcd_response_free(w.response);
    return err;
}

int etcd_sync_status(etcd_sync_t *s, Etcdserverpb__StatusResponse **out)
{
    wait_t w = {.s = s};
    int err = finish(s, &w, etcd_maint_status(s->c, NULL, on_result, &w));
    if (!err)
        *out = w.response;
    return err;
}

static void on_snapshot(const etcd_result_t *res, void *data)
{
    wait_t *w = data;
    w->err = res->err;
    set_error(w->s, res->err ? res->message : NULL);
    if (!res->err)
        w->snap = *(const etcd_snapshot_info_t *)res->response;
    w->done = 1;
}

int etcd_sync_snapshot(etcd_sync_t *s, const char *path, uint64_t *size, int64_t *revision)
{
    wait_t w = {.s = s};
    int err = finish(s, &w, etcd_maint_snapshot(s->c, path, NULL, on_snapshot, &w));
    if (!err) {
        if (size)
            *size = w.snap.size;
        if (revision)
            *revision = w.snap.revision;
    }
    return err;
}
