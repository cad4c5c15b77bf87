/* gRPC / etcd statuses to negative errno, and their descriptions. */
#include <errno.h>
#include <string.h>

#include "etcd/internal.h"

int etcd_status_to_errno(grpc_status_code st, const char *msg)
{
    switch (st) {
    case GRPC_STATUS_OK:
        return 0;
    case GRPC_STATUS_CANCELLED:
        return -ECANCELED;
    case GRPC_STATUS_DEADLINE_EXCEEDED:
        return -ETIMEDOUT;
    case GRPC_STATUS_UNAVAILABLE:
        return -ENOTCONN;
    case GRPC_STATUS_OUT_OF_RANGE:
        /* etcd uses OUT_OF_RANGE for both compacted and future revisions. */
        return msg && strstr(msg, "compacted") ? -ESTALE : -ERANGE;
    case GRPC_STATUS_NOT_FOUND:
        return -ENOENT;
    case GRPC_STATUS_UNAUTHENTICATED:
        return -EACCES;
    case GRPC_STATUS_PERMISSION_DENIED:
        return -EPERM;
    case GRPC_STATUS_INVALID_ARGUMENT:
        /* etcd reports bad credentials as INVALID_ARGUMENT. */
        if (msg && (strstr(msg, "authentication failed") || strstr(msg, "user name is empty")))
            return -EACCES;
        return -EINVAL;
    case GRPC_STATUS_FAILED_PRECONDITION:
        return -EINVAL;
    case GRPC_STATUS_RESOURCE_EXHAUSTED:
        return -ENOSPC;
    case GRPC_STATUS_UNIMPLEMENTED:
        return -ENOSYS;
    case GRPC_STATUS_ALREADY_EXISTS:
        return -EEXIST;
    default:
        return -EIO;
    }
}

const char *etcd_strerror(int err)
{
    switch (err) {
    case 0:
        return "success";
    case -ENOTCONN:
        return "etcd unavailable: no endpoint answered";
    case -ETIMEDOUT:
        return "etcd request deadline exceeded";
    case -ECANCELED:
        return "request cancelled";
    case -ESTALE:
        return "revision compacted: relist and watch from the current revision";
    case -ERANGE:
        return "revision in the future";
    case -ENOENT:
        return "not found (lease expired or revoked?)";
    case -EACCES:
        return "etcd authentication failed";
    case -EPERM:
        return "etcd permission denied";
    case -EINVAL:
        return "request rejected by etcd";
    case -ENOSPC:
        return "etcd quota or message size exceeded";
    case -ENOSYS:
        return "method not implemented by this etcd";
    case -ENOMEM:
        return "out of memory";
    default:
        return err < 0 ? strerror(-err) : "unknown error";
    }
}
