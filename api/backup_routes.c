/*
 * Backups (spec 3.2, 9.3).
 *
 *   POST /backup/db      an etcd snapshot written atomically (tmp + fsync +
 *                        rename, etcd/maint.h) into the backup directory;
 *                        one at a time cluster-wide (locks/backup, bound to a
 *                        lease so a crashed replica cannot hold it for ever).
 *                        200 with the original's keys plus "path" and
 *                        "revision"; 409 with "already_locked": true when
 *                        another backup runs. Admin route.
 *   GET  /backup/export  a replayable list of POST bodies: /discovery and
 *                        /scheduler for every machine (control plane first,
 *                        then nodes, then machines without roles).
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "api/api_internal.h"
#include "etcd/kv.h"
#include "etcd/lease.h"
#include "etcd/maint.h"
#include "model/clock.h"
#include "model/keys.h"

#define K_LOCK_BACKUP "locks/backup"
#define BACKUP_LOCK_TTL_S 300

/* One backup, whoever asked (POST /backup/db, Backups.Create). */
typedef struct backup_s {
    api_t *api;
    int64_t lease;
    int64_t t0_ms, locked_ms;
    char path[1024];
    char key[MODEL_KEY_MAX];
    api_backup_cb done;
    void *data;
} backup_t;

static void ignore(const etcd_result_t *res, void *data)
{
    (void)res, (void)data;
}

static void backup_end(backup_t *b, const api_backup_result_t *res)
{
    if (b->lease) /* revoking the lease deletes the lock key with it */
        etcd_lease_revoke(b->api->etcd, b->lease, NULL, ignore, NULL);
    b->done(res, b->data);
    free(b);
}

static void backup_failed(backup_t *b, int err, const char *msg)
{
    api_backup_result_t res = {.err = err, .message = msg, .t0_ms = b->t0_ms};
    backup_end(b, &res);
}

static void snapshot_done(const etcd_result_t *res, void *data)
{
    backup_t *b = data;
    if (res->err) {
        backup_failed(b, res->err, res->message);
        return;
    }
    const etcd_snapshot_info_t *info = res->response;
    api_backup_result_t r = {.path = info->path,
                             .size = info->size,
                             .revision = info->revision,
                             .t0_ms = b->t0_ms,
                             .locked_ms = b->locked_ms,
                             .done_ms = model_now_ms()};
    backup_end(b, &r);
}

static void locked(const etcd_result_t *res, void *data)
{
    backup_t *b = data;
    if (res->err) {
        backup_failed(b, res->err, res->message);
        return;
    }
    const Etcdserverpb__TxnResponse *r = res->response;
    if (!r->succeeded) {
        backup_failed(b, -EBUSY, "another backup is running");
        return;
    }
    b->locked_ms = model_now_ms();
    etcd_call_opts_t o = {.timeout_ms = 10 * 60 * 1000};
    int rc = etcd_maint_snapshot(b->api->etcd, b->path, &o, snapshot_done, b);
    if (rc)
        backup_failed(b, rc, NULL);
}

static void lease_granted(const etcd_result_t *res, void *data)
{
    backup_t *b = data;
    if (res->err) {
        backup_failed(b, res->err, res->message);
        return;
    }
    b->lease = ((const Etcdserverpb__LeaseGrantResponse *)res->response)->id;
    char host[256] = "?", date[MODEL_DATE_MAX];
    gethostname(host, sizeof host - 1);
    json_t *v = json_pack("{s:i, s:s, s:i, s:s}", "schema", MODEL_SCHEMA, "host", host, "pid",
                          (int)getpid(), "started", model_rfc3339(b->t0_ms, date));
    char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
    json_decref(v);
    etcd_txn_t *t = etcd_txn_new();
    size_t klen = strlen(b->key);
    int rc = text && t ? 0 : -ENOMEM;
    rc = rc ? rc : etcd_txn_cmp_create(t, b->key, klen, ETCD_CMP_EQUAL, 0);
    rc = rc ? rc : etcd_txn_put(t, ETCD_TXN_SUCCESS, b->key, klen, text, strlen(text), b->lease);
    rc = rc ? rc : etcd_kv_txn(b->api->etcd, etcd_txn_request(t), NULL, locked, b);
    free(text);
    etcd_txn_free(t);
    if (rc)
        backup_failed(b, rc, NULL);
}

int api_backup_start(api_t *api, api_backup_cb done, void *data)
{
    backup_t *b = calloc(1, sizeof(*b));
    if (!b)
        return -ENOMEM;
    b->api = api;
    b->done = done;
    b->data = data;
    b->t0_ms = model_now_ms();
    snprintf(b->path, sizeof b->path, "%s/enjoliver-etcd-%lld.db", api->backup_dir,
             (long long)b->t0_ms);
    model_key(b->key, sizeof b->key, api->store.prefix, K_LOCK_BACKUP, "");
    int rc = etcd_lease_grant(api->etcd, BACKUP_LOCK_TTL_S, 0, NULL, lease_granted, b);
    if (rc)
        free(b);
    return rc;
}

/* ---- POST /backup/db ---------------------------------------------------- */

static json_t *answer_base(const api_backup_result_t *r, bool locked)
{
    return json_pack("{s:b, s:b, s:s, s:s, s:n, s:s, s:n, s:I, s:b}", "copy", 0, "upload", 0,
                     "source_fs", "etcd", "bucket_name", "", "bucket_uri", "dest_fs",
                     r->path ? r->path : "", "dest_s3", "ts", (json_int_t)(r->t0_ms / 1000 + 1),
                     "already_locked", locked);
}

static void backed_up(const api_backup_result_t *r, void *data)
{
    http_request_t *req = data;
    if (r->err == -EBUSY) {
        json_t *a = answer_base(r, true);
        json_object_set_new(a, "dest_fs", json_null());
        api_reply_error_with(req, 409, r->message, a);
        return;
    }
    if (r->err) {
        api_reply_write_error(req, r->err, r->message);
        return;
    }
    json_t *a = answer_base(r, false);
    json_object_set_new(a, "copy", json_true());
    json_object_set_new(a, "size", json_integer((json_int_t)r->size));
    json_object_set_new(a, "revision", json_integer(r->revision));
    json_object_set_new(a, "path", json_string(r->path));
    json_object_set_new(a, "backup_duration",
                        json_real((double)(r->done_ms - r->locked_ms) / 1000.0));
    json_object_set_new(a, "lock_duration", json_real((double)(r->locked_ms - r->t0_ms) / 1000.0));
    http_request_respond_json(req, 200, a);
}

static void backup_db(http_request_t *req, void *data)
{
    api_t *api = data;
    if (!api_admin_ok(api, req))
        return;
    int rc = api_backup_start(api, backed_up, req);
    if (rc)
        api_reply_write_error(req, rc, NULL);
}

/* ---- GET /backup/export ------------------------------------------------- */

static json_t *export_discovery(json_t *m)
{
    json_t *ifs = json_array(), *lldp = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(m, "interfaces"), i, it)
    {
        const char *fqdn = json_string_value(json_object_get(it, "fqdn"));
        json_array_append_new(
            ifs,
            json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:o}", "name", json_object_get(it, "name"),
                      "mac", json_object_get(it, "mac"), "ipv4", json_object_get(it, "ipv4"),
                      "cidrv4", json_object_get(it, "cidrv4"), "netmask",
                      json_object_get(it, "netmask"), "gateway", json_object_get(it, "gateway"),
                      "fqdn", fqdn && *fqdn ? json_pack("[s]", fqdn) : json_null()));
        json_t *l = json_object_get(it, "lldp");
        if (json_is_object(l))
            json_array_append_new(lldp, json_pack("{s:O, s:{s:O}, s:{s:O, s:O}}", "name",
                                                  json_object_get(it, "name"), "port", "id",
                                                  json_object_get(l, "port_id"), "chassis", "id",
                                                  json_object_get(l, "chassis_id"), "name",
                                                  json_object_get(l, "chassis_name")));
    }
    json_t *disks = json_array();
    json_t *d;
    json_array_foreach(json_object_get(m, "disks"), i, d)
    {
        json_array_append_new(disks, json_pack("{s:O, s:O}", "path", json_object_get(d, "path"),
                                               "size-bytes", json_object_get(d, "size_bytes")));
    }
    bool has_lldp = json_array_size(lldp) > 0;
    return json_pack("{s:{s:O, s:O, s:O}, s:o, s:o, s:{s:b, s:{s:o}}, s:n}", "boot-info", "uuid",
                     json_object_get(m, "uuid"), "mac", json_object_get(m, "boot_mac"), "random-id",
                     json_object_get(m, "boot_id"), "interfaces", ifs, "disks", disks, "lldp",
                     "is_file", has_lldp, "data", "interfaces",
                     has_lldp ? lldp : (json_decref(lldp), json_null()), "ignition-journal");
}

typedef struct export_walk_s {
    api_t *api;
    json_t *out;
    int pass; /* 0 control plane, 1 nodes, 2 machines without roles */
} export_walk_t;

static int export_one(const char *uuid, json_t *m, void *arg)
{
    export_walk_t *w = arg;
    (void)uuid;
    const char *mac = json_string_value(json_object_get(m, "boot_mac"));
    json_t *sched = mac ? api_cache_get(&w->api->cache, MODEL_K_SCHEDULES, mac) : NULL;
    json_t *roles = json_object_get(sched, "roles");
    bool cp = false;
    size_t i;
    json_t *r;
    json_array_foreach(roles, i, r)
    {
        cp |= strcmp(json_string_value(r), "kubernetes-control-plane") == 0;
    }
    int pass = !roles || json_array_size(roles) == 0 ? 2 : cp ? 0 : 1;
    if (pass != w->pass)
        return 0;
    json_array_append_new(
        w->out, json_pack("{s:s, s:o}", "route", "/discovery", "data", export_discovery(m)));
    if (pass != 2)
        json_array_append_new(w->out, json_pack("{s:s, s:{s:O, s:{s:s}}}", "route", "/scheduler",
                                                "data", "roles", roles, "selector", "mac", mac));
    return 0;
}

static void backup_export(http_request_t *req, void *data)
{
    api_t *api = data;
    export_walk_t w = {api, json_array(), 0};
    for (w.pass = 0; w.pass < 3; w.pass++)
        api_cache_foreach(&api->cache, MODEL_K_MACHINES, export_one, &w);
    http_request_respond_json(req, 200, w.out);
}

int api_backup_routes(api_t *api)
{
    int rc = http_server_route(api->http, "POST", "/backup/db", backup_db, api);
    return rc ? rc : api_read_route(api, "/backup/export", backup_export);
}
