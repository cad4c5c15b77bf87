/*
 * The read routes (spec 3.3, 3.6, 3.8), answered from the cache
 * (api/cache.h) in the original's shapes. Dates are the stored RFC 3339
 * dates rendered as RFC 1123, as the original printed them. Where the
 * original read a machine's first interface row, the boot interface is used
 * (quirk 12); lifecycle lists show the dates of the record itself (quirk 26).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "model/clock.h"
#include "model/journal.h"
#include "model/keys.h"
#include "model/rawquery.h"
#include "model/records.h"

/* ---- small helpers ------------------------------------------------------ */

static json_t *str_or_null(json_t *s)
{
    const char *v = json_string_value(s);
    return v && *v ? json_string(v) : json_null();
}

static json_t *machine_by_mac(api_t *api, const char *mac)
{
    json_t *idx = api_cache_get(&api->cache, MODEL_K_MACS, mac);
    const char *uuid = json_string_value(json_object_get(idx, "uuid"));
    return uuid ? api_cache_get(&api->cache, MODEL_K_MACHINES, uuid) : NULL;
}

static json_t *disks_json(json_t *machine)
{
    json_t *out = json_array();
    size_t i;
    json_t *d;
    json_array_foreach(json_object_get(machine, "disks"), i, d)
    {
        json_array_append_new(out, json_pack("{s:O, s:O}", "path", json_object_get(d, "path"),
                                             "size-bytes", json_object_get(d, "size_bytes")));
    }
    return out;
}

/* The interface fields the scheduler views share. */
static json_t *iface_view(json_t *machine, json_t *it, bool with_gateway)
{
    json_t *o = json_pack(
        "{s:O, s:O, s:O, s:O, s:O, s:O, s:o, s:o, s:o}", "mac", json_object_get(it, "mac"), "ipv4",
        json_object_get(it, "ipv4"), "cidrv4", json_object_get(it, "cidrv4"), "as_boot",
        json_object_get(it, "as_boot"), "name", json_object_get(it, "name"), "netmask",
        json_object_get(it, "netmask"), "fqdn", str_or_null(json_object_get(it, "fqdn")),
        "created_date", model_rec_date_1123(json_object_get(machine, "created")), "disks",
        disks_json(machine));
    if (o && with_gateway)
        json_object_set(o, "gateway", json_object_get(it, "gateway"));
    return o;
}

static void answer_list(http_request_t *req, json_t *list)
{
    if (!list)
        http_request_respond_error(req, 500, "out of memory");
    else
        http_request_respond_json(req, 200, list);
}

/* ---- /discovery --------------------------------------------------------- */

static json_t *discovery_item(json_t *m)
{
    json_t *ifs = json_array();
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(m, "interfaces"), i, it)
    {
        json_array_append_new(
            ifs, json_pack("{s:O, s:O, s:o, s:O, s:O, s:O, s:O, s:O}", "as_boot",
                           json_object_get(it, "as_boot"), "cidrv4", json_object_get(it, "cidrv4"),
                           "fqdn", str_or_null(json_object_get(it, "fqdn")), "gateway",
                           json_object_get(it, "gateway"), "ipv4", json_object_get(it, "ipv4"),
                           "mac", json_object_get(it, "mac"), "name", json_object_get(it, "name"),
                           "netmask", json_object_get(it, "netmask")));
    }
    return json_pack("{s:{s:O, s:O, s:o, s:o}, s:o, s:o}", "boot-info", "uuid",
                     json_object_get(m, "uuid"), "mac", json_object_get(m, "boot_mac"),
                     "created-date", model_rec_date_1123(json_object_get(m, "created")),
                     "updated-date", model_rec_date_1123(json_object_get(m, "updated")),
                     "interfaces", ifs, "disks", disks_json(m));
}

/* A list of one item per machine, from the kept texts where the machine
 * record did not change (api/fragments.h). */
typedef struct items_walk_s {
    api_t *api;
    fragments_t *kept;
    fragments_list_t list;
    /* Optional: a tag from the record, and whether to list a machine with
     * that tag now (NULL: every machine is listed). */
    const char *(*tag)(json_t *m);
    bool (*listed)(api_t *api, const char *tag);
    json_t *(*item)(json_t *m); /* its view, from its record only */
} items_walk_t;

static int items_one(const char *uuid, json_t *m, void *arg)
{
    items_walk_t *w = arg;
    char key[MODEL_KEY_MAX];
    const char *v;
    size_t vlen;
    int64_t rev = 0, created;
    if (model_key(key, sizeof key, w->api->store.prefix, MODEL_K_MACHINES, uuid) < 0 ||
        !api_cache_peek(&w->api->cache, key, &v, &vlen, &rev, &created))
        rev = 0;
    fragment_t fr;
    int rc = 0;
    if (!rev || !fragments_get(w->kept, uuid, rev, &fr)) /* new or changed record */
        rc = fragments_put(w->kept, uuid, rev, w->tag ? w->tag(m) : NULL, NULL, &fr);
    if (rc == 0 && w->listed && !w->listed(w->api, fr.tag))
        return 0;
    if (rc == 0 && !fr.text)
        rc = fragments_put(w->kept, uuid, rev, fr.tag, w->item(m), &fr);
    if (rc == 0 && !fr.text)
        rc = -ENOMEM; /* the view could not be built */
    if (rc == 0)
        fragments_list_add(&w->list, fr.text, fr.len);
    else
        w->list.err = rc;
    return 0;
}

static void answer_items(http_request_t *req, items_walk_t *w)
{
    api_cache_foreach(&w->api->cache, MODEL_K_MACHINES, items_one, w);
    fragments_sweep(w->kept);
    size_t len;
    char *body = fragments_list_end(&w->list, &len);
    if (!body)
        http_request_respond_error(req, 500, "out of memory");
    else
        http_request_respond_json_owned(req, 200, body, len);
}

static void discovery_get(http_request_t *req, void *data)
{
    api_t *api = data;
    items_walk_t w = {.api = api, .kept = api->discovery_items, .item = discovery_item};
    answer_items(req, &w);
}

static int interfaces_one(const char *id, json_t *m, void *arg)
{
    (void)id;
    size_t i;
    json_t *it;
    json_array_foreach(json_object_get(m, "interfaces"), i, it)
    {
        json_t *lldp = json_object_get(it, "lldp");
        json_array_append_new(
            arg,
            json_pack("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:o, s:O, s:o}", "mac",
                      json_object_get(it, "mac"), "name", json_object_get(it, "name"), "netmask",
                      json_object_get(it, "netmask"), "ipv4", json_object_get(it, "ipv4"), "cidrv4",
                      json_object_get(it, "cidrv4"), "as_boot", json_object_get(it, "as_boot"),
                      "gateway", json_object_get(it, "gateway"), "fqdn",
                      str_or_null(json_object_get(it, "fqdn")), "machine",
                      json_object_get(m, "uuid"), "chassis_name",
                      str_or_null(json_object_get(lldp, "chassis_name"))));
    }
    return 0;
}

static void discovery_interfaces(http_request_t *req, void *data)
{
    api_t *api = data;
    json_t *list = json_array();
    api_cache_foreach(&api->cache, MODEL_K_MACHINES, interfaces_one, list);
    answer_list(req, list);
}

/* journals/<uuid>/<boot id> = {"ctime", "lines"}: the original's
 * ignition-journal routes. */
typedef struct journal_walk_s {
    json_t *out;
    const char *uuid;    /* only this machine, or NULL */
    const char *boot_id; /* only this boot, or NULL */
    json_t *oldest;      /* for /<uuid>: the lines of the oldest boot (a reference) */
    char oldest_ctime[64];
} journal_walk_t;

/* Journals are parsed for the walk only: keep a reference of what stays. */
static void keep_lines(journal_walk_t *w, json_t *v)
{
    json_decref(w->oldest);
    w->oldest = model_journal_lines(v);
}

static int journal_one(const char *id, json_t *v, void *arg)
{
    journal_walk_t *w = arg;
    const char *slash = strchr(id, '/');
    if (!slash)
        return 0;
    size_t ulen = (size_t)(slash - id);
    const char *ctime = json_string_value(json_object_get(v, "ctime"));
    if (w->uuid && (strlen(w->uuid) != ulen || strncmp(w->uuid, id, ulen) != 0))
        return 0;
    if (w->boot_id) {
        if (strcmp(slash + 1, w->boot_id) == 0)
            keep_lines(w, v);
        return 0;
    }
    if (w->uuid) {
        if (ctime && (!w->oldest_ctime[0] || strcmp(ctime, w->oldest_ctime) < 0)) {
            snprintf(w->oldest_ctime, sizeof w->oldest_ctime, "%s", ctime);
            keep_lines(w, v);
        }
        return 0;
    }
    json_t *last = json_array_get(w->out, json_array_size(w->out) - 1);
    const char *last_uuid = json_string_value(json_object_get(last, "uuid"));
    if (!last_uuid || strlen(last_uuid) != ulen || strncmp(last_uuid, id, ulen) != 0) {
        last = json_pack("{s:s%, s:[]}", "uuid", id, ulen, "boot_id_list");
        json_array_append_new(w->out, last);
    }
    json_array_append_new(json_object_get(last, "boot_id_list"),
                          json_pack("{s:s, s:o}", "boot_id", slash + 1, "ctime",
                                    model_rec_date_1123(json_object_get(v, "ctime"))));
    return 0;
}

static void journal_get(http_request_t *req, void *data)
{
    api_t *api = data;
    const char *rest = http_request_rest(req);
    char uuid[MODEL_UUID_LEN + 1];
    journal_walk_t w = {.out = json_array()};
    if (*rest == '/')
        rest++;
    if (*rest) {
        const char *slash = strchr(rest, '/');
        size_t n = slash ? (size_t)(slash - rest) : strlen(rest);
        char tmp[MODEL_UUID_LEN + 1];
        snprintf(tmp, sizeof tmp, "%.*s", (int)(n < sizeof tmp ? n : sizeof tmp - 1), rest);
        model_err_t err = {{0}};
        if (n != MODEL_UUID_LEN || model_uuid_parse(tmp, uuid, "uuid", &err) != 0) {
            json_decref(w.out);
            http_request_respond_error(req, 400, err.msg[0] ? err.msg : "not a UUID");
            return;
        }
        w.uuid = uuid;
        w.boot_id = slash && slash[1] ? slash + 1 : NULL;
    }
    api_cache_foreach(&api->cache, MODEL_K_JOURNALS, journal_one, &w);
    if (w.uuid) {
        json_decref(w.out);
        w.out = w.oldest ? w.oldest : json_array();
        w.oldest = NULL;
    }
    answer_list(req, w.out);
}

/* ---- /scheduler --------------------------------------------------------- */

static int schedule_one(const char *mac, json_t *v, void *arg)
{
    json_object_set(arg, mac, json_object_get(v, "roles"));
    return 0;
}

static void scheduler_get(http_request_t *req, void *data)
{
    api_t *api = data;
    json_t *map = json_object();
    api_cache_foreach(&api->cache, MODEL_K_SCHEDULES, schedule_one, map);
    answer_list(req, map);
}

typedef struct role_walk_s {
    api_t *api;
    json_t *out;
    unsigned roles; /* the requested set */
    bool single;
    const char *role_name;
    bool ip_only;
} role_walk_t;

static int role_one(const char *mac, json_t *schedule, void *arg)
{
    role_walk_t *w = arg;
    unsigned have = model_rec_roles(schedule);
    /* One role: machines having it among others; several: exactly them. */
    if (w->single ? !(have & w->roles) : have != w->roles)
        return 0;
    json_t *m = machine_by_mac(w->api, mac);
    json_t *it = m ? model_rec_boot_iface(m) : NULL;
    if (!it)
        return 0;
    if (w->ip_only) {
        json_array_append(w->out, json_object_get(it, "ipv4"));
        return 0;
    }
    json_t *o = iface_view(m, it, true);
    if (w->single)
        json_object_set_new(o, "roles", json_string(w->role_name));
    else
        json_object_set(o, "roles", json_object_get(schedule, "roles"));
    json_array_append_new(w->out, o);
    return 0;
}

/* Available: a boot interface (the tag is its machine's boot MAC, "" when
 * there is none) and no schedule, checked at every request. */
static const char *available_tag(json_t *m)
{
    const char *mac = json_string_value(json_object_get(m, "boot_mac"));
    return model_rec_boot_iface(m) && mac ? mac : "";
}

static bool available_listed(api_t *api, const char *tag)
{
    return tag[0] && !api_cache_has(&api->cache, MODEL_K_SCHEDULES, tag);
}

static json_t *available_item(json_t *m)
{
    return iface_view(m, model_rec_boot_iface(m), false);
}

static void scheduler_sub(http_request_t *req, void *data)
{
    api_t *api = data;
    const char *rest = http_request_rest(req);
    role_walk_t w = {.api = api, .out = json_array()};
    if (strcmp(rest, "available") == 0) {
        json_decref(w.out);
        items_walk_t iw = {.api = api,
                           .kept = api->available_items,
                           .tag = available_tag,
                           .listed = available_listed,
                           .item = available_item};
        answer_items(req, &iw);
        return;
    }
    if (strncmp(rest, "ip-list/", 8) == 0) {
        w.ip_only = true;
        rest += 8;
    }
    model_err_t err = {{0}};
    /* An unknown role selects nothing, as in the original. */
    if (model_roles_parse_joined(rest, &w.roles, "role", &err) == 0) {
        w.single = (w.roles & (w.roles - 1)) == 0;
        w.role_name = model_role_name((model_role_t)w.roles);
        if (!(w.ip_only && !w.single))
            api_cache_foreach(&api->cache, MODEL_K_SCHEDULES, role_one, &w);
    }
    answer_list(req, w.out);
}

/* ---- /lifecycle --------------------------------------------------------- */

typedef struct lc_walk_s {
    api_t *api;
    json_t *out;
    const char *flag;     /* the record's boolean field */
    const char *out_flag; /* its name in the answer */
    bool last_change;
} lc_walk_t;

static int lifecycle_one(const char *mac, json_t *rec, void *arg)
{
    lc_walk_t *w = arg;
    json_t *m = machine_by_mac(w->api, mac);
    json_t *it = m ? model_rec_boot_iface(m) : NULL;
    json_t *o = json_pack("{s:s, s:o, s:o, s:O, s:o, s:o}", "mac", mac, "fqdn",
                          str_or_null(json_object_get(it, "fqdn")), "cidrv4",
                          it ? json_incref(json_object_get(it, "cidrv4")) : json_null(),
                          w->out_flag, json_object_get(rec, w->flag), "created_date",
                          model_rec_date_1123(json_object_get(rec, "created")), "updated_date",
                          model_rec_date_1123(json_object_get(rec, "updated")));
    if (o && w->last_change)
        json_object_set_new(o, "last_change_date",
                            model_rec_date_1123(json_object_get(rec, "last_change")));
    json_array_append_new(w->out, o);
    return 0;
}

static void lifecycle_list(http_request_t *req, api_t *api, const char *kind, const char *flag,
                           const char *out_flag, bool last_change)
{
    lc_walk_t w = {api, json_array(), flag, out_flag, last_change};
    api_cache_foreach(&api->cache, kind, lifecycle_one, &w);
    answer_list(req, w.out);
}

static void rolling_list(http_request_t *req, void *data)
{
    lifecycle_list(req, data, MODEL_K_LC_ROLLING, "enable", "enable", false);
}

static void install_list(http_request_t *req, void *data)
{
    lifecycle_list(req, data, MODEL_K_LC_INSTALL, "success", "success", false);
}

static void ignition_list(http_request_t *req, void *data)
{
    lifecycle_list(req, data, MODEL_K_LC_IGNITION, "up_to_date", "up-to-date", true);
}

/* GET /lifecycle/rolling/<q>: 200 enabled, 403 disabled or no mac=, 401
 * no policy or unknown MAC: the node's update script branches on these. */
static void rolling_get(http_request_t *req, void *data)
{
    api_t *api = data;
    const char *q = http_request_rest(req);
    char mac[MODEL_MAC_LEN + 1];
    model_err_t err = {{0}};
    if (model_query_mac(q, strlen(q), mac, &err) != 0) {
        char rq[MODEL_ERR_MAX + 2048];
        snprintf(rq, sizeof rq, "%s:%s", q, err.msg);
        http_request_respond_json(req, 403,
                                  json_pack("{s:n, s:s}", "enable", "request_raw_query", rq));
        return;
    }
    json_t *m = machine_by_mac(api, mac);
    const char *boot = json_string_value(json_object_get(m, "boot_mac"));
    json_t *rec = boot ? api_cache_get(&api->cache, MODEL_K_LC_ROLLING, boot) : NULL;
    if (!rec) {
        http_request_respond_json(
            req, 401,
            json_pack("{s:b, s:s, s:n}", "enable", 0, "request_raw_query", q, "strategy"));
        return;
    }
    bool on = json_is_true(json_object_get(rec, "enable"));
    http_request_respond_json(req, on ? 200 : 403,
                              json_pack("{s:b, s:s, s:O}", "enable", on, "request_raw_query", q,
                                        "strategy", json_object_get(rec, "strategy")));
}

/* ---- /events ----------------------------------------------------------- */

typedef struct events_walk_s {
    json_t *all;
    const char *machine;
} events_walk_t;

static int event_one(const char *id, json_t *v, void *arg)
{
    events_walk_t *w = arg;
    (void)id;
    const char *m = json_string_value(json_object_get(v, "machine"));
    if (!w->machine || (m && strcmp(m, w->machine) == 0))
        json_array_append(w->all, v);
    return 0;
}

/* GET /events[?machine=<mac>&limit=N]: the newest first (100 by default). */
static void events_get(http_request_t *req, void *data)
{
    api_t *api = data;
    const char *lim = http_request_arg(req, "limit");
    const char *mac = http_request_arg(req, "machine");
    long limit = 100;
    char norm[MODEL_MAC_LEN + 1];
    model_err_t err = {{0}};
    if (lim) {
        char *end = NULL;
        limit = strtol(lim, &end, 10);
        if (!*lim || *end || limit < 1 || limit > 10000) {
            http_request_respond_error(req, 400, "limit must be a number in 1..10000");
            return;
        }
    }
    if (mac && model_mac_parse(mac, norm, "machine", &err) != 0) {
        http_request_respond_error(req, 400, err.msg);
        return;
    }
    events_walk_t w = {json_array(), mac ? norm : NULL};
    api_cache_foreach(&api->cache, "events/", event_one, &w);
    json_t *out = json_array();
    size_t n = json_array_size(w.all);
    for (size_t i = 0; i < n && (long)i < limit; i++)
        json_array_append(out, json_array_get(w.all, n - 1 - i));
    json_decref(w.all);
    answer_list(req, out);
}

/* ---- registration ------------------------------------------------------- */

int api_view_routes(api_t *api)
{
    static const struct {
        const char *path;
        http_handler_fn fn;
    } routes[] = {
        {"/discovery", discovery_get},
        {"/discovery/interfaces", discovery_interfaces},
        {"/discovery/ignition-journal", journal_get},
        {"/discovery/ignition-journal/*", journal_get},
        {"/scheduler", scheduler_get},
        {"/scheduler/*", scheduler_sub},
        {"/lifecycle/rolling", rolling_list},
        {"/lifecycle/rolling/*", rolling_get},
        {"/lifecycle/coreos-install", install_list},
        {"/lifecycle/ignition", ignition_list},
        {"/events", events_get},
    };
    for (size_t i = 0; i < sizeof routes / sizeof routes[0]; i++) {
        int rc = api_read_route(api, routes[i].path, routes[i].fn);
        if (rc)
            return rc;
    }
    return 0;
}
