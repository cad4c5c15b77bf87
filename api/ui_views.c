/*
 * The views of the original's web UI (spec 3.7), with
 * Access-Control-Allow-Origin: *.
 *
 *   GET /ui/view/machine   one row per machine: state, FQDN, CIDR, MAC,
 *                          roles, disk profile (7.4), last lifecycle
 *                          report, up to date, rolling strategy
 *   GET /ui/view/states?data_since_last_min=N
 *                          states changed in the last N minutes (30),
 *                          newest first
 *
 * Unlike the original (quirk 16), each row shows its own machine's state.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "model/clock.h"
#include "model/keys.h"
#include "model/records.h"

/* The original's ladder: S 10, M 20, L 30 GiB; no disk: inMemory. */
static const char *disk_profile(json_t *machine)
{
    json_t *disks = json_object_get(machine, "disks");
    if (json_array_size(disks) == 0)
        return "inMemory";
    uint64_t gib = 0;
    size_t i;
    json_t *d;
    json_array_foreach(disks, i, d)
    {
        gib += (uint64_t)json_integer_value(json_object_get(d, "size_bytes")) >> 30;
    }
    return gib < 10 ? "S" : gib < 20 ? "M" : "L";
}

static json_t *roles_joined(json_t *schedule)
{
    json_t *roles = json_object_get(schedule, "roles");
    if (!json_is_array(roles))
        return json_null();
    char buf[128] = "";
    size_t i;
    json_t *r;
    json_array_foreach(roles, i, r)
    {
        size_t n = strlen(buf);
        snprintf(buf + n, sizeof buf - n, "%s%s", n ? "," : "", json_string_value(r));
    }
    return json_string(buf);
}

static int machine_row(const char *uuid, json_t *m, void *arg)
{
    api_t *api = ((void **)arg)[0];
    json_t *out = ((void **)arg)[1];
    (void)uuid;
    const char *mac = json_string_value(json_object_get(m, "boot_mac"));
    json_t *it = model_rec_boot_iface(m);
    if (!mac || !it)
        return 0;
    json_t *state = api_cache_get(&api->cache, MODEL_K_STATES, mac);
    json_t *ign = api_cache_get(&api->cache, MODEL_K_LC_IGNITION, mac);
    json_t *roll = api_cache_get(&api->cache, MODEL_K_LC_ROLLING, mac);
    const char *fqdn = json_string_value(json_object_get(it, "fqdn"));
    json_t *strategy = json_is_true(json_object_get(roll, "enable"))
                           ? json_incref(json_object_get(roll, "strategy"))
                           : json_string("Disable");
    json_t *up = json_object_get(ign, "up_to_date");
    json_array_append_new(
        out,
        json_pack("{s:o, s:o, s:O, s:s, s:o, s:s, s:o, s:o, s:o, s:o}", "LastState",
                  state ? json_incref(json_object_get(state, "state")) : json_null(), "FQDN",
                  fqdn && *fqdn ? json_string(fqdn) : json_null(), "CIDR",
                  json_object_get(it, "cidrv4"), "MAC", mac, "Roles",
                  roles_joined(api_cache_get(&api->cache, MODEL_K_SCHEDULES, mac)), "DiskProfile",
                  disk_profile(m), "LastReport",
                  ign ? model_rec_date_1123(json_object_get(ign, "updated")) : json_null(),
                  "UpToDate", json_is_boolean(up) ? json_incref(up) : json_null(), "LastChange",
                  ign ? model_rec_date_1123(json_object_get(ign, "last_change")) : json_null(),
                  "UpdateStrategy", strategy ? strategy : json_string("Disable")));
    return 0;
}

static void ui_machine(http_request_t *req, void *data)
{
    api_t *api = data;
    json_t *out = json_array();
    void *arg[2] = {api, out};
    api_cache_foreach(&api->cache, MODEL_K_MACHINES, machine_row, arg);
    http_request_add_header(req, "Access-Control-Allow-Origin", "*");
    http_request_respond_json(req, 200, out);
}

typedef struct states_walk_s {
    api_t *api;
    json_t *rows;
    int64_t since_ms;
} states_walk_t;

static int state_row(const char *mac, json_t *st, void *arg)
{
    states_walk_t *w = arg;
    int64_t ms;
    const char *u = json_string_value(json_object_get(st, "updated"));
    if (!u || model_rfc3339_parse(u, &ms) != 0 || ms < w->since_ms)
        return 0;
    json_t *idx = api_cache_get(&w->api->cache, MODEL_K_MACS, mac);
    const char *uuid = json_string_value(json_object_get(idx, "uuid"));
    json_t *m = uuid ? api_cache_get(&w->api->cache, MODEL_K_MACHINES, uuid) : NULL;
    json_t *it = m ? model_rec_boot_iface(m) : NULL;
    const char *fqdn = json_string_value(json_object_get(it, "fqdn"));
    json_array_append_new(w->rows, json_pack("{s:s, s:o, s:O, s:o, s:I}", "mac", mac, "fqdn",
                                             fqdn && *fqdn ? json_string(fqdn) : json_null(),
                                             "state", json_object_get(st, "state"), "date",
                                             model_rec_date_1123(json_object_get(st, "updated")),
                                             "ms", (json_int_t)ms));
    return 0;
}

static int newest_first(const void *a, const void *b)
{
    json_int_t x = json_integer_value(json_object_get(*(json_t *const *)a, "ms"));
    json_int_t y = json_integer_value(json_object_get(*(json_t *const *)b, "ms"));
    return x < y ? 1 : x > y ? -1 : 0;
}

static void ui_states(http_request_t *req, void *data)
{
    api_t *api = data;
    const char *arg = http_request_arg(req, "data_since_last_min");
    long minutes = 30;
    if (arg) {
        char *end = NULL;
        minutes = strtol(arg, &end, 10);
        if (!*arg || *end || minutes < 0 || minutes > 525600) {
            http_request_respond_error(req, 400, "data_since_last_min must be a number of minutes");
            return;
        }
    }
    states_walk_t w = {api, json_array(), model_now_ms() - (int64_t)minutes * 60000};
    api_cache_foreach(&api->cache, MODEL_K_STATES, state_row, &w);
    size_t n = json_array_size(w.rows);
    json_t **rows = malloc((n ? n : 1) * sizeof(*rows));
    json_t *out = json_array();
    for (size_t i = 0; rows && i < n; i++)
        rows[i] = json_array_get(w.rows, i);
    if (rows)
        qsort(rows, n, sizeof(*rows), newest_first);
    for (size_t i = 0; rows && i < n; i++) {
        json_object_del(rows[i], "ms");
        json_array_append(out, rows[i]);
    }
    free(rows);
    json_decref(w.rows);
    http_request_add_header(req, "Access-Control-Allow-Origin", "*");
    http_request_respond_json(req, 200, out);
}

int api_ui_routes(api_t *api)
{
    int rc = api_read_route(api, "/ui/view/machine", ui_machine);
    return rc ? rc : api_read_route(api, "/ui/view/states", ui_states);
}
