/*
 * The mutex is an election whose candidates carry no value: holding the
 * lock is leading. One implementation of the waiting queue serves both.
 */
#include <errno.h>
#include <stdlib.h>

#include "etcd/election.h"
#include "etcd/mutex.h"

struct etcd_mutex_s {
    etcd_election_t *e;
    etcd_mutex_cb cb;
    void *data;
};

static void elected(etcd_election_t *e, int err, void *data)
{
    etcd_mutex_t *m = data;
    (void)e;
    m->cb(m, err, m->data);
}

int etcd_mutex_new(etcd_session_t *s, const char *prefix, etcd_mutex_t **out)
{
    if (!out)
        return -EINVAL;
    etcd_mutex_t *m = calloc(1, sizeof(*m));
    if (!m)
        return -ENOMEM;
    int err = etcd_election_new(s, prefix, &m->e);
    if (err < 0) {
        free(m);
        return err;
    }
    *out = m;
    return 0;
}

int etcd_mutex_lock(etcd_mutex_t *m, etcd_mutex_cb cb, void *data)
{
    if (!m || !cb)
        return -EINVAL;
    m->cb = cb;
    m->data = data;
    return etcd_election_campaign(m->e, "", 0, elected, m);
}

int etcd_mutex_unlock(etcd_mutex_t *m, etcd_cb cb, void *data)
{
    return m ? etcd_election_resign(m->e, cb, data) : -EINVAL;
}

int etcd_mutex_is_held(const etcd_mutex_t *m)
{
    return etcd_election_is_leader(m->e);
}

const char *etcd_mutex_key(const etcd_mutex_t *m)
{
    return etcd_election_key(m->e);
}

int64_t etcd_mutex_rev(const etcd_mutex_t *m)
{
    return etcd_election_rev(m->e);
}

int etcd_mutex_fence(const etcd_mutex_t *m, etcd_txn_t *t)
{
    return m ? etcd_election_fence(m->e, t) : -EINVAL;
}

void etcd_mutex_free(etcd_mutex_t *m)
{
    if (!m)
        return;
    etcd_election_free(m->e);
    free(m);
}
