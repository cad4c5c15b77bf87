/*
 * "enjoliverctl backup [DIR]": Backups.Create. The server always keeps the
 * snapshot in its backup directory; with DIR the bytes are streamed back
 * and kept here too, written the way a crash cannot leave half a file under
 * the final name: a temporary file in DIR, fsync, rename, fsync of DIR.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "ctl.h"
#include "enjoliver/v1/enjoliver.pb-c.h"
#include "machine_view.h"
#include "pbjson.h"

#define PATH "/enjoliver.v1.Backups/Create"

struct download {
    const char *dir;
    char *tmp; /* the temporary file, NULL once renamed or removed */
    int fd;
    unsigned long long bytes;
    int reported; /* a failure was already printed */
};

static void help(FILE *out)
{
    fputs("Usage: enjoliverctl backup [DIR]\n"
          "\n"
          "Takes an etcd snapshot (Backups.Create, as POST /backup/db does). An admin\n"
          "call: needs --token-file when enjoliverd has an admin token. One backup runs\n"
          "at a time cluster-wide: another one in progress gives ABORTED.\n"
          "\n"
          "  without DIR  the snapshot stays in the server's --backup-dir; prints its\n"
          "               path there, its size and the etcd revision it was taken at\n"
          "  with DIR     the snapshot is also downloaded into DIR (which must exist) as\n"
          "               DIR/enjoliver-<revision>.db, written to a temporary file that\n"
          "               is synced and renamed once its size matches the server's;\n"
          "               prints the local path (-o json/yaml: every field, local_path\n"
          "               included)\n"
          "\n"
          "--timeout bounds the whole transfer: raise it for a big database.\n"
          "\n",
          out);
    help_global_flags(out);
}

static int write_all(int fd, const uint8_t *p, size_t n)
{
    while (n > 0) {
        ssize_t w = write(fd, p, n);

        if (w < 0 && errno == EINTR)
            continue;
        if (w < 0)
            return -errno;
        p += w;
        n -= (size_t)w;
    }
    return 0;
}

static int download_start(struct download *d)
{
    if (asprintf(&d->tmp, "%s/.enjoliver-backup-XXXXXX", d->dir) < 0) {
        d->tmp = NULL;
        return -ENOMEM;
    }
    if ((d->fd = mkstemp(d->tmp)) < 0) {
        int err = -errno;
        free(d->tmp);
        d->tmp = NULL;
        return err;
    }
    return 0;
}

/* Removes what is left of a download that did not complete. */
static void download_abort(struct download *d)
{
    if (d->fd >= 0)
        close(d->fd);
    d->fd = -1;
    if (d->tmp != NULL)
        unlink(d->tmp);
    free(d->tmp);
    d->tmp = NULL;
}

static int fsync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY);
    int rc = 0;

    if (fd < 0)
        return -errno;
    if (fsync(fd) < 0)
        rc = -errno;
    close(fd);
    return rc;
}

/* Syncs the temporary file and gives it its final name (*path, malloc'd). */
static int download_commit(struct download *d, long long revision, char **path)
{
    int rc = 0;

    if (asprintf(path, "%s/enjoliver-%lld.db", d->dir, revision) < 0) {
        *path = NULL;
        return ctl_error("out of memory");
    }
    if (fsync(d->fd) < 0 || close(d->fd) < 0) {
        d->fd = -1;
        rc = ctl_error("backup: %s: %s", d->tmp, strerror(errno));
    }
    d->fd = -1;
    if (rc == 0 && rename(d->tmp, *path) < 0)
        rc = ctl_error("backup: rename %s to %s: %s", d->tmp, *path, strerror(errno));
    if (rc == 0 && (rc = fsync_dir(d->dir)) < 0)
        rc = ctl_error("backup: fsync %s: %s", d->dir, strerror(-rc));
    if (rc == 0) {
        free(d->tmp);
        d->tmp = NULL;
    }
    return rc;
}

/* Reads the stream: the info first, then (downloading) the data. Returns
 * the info (to free) or NULL after printing why. */
static Enjoliver__V1__BackupChunk *receive(struct rpc_stream *s, struct download *d)
{
    Enjoliver__V1__BackupChunk *first = NULL;
    ProtobufCMessage *msg;
    int rc, err;

    while ((rc = rpc_stream_next(s, &msg, &ctl_stop)) == 1) {
        Enjoliver__V1__BackupChunk *c = (Enjoliver__V1__BackupChunk *)msg;

        if (first == NULL) {
            if (c->info == NULL) {
                protobuf_c_message_free_unpacked(msg, NULL);
                d->reported = ctl_error("backup: the server's first message has no info");
                return NULL;
            }
            first = c;
            continue;
        }
        err = d->dir != NULL ? write_all(d->fd, c->data.data, c->data.len) : 0;
        d->bytes += c->data.len;
        protobuf_c_message_free_unpacked(msg, NULL);
        if (err < 0) {
            d->reported = ctl_error("backup: writing %s: %s", d->tmp, strerror(-err));
            break;
        }
    }
    if (rc == -EINTR)
        d->reported = ctl_error("backup: interrupted");
    else if (rc < 0)
        d->reported = ctl_error("backup: the server sent something that is not a BackupChunk");
    if (rc != 0 && first != NULL) {
        protobuf_c_message_free_unpacked(&first->base, NULL);
        first = NULL;
    }
    return first;
}

static int print_result(const struct ctl *ctl, const Enjoliver__V1__BackupInfo *info,
                        const char *local)
{
    char size[32];
    json_t *j;

    if (ctl->out != OUT_TABLE) {
        j = pbjson_message(&info->base);
        if (j != NULL && local != NULL)
            json_object_set_new(j, "local_path", json_string(local));
        return ctl_emit(ctl, j);
    }
    if (local != NULL) {
        printf("%s\n", local);
    } else {
        printf("path:      %s\n", info->path);
        printf("size:      %llu bytes (%s)\n", (unsigned long long)info->size_bytes,
               human_bytes(info->size_bytes, size, sizeof size));
        printf("revision:  %lld\n", (long long)info->revision);
    }
    return fflush(stdout) == EOF ? ctl_error("cannot write the output") : EXIT_OK;
}

/* After the stream: its status, the byte count, then the file's final name. */
static int conclude(struct ctl *ctl, struct rpc_stream *s, Enjoliver__V1__BackupChunk *first,
                    struct download *d)
{
    struct rpc_status st = {0};
    char *local = NULL;
    int rc = EXIT_OK;

    if (rpc_stream_finish(s, &st) < 0 && !d->reported)
        rc = ctl_rpc_error(&st, "backup");
    else if (first == NULL && !d->reported)
        rc = ctl_error("backup: the stream ended without the backup's info");
    rpc_status_clear(&st);
    if (first == NULL)
        return EXIT_FAIL;
    if (rc == EXIT_OK && d->dir != NULL && d->bytes != first->info->size_bytes)
        rc = ctl_error("backup: received %llu bytes, the server announced %llu", d->bytes,
                       (unsigned long long)first->info->size_bytes);
    if (rc == EXIT_OK && d->dir != NULL)
        rc = download_commit(d, (long long)first->info->revision, &local);
    if (rc == EXIT_OK)
        rc = print_result(ctl, first->info, local);
    free(local);
    protobuf_c_message_free_unpacked(&first->base, NULL);
    return rc;
}

static int backup(struct ctl *ctl, const char *dir)
{
    Enjoliver__V1__CreateBackupRequest req = ENJOLIVER__V1__CREATE_BACKUP_REQUEST__INIT;
    struct download d = {.dir = dir, .fd = -1};
    Enjoliver__V1__BackupChunk *first;
    struct rpc_stream *s;
    int rc;

    if (dir != NULL && (rc = download_start(&d)) < 0)
        return ctl_error("backup: cannot create a file in %s: %s", dir, strerror(-rc));
    if ((rc = ctl_connect(ctl)) != EXIT_OK) {
        download_abort(&d);
        return rc;
    }
    req.download = dir != NULL;
    if (rpc_stream_open(ctl->conn, PATH, &req.base, &enjoliver__v1__backup_chunk__descriptor, 1,
                        &s) < 0) {
        download_abort(&d);
        return ctl_error("backup: cannot start the call");
    }
    first = receive(s, &d);
    rc = conclude(ctl, s, first, &d);
    download_abort(&d);
    return rc;
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    struct stat sb;
    int first, rc;

    rc = ctl_parse(ctl, &CMD_BACKUP, argc, argv, NULL, NULL, NULL, &first);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (argc - first > 1)
        return ctl_usage_error("backup", "backup takes at most one directory");
    if (argc - first == 1 && (stat(argv[first], &sb) < 0 || !S_ISDIR(sb.st_mode)))
        return ctl_error("backup: %s is not a directory", argv[first]);
    /* Interrupted, the temporary file is removed rather than left behind. */
    ctl_catch_stop_signals();
    return backup(ctl, argc - first == 1 ? argv[first] : NULL);
}

const struct ctl_cmd CMD_BACKUP = {
    .name = "backup",
    .summary = "take an etcd snapshot, and download it into DIR (admin)",
    .run = run,
    .help = help,
};
