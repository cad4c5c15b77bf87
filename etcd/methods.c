/* Full method paths of etcd's gRPC API and their response types. */
#include "etcd/internal.h"

#define METHOD(var, path, resp, mut) const etcd_method_t var = {path, &resp##__descriptor, mut}

METHOD(etcd_m_range, "/etcdserverpb.KV/Range", etcdserverpb__range_response, false);
METHOD(etcd_m_put, "/etcdserverpb.KV/Put", etcdserverpb__put_response, true);
METHOD(etcd_m_delete, "/etcdserverpb.KV/DeleteRange", etcdserverpb__delete_range_response, true);
METHOD(etcd_m_txn, "/etcdserverpb.KV/Txn", etcdserverpb__txn_response, true);
METHOD(etcd_m_compact, "/etcdserverpb.KV/Compact", etcdserverpb__compaction_response, true);
METHOD(etcd_m_lease_grant, "/etcdserverpb.Lease/LeaseGrant", etcdserverpb__lease_grant_response,
       false);
METHOD(etcd_m_lease_revoke, "/etcdserverpb.Lease/LeaseRevoke", etcdserverpb__lease_revoke_response,
       false);
METHOD(etcd_m_lease_ttl, "/etcdserverpb.Lease/LeaseTimeToLive",
       etcdserverpb__lease_time_to_live_response, false);
METHOD(etcd_m_lease_leases, "/etcdserverpb.Lease/LeaseLeases", etcdserverpb__lease_leases_response,
       false);
METHOD(etcd_m_status, "/etcdserverpb.Maintenance/Status", etcdserverpb__status_response, false);
METHOD(etcd_m_authenticate, "/etcdserverpb.Auth/Authenticate", etcdserverpb__authenticate_response,
       false);

const char etcd_path_watch[] = "/etcdserverpb.Watch/Watch";
const char etcd_path_keepalive[] = "/etcdserverpb.Lease/LeaseKeepAlive";
const char etcd_path_snapshot[] = "/etcdserverpb.Maintenance/Snapshot";
