/* KV requests and key helpers. */
#include <errno.h>
#include <string.h>

#include "etcd/internal.h"
#include "etcd/kv.h"

int etcd_kv_range(etcd_client_t *c, const Etcdserverpb__RangeRequest *req,
                  const etcd_call_opts_t *opts, etcd_cb cb, void *data)
{
    return req ? etcd_unary(c, &etcd_m_range, &req->base, opts, cb, data) : -EINVAL;
}

int etcd_kv_put(etcd_client_t *c, const Etcdserverpb__PutRequest *req, const etcd_call_opts_t *opts,
                etcd_cb cb, void *data)
{
    return req ? etcd_unary(c, &etcd_m_put, &req->base, opts, cb, data) : -EINVAL;
}

int etcd_kv_delete(etcd_client_t *c, const Etcdserverpb__DeleteRangeRequest *req,
                   const etcd_call_opts_t *opts, etcd_cb cb, void *data)
{
    return req ? etcd_unary(c, &etcd_m_delete, &req->base, opts, cb, data) : -EINVAL;
}

int etcd_kv_txn(etcd_client_t *c, const Etcdserverpb__TxnRequest *req, const etcd_call_opts_t *opts,
                etcd_cb cb, void *data)
{
    return req ? etcd_unary(c, &etcd_m_txn, &req->base, opts, cb, data) : -EINVAL;
}

int etcd_kv_compact(etcd_client_t *c, const Etcdserverpb__CompactionRequest *req,
                    const etcd_call_opts_t *opts, etcd_cb cb, void *data)
{
    return req ? etcd_unary(c, &etcd_m_compact, &req->base, opts, cb, data) : -EINVAL;
}

size_t etcd_prefix_end(const void *prefix, size_t len, uint8_t *out)
{
    memcpy(out, prefix, len);
    /* Increment the last byte that is not 0xff and cut after it. */
    while (len) {
        if (out[len - 1] != 0xff) {
            out[len - 1]++;
            return len;
        }
        len--;
    }
    out[0] = 0;
    return 1;
}

void etcd_range_init_key(Etcdserverpb__RangeRequest *r, const void *key, size_t len)
{
    etcdserverpb__range_request__init(r);
    r->key.data = (uint8_t *)key;
    r->key.len = len;
}

void etcd_range_init_prefix(Etcdserverpb__RangeRequest *r, const void *prefix, size_t len,
                            uint8_t *end_buf)
{
    etcd_range_init_key(r, prefix, len);
    if (!len) { /* the empty prefix: every key */
        static uint8_t zero[1] = {0};
        r->key.data = zero;
        r->key.len = 1;
        r->range_end.data = zero;
        r->range_end.len = 1;
        return;
    }
    r->range_end.len = etcd_prefix_end(prefix, len, end_buf);
    r->range_end.data = end_buf;
}
