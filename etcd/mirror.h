/*
 * Mirror: an in-memory copy of every key under a prefix, kept up to date by a
 * watch (the "informer" / reflector of Kubernetes' client-go).
 *
 *   1. List: the prefix is read page by page (Range with a limit), every page
 *      at the revision R of the first one, so the pages form one consistent
 *      snapshot at R.
 *   2. Watch from R + 1 (with progress notifications) and apply every batch
 *      of events in revision order.
 *   3. When the watch cannot continue (its start revision was compacted:
 *      -ESTALE, or it ended with any other error), list again at a new
 *      revision R', report the difference between the mirror and that list
 *      as changes, and watch from R' + 1. Nothing is lost, nothing is applied
 *      or reported twice: a key's reported revisions strictly increase.
 *
 * A list that fails (etcd unreachable at start, a compaction between pages,
 * ...) is retried with the client's jittered exponential backoff, for ever;
 * each failure is reported through on_error. The watch itself already rides
 * over reconnects (see etcd/watch.h) without relisting.
 *
 * Threading and ownership: like the rest of the library, the mirror lives on
 * the client's loop; every callback runs on the loop thread and no function
 * may be called from another thread. The mirror owns its entries (keys,
 * values, metadata). It must be stopped with etcd_mirror_stop() before its
 * client is closed.
 *
 * Revision: etcd_mirror_revision() is R after a list; after each applied
 * watch batch it is the batch's header revision, and progress notifications
 * advance it too (etcd's --experimental-watch-progress-notify-interval sets
 * their rate, 10 min by default). The mirror's contents are those of the
 * store at that revision, restricted to the prefix. Exception: a batch that
 * etcd may have cut short (1000 revisions, etcd's watchBatchMaxRevs) only
 * moves the revision to its last event, since etcd gives such a batch the
 * store's current revision although more events follow.
 *
 * Read-your-writes: after a write answered at revision W, etcd_mirror_wait()
 * with W calls back once the mirror includes that write.
 *
 * Errors are negative errno values (see etcd/client.h).
 */
#ifndef ETCD_MIRROR_H
#define ETCD_MIRROR_H

#include "etcd/client.h"

typedef struct etcd_mirror_s etcd_mirror_t;

/*
 * One key of the mirror. Read-only, owned by the mirror. key and value are
 * each followed by a NUL byte that is not counted in their length (handy for
 * text), but may contain NUL bytes themselves.
 *
 * Lifetime: a pointer handed out by etcd_mirror_get(), etcd_mirror_foreach_prefix()
 * or a callback stays valid until control returns to the loop (the next
 * watch batch or list may replace or free the entry) or until
 * etcd_mirror_stop(); the `prev` of an event only during that on_change
 * call. Copy what must live longer.
 */
typedef struct etcd_mirror_entry_s {
    const uint8_t *key;
    size_t key_len;
    const uint8_t *value;
    size_t value_len;
    int64_t create_revision;
    int64_t mod_revision;
    int64_t version;
    int64_t lease;
} etcd_mirror_entry_t;

typedef enum { ETCD_MIRROR_PUT = 0, ETCD_MIRROR_DELETE = 1 } etcd_mirror_event_type_t;

/* One change of one key, as passed to on_change. */
typedef struct etcd_mirror_event_s {
    etcd_mirror_event_type_t type;
    const uint8_t *key; /* always set; key_len bytes (NUL-terminated) */
    size_t key_len;
    /* PUT: the new entry (== etcd_mirror_get(key) during the callback).
     * DELETE: NULL. */
    const etcd_mirror_entry_t *entry;
    /* The entry before the change: NULL for a PUT of a key the mirror did
     * not have; for a DELETE, the removed entry (never NULL). */
    const etcd_mirror_entry_t *prev;
    /* The revision of the change: a PUT's entry->mod_revision; a DELETE's
     * revision from the watch, or, for a delete found by a list, the list's
     * revision (the key was deleted at or before it). */
    int64_t revision;
    /* Non-zero when the change was found by a list (the initial one, where
     * every key is a PUT, or a relist) rather than received from the watch. */
    int from_list;
} etcd_mirror_event_t;

/* Callbacks; any may be NULL. All run on the loop thread; none runs after
 * etcd_mirror_stop(). Any of them may call etcd_mirror_stop(). */
typedef struct etcd_mirror_callbacks_s {
    /*
     * One key changed. Watch batches are reported event by event in revision
     * order (events of one revision in etcd's order); a list's difference
     * as the deletes (in no particular order) then the puts (by mod
     * revision). During the callback, the mirror already contains this
     * change and those reported before it; etcd_mirror_revision() moves once
     * the whole batch or list is applied.
     */
    void (*on_change)(etcd_mirror_t *m, const etcd_mirror_event_t *ev, void *data);
    /* A list (the initial one, or a relist) is applied: the mirror equals the
     * prefix at `revision`. After the first call, etcd_mirror_synced() is
     * true. */
    void (*on_synced)(etcd_mirror_t *m, int64_t revision, void *data);
    /* Something failed and is being retried or repaired: a list page failed
     * (then retried after a backoff), the watch ended (-ESTALE: compacted,
     * then a relist), memory ran out (relist later). -ECANCELED when the
     * client is closing: the mirror then gives up, waiting to be stopped.
     * Informational; the mirror carries on by itself. */
    void (*on_error)(etcd_mirror_t *m, int err, const char *message, void *data);
} etcd_mirror_callbacks_t;

typedef struct etcd_mirror_opts_s {
    const void *prefix; /* every key starting with it; copied */
    size_t prefix_len;  /* 0 = the whole keyspace */
    unsigned page_size; /* keys per Range page; 0 = 1000 */
} etcd_mirror_opts_t;

/*
 * Creates a mirror; its first list starts on the next loop iteration (no
 * callback runs before this returns). `cbs` is copied; `data` is passed to
 * every callback. Returns 0 and sets *out, or -EINVAL, -ENOMEM, -ECANCELED
 * (the client is closing).
 */
int etcd_mirror_start(etcd_client_t *c, const etcd_mirror_opts_t *opts,
                      const etcd_mirror_callbacks_t *cbs, void *data, etcd_mirror_t **out);

/*
 * Stops the mirror: cancels the watch and any pending retry, calls every
 * pending waiter with -ECANCELED (before returning), and frees the mirror
 * and its entries. An answer still in flight is ignored when it arrives.
 * May be called from any mirror callback (the memory is then released when
 * the callback returns; no other callback runs). Must be called before the
 * client is closed. NULL is fine.
 */
void etcd_mirror_stop(etcd_mirror_t *m);

/* The entry of a key, or NULL. O(1) (hash table). See the lifetime above. */
const etcd_mirror_entry_t *etcd_mirror_get(const etcd_mirror_t *m, const void *key, size_t klen);

/*
 * Calls fn for every entry whose key starts with `prefix` (a full key
 * prefix, normally inside the mirror's; plen 0 = every entry), in
 * lexicographic (memcmp) key order. fn returns 0 to continue; a non-zero
 * value stops the walk and is returned. Returns 0 after a full walk,
 * -EINVAL, -ENOMEM, or -ECANCELED when called on a stopping mirror.
 *
 * Complexity: the mirror keeps a sorted array of its entries, rebuilt on
 * demand (O(n log n)) on the first walk after a key was added or removed,
 * then O(log n + k) per walk for k visited entries. Value updates keep the
 * array valid (O(log n) each).
 *
 * The mirror does not change during a walk (changes only come from the
 * loop); fn may call etcd_mirror_stop(), which ends the walk.
 */
typedef int (*etcd_mirror_visit_cb)(const etcd_mirror_entry_t *e, void *arg);
int etcd_mirror_foreach_prefix(etcd_mirror_t *m, const void *prefix, size_t plen,
                               etcd_mirror_visit_cb fn, void *arg);

/*
 * The same walk, from the first key strictly after `after` (which starts
 * with the prefix, or sorts before it): a paginated walk resumes where the
 * last page ended in O(log n).
 */
int etcd_mirror_foreach_after(etcd_mirror_t *m, const void *prefix, size_t plen, const void *after,
                              size_t alen, etcd_mirror_visit_cb fn, void *arg);

/* The revision the contents correspond to (0 before the first list). */
int64_t etcd_mirror_revision(const etcd_mirror_t *m);
/* The number of keys. */
size_t etcd_mirror_count(const etcd_mirror_t *m);
/* Non-zero once the first list is applied; it stays so during relists (the
 * contents then remain those of etcd_mirror_revision()). */
int etcd_mirror_synced(const etcd_mirror_t *m);

/*
 * Read-your-writes: calls cb(m, 0, data) as soon as etcd_mirror_revision() >=
 * revision (before returning when it already is), cb(m, -ETIMEDOUT, data)
 * after timeout_ms (0 = no timeout), or cb(m, -ECANCELED, data) from
 * etcd_mirror_stop(). Exactly one call. Any number of waiters may wait at
 * once. Returns 0, or -ENOMEM / -ECANCELED (stopping; cb never runs).
 *
 * A revision written outside the prefix is reached with the next batch of
 * the prefix or the next progress notification, whichever comes first.
 */
typedef void (*etcd_mirror_wait_cb)(etcd_mirror_t *m, int err, void *data);
int etcd_mirror_wait(etcd_mirror_t *m, int64_t revision, unsigned timeout_ms,
                     etcd_mirror_wait_cb cb, void *data);

/*
 * Test hooks: they put the mirror in states that are otherwise hard to
 * reach on demand from a test, and are not needed by applications.
 *
 * Why: the repair path (the watch's start revision compacted -> relist ->
 * difference) runs when a watch falls behind a compaction, e.g. a client
 * disconnected while others write and compact. A live watch on loopback
 * receives every event within milliseconds and etcd refuses to compact past
 * its current revision, so the window cannot be opened reliably from outside
 * without a proxy that cuts connections. These hooks open it
 * deterministically and go through the very same code as a real
 * disconnection: the watch is re-created from an old revision through
 * etcd/watch.h, etcd answers -ESTALE, the mirror relists.
 *
 * etcd_mirror_debug_suspend_watch(): stops the watch; the mirror keeps its
 * contents and revision and receives nothing until the restart below.
 * etcd_mirror_debug_restart_watch(): (re)creates the watch from
 * from_revision (0 = etcd_mirror_revision() + 1; otherwise at most that).
 * Events at or below the mirror's revision are recognised and skipped.
 * Both return 0, -EBUSY (a list is in progress), -EINVAL, -ECANCELED.
 */
int etcd_mirror_debug_suspend_watch(etcd_mirror_t *m);
int etcd_mirror_debug_restart_watch(etcd_mirror_t *m, int64_t from_revision);

#endif
