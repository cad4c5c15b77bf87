/*
 * Watches, multiplexed on one Watch stream per client.
 *
 * Each watcher remembers the last revision it delivered. When the stream
 * breaks, every watcher goes back to PENDING and is created again on the
 * next stream from last revision + 1; events at or below the last revision
 * are dropped, so a reconnect neither loses nor repeats an event.
 *
 * etcd answers creates in the order they were sent on a stream, so the
 * watchers whose create is in flight wait in a FIFO and each `created`
 * answer binds the head of the FIFO to its watch id.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "etcd/internal.h"
#include "etcd/kv.h"
#include "etcd/watch.h"

typedef enum { W_PENDING, W_CREATING, W_ACTIVE, W_DONE } wstate_t;

struct etcd_watch_s {
    etcd_list_t link;
    etcd_watch_stream_t *ws; /* NULL once the client closed */
    uint8_t *key, *end;
    size_t klen, elen;
    int64_t start_rev, last_rev, id;
    bool prev_kv, progress_notify, in_cb, stop_requested;
    wstate_t state;
    Etcdserverpb__WatchResponse **frags;
    size_t n_frags;
    etcd_watch_cb cb;
    void *data;
};

struct etcd_watch_stream_s {
    etcd_client_t *c;
    etcd_stream_t *st;
    etcd_list_t watchers;
    etcd_watch_t **fifo; /* creates in flight; NULL = stopped meanwhile */
    size_t fifo_head, fifo_n, fifo_cap;
    uv_timer_t *retry;
    unsigned failures;
};

static void ws_kick(etcd_watch_stream_t *ws);

static void w_free_frags(etcd_watch_t *w)
{
    for (size_t i = 0; i < w->n_frags; i++)
        protobuf_c_message_free_unpacked(&w->frags[i]->base, NULL);
    free(w->frags);
    w->frags = NULL;
    w->n_frags = 0;
}

static void w_free(etcd_watch_t *w)
{
    etcd_list_del(&w->link);
    w_free_frags(w);
    free(w->key);
    free(w->end);
    free(w);
}

/* Runs the user's callback; returns false if the watcher was freed in it. */
static bool w_call(etcd_watch_t *w, int err, int64_t rev, int64_t compact, Mvccpb__Event *const *ev,
                   size_t n)
{
    w->in_cb = true;
    w->cb(w, err, rev, compact, ev, n, w->data);
    w->in_cb = false;
    if (w->stop_requested) {
        w_free(w);
        return false;
    }
    return true;
}

static void w_finish(etcd_watch_t *w, int err, int64_t rev, int64_t compact)
{
    w->state = W_DONE;
    etcd_list_del(&w->link);
    w_free_frags(w);
    w_call(w, err, rev, compact, NULL, 0);
}

static void fifo_push(etcd_watch_stream_t *ws, etcd_watch_t *w)
{
    if (ws->fifo_head + ws->fifo_n == ws->fifo_cap) {
        if (ws->fifo_head) { /* slide down before growing */
            memmove(ws->fifo, ws->fifo + ws->fifo_head, ws->fifo_n * sizeof(*ws->fifo));
            ws->fifo_head = 0;
        }
        if (ws->fifo_n == ws->fifo_cap) {
            size_t cap = ws->fifo_cap ? ws->fifo_cap * 2 : 16;
            etcd_watch_t **f = realloc(ws->fifo, cap * sizeof(*f));
            if (!f)
                abort(); /* a lost slot would bind the wrong watch ids */
            ws->fifo = f;
            ws->fifo_cap = cap;
        }
    }
    ws->fifo[ws->fifo_head + ws->fifo_n++] = w;
}

static etcd_watch_t *fifo_pop(etcd_watch_stream_t *ws, bool *empty)
{
    *empty = ws->fifo_n == 0;
    if (*empty)
        return NULL;
    etcd_watch_t *w = ws->fifo[ws->fifo_head++];
    if (!--ws->fifo_n)
        ws->fifo_head = 0;
    return w;
}

static void send_cancel(etcd_watch_stream_t *ws, int64_t id)
{
    if (!ws->st)
        return;
    Etcdserverpb__WatchCancelRequest cr = ETCDSERVERPB__WATCH_CANCEL_REQUEST__INIT;
    cr.watch_id = id;
    Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
    req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CANCEL_REQUEST;
    req.cancel_request = &cr;
    etcd_stream_send(ws->st, &req.base);
}

static void send_create(etcd_watch_stream_t *ws, etcd_watch_t *w)
{
    Etcdserverpb__WatchCreateRequest cr = ETCDSERVERPB__WATCH_CREATE_REQUEST__INIT;
    cr.key.data = w->key;
    cr.key.len = w->klen;
    cr.range_end.data = w->end;
    cr.range_end.len = w->elen;
    cr.start_revision = w->last_rev ? w->last_rev + 1 : w->start_rev;
    cr.prev_kv = w->prev_kv;
    cr.progress_notify = w->progress_notify;
    cr.fragment = true;
    Etcdserverpb__WatchRequest req = ETCDSERVERPB__WATCH_REQUEST__INIT;
    req.request_union_case = ETCDSERVERPB__WATCH_REQUEST__REQUEST_UNION_CREATE_REQUEST;
    req.create_request = &cr;
    if (etcd_stream_send(ws->st, &req.base) < 0)
        return; /* the stream is ending; on_closed puts w back to PENDING */
    w->state = W_CREATING;
    fifo_push(ws, w);
}

static etcd_watch_t *find_active(etcd_watch_stream_t *ws, int64_t id)
{
    for (etcd_list_t *l = ws->watchers.next; l != &ws->watchers; l = l->next) {
        etcd_watch_t *w = etcd_container_of(l, etcd_watch_t, link);
        if (w->state == W_ACTIVE && w->id == id)
            return w;
    }
    return NULL;
}

static void on_created(etcd_watch_stream_t *ws, const Etcdserverpb__WatchResponse *r)
{
    bool empty;
    etcd_watch_t *w = fifo_pop(ws, &empty);
    int64_t rev = r->header ? r->header->revision : 0;
    if (!w) {
        if (!empty && !r->canceled)
            send_cancel(ws, r->watch_id); /* stopped while being created */
        return;
    }
    if (r->canceled) {
        w_finish(w, r->compact_revision ? -ESTALE : -EINVAL, rev, r->compact_revision);
        return;
    }
    w->id = r->watch_id;
    w->state = W_ACTIVE;
    /* "From now" means: everything up to the creation revision is known. */
    if (!w->last_rev && !w->start_rev)
        w->last_rev = rev;
}

/* Delivers a complete response (its fragments joined) to w. */
static void deliver(etcd_watch_t *w, Etcdserverpb__WatchResponse *r)
{
    size_t total = r->n_events;
    for (size_t i = 0; i < w->n_frags; i++)
        total += w->frags[i]->n_events;
    Mvccpb__Event **ev = total ? malloc(total * sizeof(*ev)) : NULL;
    if (total && !ev) {
        w_finish(w, -ENOMEM, 0, 0);
        return;
    }
    size_t n = 0;
    int64_t max_rev = w->last_rev;
    for (size_t f = 0; f <= w->n_frags; f++) {
        Etcdserverpb__WatchResponse *part = f < w->n_frags ? w->frags[f] : r;
        for (size_t i = 0; i < part->n_events; i++) {
            Mvccpb__Event *e = part->events[i];
            int64_t erev = e->kv ? e->kv->mod_revision : 0;
            if (erev && erev <= w->last_rev)
                continue; /* already delivered before a reconnect */
            ev[n++] = e;
            if (erev > max_rev)
                max_rev = erev;
        }
    }
    int64_t hdr = r->header ? r->header->revision : 0;
    if (!total) { /* progress notification: all up to hdr is delivered */
        if (hdr > max_rev)
            max_rev = hdr;
    }
    w->last_rev = max_rev;
    if (n || !total)
        if (!w_call(w, 0, hdr, 0, ev, n))
            w = NULL;
    free(ev);
    if (w)
        w_free_frags(w);
}

static void ws_on_message(etcd_stream_t *st, grpc_byte_buffer *bb, void *owner)
{
    etcd_watch_stream_t *ws = owner;
    (void)st;
    Etcdserverpb__WatchResponse *r =
        (Etcdserverpb__WatchResponse *)rpc_unpack(&etcdserverpb__watch_response__descriptor, bb);
    if (!r)
        return;
    ws->failures = 0;
    if (r->created) {
        on_created(ws, r);
    } else if (r->watch_id == -1 && r->n_events == 0 && r->header) {
        /* A stream-wide progress answer (WatchProgressRequest): nothing to do. */
    } else {
        etcd_watch_t *w = find_active(ws, r->watch_id);
        if (w && r->canceled) {
            w_finish(w, r->compact_revision ? -ESTALE : -ECANCELED,
                     r->header ? r->header->revision : 0, r->compact_revision);
        } else if (w && r->fragment) {
            Etcdserverpb__WatchResponse **f = realloc(w->frags, (w->n_frags + 1) * sizeof(*f));
            if (!f) {
                w_finish(w, -ENOMEM, 0, 0);
            } else {
                w->frags = f;
                w->frags[w->n_frags++] = r;
                return; /* kept until the last fragment */
            }
        } else if (w) {
            deliver(w, r);
        }
    }
    protobuf_c_message_free_unpacked(&r->base, NULL);
}

static void ws_retry_fired(uv_timer_t *t)
{
    ws_kick(t->data);
}

static void ws_on_closed(etcd_stream_t *st, int err, const char *msg, void *owner)
{
    etcd_watch_stream_t *ws = owner;
    (void)st;
    (void)msg;
    ws->st = NULL;
    ws->fifo_head = ws->fifo_n = 0;
    if (err == -EACCES)
        etcd_client_token_invalid(ws->c);
    /* Put every live watcher back; fatal errors end them instead. */
    bool fatal = err == -EPERM || err == -EINVAL || err == -ECANCELED || ws->c->closing;
    etcd_list_t *l = ws->watchers.next;
    while (l != &ws->watchers) {
        etcd_watch_t *w = etcd_container_of(l, etcd_watch_t, link);
        l = l->next;
        w_free_frags(w);
        if (fatal)
            w_finish(w, err ? err : -ECANCELED, 0, 0);
        else
            w->state = W_PENDING;
    }
    if (ws->c->closing || etcd_list_empty(&ws->watchers))
        return;
    ws->failures++;
    uv_timer_start(ws->retry, ws_retry_fired, etcd_backoff_ms(ws->c, ws->failures - 1), 0);
}

static const etcd_stream_ops_t ws_ops = {ws_on_message, ws_on_closed};

static void ws_kick(etcd_watch_stream_t *ws)
{
    if (ws->c->closing)
        return;
    if (!ws->st) {
        if (uv_is_active((uv_handle_t *)ws->retry) || etcd_list_empty(&ws->watchers))
            return;
        if (etcd_stream_open(ws->c, etcd_path_watch, 0, &ws_ops, ws, NULL, false, &ws->st) < 0) {
            ws->st = NULL;
            return;
        }
    }
    for (etcd_list_t *l = ws->watchers.next; ws->st && l != &ws->watchers; l = l->next) {
        etcd_watch_t *w = etcd_container_of(l, etcd_watch_t, link);
        if (w->state == W_PENDING)
            send_create(ws, w);
    }
}

static int ws_get(etcd_client_t *c, etcd_watch_stream_t **out)
{
    if (!c->watch) {
        etcd_watch_stream_t *ws = calloc(1, sizeof(*ws));
        if (!ws || !(ws->retry = malloc(sizeof(*ws->retry)))) {
            free(ws);
            return -ENOMEM;
        }
        uv_timer_init(c->loop, ws->retry);
        ws->retry->data = ws;
        ws->c = c;
        etcd_list_init(&ws->watchers);
        c->watch = ws;
    }
    *out = c->watch;
    return 0;
}

static int copy_bytes(uint8_t **dst, const void *src, size_t len)
{
    *dst = malloc(len ? len : 1);
    if (!*dst)
        return -ENOMEM;
    if (len)
        memcpy(*dst, src, len);
    return 0;
}

int etcd_watch_start(etcd_client_t *c, const etcd_watch_opts_t *o, etcd_watch_cb cb, void *data,
                     etcd_watch_t **out)
{
    if (!c || !o || !cb || !out || (!o->key && o->key_len) || o->start_revision < 0)
        return -EINVAL;
    if (c->closing)
        return -ECANCELED;
    etcd_watch_stream_t *ws;
    int err = ws_get(c, &ws);
    if (err < 0)
        return err;
    etcd_watch_t *w = calloc(1, sizeof(*w));
    if (!w)
        return -ENOMEM;
    etcd_list_init(&w->link);
    err = copy_bytes(&w->key, o->key, o->key_len);
    w->klen = o->key_len;
    if (!err && o->range_end) {
        err = copy_bytes(&w->end, o->range_end, o->range_end_len);
        w->elen = o->range_end_len;
    } else if (!err && o->prefix) {
        if (!(w->end = malloc(w->klen ? w->klen : 1)))
            err = -ENOMEM;
        else if (!w->klen) /* every key: key = range_end = "\0" */
            w->key[0] = 0, w->end[0] = 0, w->klen = w->elen = 1;
        else
            w->elen = etcd_prefix_end(w->key, w->klen, w->end);
    }
    if (err) {
        w_free(w);
        return err;
    }
    w->ws = ws;
    w->start_rev = o->start_revision;
    w->prev_kv = o->prev_kv;
    w->progress_notify = o->progress_notify;
    w->cb = cb;
    w->data = data;
    w->state = W_PENDING;
    etcd_list_add_tail(&ws->watchers, &w->link);
    *out = w;
    ws_kick(ws);
    return 0;
}

void etcd_watch_stop(etcd_watch_t *w)
{
    if (!w)
        return;
    if (w->in_cb) {
        w->stop_requested = true;
        return;
    }
    etcd_watch_stream_t *ws = w->ws;
    if (ws && w->state == W_ACTIVE)
        send_cancel(ws, w->id);
    if (ws && w->state == W_CREATING)
        for (size_t i = 0; i < ws->fifo_n; i++)
            if (ws->fifo[ws->fifo_head + i] == w)
                ws->fifo[ws->fifo_head + i] = NULL;
    w_free(w);
}

int64_t etcd_watch_revision(const etcd_watch_t *w)
{
    return w->last_rev;
}

void etcd_watch_client_close(etcd_client_t *c)
{
    etcd_watch_stream_t *ws = c->watch;
    if (!ws)
        return;
    while (!etcd_list_empty(&ws->watchers)) {
        etcd_watch_t *w = etcd_container_of(ws->watchers.next, etcd_watch_t, link);
        w->ws = NULL;
        w_finish(w, -ECANCELED, 0, 0);
    }
    if (ws->st)
        etcd_stream_detach(ws->st);
    uv_close((uv_handle_t *)ws->retry, (uv_close_cb)free);
    free(ws->fifo);
    free(ws);
    c->watch = NULL;
}
