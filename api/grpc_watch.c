/*
 * gRPC: Machines.Watch, Events.Watch and Events.List, and the hub that
 * feeds every watch of this replica.
 *
 * The hub hears each change of the cache (api/cache.h, with its etcd
 * revision). A machine is several keys (its record, schedule, state,
 * rolling policy, reports, slot), often written in one transaction, so the
 * changes of one loop turn are gathered per machine and turned into one
 * MachineEvent each when the turn ends (a uv_check handle), in revision
 * order. Every event is packed once, appended to a ring of recent events
 * and handed, by reference, to each watcher that wants it.
 *
 * The ring is this replica's change history: a watch that resumes from
 * revision R is replayed the ring's events from R on — the same bytes the
 * live watchers got — as long as R is not older than the ring's floor (the
 * revision the ring is complete from: the first sync, then past the events
 * dropped for room). Older: OUT_OF_RANGE, and the client lists again.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api/api_internal.h"
#include "api/grpc_views.h"
#include "common/log.h"
#include "common/rpc_loop.h"
#include "model/keys.h"
#include "model/rollout_ops.h"
#include "model/validate.h"

#define RING_MAX 16384
#define RING_BYTES_MAX (64u << 20)
#define SNAPSHOT_CHUNK 64
#define EVENTS_DEFAULT 100u
#define EVENTS_MAX 1000u

typedef enum { K_MACHINE, K_EVENT } kind_t;

/* One event of the history. */
typedef struct entry_s {
    uint64_t seq; /* its place in the hub's history: one more per event */
    int64_t revision;
    kind_t kind;
    char uuid[MODEL_UUID_LEN + 1]; /* K_MACHINE */
    char mac[MODEL_MAC_LEN + 1];   /* the machine's boot MAC; the event's machine */
    grpc_byte_buffer *bb;
} entry_t;

typedef struct watcher_s {
    struct watcher_s *prev, *next;
    struct grpc_hub_s *hub;
    rpc_call_t *call;
    kind_t kind;
    char mac[MODEL_MAC_LEN + 1];   /* filter; "" = all */
    char uuid[MODEL_UUID_LEN + 1]; /* the mac's machine when known */
    int64_t from;                  /* resumed from this revision: nothing older is sent */
    /* A snapshot is sent at the client's pace, a chunk each time the
     * stream's queue drains; live events wait in the ring meanwhile. */
    bool snapshotting;
    char cursor[MODEL_UUID_LEN + 1]; /* the last machine sent */
    int64_t snap_rev;                /* the cache's revision when it began */
    /* What it missed (a resume, or the changes during its snapshot) is
     * replayed from the ring at its pace too, from this event on. */
    bool replaying;
    uint64_t next_seq;
} watcher_t;

/* A change seen during this loop turn, not yet sent. */
typedef struct pending_s {
    int64_t revision;
    kind_t kind;
    char id[192]; /* uuid, or the event's id (longer ones are not ours) */
} pending_t;

typedef struct grpc_hub_s {
    api_t *api;
    uv_check_t check;
    bool check_active;
    bool synced;
    int64_t floor; /* the ring holds every event from this revision on */
    entry_t *ring;
    size_t head, len;
    uint64_t next_seq; /* the seq the next event gets */
    size_t bytes;
    pending_t *pending;
    size_t n_pending, cap_pending;
    json_t *dirty;      /* uuid -> index in pending */
    json_t *boot_of;    /* uuid -> boot MAC, to describe a machine that went */
    watcher_t watchers; /* list head */
    size_t n_watchers;
    uint64_t delivered;
} grpc_hub_t;

/* ---- the ring ---------------------------------------------------------------- */

static entry_t *ring_at(grpc_hub_t *h, size_t i)
{
    return &h->ring[(h->head + i) % RING_MAX];
}

static void ring_drop_oldest(grpc_hub_t *h)
{
    entry_t *e = ring_at(h, 0);
    h->floor = e->revision + 1;
    h->bytes -= grpc_byte_buffer_length(e->bb);
    grpc_byte_buffer_destroy(e->bb);
    h->head = (h->head + 1) % RING_MAX;
    h->len--;
}

/* Keeps events of one revision together: dropping one drops its
 * revision's others, so that the floor stays exact. */
static void ring_make_room(grpc_hub_t *h, size_t bytes)
{
    while (h->len && (h->len == RING_MAX || h->bytes + bytes > RING_BYTES_MAX)) {
        int64_t rev = ring_at(h, 0)->revision;
        while (h->len && ring_at(h, 0)->revision == rev)
            ring_drop_oldest(h);
    }
}

/* The machine that owns the watcher's MAC: looked up again until found,
 * as the machine may come after the watch (by any of its MACs). */
static const char *watched_uuid(watcher_t *w)
{
    if (!*w->uuid) {
        json_t *idx = api_cache_get(&w->hub->api->cache, MODEL_K_MACS, w->mac);
        snprintf(w->uuid, sizeof w->uuid, "%s",
                 json_string_value(json_object_get(idx, "uuid")) ?: "");
    }
    return w->uuid;
}

/* Is e for w (its kind, its machine, not older than its resume)? */
static bool matches(watcher_t *w, const entry_t *e)
{
    if (w->kind != e->kind || e->revision < w->from)
        return false;
    if (!*w->mac)
        return true;
    if (e->kind == K_MACHINE && strcmp(watched_uuid(w), e->uuid) == 0)
        return true;
    return strcmp(w->mac, e->mac) == 0;
}

static void watcher_free(watcher_t *w)
{
    w->prev->next = w->next;
    w->next->prev = w->prev;
    w->hub->n_watchers--;
    free(w);
}

/* A live event goes to w now; one that is catching up gets it from the
 * ring in its turn. */
static bool wants(watcher_t *w, const entry_t *e)
{
    return !w->snapshotting && !w->replaying && matches(w, e);
}

static void publish(grpc_hub_t *h, const entry_t *proto)
{
    ring_make_room(h, grpc_byte_buffer_length(proto->bb));
    entry_t *e = &h->ring[(h->head + h->len) % RING_MAX];
    *e = *proto;
    e->seq = h->next_seq++;
    h->len++;
    h->bytes += grpc_byte_buffer_length(e->bb);
    for (watcher_t *w = h->watchers.next, *next; w != &h->watchers; w = next) {
        next = w->next; /* a send may end the watcher (too slow) */
        if (wants(w, e) && rpc_call_send_packed(w->call, e->bb) == 0)
            h->delivered++;
    }
}

/* ---- building events --------------------------------------------------------- */

/* A MachineEvent{type = 1, machine = 2, revision = 3}, its machine packed
 * once (grpc_views.h) or, for a machine gone, just its uuid and boot MAC. */
static grpc_byte_buffer *machine_event(grpc_hub_t *h, Enjoliver__V1__MachineEvent__Type type,
                                       json_t *rec, const char *uuid, const char *boot,
                                       int64_t revision)
{
    gv_buf_t out = {0};
    gv_put_varint(&out, 1, (uint64_t)type);
    if (rec) {
        size_t len = 0;
        const uint8_t *bytes = gv_machine_packed(h->api, rec, &len);
        if (!bytes)
            out.failed = 1;
        else
            gv_put_bytes(&out, 2, bytes, len);
    } else if (uuid) {
        Enjoliver__V1__Machine gone = ENJOLIVER__V1__MACHINE__INIT;
        gone.uuid = (char *)uuid;
        gone.boot_mac = (char *)boot;
        uint8_t tmp[256];
        size_t n = protobuf_c_message_get_packed_size(&gone.base);
        if (n <= sizeof tmp)
            gv_put_bytes(&out, 2, tmp, protobuf_c_message_pack(&gone.base, tmp));
        else
            out.failed = 1;
    }
    gv_put_varint(&out, 3, (uint64_t)revision);
    grpc_byte_buffer *bb = NULL;
    if (!out.failed) {
        grpc_slice sl = grpc_slice_from_copied_buffer((const char *)out.data, out.len);
        bb = grpc_raw_byte_buffer_create(&sl, 1);
        grpc_slice_unref(sl);
    }
    free(out.data);
    return bb;
}

static void publish_machine(grpc_hub_t *h, const char *uuid, int64_t revision)
{
    json_t *rec = api_cache_get(&h->api->cache, MODEL_K_MACHINES, uuid);
    entry_t e = {.revision = revision, .kind = K_MACHINE};
    snprintf(e.uuid, sizeof e.uuid, "%.36s", uuid);
    const char *boot = json_string_value(json_object_get(rec, "boot_mac"));
    if (rec && boot) {
        json_object_set_new(h->boot_of, uuid, json_string(boot));
        e.bb = machine_event(h, ENJOLIVER__V1__MACHINE_EVENT__TYPE__PUT, rec, uuid, boot, revision);
    } else {
        boot = json_string_value(json_object_get(h->boot_of, uuid));
        e.bb = machine_event(h, ENJOLIVER__V1__MACHINE_EVENT__TYPE__DELETE, NULL, uuid,
                             boot ? boot : "", revision);
    }
    snprintf(e.mac, sizeof e.mac, "%s", boot ? boot : "");
    if (!rec)
        json_object_del(h->boot_of, uuid);
    if (e.bb)
        publish(h, &e);
    else
        log_error("grpc: out of memory; a machine event is lost", "uuid=%s", uuid);
}

static void publish_event(grpc_hub_t *h, const char *id, int64_t revision)
{
    json_t *rec = api_cache_load(&h->api->cache, "events/", id);
    if (!rec)
        return; /* deleted since (pruned) */
    gv_arena_t a = {0};
    Enjoliver__V1__Event *ev = gv_event(rec, revision, &a);
    entry_t e = {.revision = revision, .kind = K_EVENT};
    snprintf(e.mac, sizeof e.mac, "%s", json_string_value(json_object_get(rec, "machine")) ?: "");
    e.bb = ev ? rpc_pack(&ev->base) : NULL;
    gv_arena_free(&a);
    json_decref(rec);
    if (e.bb)
        publish(h, &e);
}

static int cmp_pending(const void *a, const void *b)
{
    const pending_t *x = a, *y = b;
    return x->revision < y->revision ? -1 : x->revision > y->revision;
}

/* Sends what this loop turn changed, in revision order. */
static void hub_flush(grpc_hub_t *h)
{
    if (!h->n_pending)
        return;
    qsort(h->pending, h->n_pending, sizeof *h->pending, cmp_pending);
    size_t n = h->n_pending;
    h->n_pending = 0;
    json_object_clear(h->dirty);
    for (size_t i = 0; i < n; i++) {
        const pending_t *p = &h->pending[i];
        if (p->kind == K_MACHINE)
            publish_machine(h, p->id, p->revision);
        else
            publish_event(h, p->id, p->revision);
    }
}

static void on_check(uv_check_t *c)
{
    grpc_hub_t *h = c->data;
    hub_flush(h);
    uv_check_stop(c);
    h->check_active = false;
}

static pending_t *pending_add(grpc_hub_t *h)
{
    if (h->n_pending == h->cap_pending) {
        size_t cap = h->cap_pending ? h->cap_pending * 2 : 64;
        pending_t *p = realloc(h->pending, cap * sizeof(*p));
        if (!p)
            return NULL;
        h->pending = p;
        h->cap_pending = cap;
    }
    if (!h->check_active) {
        uv_check_start(&h->check, on_check);
        h->check_active = true;
    }
    return &h->pending[h->n_pending++];
}

static void machine_dirty(grpc_hub_t *h, const char *uuid, int64_t revision)
{
    gv_machine_forget(h->api, uuid); /* its packed message is stale now */
    json_t *at = json_object_get(h->dirty, uuid);
    if (at) {
        pending_t *p = &h->pending[json_integer_value(at)];
        if (revision > p->revision)
            p->revision = revision;
        return;
    }
    pending_t *p = pending_add(h);
    if (!p)
        return;
    *p = (pending_t){.revision = revision, .kind = K_MACHINE};
    snprintf(p->id, sizeof p->id, "%s", uuid);
    json_object_set_new(h->dirty, uuid, json_integer((json_int_t)(h->n_pending - 1)));
}

/* Kinds kept by boot MAC whose changes are a machine's changes. */
static const char *const by_mac[] = {MODEL_K_SCHEDULES,  MODEL_K_STATES,   MODEL_K_LC_IGNITION,
                                     MODEL_K_LC_ROLLING, MODEL_K_RO_SLOTS, MODEL_K_RO_PROGRESS};

static void observe(const char *key, int64_t revision, bool deleted, void *data)
{
    grpc_hub_t *h = data;
    if (!h->synced)
        return; /* the first list: the state watchers get as a snapshot */
    const char *prefix = h->api->store.prefix;
    size_t klen = strlen(key);
    const char *id = model_key_id(key, klen, prefix, MODEL_K_MACHINES);
    if (id) {
        machine_dirty(h, id, revision);
        return;
    }
    if ((id = model_key_id(key, klen, prefix, "events/"))) {
        pending_t *p = deleted ? NULL : pending_add(h);
        if (p) {
            *p = (pending_t){.revision = revision, .kind = K_EVENT};
            snprintf(p->id, sizeof p->id, "%s", id);
        }
        return;
    }
    for (size_t i = 0; i < sizeof by_mac / sizeof *by_mac; i++) {
        if (!(id = model_key_id(key, klen, prefix, by_mac[i])))
            continue;
        json_t *idx = api_cache_get(&h->api->cache, MODEL_K_MACS, id);
        const char *uuid = json_string_value(json_object_get(idx, "uuid"));
        if (uuid) /* else the machine went with it: its own event says so */
            machine_dirty(h, uuid, revision);
        return;
    }
}

static int remember_boot(const char *uuid, json_t *m, void *arg)
{
    grpc_hub_t *h = arg;
    const char *boot = json_string_value(json_object_get(m, "boot_mac"));
    if (boot)
        json_object_set_new(h->boot_of, uuid, json_string(boot));
    return 0;
}

static void observe_synced(int64_t revision, void *data)
{
    grpc_hub_t *h = data;
    if (h->synced)
        return; /* a relist: its differences came as changes */
    h->synced = true;
    h->floor = revision + 1;
    api_cache_foreach(&h->api->cache, MODEL_K_MACHINES, remember_boot, h);
}

/* ---- watches ----------------------------------------------------------------- */

static void watcher_cancelled(rpc_call_t *call, void *data)
{
    (void)call;
    watcher_free(data);
}

/* Fails the call and returns NULL when the hub cannot serve a watch now,
 * or when resume is out of the ring's reach. */
static watcher_t *watcher_new(grpc_hub_t *h, rpc_call_t *call, kind_t kind, const char *mac_in,
                              int64_t resume)
{
    char mac[MODEL_MAC_LEN + 1] = "";
    model_err_t err = {{0}};
    if (*mac_in && model_mac_parse(mac_in, mac, "mac", &err) != 0) {
        rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err.msg);
        return NULL;
    }
    if (resume < 0) {
        rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "resume_revision: must be >= 0");
        return NULL;
    }
    if (!h->synced) {
        rpc_call_finish(call, GRPC_STATUS_UNAVAILABLE, "the cache is not synced yet: retry");
        return NULL;
    }
    hub_flush(h); /* what is applied is sent before anything of this watch */
    if (resume && resume < h->floor) {
        rpc_call_finish(call, GRPC_STATUS_OUT_OF_RANGE,
                        "revision %lld is older than this replica's history (it starts at "
                        "%lld): list again, then watch from the list's revision + 1",
                        (long long)resume, (long long)h->floor);
        return NULL;
    }
    watcher_t *w = calloc(1, sizeof(*w));
    if (!w) {
        rpc_call_finish(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
        return NULL;
    }
    w->hub = h;
    w->call = call;
    w->kind = kind;
    snprintf(w->mac, sizeof w->mac, "%s", mac);
    w->from = resume;
    w->prev = h->watchers.prev;
    w->next = &h->watchers;
    h->watchers.prev->next = w;
    h->watchers.prev = w;
    h->n_watchers++;
    rpc_call_on_cancel(call, watcher_cancelled, w);
    return w;
}

/* The next chunk of what a watcher missed, from the ring; once it has
 * caught up with the ring's end, live events flow to it directly. */
static void watcher_end(watcher_t *w, grpc_status_code code, const char *msg);

static void replay_more(rpc_call_t *call, void *data)
{
    watcher_t *w = data;
    grpc_hub_t *h = w->hub;
    if (w->next_seq < h->next_seq - h->len)
        return watcher_end(w, GRPC_STATUS_OUT_OF_RANGE,
                           "more changed while this watch caught up than this replica keeps: "
                           "resume from the last revision received");
    size_t sent = 0;
    while (w->next_seq < h->next_seq && sent < SNAPSHOT_CHUNK) {
        entry_t *e = ring_at(h, (size_t)(w->next_seq - (h->next_seq - h->len)));
        w->next_seq++;
        if (!matches(w, e))
            continue;
        if (rpc_call_send_packed(call, e->bb) != 0)
            return; /* -EPIPE: the cancel hook freed w */
        sent++;
    }
    if (w->next_seq == h->next_seq) { /* caught up: live from now on */
        w->replaying = false;
        rpc_call_on_drain(call, NULL, NULL);
    }
}

/* Starts the replay of the ring's events from revision `from` on. */
static void replay_from(grpc_hub_t *h, watcher_t *w, int64_t from)
{
    w->next_seq = h->next_seq;
    for (size_t i = 0; i < h->len; i++)
        if (ring_at(h, i)->revision >= from) {
            w->next_seq = ring_at(h, i)->seq;
            break;
        }
    w->replaying = true;
    rpc_call_on_drain(w->call, replay_more, w);
    replay_more(w->call, w);
}

typedef struct snap_s {
    grpc_hub_t *h;
    watcher_t *w;
    int err;
    size_t sent;
} snap_t;

static int snapshot_one(const char *uuid, json_t *m, void *arg)
{
    snap_t *s = arg;
    if (s->sent == SNAPSHOT_CHUNK)
        return 1; /* the rest at the next drain */
    snprintf(s->w->cursor, sizeof s->w->cursor, "%s", uuid);
    const char *boot = json_string_value(json_object_get(m, "boot_mac"));
    if (*s->w->mac && strcmp(uuid, watched_uuid(s->w)) != 0)
        return 0;
    grpc_byte_buffer *bb = machine_event(s->h, ENJOLIVER__V1__MACHINE_EVENT__TYPE__SNAPSHOT, m,
                                         uuid, boot, api_cache_revision(&s->h->api->cache));
    s->err = bb ? rpc_call_send_packed(s->w->call, bb) : -ENOMEM;
    if (bb)
        grpc_byte_buffer_destroy(bb);
    s->sent++;
    return s->err;
}

static void watcher_end(watcher_t *w, grpc_status_code code, const char *msg)
{
    /* (declared above: the replay ends watchers too) */
    rpc_call_t *call = w->call;
    rpc_call_on_cancel(call, NULL, NULL);
    rpc_call_on_drain(call, NULL, NULL);
    watcher_free(w);
    rpc_call_finish(call, code, "%s", msg);
}

/* The next chunk of a watcher's snapshot; at its end, SNAPSHOT_END and
 * what changed since it began (from the ring), then live events. */
static void snapshot_more(rpc_call_t *call, void *data)
{
    watcher_t *w = data;
    grpc_hub_t *h = w->hub;
    snap_t s = {h, w, 0, 0};
    api_cache_foreach_after(&h->api->cache, MODEL_K_MACHINES, w->cursor, snapshot_one, &s);
    if (s.err == -EPIPE)
        return; /* the cancel hook freed w */
    if (s.err < 0)
        return watcher_end(w, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    if (s.sent == SNAPSHOT_CHUNK)
        return;
    rpc_call_on_drain(call, NULL, NULL);
    w->snapshotting = false;
    Enjoliver__V1__MachineEvent end = ENJOLIVER__V1__MACHINE_EVENT__INIT;
    end.type = ENJOLIVER__V1__MACHINE_EVENT__TYPE__SNAPSHOT_END;
    end.revision = w->snap_rev;
    if (rpc_call_send(call, &end.base) != 0)
        return;
    if (w->snap_rev + 1 < h->floor)
        return watcher_end(w, GRPC_STATUS_OUT_OF_RANGE,
                           "more changed during the snapshot than this replica keeps: watch "
                           "again");
    w->from = w->snap_rev + 1;
    replay_from(h, w, w->from);
}

static void machines_watch(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__WatchMachinesRequest *req = (const void *)msg;
    api_t *api = data;
    grpc_hub_t *h = api->hub;
    watcher_t *w = watcher_new(h, call, K_MACHINE, req->mac, req->resume_revision);
    if (!w)
        return;
    if (req->resume_revision) {
        replay_from(h, w, req->resume_revision);
        return;
    }
    w->snapshotting = true;
    w->snap_rev = api_cache_revision(&api->cache);
    rpc_call_on_drain(call, snapshot_more, w);
    snapshot_more(call, w);
}

/* ---- events ------------------------------------------------------------------ */

typedef struct ev_walk_s {
    api_t *api;
    const char *machine;
    json_t *recs; /* matching records, oldest first */
    json_t *revs;
} ev_walk_t;

static int event_seen(const char *id, json_t *v, void *arg)
{
    (void)v;
    ev_walk_t *w = arg;
    json_t *rec = api_cache_load(&w->api->cache, "events/", id);
    const char *m = json_string_value(json_object_get(rec, "machine"));
    if (rec && (!*w->machine || (m && strcmp(m, w->machine) == 0))) {
        json_array_append(w->recs, rec);
        json_array_append_new(w->revs, json_integer(gv_revision(w->api, "events/", id, NULL)));
    }
    json_decref(rec);
    return 0;
}

typedef struct ev_order_s {
    int64_t revision;
    size_t index;
} ev_order_t;

static int cmp_order(const void *a, const void *b)
{
    const ev_order_t *x = a, *y = b;
    return x->revision < y->revision ? -1 : x->revision > y->revision;
}

/* Keys sort by time then replica: two replicas' events of one millisecond
 * may come out of revision order. Revision order is the order they were
 * written in. */
static void sort_by_revision(ev_walk_t *w)
{
    size_t n = json_array_size(w->recs);
    ev_order_t *o = n ? malloc(n * sizeof(*o)) : NULL;
    json_t *recs = json_array(), *revs = json_array();
    if (!o || !recs || !revs) {
        free(o);
        json_decref(recs);
        json_decref(revs);
        return; /* key order, then */
    }
    for (size_t i = 0; i < n; i++)
        o[i] = (ev_order_t){json_integer_value(json_array_get(w->revs, i)), i};
    qsort(o, n, sizeof *o, cmp_order);
    for (size_t i = 0; i < n; i++) {
        json_array_append(recs, json_array_get(w->recs, o[i].index));
        json_array_append(revs, json_array_get(w->revs, o[i].index));
    }
    free(o);
    json_decref(w->recs);
    json_decref(w->revs);
    w->recs = recs;
    w->revs = revs;
}

/* The machine filter and the latest `limit` events, or fails the call. */
static int events_latest(api_t *api, rpc_call_t *call, const char *machine, uint32_t limit,
                         ev_walk_t *w, char mac[MODEL_MAC_LEN + 1], size_t *first)
{
    model_err_t err = {{0}};
    *mac = 0;
    if (*machine && model_mac_parse(machine, mac, "machine", &err) != 0) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "%s", err.msg);
        return -EINVAL;
    }
    if (limit > EVENTS_MAX) {
        rpc_call_fail(call, GRPC_STATUS_INVALID_ARGUMENT, "limit: at most %u", EVENTS_MAX);
        return -EINVAL;
    }
    *w = (ev_walk_t){api, mac, json_array(), json_array()};
    api_cache_foreach(&api->cache, "events/", event_seen, w);
    sort_by_revision(w);
    size_t n = json_array_size(w->recs), want = limit ? limit : EVENTS_DEFAULT;
    *first = n > want ? n - want : 0;
    return 0;
}

static void events_list_read(api_t *api, rpc_call_t *call, const ProtobufCMessage *msg)
{
    const Enjoliver__V1__ListEventsRequest *req = (const void *)msg;
    ev_walk_t w;
    char mac[MODEL_MAC_LEN + 1];
    size_t first;
    if (events_latest(api, call, req->machine, req->limit, &w, mac, &first) != 0)
        return;
    size_t n = json_array_size(w.recs);
    gv_arena_t a = {0};
    Enjoliver__V1__ListEventsResponse r = ENJOLIVER__V1__LIST_EVENTS_RESPONSE__INIT;
    r.events = gv_alloc(&a, (n - first + 1) * sizeof(*r.events));
    for (size_t i = n; r.events && i > first; i--) { /* newest first */
        Enjoliver__V1__Event *e = gv_event(json_array_get(w.recs, i - 1),
                                           json_integer_value(json_array_get(w.revs, i - 1)), &a);
        if (e)
            r.events[r.n_events++] = e;
    }
    r.revision = api_cache_revision(&api->cache);
    if (a.failed)
        rpc_call_fail(call, GRPC_STATUS_RESOURCE_EXHAUSTED, "out of memory");
    else
        rpc_call_reply(call, &r.base);
    gv_arena_free(&a);
    json_decref(w.recs);
    json_decref(w.revs);
}

static void events_list(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    api_grpc_fresh(data, call, msg, events_list_read);
}

static void events_watch(rpc_call_t *call, const ProtobufCMessage *msg, void *data)
{
    const Enjoliver__V1__WatchEventsRequest *req = (const void *)msg;
    api_t *api = data;
    grpc_hub_t *h = api->hub;
    if (req->limit > EVENTS_MAX) {
        rpc_call_finish(call, GRPC_STATUS_INVALID_ARGUMENT, "limit: at most %u", EVENTS_MAX);
        return;
    }
    watcher_t *w = watcher_new(h, call, K_EVENT, req->machine, req->resume_revision);
    if (!w)
        return;
    if (req->resume_revision) {
        replay_from(h, w, req->resume_revision);
        return;
    }
    ev_walk_t walk;
    char mac[MODEL_MAC_LEN + 1];
    size_t first;
    /* Validated above: this cannot fail the call. */
    events_latest(api, call, w->mac, req->limit, &walk, mac, &first);
    int rc = 0;
    for (size_t i = first; rc == 0 && i < json_array_size(walk.recs); i++) {
        gv_arena_t a = {0};
        Enjoliver__V1__Event *e = gv_event(json_array_get(walk.recs, i),
                                           json_integer_value(json_array_get(walk.revs, i)), &a);
        rc = e ? rpc_call_send(call, &e->base) : -ENOMEM;
        gv_arena_free(&a);
    }
    json_decref(walk.recs);
    json_decref(walk.revs);
    if (rc == -EPIPE)
        return;
    Enjoliver__V1__Event end = ENJOLIVER__V1__EVENT__INIT;
    end.revision = api_cache_revision(&api->cache);
    rpc_call_send(call, &end.base);
}

/* ---- setup ------------------------------------------------------------------- */

static void check_closed(uv_handle_t *handle)
{
    free(handle->data);
}

void api_grpc_watches_stop(api_t *api)
{
    grpc_hub_t *h = api->hub;
    if (!h)
        return;
    api->hub = NULL;
    api->cache.observe = NULL;
    api->cache.observe_synced = NULL;
    while (h->watchers.next != &h->watchers)
        watcher_end(h->watchers.next, GRPC_STATUS_UNAVAILABLE,
                    "the server is shutting down: resume on another replica");
    while (h->len)
        ring_drop_oldest(h);
    free(h->ring);
    free(h->pending);
    json_decref(h->dirty);
    json_decref(h->boot_of);
    gv_packed_free(api);
    uv_close((uv_handle_t *)&h->check, check_closed);
}

int api_grpc_watches(api_t *api)
{
    grpc_hub_t *h = calloc(1, sizeof(*h));
    if (!h)
        return -ENOMEM;
    h->api = api;
    h->ring = calloc(RING_MAX, sizeof(*h->ring));
    h->dirty = json_object();
    h->boot_of = json_object();
    h->watchers.next = h->watchers.prev = &h->watchers;
    if (!h->ring || !h->dirty || !h->boot_of) {
        free(h->ring);
        json_decref(h->dirty);
        json_decref(h->boot_of);
        free(h);
        return -ENOMEM;
    }
    uv_check_init(api->loop, &h->check);
    h->check.data = h;
    api->hub = h;
    api->cache.observe = observe;
    api->cache.observe_synced = observe_synced;
    api->cache.observe_data = h;
    if (api_cache_revision(&api->cache) > 0) /* already synced */
        observe_synced(api_cache_revision(&api->cache), h);
    const rpc_method_t methods[] = {
        {"/enjoliver.v1.Machines/Watch", &enjoliver__v1__watch_machines_request__descriptor,
         machines_watch, api, .streaming = true},
        {"/enjoliver.v1.Events/List", &enjoliver__v1__list_events_request__descriptor, events_list,
         api, .admin = false},
        {"/enjoliver.v1.Events/Watch", &enjoliver__v1__watch_events_request__descriptor,
         events_watch, api, .streaming = true},
    };
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        int rc = rpc_server_method(api->rpc, &methods[i]);
        if (rc)
            return rc;
    }
    return 0;
}
