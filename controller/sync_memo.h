/*
 * What the matchbox sync remembers between passes, per scheduled machine,
 * so that a pass over thousands of machines decodes, renders and reads
 * back only what changed:
 *   - the facts the generator reads (model_sync_facts_t), with the mod
 *     revision of machines/<uuid> they were taken from;
 *   - the roles, allocation and shared-values digest its group was last
 *     generated for;
 *   - whether the group file on disk holds that text, as of a size and
 *     mtime (the text itself is not kept: 4 KiB a machine).
 * Entries are sorted by boot MAC, one per machine the sync can consider (a
 * schedule of one of the two role sets and known facts). A full pass
 * builds the next memo in MAC order, carrying each machine's entry over
 * from the previous one (what is not carried goes with it); between full
 * passes, entries are updated, inserted and removed one MAC at a time.
 */
#ifndef ENJ_SYNC_MEMO_H
#define ENJ_SYNC_MEMO_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>

#include "model/matchbox_gen.h"

typedef struct sync_memo_entry_s {
    char mac[MODEL_MAC_LEN + 1];
    bool carried; /* moved to the next memo (its pointers now belong there) */
    bool touched; /* read from the cache again since the last plan */
    int64_t rev;  /* machines/<uuid> mod revision the facts come from; 0: none */
    model_sync_facts_t facts;
    unsigned sched_roles; /* its schedule (a MODEL_SYNC_ROLES_* set) */
    uint32_t rec_start;   /* its allocation record: pod range start, 0: none */
    uint32_t rec_end;
    unsigned rec_slot;  /* 1 + name index when recorded for sched_roles, 0: none */
    int64_t gen_rev;    /* facts revision its group was last generated from */
    unsigned roles;     /* the roles it was generated for */
    uint32_t pod_start; /* likewise */
    unsigned name_index;
    uint64_t digest; /* likewise: model_sync_files_t.digest */
    bool on_disk;    /* the file holds that group, while its size and mtime are these */
    off_t size;
    struct timespec mtime;
} sync_memo_entry_t;

typedef struct sync_memo_s {
    sync_memo_entry_t *v;
    size_t n, cap;
    uint64_t digest; /* model_sync_files_t.digest of the last generation */
} sync_memo_t;

/* The entry of mac, or NULL. */
sync_memo_entry_t *sync_memo_find(const sync_memo_t *m, const char *mac);

/* Appends the entry of mac to next (MAC order: callers append in order),
 * moved from prev when there (carried), else empty. NULL on -ENOMEM. The
 * pointer is valid until the next append. */
sync_memo_entry_t *sync_memo_carry(sync_memo_t *prev, sync_memo_t *next, const char *mac);

/* The entry of mac, inserted (zeroed but for the MAC) where it belongs
 * when absent. NULL on -ENOMEM. Valid until the next insert or remove. */
sync_memo_entry_t *sync_memo_upsert(sync_memo_t *m, const char *mac);

/* Removes the entry of mac, if any. */
void sync_memo_remove(sync_memo_t *m, const char *mac);

/* Frees m and empties it. */
void sync_memo_free(sync_memo_t *m);

#endif
