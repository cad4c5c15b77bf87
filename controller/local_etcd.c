/* The local, supervised etcd: see local_etcd.h. */
#include "local_etcd.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/log.h"

#define BACKOFF_MIN_MS 250u
#define BACKOFF_MAX_MS 30000u
#define STABLE_UPTIME_MS 60000u
#define DEFAULT_GRACE_MS 5000u
#define SELF_EXE "/proc/self/exe"

typedef struct proc_s {
    uv_process_t handle;
    local_etcd_t *owner;
} proc_t;

struct local_etcd_s {
    uv_loop_t *loop;
    char *etcd_bin;
    char *data_dir;
    char *log_path;
    uint16_t client_port;
    uint16_t peer_port;
    unsigned grace_ms;
    int use_wrapper;
    char endpoint[32];

    proc_t *proc; /* NULL when etcd does not run */
    uint64_t started_ms;
    unsigned backoff_ms;
    unsigned restarts;
    uv_timer_t restart_timer;
    uv_timer_t kill_timer;

    int stopping;
    int pending_closes;
    void (*done)(void *data);
    void *done_data;
};

static int mkdir_p(const char *path)
{
    char *copy = strdup(path);
    if (copy == NULL) {
        return -ENOMEM;
    }
    int rc = 0;
    for (char *p = copy + 1; rc == 0; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            if (mkdir(copy, 0755) != 0 && errno != EEXIST) {
                rc = -errno;
            }
            *p = saved;
            if (saved == '\0') {
                break;
            }
        }
    }
    free(copy);
    return rc;
}

/* 0 when 127.0.0.1:port can be bound now, else a negative errno. */
static int port_free(uint16_t port)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        return -errno;
    }
    int one = 1;
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one); /* as etcd does */
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    int rc = bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 ? 0 : -errno;
    close(fd);
    return rc;
}

static void log_marker(local_etcd_t *e, const char *what)
{
    FILE *f = fopen(e->log_path, "a");
    if (f == NULL) {
        return;
    }
    time_t now = time(NULL);
    struct tm tm;
    gmtime_r(&now, &tm);
    char ts[32];
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    fprintf(f, "----- enjoliverd %s at %s -----\n", what, ts);
    fclose(f);
}

static void on_exit_cb(uv_process_t *h, int64_t exit_status, int term_signal);
static void on_restart_timer(uv_timer_t *t);

/* Spawns etcd. 0 or a negative errno (logged). */
static int spawn(local_etcd_t *e)
{
    char name_arg[] = "--name=enjoliverd";
    char data_arg[4200], lc[64], ac[64], lp[64], ap[64], ic[96], ppid[24];
    snprintf(data_arg, sizeof data_arg, "--data-dir=%s", e->data_dir);
    snprintf(lc, sizeof lc, "--listen-client-urls=http://127.0.0.1:%u", e->client_port);
    snprintf(ac, sizeof ac, "--advertise-client-urls=http://127.0.0.1:%u", e->client_port);
    snprintf(lp, sizeof lp, "--listen-peer-urls=http://127.0.0.1:%u", e->peer_port);
    snprintf(ap, sizeof ap, "--initial-advertise-peer-urls=http://127.0.0.1:%u", e->peer_port);
    snprintf(ic, sizeof ic, "--initial-cluster=enjoliverd=http://127.0.0.1:%u", e->peer_port);
    snprintf(ppid, sizeof ppid, "%ld", (long)getpid());
    char *etcd_args[] = {
        e->etcd_bin,
        name_arg,
        data_arg,
        lc,
        ac,
        lp,
        ap,
        ic,
        "--initial-cluster-state=new",
        "--auto-compaction-mode=periodic",
        "--auto-compaction-retention=1h",
        "--logger=zap",
        "--log-outputs=stderr",
        NULL,
    };
    size_t n_etcd = sizeof etcd_args / sizeof etcd_args[0];
    char *args[3 + sizeof etcd_args / sizeof etcd_args[0]];
    size_t k = 0;
    if (e->use_wrapper) {
        args[k++] = SELF_EXE;
        args[k++] = LOCAL_ETCD_EXEC_FLAG;
        args[k++] = ppid;
    }
    for (size_t i = 0; i < n_etcd; i++) {
        args[k++] = etcd_args[i];
    }

    char qlog[512], qerr[128];
    int logfd = open(e->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (logfd < 0) {
        int rc = -errno;
        log_error("cannot open the local etcd's log file", "path=%s error=%s",
                  log_quote(e->log_path, qlog, sizeof qlog),
                  log_quote(strerror(-rc), qerr, sizeof qerr));
        return rc;
    }
    log_marker(e, "starting etcd");

    proc_t *p = calloc(1, sizeof *p);
    if (p == NULL) {
        close(logfd);
        return -ENOMEM;
    }
    p->owner = e;
    uv_stdio_container_t stdio[3] = {
        {.flags = UV_IGNORE},
        {.flags = UV_INHERIT_FD, .data.fd = logfd},
        {.flags = UV_INHERIT_FD, .data.fd = logfd},
    };
    uv_process_options_t opts = {
        .exit_cb = on_exit_cb,
        .file = args[0],
        .args = args,
        .flags = UV_PROCESS_DETACHED,
        .stdio_count = 3,
        .stdio = stdio,
    };
    int rc = uv_spawn(e->loop, &p->handle, &opts);
    close(logfd);
    if (rc != 0) {
        char qbin[256];
        log_error("cannot start the local etcd", "bin=%s error=%s",
                  log_quote(e->etcd_bin, qbin, sizeof qbin),
                  log_quote(uv_strerror(rc), qlog, sizeof qlog));
        /* uv_spawn failures still need the handle closed. */
        uv_close((uv_handle_t *)&p->handle, (uv_close_cb)free);
        return rc;
    }
    p->handle.data = p;
    e->proc = p;
    e->started_ms = uv_now(e->loop);
    log_info("local etcd started", "pid=%d endpoint=%s peer_port=%u log=%s", p->handle.pid,
             e->endpoint, e->peer_port, log_quote(e->log_path, qlog, sizeof qlog));
    return 0;
}

static void on_closed(uv_handle_t *h)
{
    local_etcd_t *e = h->data;
    if (--e->pending_closes == 0) {
        void (*done)(void *) = e->done;
        void *data = e->done_data;
        free(e->etcd_bin);
        free(e->data_dir);
        free(e->log_path);
        free(e);
        if (done != NULL) {
            done(data);
        }
    }
}

static void finish(local_etcd_t *e)
{
    uv_timer_stop(&e->restart_timer);
    uv_timer_stop(&e->kill_timer);
    e->pending_closes = 2;
    uv_close((uv_handle_t *)&e->restart_timer, on_closed);
    uv_close((uv_handle_t *)&e->kill_timer, on_closed);
}

static void schedule_restart(local_etcd_t *e)
{
    unsigned delay = e->backoff_ms;
    /* +-25 % jitter so that replicas on one host do not restart in step. */
    delay = delay - delay / 4 + (unsigned)(rand() % (int)(delay / 2 + 1));
    e->backoff_ms = e->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS : e->backoff_ms * 2;
    e->restarts++;
    log_warn("restarting the local etcd", "delay_ms=%u restarts=%u", delay, e->restarts);
    uv_timer_start(&e->restart_timer, on_restart_timer, delay, 0);
}

static void on_exit_cb(uv_process_t *h, int64_t exit_status, int term_signal)
{
    proc_t *p = h->data;
    local_etcd_t *e = p->owner;
    e->proc = NULL;
    int pid = h->pid;
    uv_close((uv_handle_t *)h, (uv_close_cb)free);
    uv_timer_stop(&e->kill_timer);
    char qlog[512];
    if (e->stopping) {
        log_info("local etcd stopped", "pid=%d exit_status=%lld signal=%d", pid,
                 (long long)exit_status, term_signal);
        finish(e);
        return;
    }
    uint64_t uptime = uv_now(e->loop) - e->started_ms;
    log_error("local etcd exited unexpectedly",
              "pid=%d exit_status=%lld signal=%d uptime_ms=%llu log=%s", pid,
              (long long)exit_status, term_signal, (unsigned long long)uptime,
              log_quote(e->log_path, qlog, sizeof qlog));
    if (uptime >= STABLE_UPTIME_MS) {
        e->backoff_ms = BACKOFF_MIN_MS;
    }
    schedule_restart(e);
}

static void on_restart_timer(uv_timer_t *t)
{
    local_etcd_t *e = t->data;
    if (e->stopping) {
        return;
    }
    if (spawn(e) != 0) {
        schedule_restart(e);
    }
}

static void on_kill_timer(uv_timer_t *t)
{
    local_etcd_t *e = t->data;
    if (e->proc != NULL) {
        log_warn("local etcd ignored SIGTERM; sending SIGKILL", "pid=%d grace_ms=%u",
                 e->proc->handle.pid, e->grace_ms);
        uv_process_kill(&e->proc->handle, SIGKILL);
    }
}

int local_etcd_start(uv_loop_t *loop, const local_etcd_config_t *cfg, local_etcd_t **out)
{
    *out = NULL;
    local_etcd_t *e = calloc(1, sizeof *e);
    if (e == NULL) {
        return -ENOMEM;
    }
    e->loop = loop;
    e->etcd_bin = strdup(cfg->etcd_bin);
    e->data_dir = strdup(cfg->data_dir);
    size_t dl = strlen(cfg->data_dir);
    e->log_path = malloc(dl + 5);
    if (e->etcd_bin == NULL || e->data_dir == NULL || e->log_path == NULL) {
        free(e->etcd_bin);
        free(e->data_dir);
        free(e->log_path);
        free(e);
        return -ENOMEM;
    }
    memcpy(e->log_path, cfg->data_dir, dl);
    memcpy(e->log_path + dl, ".log", 5);
    e->client_port = cfg->client_port;
    e->peer_port = cfg->peer_port;
    e->grace_ms = cfg->stop_grace_ms != 0 ? cfg->stop_grace_ms : DEFAULT_GRACE_MS;
    e->backoff_ms = BACKOFF_MIN_MS;
    e->use_wrapper = access(SELF_EXE, X_OK) == 0;
    snprintf(e->endpoint, sizeof e->endpoint, "127.0.0.1:%u", e->client_port);
    uv_timer_init(loop, &e->restart_timer);
    uv_timer_init(loop, &e->kill_timer);
    e->restart_timer.data = e;
    e->kill_timer.data = e;
    srand((unsigned)(getpid() ^ time(NULL)));

    char q[512], qerr[128];
    /* The data dir's parent; etcd creates the data dir itself (mode 0700). */
    char *copy = strdup(e->data_dir);
    int rc = copy != NULL ? mkdir_p(dirname(copy)) : -ENOMEM;
    free(copy);
    if (rc == 0 && strchr(e->etcd_bin, '/') != NULL && access(e->etcd_bin, X_OK) != 0) {
        rc = -errno;
        log_error("the etcd binary is not executable; install etcd-server or pass --etcd-bin",
                  "bin=%s error=%s", log_quote(e->etcd_bin, q, sizeof q),
                  log_quote(strerror(-rc), qerr, sizeof qerr));
    } else if (rc == 0 && (port_free(e->client_port) != 0 || port_free(e->peer_port) != 0)) {
        rc = -EADDRINUSE;
        log_error("a port of the local etcd is already in use (another etcd? a system etcd "
                  "service?); stop it, or pass --local-etcd-client-port/--local-etcd-peer-port, "
                  "or --etcd-endpoints to use an existing etcd",
                  "client_port=%u peer_port=%u", e->client_port, e->peer_port);
    } else if (rc != 0) {
        log_error("cannot create the parent of the local etcd's data directory",
                  "data_dir=%s error=%s", log_quote(e->data_dir, q, sizeof q),
                  log_quote(strerror(-rc), qerr, sizeof qerr));
    } else {
        if (!e->use_wrapper) {
            log_warn("no /proc/self/exe: the local etcd may outlive a crashed enjoliverd", "bin=%s",
                     log_quote(e->etcd_bin, q, sizeof q));
        }
        rc = spawn(e);
    }
    if (rc != 0) {
        e->stopping = 1;
        finish(e); /* frees e once the timers are closed */
        return rc;
    }
    *out = e;
    return 0;
}

void local_etcd_stop(local_etcd_t *e, void (*done)(void *data), void *data)
{
    e->stopping = 1;
    e->done = done;
    e->done_data = data;
    uv_timer_stop(&e->restart_timer);
    if (e->proc == NULL) {
        finish(e);
        return;
    }
    log_info("stopping the local etcd", "pid=%d", e->proc->handle.pid);
    uv_process_kill(&e->proc->handle, SIGTERM);
    uv_timer_start(&e->kill_timer, on_kill_timer, e->grace_ms, 0);
}

void local_etcd_kill_now(local_etcd_t *e)
{
    if (e->proc != NULL) {
        log_warn("killing the local etcd now", "pid=%d", e->proc->handle.pid);
        uv_process_kill(&e->proc->handle, SIGKILL);
    }
}

const char *local_etcd_endpoint(const local_etcd_t *e)
{
    return e->endpoint;
}

int local_etcd_exec_main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "enjoliverd: %s: missing arguments\n", LOCAL_ETCD_EXEC_FLAG);
        return 127;
    }
    char *end = NULL;
    long parent = strtol(argv[2], &end, 10);
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        fprintf(stderr, "enjoliverd: prctl(PR_SET_PDEATHSIG): %s\n", strerror(errno));
        return 127;
    }
    if (end == argv[2] || *end != '\0' || (long)getppid() != parent) {
        fprintf(stderr, "enjoliverd: the controller exited before etcd started\n");
        return 127;
    }
    execvp(argv[3], argv + 3);
    fprintf(stderr, "enjoliverd: cannot execute %s: %s\n", argv[3], strerror(errno));
    return 127;
}
