/*
 * Failover on the first request of a client, when that request is a write.
 *
 * A client configured with [dead port, live etcd] must succeed on every
 * request. When its very first request is a Put (or Txn, DeleteRange), the
 * library tries the dead endpoint, gets UNAVAILABLE ("failed to connect to
 * all addresses": the request never left the client) and does not retry the
 * mutation on the live endpoint, so the write fails with -ENOTCONN although
 * a live endpoint was configured and retrying was safe.
 */
#include "etcd_test.h"

int main(void)
{
    etcd_server_t *srv = t_server_start(NULL);
    char dead[64];
    snprintf(dead, sizeof(dead), "127.0.0.1:%u", t_dead_port());
    const char *eps[] = {dead, etcd_server_endpoint(srv)};

    /* Put, Txn and DeleteRange, each as the first request of a new client. */
    for (int kind = 0; kind < 3; kind++) {
        etcd_sync_t *s = t_client_ex(eps, 2, 1000, NULL, NULL);
        int err;
        if (kind == 0) {
            err = etcd_sync_put(s, "fw/k", 4, "v", 1, 0, NULL);
        } else if (kind == 1) {
            etcd_txn_t *t = etcd_txn_new();
            CHECK(t != NULL);
            CHECK_OK(etcd_txn_put(t, ETCD_TXN_SUCCESS, "fw/t", 4, "v", 1, 0));
            Etcdserverpb__TxnResponse *r = NULL;
            err = etcd_sync_txn(s, etcd_txn_request(t), &r);
            etcd_response_free(r);
            etcd_txn_free(t);
        } else {
            err = etcd_sync_delete(s, "fw/k", 4, 0, NULL);
        }
        CHECKF(err == 0, "%s as the first request via [dead, live] returned %d (%s): %s",
               kind == 0   ? "put"
               : kind == 1 ? "txn"
                           : "delete",
               err, etcd_strerror(err), etcd_sync_error(s));
        t_client_free(s);
    }
    t_server_free(srv);
    t_log("test_failover_write: all passed");
    return 0;
}
