/*
 * The install authorization (spec 3.5, 8): at most one machine installs at
 * a time. The token is the key locks/install = {"mac", "query", "granted"},
 * bound to a lease of the configured TTL, taken in ONE Txn with the
 * machine's state (os_installation_granted / _denied). Unlike the original
 * (quirk 2) the check-and-set is atomic, and the install report releases the
 * token at once (model/machine_ops.h) instead of waiting for the TTL.
 *
 * The caller grants the lease first (etcd_lease_grant) and passes its id;
 * when done() reports that the lease was not used (denied, or already
 * held by this machine), the caller revokes it.
 */
#ifndef MODEL_INSTALL_LOCK_H
#define MODEL_INSTALL_LOCK_H

#include <stdbool.h>

#include "model/mac_op.h"

typedef struct model_install_lock_op_s {
    model_mac_op_t mop; /* first; mop.data is the caller's */
    int64_t lease;      /* the lease for a new token; 0 = no lock, always granted */
    const char *query;  /* the raw query, kept as the holder's description */
    /* Results, valid in done() when err == 0. */
    bool granted;
    bool lease_used;
    char holder[512]; /* the holder's raw query when denied */
    void (*done)(struct model_install_lock_op_s *op, int err, int64_t revision);
} model_install_lock_op_t;

int model_install_lock_op_start(model_store_t *st, model_install_lock_op_t *op, const char *mac,
                                void (*done)(model_install_lock_op_t *op, int err,
                                             int64_t revision));

#endif
