/* Private to etcd/: shared between the library's files, never installed. */
#ifndef ETCD_INTERNAL_H
#define ETCD_INTERNAL_H

#include <grpc/grpc.h>
#include <grpc/byte_buffer_reader.h>
#include <stdbool.h>

#include "common/rpc_loop.h"
#include "etcd/client.h"
#include "etcd/lease.h"
#include "etcd/watch.h"

/* Intrusive doubly-linked list. */
typedef struct etcd_list_s {
    struct etcd_list_s *prev, *next;
} etcd_list_t;

static inline void etcd_list_init(etcd_list_t *l)
{
    l->prev = l->next = l;
}
static inline bool etcd_list_empty(const etcd_list_t *l)
{
    return l->next == l;
}
static inline void etcd_list_add_tail(etcd_list_t *head, etcd_list_t *n)
{
    n->prev = head->prev;
    n->next = head;
    head->prev->next = n;
    head->prev = n;
}
static inline void etcd_list_del(etcd_list_t *n)
{
    n->prev->next = n->next;
    n->next->prev = n->prev;
    n->prev = n->next = n;
}
#define etcd_container_of(ptr, type, member) ((type *)((char *)(ptr)-offsetof(type, member)))

/* The completion-queue thread and its hand-off to the loop: common/rpc_loop.h. */
typedef rpc_tag_t etcd_tag_t;
typedef rpc_loop_t etcd_cq_t;

/* A method of etcd's API: full path and response type. */
typedef struct etcd_method_s {
    const char *path;
    const ProtobufCMessageDescriptor *response;
    bool mutation;
} etcd_method_t;

extern const etcd_method_t etcd_m_range, etcd_m_put, etcd_m_delete, etcd_m_txn, etcd_m_compact,
    etcd_m_lease_grant, etcd_m_lease_revoke, etcd_m_lease_ttl, etcd_m_lease_leases, etcd_m_status,
    etcd_m_authenticate;
extern const char etcd_path_watch[], etcd_path_keepalive[], etcd_path_snapshot[];

/* Something that must wait for an auth token before it can start. */
typedef struct etcd_waiter_s etcd_waiter_t;
struct etcd_waiter_s {
    etcd_list_t link;
    /* err != 0: the client could not get a token or is closing. */
    void (*ready)(etcd_waiter_t *w, int err, const char *msg);
};

typedef struct etcd_watch_stream_s etcd_watch_stream_t;
typedef struct etcd_lease_stream_s etcd_lease_stream_t;

struct etcd_client_s {
    uv_loop_t *loop;
    etcd_cq_t *cq;
    char **endpoints;
    grpc_channel **channels; /* one per endpoint, created on first use */
    size_t n_endpoints;
    size_t current;
    grpc_channel_credentials *creds;
    char *user, *password, *token;
    bool authenticating;
    etcd_list_t auth_waiters;
    unsigned timeout_ms, backoff_min_ms, backoff_max_ms;
    etcd_list_t calls; /* unary calls in progress */
    etcd_list_t streams;
    etcd_watch_stream_t *watch;
    etcd_lease_stream_t *lease;
    bool closing;
    void (*close_done)(void *);
    void *close_data;
    etcd_method_stats_t stats[ETCD_STATS_METHODS]; /* by first use */
    size_t n_stats;
};

/* unary.c: counts a finished call of m that took ns. */
void etcd_stats_record(etcd_client_t *c, const etcd_method_t *m, int err, uint64_t ns);

/* client.c */
grpc_channel *etcd_client_channel(etcd_client_t *c, size_t *endpoint);
/* Moves to the next endpoint if `failed` is still the current one. */
void etcd_client_failover(etcd_client_t *c, size_t failed);
uint64_t etcd_backoff_ms(const etcd_client_t *c, unsigned attempt);
/* Calls w->ready now if no token is needed or known, else after auth. */
void etcd_client_need_token(etcd_client_t *c, etcd_waiter_t *w);
/* A call failed with UNAUTHENTICATED: forget the token. */
void etcd_client_token_invalid(etcd_client_t *c);
/* Fills md with the token, returns how many entries (0 or 1). */
size_t etcd_client_token_md(etcd_client_t *c, grpc_metadata *md);
void etcd_client_maybe_closed(etcd_client_t *c);

/* error.c */
int etcd_status_to_errno(grpc_status_code st, const char *msg);

/* unary.c */
int etcd_unary(etcd_client_t *c, const etcd_method_t *m, const ProtobufCMessage *req,
               const etcd_call_opts_t *opts, etcd_cb cb, void *data);
void etcd_unary_cancel_all(etcd_client_t *c);

/*
 * stream.c: one gRPC streaming call. The owner sends messages, receives raw
 * messages through on_message, and learns the end through on_closed, after
 * which the stream is freed. Cancel ends it early (on_closed still runs).
 */
typedef struct etcd_stream_s etcd_stream_t;
typedef struct etcd_stream_ops_s {
    void (*on_message)(etcd_stream_t *st, grpc_byte_buffer *bb, void *owner);
    void (*on_closed)(etcd_stream_t *st, int err, const char *msg, void *owner);
} etcd_stream_ops_t;
/* `first` (may be NULL) is queued before the call starts, followed by a
 * half-close when half_close is set: for server-streaming calls, where the
 * stream may already be gone when this returns. */
int etcd_stream_open(etcd_client_t *c, const char *path, unsigned timeout_ms,
                     const etcd_stream_ops_t *ops, void *owner, const ProtobufCMessage *first,
                     bool half_close, etcd_stream_t **out);
int etcd_stream_send(etcd_stream_t *st, const ProtobufCMessage *m);
int etcd_stream_close_send(etcd_stream_t *st);
void etcd_stream_cancel(etcd_stream_t *st);
/* The owner goes away: no more callbacks; the stream cancels and frees itself. */
void etcd_stream_detach(etcd_stream_t *st);
size_t etcd_stream_endpoint(const etcd_stream_t *st);
void etcd_stream_cancel_all(etcd_client_t *c);

/* watch.c / lease.c: client close hooks */
void etcd_watch_client_close(etcd_client_t *c);
void etcd_lease_client_close(etcd_client_t *c);

uint64_t etcd_now_ms(etcd_client_t *c);

#endif
