/*
 * KV against a real etcd: binary keys and values, a 1 MiB value, prefix
 * ranges with limit and pagination, keys_only / count_only, reads at an older
 * revision, DeleteRange with prev_kv, Txn (both branches, every compare
 * target) through the etcd_txn_t builder, and Compact.
 */
#include <stdlib.h>

#include "etcd_test.h"

static etcd_sync_t *cli;

static Mvccpb__KeyValue *get(const void *key, size_t klen)
{
    Mvccpb__KeyValue *kv = NULL;
    int err = etcd_sync_get(cli, key, klen, &kv);
    if (err == -ENOENT)
        return NULL;
    CHECK_OK(err);
    return kv;
}

static int64_t put(const void *key, size_t klen, const void *val, size_t vlen, int64_t lease)
{
    int64_t rev = 0;
    CHECK_OK(etcd_sync_put(cli, key, klen, val, vlen, lease, &rev));
    CHECK(rev > 0);
    return rev;
}

static void put_s(const char *key, const char *val)
{
    put(key, strlen(key), val, strlen(val), 0);
}

static int bytes_eq(ProtobufCBinaryData b, const void *p, size_t n)
{
    return b.len == n && (n == 0 || memcmp(b.data, p, n) == 0);
}

/* ---- binary keys and values, a large value ---- */

static void test_binary(void)
{
    uint8_t key[300], val[512];
    size_t klen = 0;
    memcpy(key, "kv/bin/", 7);
    klen = 7;
    for (int i = 0; i < 256; i++)
        key[klen++] = (uint8_t)i;
    for (size_t i = 0; i < sizeof(val); i++)
        val[i] = (uint8_t)(255 - i % 256);

    int64_t rev = put(key, klen, val, sizeof(val), 0);
    Mvccpb__KeyValue *kv = get(key, klen);
    CHECK(kv != NULL);
    CHECK(bytes_eq(kv->key, key, klen));
    CHECK(bytes_eq(kv->value, val, sizeof(val)));
    CHECK(kv->mod_revision == rev && kv->create_revision == rev && kv->version == 1);
    etcd_response_free(kv);

    /* Keys that differ only after an embedded NUL are distinct keys. */
    static const char a[] = "kv/nul/a\0b", b[] = "kv/nul/a\0c";
    static const char va[] = "x\0y\0", vb[] = "\0\0\0";
    put(a, sizeof(a) - 1, va, sizeof(va) - 1, 0);
    put(b, sizeof(b) - 1, vb, sizeof(vb) - 1, 0);
    kv = get(a, sizeof(a) - 1);
    CHECK(kv && bytes_eq(kv->value, va, sizeof(va) - 1));
    etcd_response_free(kv);
    kv = get(b, sizeof(b) - 1);
    CHECK(kv && bytes_eq(kv->value, vb, sizeof(vb) - 1));
    etcd_response_free(kv);
    /* The truncated key "kv/nul/a" does not exist. */
    CHECK(get("kv/nul/a", 8) == NULL);

    /* An empty value is a value. */
    put("kv/empty", 8, "", 0, 0);
    kv = get("kv/empty", 8);
    CHECK(kv && kv->value.len == 0);
    etcd_response_free(kv);

    /* 1 MiB of every byte value. */
    size_t big_len = 1u << 20;
    uint8_t *big = malloc(big_len);
    CHECK(big != NULL);
    for (size_t i = 0; i < big_len; i++)
        big[i] = (uint8_t)((i * 7 + i / 256) & 0xff);
    put("kv/big", 6, big, big_len, 0);
    kv = get("kv/big", 6);
    CHECK(kv && bytes_eq(kv->value, big, big_len));
    etcd_response_free(kv);
    free(big);

    /* A key that starts with 0xff bytes: its prefix end is "\0" (to the end). */
    uint8_t ff[] = {0xff, 0xff, 0x00, 0x01};
    put(ff, sizeof(ff), "ff", 2, 0);
    uint8_t end[4];
    Etcdserverpb__RangeRequest rr;
    etcd_range_init_prefix(&rr, ff, 2, end);
    CHECK(rr.range_end.len == 1 && rr.range_end.data[0] == 0);
    Etcdserverpb__RangeResponse *r = NULL;
    CHECK_OK(etcd_sync_range(cli, &rr, &r));
    CHECK(r->n_kvs == 1 && bytes_eq(r->kvs[0]->key, ff, sizeof(ff)));
    etcd_response_free(r);
    t_log("binary keys and values: ok");
}

/* ---- prefix ranges, pagination, keys_only, count_only ---- */

#define N_PAGE 250
#define PAGE_PREFIX "kv/page/"

static void page_key(char *buf, size_t n, int i)
{
    snprintf(buf, n, PAGE_PREFIX "%04d", i);
}

static void test_pagination(void)
{
    char key[64], val[64];
    for (int i = N_PAGE - 1; i >= 0; i--) { /* written out of order */
        page_key(key, sizeof(key), i);
        snprintf(val, sizeof(val), "value-%d", i);
        put_s(key, val);
    }
    /* Neighbours outside the prefix must never show up. */
    put_s("kv/page", "outside");
    put_s("kv/pagf", "outside");
    put_s("kv/page0", "outside");

    uint8_t end[64];
    size_t plen = strlen(PAGE_PREFIX);
    size_t elen = etcd_prefix_end(PAGE_PREFIX, plen, end);
    CHECK(elen == plen && memcmp(end, "kv/page0", elen) == 0);

    int seen[N_PAGE] = {0};
    uint8_t cur[80];
    size_t cur_len = plen;
    memcpy(cur, PAGE_PREFIX, plen);
    int next = 0, pages = 0;
    int64_t rev0 = 0;
    for (;;) {
        Etcdserverpb__RangeRequest rr;
        etcd_range_init_key(&rr, cur, cur_len);
        rr.range_end.data = end;
        rr.range_end.len = elen;
        rr.limit = 100;
        rr.revision = rev0; /* every page at the revision of the first one */
        Etcdserverpb__RangeResponse *r = NULL;
        CHECK_OK(etcd_sync_range(cli, &rr, &r));
        pages++;
        CHECK(r->header && r->header->revision > 0);
        if (!rev0)
            rev0 = r->header->revision;
        int left = N_PAGE - next;
        CHECKF(r->count == left, "count %lld, expected %d", (long long)r->count, left);
        int want = left < 100 ? left : 100;
        CHECKF((int)r->n_kvs == want, "page %d has %zu keys, expected %d", pages, r->n_kvs, want);
        CHECK(r->more == (left > 100));
        for (size_t i = 0; i < r->n_kvs; i++) {
            Mvccpb__KeyValue *kv = r->kvs[i];
            page_key(key, sizeof(key), next);
            snprintf(val, sizeof(val), "value-%d", next);
            CHECKF(bytes_eq(kv->key, key, strlen(key)), "key %d out of order", next);
            CHECK(bytes_eq(kv->value, val, strlen(val)));
            seen[next]++;
            next++;
        }
        int more = r->more;
        if (more) { /* next page: the last key + "\0" */
            Mvccpb__KeyValue *last = r->kvs[r->n_kvs - 1];
            CHECK(last->key.len + 1 <= sizeof(cur));
            memcpy(cur, last->key.data, last->key.len);
            cur[last->key.len] = 0;
            cur_len = last->key.len + 1;
        }
        etcd_response_free(r);
        if (!more)
            break;
        CHECK(pages < 10);
    }
    CHECK(pages == 3 && next == N_PAGE);
    for (int i = 0; i < N_PAGE; i++)
        CHECK(seen[i] == 1);

    /* keys_only: every key, no value. */
    Etcdserverpb__RangeRequest rr;
    etcd_range_init_prefix(&rr, PAGE_PREFIX, plen, end);
    rr.keys_only = 1;
    Etcdserverpb__RangeResponse *r = NULL;
    CHECK_OK(etcd_sync_range(cli, &rr, &r));
    CHECK(r->n_kvs == N_PAGE && r->count == N_PAGE && !r->more);
    for (size_t i = 0; i < r->n_kvs; i++) {
        page_key(key, sizeof(key), (int)i);
        CHECK(bytes_eq(r->kvs[i]->key, key, strlen(key)));
        CHECK(r->kvs[i]->value.len == 0);
        CHECK(r->kvs[i]->mod_revision > 0);
    }
    etcd_response_free(r);

    /* count_only: the count and nothing else. */
    etcd_range_init_prefix(&rr, PAGE_PREFIX, plen, end);
    rr.count_only = 1;
    CHECK_OK(etcd_sync_range(cli, &rr, &r));
    CHECK(r->n_kvs == 0 && r->count == N_PAGE);
    etcd_response_free(r);

    /* Sorted descending by key, with a limit. */
    etcd_range_init_prefix(&rr, PAGE_PREFIX, plen, end);
    rr.sort_order = ETCDSERVERPB__RANGE_REQUEST__SORT_ORDER__DESCEND;
    rr.sort_target = ETCDSERVERPB__RANGE_REQUEST__SORT_TARGET__KEY;
    rr.limit = 3;
    CHECK_OK(etcd_sync_range(cli, &rr, &r));
    CHECK(r->n_kvs == 3 && r->more && r->count == N_PAGE);
    page_key(key, sizeof(key), N_PAGE - 1);
    CHECK(bytes_eq(r->kvs[0]->key, key, strlen(key)));
    etcd_response_free(r);
    t_log("pagination, keys_only, count_only: ok");
}

/* ---- older revisions ---- */

static void test_revisions(void)
{
    int64_t r1 = put("kv/rev", 6, "one", 3, 0);
    int64_t r2 = put("kv/rev", 6, "two", 3, 0);
    CHECK(r2 > r1);
    Etcdserverpb__RangeRequest rr;
    Etcdserverpb__RangeResponse *r = NULL;
    etcd_range_init_key(&rr, "kv/rev", 6);
    rr.revision = r1;
    CHECK_OK(etcd_sync_range(cli, &rr, &r));
    CHECK(r->n_kvs == 1 && bytes_eq(r->kvs[0]->value, "one", 3));
    CHECK(r->kvs[0]->mod_revision == r1 && r->kvs[0]->version == 1);
    etcd_response_free(r);

    rr.revision = r2;
    CHECK_OK(etcd_sync_range(cli, &rr, &r));
    CHECK(r->n_kvs == 1 && bytes_eq(r->kvs[0]->value, "two", 3));
    CHECK(r->kvs[0]->mod_revision == r2 && r->kvs[0]->create_revision == r1);
    CHECK(r->kvs[0]->version == 2);
    etcd_response_free(r);

    /* Before the key existed: nothing. */
    rr.revision = r1 - 1;
    CHECK_OK(etcd_sync_range(cli, &rr, &r));
    CHECK(r->n_kvs == 0 && r->count == 0);
    etcd_response_free(r);

    /* The future: -ERANGE, and no response. */
    rr.revision = r2 + 1000;
    r = NULL;
    CHECK_ERR(etcd_sync_range(cli, &rr, &r), -ERANGE);
    CHECK(r == NULL);
    CHECK(strlen(etcd_sync_error(cli)) > 0);
    t_log("older revisions: ok");
}

/* ---- DeleteRange with prev_kv ---- */

static void test_delete_prev_kv(void)
{
    char key[64], val[64];
    for (int i = 0; i < 10; i++) {
        snprintf(key, sizeof(key), "kv/del/%d", i);
        snprintf(val, sizeof(val), "gone-%d", i);
        put_s(key, val);
    }
    put_s("kv/dek", "stays"); /* the prefix end itself stays */
    put_s("kv/del", "stays");

    uint8_t end[16];
    Etcdserverpb__DeleteRangeRequest dr = ETCDSERVERPB__DELETE_RANGE_REQUEST__INIT;
    dr.key = (ProtobufCBinaryData){7, (uint8_t *)"kv/del/"};
    dr.range_end = (ProtobufCBinaryData){etcd_prefix_end("kv/del/", 7, end), end};
    dr.prev_kv = 1;
    t_wait_t w = {0};
    CHECK_OK(t_wait(cli, &w, etcd_kv_delete(etcd_sync_client(cli), &dr, NULL, t_wait_cb, &w)));
    Etcdserverpb__DeleteRangeResponse *r = w.resp;
    CHECK(r && r->deleted == 10 && r->n_prev_kvs == 10);
    int seen[10] = {0};
    for (size_t i = 0; i < r->n_prev_kvs; i++) {
        Mvccpb__KeyValue *kv = r->prev_kvs[i];
        CHECK(kv->key.len == 8 && memcmp(kv->key.data, "kv/del/", 7) == 0);
        int n = kv->key.data[7] - '0';
        CHECK(n >= 0 && n < 10);
        seen[n]++;
        snprintf(val, sizeof(val), "gone-%d", n);
        CHECK(bytes_eq(kv->value, val, strlen(val)));
    }
    for (int i = 0; i < 10; i++)
        CHECK(seen[i] == 1);
    etcd_response_free(r);

    int64_t deleted = -1;
    CHECK_OK(etcd_sync_delete(cli, "kv/del/", 7, 1, &deleted));
    CHECK(deleted == 0);
    Mvccpb__KeyValue *kv = get("kv/dek", 6);
    CHECK(kv != NULL);
    etcd_response_free(kv);
    kv = get("kv/del", 6);
    CHECK(kv != NULL);
    etcd_response_free(kv);
    /* Without prev_kv: no previous values. */
    CHECK_OK(etcd_sync_delete(cli, "kv/del", 6, 0, &deleted));
    CHECK(deleted == 1);
    t_log("delete range with prev_kv: ok");
}

/* ---- Txn ---- */

static Etcdserverpb__TxnResponse *run_txn(etcd_txn_t *t)
{
    const Etcdserverpb__TxnRequest *req = etcd_txn_request(t);
    CHECK(req != NULL);
    Etcdserverpb__TxnResponse *r = NULL;
    CHECK_OK(etcd_sync_txn(cli, req, &r));
    etcd_txn_free(t);
    CHECK(r != NULL && r->header != NULL);
    return r;
}

/* A Txn whose success branch puts "kv/txn/yes" and whose failure branch puts
 * "kv/txn/no"; both read "kv/txn/k" afterwards. Checks the branch taken and
 * the responses of that branch; returns 1 when the compares held. */
static int branch(etcd_txn_t *t)
{
    CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, "kv/txn/yes", 10, "Y", 1, 0));
    CHECK_OK(etcd_txn_get(t, ETCD_TXN_SUCCESS, "kv/txn/k", 8, 0));
    CHECK_OK(etcd_txn_put(t, ETCD_TXN_FAILURE, "kv/txn/no", 9, "N", 1, 0));
    CHECK_OK(etcd_txn_delete(t, ETCD_TXN_FAILURE, "kv/txn/gone/", 12, 1));
    CHECK_OK(etcd_txn_get(t, ETCD_TXN_FAILURE, "kv/txn/k", 8, 0));
    CHECK(etcd_txn_request(t)->n_success == 2 && etcd_txn_request(t)->n_failure == 3);
    int64_t deleted = 0;
    CHECK_OK(etcd_sync_delete(cli, "kv/txn/yes", 10, 0, &deleted));
    CHECK_OK(etcd_sync_delete(cli, "kv/txn/no", 9, 0, &deleted));
    put_s("kv/txn/gone/1", "x");
    put_s("kv/txn/gone/2", "x");

    Etcdserverpb__TxnResponse *r = run_txn(t);
    int ok = r->succeeded;
    if (ok) {
        CHECK(r->n_responses == 2);
        CHECK(r->responses[0]->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT);
        CHECK(r->responses[0]->response_put != NULL);
        CHECK(r->responses[1]->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE);
        Etcdserverpb__RangeResponse *rg = r->responses[1]->response_range;
        CHECK(rg->n_kvs == 1 && bytes_eq(rg->kvs[0]->key, "kv/txn/k", 8));
        Mvccpb__KeyValue *y = get("kv/txn/yes", 10), *n = get("kv/txn/no", 9);
        CHECK(y != NULL && n == NULL);
        etcd_response_free(y);
        Mvccpb__KeyValue *g = get("kv/txn/gone/1", 13);
        CHECK(g != NULL);
        etcd_response_free(g);
    } else {
        CHECK(r->n_responses == 3);
        CHECK(r->responses[0]->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_PUT);
        CHECK(r->responses[1]->response_case ==
              ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_DELETE_RANGE);
        CHECK(r->responses[1]->response_delete_range->deleted == 2);
        CHECK(r->responses[2]->response_case == ETCDSERVERPB__RESPONSE_OP__RESPONSE_RESPONSE_RANGE);
        Etcdserverpb__RangeResponse *rg = r->responses[2]->response_range;
        CHECK(rg->n_kvs == 1 && bytes_eq(rg->kvs[0]->key, "kv/txn/k", 8));
        Mvccpb__KeyValue *y = get("kv/txn/yes", 10), *n = get("kv/txn/no", 9);
        CHECK(y == NULL && n != NULL);
        etcd_response_free(n);
        CHECK(get("kv/txn/gone/1", 13) == NULL);
    }
    etcd_response_free(r);
    return ok;
}

static void test_txn(void)
{
    int64_t lease = 0;
    CHECK_OK(etcd_sync_lease_grant(cli, 60, &lease));
    int64_t cr = put("kv/txn/k", 8, "v1", 2, 0);
    int64_t mr = put("kv/txn/k", 8, "v2", 2, lease); /* version 2, attached to lease */
    Mvccpb__KeyValue *kv = get("kv/txn/k", 8);
    CHECK(kv && kv->create_revision == cr && kv->mod_revision == mr && kv->version == 2);
    CHECK(kv->lease == lease);
    etcd_response_free(kv);

    /* Every compare target holding at once: success. */
    etcd_txn_t *t = etcd_txn_new();
    CHECK(t != NULL);
    CHECK_OK(etcd_txn_cmp_value(t, "kv/txn/k", 8, ETCD_CMP_EQUAL, "v2", 2));
    CHECK_OK(etcd_txn_cmp_version(t, "kv/txn/k", 8, ETCD_CMP_EQUAL, 2));
    CHECK_OK(etcd_txn_cmp_create(t, "kv/txn/k", 8, ETCD_CMP_EQUAL, cr));
    CHECK_OK(etcd_txn_cmp_mod(t, "kv/txn/k", 8, ETCD_CMP_EQUAL, mr));
    CHECK_OK(etcd_txn_cmp_lease(t, "kv/txn/k", 8, ETCD_CMP_EQUAL, lease));
    CHECK_OK(etcd_txn_cmp_version(t, "kv/txn/absent", 13, ETCD_CMP_EQUAL, 0));
    CHECK(etcd_txn_request(t)->n_compare == 6);
    CHECK(branch(t) == 1);

    /* Other operators that hold. */
    t = etcd_txn_new();
    CHECK_OK(etcd_txn_cmp_value(t, "kv/txn/k", 8, ETCD_CMP_NOT_EQUAL, "v1", 2));
    CHECK_OK(etcd_txn_cmp_value(t, "kv/txn/k", 8, ETCD_CMP_GREATER, "v1", 2));
    CHECK_OK(etcd_txn_cmp_version(t, "kv/txn/k", 8, ETCD_CMP_GREATER, 1));
    CHECK_OK(etcd_txn_cmp_create(t, "kv/txn/k", 8, ETCD_CMP_LESS, mr));
    CHECK_OK(etcd_txn_cmp_mod(t, "kv/txn/k", 8, ETCD_CMP_GREATER, cr));
    CHECK_OK(etcd_txn_cmp_lease(t, "kv/txn/k", 8, ETCD_CMP_NOT_EQUAL, 0));
    CHECK(branch(t) == 1);

    /* Each target failing alone sends the Txn to the failure branch. */
    for (int which = 0; which < 6; which++) {
        t = etcd_txn_new();
        CHECK(t != NULL);
        CHECK_OK(etcd_txn_cmp_value(t, "kv/txn/k", 8, ETCD_CMP_EQUAL, which == 0 ? "v1" : "v2", 2));
        CHECK_OK(etcd_txn_cmp_version(t, "kv/txn/k", 8, ETCD_CMP_EQUAL, which == 1 ? 1 : 2));
        CHECK_OK(etcd_txn_cmp_create(t, "kv/txn/k", 8, ETCD_CMP_EQUAL, which == 2 ? mr : cr));
        CHECK_OK(etcd_txn_cmp_mod(t, "kv/txn/k", 8, ETCD_CMP_EQUAL, which == 3 ? cr : mr));
        CHECK_OK(etcd_txn_cmp_lease(t, "kv/txn/k", 8, ETCD_CMP_EQUAL, which == 4 ? 0 : lease));
        /* A value compare with an embedded NUL and a longer value. */
        CHECK_OK(etcd_txn_cmp_value(t, "kv/txn/k", 8,
                                    which == 5 ? ETCD_CMP_EQUAL : ETCD_CMP_NOT_EQUAL, "v2\0", 3));
        CHECKF(branch(t) == 0, "compare %d should have failed", which);
    }

    /* A compare on a missing key's value fails (etcd skips absent keys). */
    t = etcd_txn_new();
    CHECK_OK(etcd_txn_cmp_value(t, "kv/txn/absent", 13, ETCD_CMP_NOT_EQUAL, "x", 1));
    CHECK(branch(t) == 0);

    /* A Txn that puts with a lease and deletes a prefix in one revision. */
    t = etcd_txn_new();
    CHECK_OK(etcd_txn_cmp_mod(t, "kv/txn/k", 8, ETCD_CMP_EQUAL, mr));
    CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, "kv/txn/leased", 13, "L", 1, lease));
    CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, "kv/txn/bin\0", 11, "\0\xff", 2, 0));
    Etcdserverpb__TxnResponse *r = run_txn(t);
    CHECK(r->succeeded && r->n_responses == 2);
    int64_t trev = r->header->revision;
    etcd_response_free(r);
    kv = get("kv/txn/leased", 13);
    CHECK(kv && kv->lease == lease && kv->mod_revision == trev);
    etcd_response_free(kv);
    kv = get("kv/txn/bin\0", 11);
    CHECK(kv && bytes_eq(kv->value, "\0\xff", 2) && kv->mod_revision == trev);
    etcd_response_free(kv);

    /* Invalid: the same key put twice in one Txn is rejected by etcd. */
    t = etcd_txn_new();
    CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, "kv/txn/dup", 10, "1", 1, 0));
    CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, "kv/txn/dup", 10, "2", 1, 0));
    r = NULL;
    CHECK_ERR(etcd_sync_txn(cli, etcd_txn_request(t), &r), -EINVAL);
    CHECK(r == NULL);
    etcd_txn_free(t);
    etcd_txn_free(NULL);

    CHECK_OK(etcd_sync_lease_revoke(cli, lease));
    t_log("txn: ok");
}

/* ---- Compact ---- */

static void test_compact(void)
{
    int64_t r1 = put("kv/compact", 10, "a", 1, 0);
    int64_t r2 = put("kv/compact", 10, "b", 1, 0);
    int64_t r3 = put("kv/compact", 10, "c", 1, 0);
    CHECK_OK(etcd_sync_compact(cli, r2));

    Etcdserverpb__RangeRequest rr;
    Etcdserverpb__RangeResponse *r = NULL;
    etcd_range_init_key(&rr, "kv/compact", 10);
    rr.revision = r1;
    CHECK_ERR(etcd_sync_range(cli, &rr, &r), -ESTALE);
    CHECK(r == NULL);
    CHECK(strstr(etcd_sync_error(cli), "compacted") != NULL);

    /* The compaction revision itself is still readable. */
    rr.revision = r2;
    CHECK_OK(etcd_sync_range(cli, &rr, &r));
    CHECK(r->n_kvs == 1 && bytes_eq(r->kvs[0]->value, "b", 1));
    etcd_response_free(r);
    rr.revision = 0;
    CHECK_OK(etcd_sync_range(cli, &rr, &r));
    CHECK(r->n_kvs == 1 && bytes_eq(r->kvs[0]->value, "c", 1) && r->kvs[0]->mod_revision == r3);
    etcd_response_free(r);

    /* Compacting again at or below the compacted revision: -ESTALE. */
    CHECK_ERR(etcd_sync_compact(cli, r1), -ESTALE);
    /* Compacting the future: -ERANGE. */
    CHECK_ERR(etcd_sync_compact(cli, r3 + 1000), -ERANGE);
    t_log("compact: ok");
}

int main(void)
{
    etcd_server_t *srv = t_server_start(NULL);
    cli = t_client(srv);
    test_binary();
    test_pagination();
    test_revisions();
    test_delete_prev_kv();
    test_txn();
    test_compact();
    t_client_free(cli);
    t_server_free(srv);
    t_log("test_kv: all passed");
    return 0;
}
