/*
 * etcd watches, multiplexed on one bidirectional Watch stream per client.
 *
 * A watcher delivers events in revision order, exactly once: the client
 * remembers the last revision it delivered and, when the stream breaks (etcd
 * restarted, endpoint failed over), re-creates every watcher from that
 * revision + 1 on a new stream. Fragmented responses are reassembled before
 * delivery.
 */
#ifndef ETCD_WATCH_H
#define ETCD_WATCH_H

#include "etcd/client.h"

typedef struct etcd_watch_s etcd_watch_t;

typedef struct etcd_watch_opts_s {
    const void *key;
    size_t key_len;
    int prefix;            /* watch every key starting with key */
    const void *range_end; /* explicit range end (overrides prefix) */
    size_t range_end_len;
    int64_t start_revision; /* 0 = from now */
    int prev_kv;
    int progress_notify;
} etcd_watch_opts_t;

/*
 * Called for every batch of events (n_events > 0), for progress notifications
 * (n_events == 0, revision = the store's revision), and once at the end with
 * err != 0:
 *   -ESTALE     start revision compacted; compact_revision says the oldest
 *               revision still available: relist and watch again from there
 *   -ECANCELED  the client is closing or etcd cancelled the watch
 * After a callback with err != 0 the watch is finished; the caller still
 * frees it with etcd_watch_stop(). `revision` is the header revision. Beware:
 * a watcher catching up receives batches cut at 1000 revisions whose header
 * revision is the store's current one, with more events still to come; the
 * last event's mod_revision, not the header, says how far delivery got.
 */
typedef void (*etcd_watch_cb)(etcd_watch_t *w, int err, int64_t revision, int64_t compact_revision,
                              Mvccpb__Event *const *events, size_t n_events, void *data);

int etcd_watch_start(etcd_client_t *c, const etcd_watch_opts_t *opts, etcd_watch_cb cb, void *data,
                     etcd_watch_t **out);
/* Cancels the watcher and frees it; its callback never runs again. */
void etcd_watch_stop(etcd_watch_t *w);
/* The revision of the last delivered event or progress notification. */
int64_t etcd_watch_revision(const etcd_watch_t *w);

#endif
