/* Test harness: a real etcd on free loopback ports. See etcd_server.h. */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "etcd_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define DEFAULT_ETCD_BIN "/usr/bin/etcd"
#define DEFAULT_START_TIMEOUT_MS 15000u
#define STOP_GRACE_MS 10000u
#define KILL_WAIT_MS 5000u
#define PORT_RETRIES 5
#define LOG_TAIL_BYTES 4096

extern char **environ;

struct etcd_server_s {
    char *tmp_dir;
    char *data_dir;
    char *log_path;
    char *etcd_bin;
    char *name;
    char **extra; /* NULL-terminated copy of opts->extra_args */
    int tls;
    char *tls_dir;        /* <tmp>/tls when tls */
    char *tls_path;       /* last etcd_server_tls_file() answer */
    uint16_t health_port; /* plain-HTTP metrics port of a TLS server, else client_port */
    unsigned start_timeout_ms;
    uint16_t client_port;
    uint16_t peer_port;
    char endpoint[32];
    char client_url[48];
    char peer_url[48];
    pid_t pid; /* -1 when not running */
    int paused;
};

/* ---- small helpers ---------------------------------------------------- */

static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void say(const char *fmt, ...)
{
    char line[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(line, sizeof line, fmt, ap);
    va_end(ap);
    fprintf(stderr, "etcd_server: %s\n", line);
}

static uint64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {.tv_sec = ms / 1000u, .tv_nsec = (long)(ms % 1000u) * 1000000L};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static char *xasprintf(const char *fmt, ...)
{
    char *out = NULL;
    va_list ap;
    va_start(ap, fmt);
    int n = vasprintf(&out, fmt, ap);
    va_end(ap);
    return n < 0 ? NULL : out;
}

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st;
    (void)flag;
    (void)ftw;
    if (remove(path) != 0 && errno != ENOENT) {
        say("cannot remove %s: %s", path, strerror(errno));
    }
    return 0;
}

static void rm_rf(const char *path)
{
    if (path != NULL) {
        nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
    }
}

/* Two distinct free ports on 127.0.0.1: bind port 0 twice (both sockets open
 * at once so the kernel cannot hand out the same port), read, close. */
static int pick_ports(uint16_t *client, uint16_t *peer, uint16_t *metrics)
{
    int fds[3] = {-1, -1, -1};
    uint16_t ports[3] = {0, 0, 0};
    int rc = 0;
    for (int i = 0; i < 3; i++) {
        struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = 0};
        sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof sa;
        fds[i] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fds[i] < 0 || bind(fds[i], (struct sockaddr *)&sa, sizeof sa) != 0 ||
            getsockname(fds[i], (struct sockaddr *)&sa, &len) != 0) {
            rc = -errno;
            say("cannot pick a free loopback port: %s", strerror(errno));
            break;
        }
        ports[i] = ntohs(sa.sin_port);
    }
    for (int i = 0; i < 3; i++) {
        if (fds[i] >= 0) {
            close(fds[i]);
        }
    }
    if (rc == 0) {
        *client = ports[0];
        *peer = ports[1];
        *metrics = ports[2];
    }
    return rc;
}

static int log_mentions(const etcd_server_t *s, const char *needle)
{
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL) {
        return 0;
    }
    char line[4096];
    int found = 0;
    while (!found && fgets(line, sizeof line, f) != NULL) {
        found = strstr(line, needle) != NULL;
    }
    fclose(f);
    return found;
}

void etcd_server_dump_log(const etcd_server_t *s, size_t max_bytes)
{
    if (s == NULL || s->log_path == NULL) {
        return;
    }
    FILE *f = fopen(s->log_path, "r");
    if (f == NULL) {
        say("no log at %s: %s", s->log_path, strerror(errno));
        return;
    }
    long start = 0;
    if (fseek(f, 0, SEEK_END) == 0) {
        long size = ftell(f);
        start = size > (long)max_bytes ? size - (long)max_bytes : 0;
    }
    fseek(f, start, SEEK_SET);
    fprintf(stderr, "----- tail of %s -----\n", s->log_path);
    char buf[1024];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
        fwrite(buf, 1, n, stderr);
    }
    fprintf(stderr, "----- end of etcd log -----\n");
    fclose(f);
}

/* ---- process control -------------------------------------------------- */

/* Reaps etcd if it exited. Returns 1 if it still runs. */
static int reap(etcd_server_t *s, int report)
{
    if (s->pid < 0) {
        return 0;
    }
    int st = 0;
    pid_t r = waitpid(s->pid, &st, WNOHANG);
    if (r == 0) {
        return 1;
    }
    if (r == s->pid && report) {
        if (WIFEXITED(st)) {
            say("etcd (pid %d) exited with status %d", (int)s->pid, WEXITSTATUS(st));
        } else if (WIFSIGNALED(st)) {
            say("etcd (pid %d) killed by signal %d", (int)s->pid, WTERMSIG(st));
        }
    }
    /* r == pid: reaped; r < 0 (ECHILD): someone else reaped it. */
    s->pid = -1;
    s->paused = 0;
    return 0;
}

/* Waits (bounded) for etcd to exit. 0 when reaped. */
static int wait_exit(etcd_server_t *s, unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (!reap(s, 0)) {
            return 0;
        }
        if (now_ms() >= deadline) {
            return -ETIMEDOUT;
        }
        sleep_ms(5);
    }
}

static char **build_argv(const etcd_server_t *s)
{
    char *fixed[] = {
        xasprintf("%s", s->etcd_bin),
        xasprintf("--name=%s", s->name),
        xasprintf("--data-dir=%s", s->data_dir),
        xasprintf("--listen-client-urls=%s", s->client_url),
        xasprintf("--advertise-client-urls=%s", s->client_url),
        xasprintf("--listen-peer-urls=%s", s->peer_url),
        xasprintf("--initial-advertise-peer-urls=%s", s->peer_url),
        xasprintf("--initial-cluster=%s=%s", s->name, s->peer_url),
        xasprintf("--initial-cluster-state=new"),
        xasprintf("--initial-cluster-token=harness-%u", (unsigned)s->peer_port),
        xasprintf("--heartbeat-interval=10"),
        xasprintf("--election-timeout=100"),
        xasprintf("--logger=zap"),
        xasprintf("--log-outputs=stderr"),
    };
    char *tls[] = {
        xasprintf("--cert-file=%s/server.pem", s->tls_dir),
        xasprintf("--key-file=%s/server.key", s->tls_dir),
        xasprintf("--trusted-ca-file=%s/ca.pem", s->tls_dir),
        xasprintf("--client-cert-auth=true"),
        xasprintf("--listen-metrics-urls=http://127.0.0.1:%u", (unsigned)s->health_port),
    };
    size_t nfixed = sizeof fixed / sizeof fixed[0];
    size_t ntls = s->tls ? sizeof tls / sizeof tls[0] : 0;
    if (!s->tls) {
        for (size_t i = 0; i < sizeof tls / sizeof tls[0]; i++) {
            free(tls[i]);
        }
    }
    size_t nextra = 0;
    while (s->extra != NULL && s->extra[nextra] != NULL) {
        nextra++;
    }
    char **argv = calloc(nfixed + ntls + nextra + 1, sizeof *argv);
    int ok = argv != NULL;
    for (size_t i = 0; i < nfixed; i++) {
        ok = ok && fixed[i] != NULL;
        if (argv != NULL) {
            argv[i] = fixed[i];
        } else {
            free(fixed[i]);
        }
    }
    for (size_t i = 0; i < ntls; i++) {
        ok = ok && tls[i] != NULL;
        if (argv != NULL) {
            argv[nfixed + i] = tls[i];
        } else {
            free(tls[i]);
        }
    }
    for (size_t i = 0; argv != NULL && i < nextra; i++) {
        argv[nfixed + ntls + i] = strdup(s->extra[i]);
        ok = ok && argv[nfixed + ntls + i] != NULL;
    }
    if (!ok && argv != NULL) {
        for (size_t i = 0; i < nfixed + ntls + nextra; i++) {
            free(argv[i]);
        }
        free(argv);
        argv = NULL;
    }
    return argv;
}

static void free_argv(char **argv)
{
    for (size_t i = 0; argv != NULL && argv[i] != NULL; i++) {
        free(argv[i]);
    }
    free(argv);
}

/* Child side of fork: only async-signal-safe calls. */
static void __attribute__((noreturn))
child_exec(char **argv, int devnull, int logfd, int errfd, pid_t parent)
{
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, NULL);
    const int sigs[] = {SIGHUP, SIGINT, SIGQUIT, SIGTERM, SIGPIPE, SIGCHLD};
    for (size_t i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
        signal(sigs[i], SIG_DFL);
    }
    int err = 0;
    if (prctl(PR_SET_PDEATHSIG, SIGKILL) != 0) {
        err = errno;
    } else if (getppid() != parent) {
        err = ESRCH; /* the test died before we got here */
    } else if (dup2(devnull, 0) < 0 || dup2(logfd, 1) < 0 || dup2(logfd, 2) < 0) {
        err = errno;
    } else {
        /* Close inherited descriptors except the CLOEXEC error pipe. */
        for (int fd = 3; fd < 1024; fd++) {
            if (fd != errfd) {
                close(fd);
            }
        }
        execve(argv[0], argv, environ);
        err = errno;
    }
    ssize_t w = write(errfd, &err, sizeof err);
    (void)w;
    _exit(127);
}

static int spawn(etcd_server_t *s)
{
    char **argv = build_argv(s);
    if (argv == NULL) {
        return -ENOMEM;
    }
    int rc = 0;
    int pipefd[2] = {-1, -1};
    int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
    int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    if (devnull < 0 || logfd < 0 || pipe2(pipefd, O_CLOEXEC) != 0) {
        rc = -errno;
        say("cannot prepare etcd's stdio (%s): %s", s->log_path, strerror(errno));
        goto out;
    }
    pid_t parent = getpid();
    pid_t pid = fork();
    if (pid < 0) {
        rc = -errno;
        say("fork: %s", strerror(errno));
        goto out;
    }
    if (pid == 0) {
        child_exec(argv, devnull, logfd, pipefd[1], parent);
    }
    close(pipefd[1]);
    pipefd[1] = -1;
    /* EOF = exec succeeded; an int = errno of the failed step. Bounded: the
     * child either execs or exits right away. */
    int child_err = 0;
    ssize_t n;
    do {
        n = read(pipefd[0], &child_err, sizeof child_err);
    } while (n < 0 && errno == EINTR);
    if (n == (ssize_t)sizeof child_err) {
        waitpid(pid, NULL, 0);
        rc = -child_err;
        say("cannot run %s: %s", s->etcd_bin, strerror(child_err));
        goto out;
    }
    s->pid = pid;
    s->paused = 0;
out:
    if (pipefd[0] >= 0) {
        close(pipefd[0]);
    }
    if (pipefd[1] >= 0) {
        close(pipefd[1]);
    }
    if (devnull >= 0) {
        close(devnull);
    }
    if (logfd >= 0) {
        close(logfd);
    }
    free_argv(argv);
    return rc;
}

/* ---- HTTP ------------------------------------------------------------- */

static int wait_fd(int fd, short events, uint64_t deadline)
{
    for (;;) {
        uint64_t now = now_ms();
        if (now >= deadline) {
            return -ETIMEDOUT;
        }
        struct pollfd p = {.fd = fd, .events = events};
        int r = poll(&p, 1, (int)(deadline - now));
        if (r > 0) {
            return 0;
        }
        if (r < 0 && errno != EINTR) {
            return -errno;
        }
    }
}

static int http_exchange(int fd, const char *req, size_t reqlen, char **resp, size_t *resplen,
                         uint64_t deadline)
{
    size_t off = 0;
    while (off < reqlen) {
        int rc = wait_fd(fd, POLLOUT, deadline);
        if (rc != 0) {
            return rc;
        }
        ssize_t w = send(fd, req + off, reqlen - off, MSG_NOSIGNAL);
        if (w < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            return -errno;
        }
        off += (size_t)w;
    }
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) {
        return -ENOMEM;
    }
    for (;;) {
        int rc = wait_fd(fd, POLLIN, deadline);
        if (rc != 0) {
            free(buf);
            return rc;
        }
        if (len + 1 >= cap) {
            if (cap >= (16u << 20)) {
                free(buf);
                return -EMSGSIZE;
            }
            char *nb = realloc(buf, cap * 2);
            if (nb == NULL) {
                free(buf);
                return -ENOMEM;
            }
            buf = nb;
            cap *= 2;
        }
        ssize_t r = recv(fd, buf + len, cap - len - 1, 0);
        if (r < 0) {
            if (errno == EAGAIN || errno == EINTR) {
                continue;
            }
            int e = -errno;
            free(buf);
            return e;
        }
        if (r == 0) {
            break;
        }
        len += (size_t)r;
    }
    buf[len] = '\0';
    *resp = buf;
    *resplen = len;
    return 0;
}

/* HTTP/1.0 (no chunking, the server closes when done) to 127.0.0.1:port. */
static int http_request(uint16_t port, const char *method, const char *path, const char *body,
                        int *status, char *out, size_t outlen, unsigned timeout_ms)
{
    uint64_t deadline = now_ms() + timeout_ms;
    if (out != NULL && outlen > 0) {
        out[0] = '\0';
    }
    size_t bodylen = body != NULL ? strlen(body) : 0;
    char *req = xasprintf("%s %s HTTP/1.0\r\nHost: 127.0.0.1:%u\r\n"
                          "Content-Type: application/json\r\nContent-Length: %zu\r\n\r\n%s",
                          method, path, (unsigned)port, bodylen, body != NULL ? body : "");
    if (req == NULL) {
        return -ENOMEM;
    }
    int rc = 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) {
        rc = -errno;
        free(req);
        return rc;
    }
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons(port)};
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
        if (errno != EINPROGRESS) {
            rc = -errno;
            goto out;
        }
        rc = wait_fd(fd, POLLOUT, deadline);
        if (rc != 0) {
            goto out;
        }
        int soerr = 0;
        socklen_t sl = sizeof soerr;
        if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) != 0) {
            rc = -errno;
            goto out;
        }
        if (soerr != 0) {
            rc = -soerr;
            goto out;
        }
    }
    char *resp = NULL;
    size_t resplen = 0;
    rc = http_exchange(fd, req, strlen(req), &resp, &resplen, deadline);
    if (rc != 0) {
        goto out;
    }
    int code = 0;
    const char *hdr_end = strstr(resp, "\r\n\r\n");
    if (sscanf(resp, "HTTP/%*d.%*d %d", &code) != 1 || hdr_end == NULL) {
        rc = -EPROTO;
    } else {
        if (status != NULL) {
            *status = code;
        }
        if (out != NULL && outlen > 0) {
            snprintf(out, outlen, "%s", hdr_end + 4);
        }
    }
    free(resp);
out:
    close(fd);
    free(req);
    return rc;
}

int etcd_server_http(const etcd_server_t *s, const char *method, const char *path, const char *body,
                     int *status, char *buf, size_t buflen, unsigned timeout_ms)
{
    if (s == NULL || method == NULL || path == NULL) {
        return -EINVAL;
    }
    return http_request(s->client_port, method, path, body, status, buf, buflen, timeout_ms);
}

/* ---- lifecycle -------------------------------------------------------- */

int etcd_server_wait_ready(etcd_server_t *s, unsigned timeout_ms)
{
    if (s == NULL) {
        return -EINVAL;
    }
    uint64_t deadline = now_ms() + timeout_ms;
    for (;;) {
        if (!reap(s, 1)) {
            return -ECHILD;
        }
        uint64_t now = now_ms();
        if (now >= deadline) {
            return -ETIMEDOUT;
        }
        uint64_t left = deadline - now;
        int status = 0;
        char body[256];
        int rc = http_request(s->health_port, "GET", "/health", NULL, &status, body, sizeof body,
                              left < 500 ? (unsigned)left : 500u);
        if (rc == 0 && status == 200 && strstr(body, "\"health\":\"true\"") != NULL) {
            return 0;
        }
        sleep_ms(20);
    }
}

/* A throw-away CA, and server and client certificates signed by it, made
 * by openssl(1) in <tmp>/tls. EC P-256 keys: quick to generate. */
static int make_certs(etcd_server_t *s)
{
    s->tls_dir = xasprintf("%s/tls", s->tmp_dir);
    if (s->tls_dir == NULL) {
        return -ENOMEM;
    }
    static const char script[] =
        "set -e; cd \"$1\"; umask 077\n"
        "key='-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes'\n"
        "openssl req -x509 $key -keyout ca.key -out ca.pem -days 2 -subj /CN=harness-ca\n"
        "printf 'subjectAltName=IP:127.0.0.1\\nextendedKeyUsage=serverAuth,clientAuth\\n' > ext\n"
        "for who in server client; do\n"
        "  openssl req $key -keyout $who.key -out $who.csr -subj /CN=$who\n"
        "  openssl x509 -req -in $who.csr -CA ca.pem -CAkey ca.key -CAcreateserial \\\n"
        "    -days 2 -extfile ext -out $who.pem\n"
        "done\n";
    pid_t pid = fork();
    if (pid < 0) {
        return -errno;
    }
    if (pid == 0) {
        int logfd = open(s->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (logfd >= 0) {
            dup2(logfd, 1);
            dup2(logfd, 2);
        }
        if (mkdir(s->tls_dir, 0700) != 0) {
            _exit(126);
        }
        execlp("sh", "sh", "-c", script, "sh", s->tls_dir, (char *)NULL);
        _exit(127);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0) {
        if (errno != EINTR) {
            return -errno;
        }
    }
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        say("cannot make TLS certificates with openssl in %s (see %s)", s->tls_dir, s->log_path);
        etcd_server_dump_log(s, LOG_TAIL_BYTES);
        return -EIO;
    }
    return 0;
}

/* Spawns etcd and waits until healthy; kills it on failure. */
static int launch(etcd_server_t *s)
{
    int rc = spawn(s);
    if (rc != 0) {
        return rc;
    }
    rc = etcd_server_wait_ready(s, s->start_timeout_ms);
    if (rc != 0) {
        if (rc == -ETIMEDOUT) {
            say("etcd (pid %d, %s) not healthy after %u ms", (int)s->pid, s->endpoint,
                s->start_timeout_ms);
        } else {
            say("etcd (%s) exited during start-up", s->endpoint);
        }
        etcd_server_kill(s);
    }
    return rc;
}

static void set_ports(etcd_server_t *s, uint16_t client, uint16_t peer, uint16_t metrics)
{
    s->client_port = client;
    s->peer_port = peer;
    s->health_port = s->tls ? metrics : client;
    snprintf(s->endpoint, sizeof s->endpoint, "127.0.0.1:%u", (unsigned)client);
    snprintf(s->client_url, sizeof s->client_url, "%s://127.0.0.1:%u", s->tls ? "https" : "http",
             (unsigned)client);
    snprintf(s->peer_url, sizeof s->peer_url, "http://127.0.0.1:%u", (unsigned)peer);
}

static void destroy(etcd_server_t *s)
{
    if (s == NULL) {
        return;
    }
    for (size_t i = 0; s->extra != NULL && s->extra[i] != NULL; i++) {
        free(s->extra[i]);
    }
    free(s->extra);
    free(s->tls_dir);
    free(s->tls_path);
    free(s->tmp_dir);
    free(s->data_dir);
    free(s->log_path);
    free(s->etcd_bin);
    free(s->name);
    free(s);
}

int etcd_server_start(etcd_server_t **out)
{
    return etcd_server_start_opts(NULL, out);
}

int etcd_server_start_opts(const etcd_server_opts_t *opts, etcd_server_t **out)
{
    if (out == NULL) {
        return -EINVAL;
    }
    *out = NULL;
    etcd_server_opts_t def = {0};
    if (opts == NULL) {
        opts = &def;
    }
    etcd_server_t *s = calloc(1, sizeof *s);
    if (s == NULL) {
        return -ENOMEM;
    }
    s->pid = -1;

    const char *bin = opts->etcd_bin;
    if (bin == NULL) {
        bin = getenv("ENJ_ETCD_BIN");
    }
    if (bin == NULL || bin[0] == '\0') {
        bin = DEFAULT_ETCD_BIN;
    }
    s->start_timeout_ms = opts->start_timeout_ms;
    if (s->start_timeout_ms == 0) {
        const char *env = getenv("ENJ_ETCD_START_TIMEOUT_MS");
        s->start_timeout_ms = env != NULL ? (unsigned)strtoul(env, NULL, 10) : 0;
    }
    if (s->start_timeout_ms == 0) {
        s->start_timeout_ms = DEFAULT_START_TIMEOUT_MS;
    }
    s->etcd_bin = strdup(bin);
    s->name = strdup(opts->name != NULL ? opts->name : "harness");
    size_t nextra = 0;
    while (opts->extra_args != NULL && opts->extra_args[nextra] != NULL) {
        nextra++;
    }
    s->extra = calloc(nextra + 1, sizeof *s->extra);
    int ok = s->etcd_bin != NULL && s->name != NULL && s->extra != NULL;
    for (size_t i = 0; ok && i < nextra; i++) {
        s->extra[i] = strdup(opts->extra_args[i]);
        ok = s->extra[i] != NULL;
    }
    if (!ok) {
        destroy(s);
        return -ENOMEM;
    }

    const char *tmp = getenv("TMPDIR");
    if (tmp == NULL || tmp[0] == '\0') {
        tmp = "/tmp";
    }
    s->tmp_dir = xasprintf("%s/etcd-harness-XXXXXX", tmp);
    if (s->tmp_dir == NULL) {
        destroy(s);
        return -ENOMEM;
    }
    if (mkdtemp(s->tmp_dir) == NULL) {
        int e = errno;
        say("mkdtemp %s: %s", s->tmp_dir, strerror(e));
        destroy(s);
        return -e;
    }
    s->data_dir = xasprintf("%s/data", s->tmp_dir);
    s->log_path = xasprintf("%s/etcd.log", s->tmp_dir);
    if (s->data_dir == NULL || s->log_path == NULL) {
        rm_rf(s->tmp_dir);
        destroy(s);
        return -ENOMEM;
    }
    s->tls = opts->tls != 0;
    if (s->tls) {
        int trc = make_certs(s);
        if (trc != 0) {
            rm_rf(s->tmp_dir);
            destroy(s);
            return trc;
        }
    }

    int rc = -EADDRINUSE;
    for (int attempt = 0; attempt < PORT_RETRIES && rc == -EADDRINUSE; attempt++) {
        uint16_t client, peer, metrics;
        rc = pick_ports(&client, &peer, &metrics);
        if (rc != 0) {
            break;
        }
        set_ports(s, client, peer, metrics);
        rc = launch(s);
        if (rc == -ECHILD && log_mentions(s, "address already in use")) {
            say("a port was taken meanwhile; retrying on new ports");
            rm_rf(s->data_dir); /* the failed bootstrap may have written it */
            rc = -EADDRINUSE;
        }
    }
    if (rc != 0) {
        etcd_server_dump_log(s, LOG_TAIL_BYTES);
        rm_rf(s->tmp_dir);
        destroy(s);
        return rc;
    }
    *out = s;
    return 0;
}

int etcd_server_kill(etcd_server_t *s)
{
    if (s == NULL) {
        return -EINVAL;
    }
    if (!reap(s, 0)) {
        return 0;
    }
    kill(s->pid, SIGKILL);
    int rc = wait_exit(s, KILL_WAIT_MS);
    if (rc != 0) {
        say("etcd (pid %d) did not die after SIGKILL", (int)s->pid);
    }
    return rc;
}

int etcd_server_stop(etcd_server_t *s)
{
    if (s == NULL) {
        return -EINVAL;
    }
    if (!reap(s, 0)) {
        return 0;
    }
    kill(s->pid, SIGTERM);
    if (s->paused) {
        kill(s->pid, SIGCONT);
        s->paused = 0;
    }
    if (wait_exit(s, STOP_GRACE_MS) == 0) {
        return 0;
    }
    say("etcd (pid %d) ignored SIGTERM for %u ms; sending SIGKILL", (int)s->pid, STOP_GRACE_MS);
    return etcd_server_kill(s);
}

int etcd_server_restart(etcd_server_t *s)
{
    if (s == NULL) {
        return -EINVAL;
    }
    int rc = etcd_server_stop(s);
    if (rc != 0) {
        return rc;
    }
    rc = launch(s);
    if (rc == -ECHILD && log_mentions(s, "address already in use")) {
        say("cannot restart on %s / peer port %u: address already in use", s->endpoint,
            (unsigned)s->peer_port);
        rc = -EADDRINUSE;
    }
    if (rc != 0) {
        etcd_server_dump_log(s, LOG_TAIL_BYTES);
    }
    return rc;
}

int etcd_server_pause(etcd_server_t *s)
{
    if (s == NULL) {
        return -EINVAL;
    }
    if (!reap(s, 1)) {
        return -ESRCH;
    }
    if (kill(s->pid, SIGSTOP) != 0) {
        return -errno;
    }
    s->paused = 1;
    /* SIGSTOP takes effect asynchronously: return once the process is
     * stopped (state T in /proc), so that a request sent next cannot be
     * answered. Bounded: 2 s. */
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/stat", (int)s->pid);
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(path, "r");
        char buf[512] = "";
        size_t n = f != NULL ? fread(buf, 1, sizeof buf - 1, f) : 0;
        if (f != NULL) {
            fclose(f);
        }
        buf[n] = '\0';
        const char *close_paren = strrchr(buf, ')');
        if (close_paren != NULL && (close_paren[2] == 'T' || close_paren[2] == 't')) {
            return 0;
        }
        sleep_ms(10);
    }
    say("etcd (pid %d) not seen stopped 2 s after SIGSTOP", (int)s->pid);
    return 0;
}

int etcd_server_resume(etcd_server_t *s)
{
    if (s == NULL) {
        return -EINVAL;
    }
    if (!reap(s, 1)) {
        return -ESRCH;
    }
    if (kill(s->pid, SIGCONT) != 0) {
        return -errno;
    }
    s->paused = 0;
    return 0;
}

void etcd_server_free(etcd_server_t *s)
{
    if (s == NULL) {
        return;
    }
    etcd_server_stop(s);
    rm_rf(s->tmp_dir);
    destroy(s);
}

/* ---- accessors -------------------------------------------------------- */

const char *etcd_server_endpoint(const etcd_server_t *s)
{
    return s->endpoint;
}

const char *etcd_server_client_url(const etcd_server_t *s)
{
    return s->client_url;
}

uint16_t etcd_server_client_port(const etcd_server_t *s)
{
    return s->client_port;
}

uint16_t etcd_server_peer_port(const etcd_server_t *s)
{
    return s->peer_port;
}

const char *etcd_server_data_dir(const etcd_server_t *s)
{
    return s->data_dir;
}

const char *etcd_server_tmp_dir(const etcd_server_t *s)
{
    return s->tmp_dir;
}

const char *etcd_server_tls_file(etcd_server_t *s, const char *name)
{
    if (!s->tls || name == NULL) {
        return NULL;
    }
    free(s->tls_path);
    s->tls_path = xasprintf("%s/%s", s->tls_dir, name);
    return s->tls_path;
}

const char *etcd_server_log_path(const etcd_server_t *s)
{
    return s->log_path;
}

pid_t etcd_server_pid(etcd_server_t *s)
{
    reap(s, 0);
    return s->pid;
}

int etcd_server_running(etcd_server_t *s)
{
    return reap(s, 0);
}
