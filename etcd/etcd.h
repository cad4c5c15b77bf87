/* The etcd v3 client library: include this for everything. */
#ifndef ETCD_ETCD_H
#define ETCD_ETCD_H

#include "etcd/client.h"
#include "etcd/kv.h"
#include "etcd/lease.h"
#include "etcd/watch.h"
#include "etcd/maint.h"
#include "etcd/mirror.h"
#include "etcd/session.h"
#include "etcd/election.h"
#include "etcd/mutex.h"
#include "etcd/semaphore.h"

#endif
