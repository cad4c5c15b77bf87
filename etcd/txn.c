/* The Txn builder: owns every piece of the TxnRequest it builds. */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/kv.h"

struct etcd_txn_s {
    /* Its own allocation: protobuf-c frees the top message too. */
    Etcdserverpb__TxnRequest *req;
    size_t cap_cmp, cap_ops[2];
    bool failed;
};

etcd_txn_t *etcd_txn_new(void)
{
    etcd_txn_t *t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    if (!(t->req = malloc(sizeof(*t->req)))) {
        free(t);
        return NULL;
    }
    etcdserverpb__txn_request__init(t->req);
    return t;
}

void etcd_txn_free(etcd_txn_t *t)
{
    if (!t)
        return;
    /* Every nested pointer was allocated by the builder with malloc, which
     * is exactly what protobuf-c's default allocator frees. */
    protobuf_c_message_free_unpacked(&t->req->base, NULL);
    free(t);
}

static int grow(void **arr, size_t *cap, size_t n)
{
    if (n < *cap)
        return 0;
    size_t nc = *cap ? *cap * 2 : 4;
    void *na = realloc(*arr, nc * sizeof(void *));
    if (!na)
        return -ENOMEM;
    *arr = na;
    *cap = nc;
    return 0;
}

static int dup_bytes(ProtobufCBinaryData *d, const void *p, size_t len)
{
    d->len = len;
    d->data = malloc(len ? len : 1);
    if (!d->data)
        return -ENOMEM;
    if (len)
        memcpy(d->data, p, len);
    return 0;
}

static int fail(etcd_txn_t *t)
{
    t->failed = true;
    return -ENOMEM;
}

static int add_cmp(etcd_txn_t *t, const void *key, size_t klen, etcd_cmp_op_t op,
                   Etcdserverpb__Compare__CompareTarget target, Etcdserverpb__Compare **out)
{
    if (!t || (!key && klen))
        return -EINVAL;
    if (t->failed || grow((void **)&t->req->compare, &t->cap_cmp, t->req->n_compare) < 0)
        return fail(t);
    Etcdserverpb__Compare *c = malloc(sizeof(*c));
    if (!c)
        return fail(t);
    etcdserverpb__compare__init(c);
    t->req->compare[t->req->n_compare++] = c;
    c->result = (Etcdserverpb__Compare__CompareResult)op;
    c->target = target;
    if (dup_bytes(&c->key, key, klen) < 0)
        return fail(t);
    *out = c;
    return 0;
}

#define CMP_INT(fn, TARGET, field, CASE)                                                           \
    int fn(etcd_txn_t *t, const void *key, size_t klen, etcd_cmp_op_t op, int64_t v)               \
    {                                                                                              \
        Etcdserverpb__Compare *c;                                                                  \
        int err = add_cmp(t, key, klen, op, ETCDSERVERPB__COMPARE__COMPARE_TARGET__##TARGET, &c);  \
        if (err < 0)                                                                               \
            return err;                                                                            \
        c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_##CASE;                         \
        c->field = v;                                                                              \
        return 0;                                                                                  \
    }

CMP_INT(etcd_txn_cmp_version, VERSION, version, VERSION)
CMP_INT(etcd_txn_cmp_create, CREATE, create_revision, CREATE_REVISION)
CMP_INT(etcd_txn_cmp_mod, MOD, mod_revision, MOD_REVISION)
CMP_INT(etcd_txn_cmp_lease, LEASE, lease, LEASE)

int etcd_txn_cmp_value(etcd_txn_t *t, const void *key, size_t klen, etcd_cmp_op_t op,
                       const void *val, size_t vlen)
{
    Etcdserverpb__Compare *c;
    int err = add_cmp(t, key, klen, op, ETCDSERVERPB__COMPARE__COMPARE_TARGET__VALUE, &c);
    if (err < 0)
        return err;
    c->target_union_case = ETCDSERVERPB__COMPARE__TARGET_UNION_VALUE;
    return dup_bytes(&c->value, val, vlen) < 0 ? fail(t) : 0;
}

static Etcdserverpb__RequestOp *add_op(etcd_txn_t *t, etcd_txn_branch_t b)
{
    Etcdserverpb__RequestOp ***ops = b == ETCD_TXN_SUCCESS ? &t->req->success : &t->req->failure;
    size_t *n = b == ETCD_TXN_SUCCESS ? &t->req->n_success : &t->req->n_failure;
    if (t->failed || grow((void **)ops, &t->cap_ops[b], *n) < 0)
        return NULL;
    Etcdserverpb__RequestOp *op = malloc(sizeof(*op));
    if (!op)
        return NULL;
    etcdserverpb__request_op__init(op);
    (*ops)[(*n)++] = op;
    return op;
}

static int set_range(ProtobufCBinaryData *k, ProtobufCBinaryData *end, const void *key, size_t klen,
                     int prefix)
{
    if (dup_bytes(k, key, klen) < 0)
        return -ENOMEM;
    if (!prefix)
        return 0;
    end->data = malloc(klen ? klen : 1);
    if (!end->data)
        return -ENOMEM;
    if (!klen) {
        k->data[0] = 0;
        k->len = 1;
        end->data[0] = 0;
        end->len = 1;
        return 0;
    }
    end->len = etcd_prefix_end(key, klen, end->data);
    return 0;
}

int etcd_txn_put(etcd_txn_t *t, etcd_txn_branch_t b, const void *key, size_t klen, const void *val,
                 size_t vlen, int64_t lease)
{
    if (!t || (!key && klen) || (!val && vlen))
        return -EINVAL;
    Etcdserverpb__RequestOp *op = add_op(t, b);
    if (!op)
        return fail(t);
    Etcdserverpb__PutRequest *p = malloc(sizeof(*p));
    if (!p)
        return fail(t);
    etcdserverpb__put_request__init(p);
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_PUT;
    op->request_put = p;
    p->lease = lease;
    if (dup_bytes(&p->key, key, klen) < 0 || dup_bytes(&p->value, val, vlen) < 0)
        return fail(t);
    return 0;
}

int etcd_txn_delete(etcd_txn_t *t, etcd_txn_branch_t b, const void *key, size_t klen, int prefix)
{
    if (!t || (!key && klen))
        return -EINVAL;
    Etcdserverpb__RequestOp *op = add_op(t, b);
    if (!op)
        return fail(t);
    Etcdserverpb__DeleteRangeRequest *d = malloc(sizeof(*d));
    if (!d)
        return fail(t);
    etcdserverpb__delete_range_request__init(d);
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_DELETE_RANGE;
    op->request_delete_range = d;
    return set_range(&d->key, &d->range_end, key, klen, prefix) < 0 ? fail(t) : 0;
}

int etcd_txn_get(etcd_txn_t *t, etcd_txn_branch_t b, const void *key, size_t klen, int prefix)
{
    if (!t || (!key && klen))
        return -EINVAL;
    Etcdserverpb__RequestOp *op = add_op(t, b);
    if (!op)
        return fail(t);
    Etcdserverpb__RangeRequest *r = malloc(sizeof(*r));
    if (!r)
        return fail(t);
    etcdserverpb__range_request__init(r);
    op->request_case = ETCDSERVERPB__REQUEST_OP__REQUEST_REQUEST_RANGE;
    op->request_range = r;
    return set_range(&r->key, &r->range_end, key, klen, prefix) < 0 ? fail(t) : 0;
}

const Etcdserverpb__TxnRequest *etcd_txn_request(const etcd_txn_t *t)
{
    return t && !t->failed ? t->req : NULL;
}
