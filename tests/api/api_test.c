/* Process-level API test helpers. See api_test.h. */
#include "api_test.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

static api_env_t *current;

static void dump_log(void)
{
    if (!current || !current->log_path[0])
        return;
    char cmd[600];
    snprintf(cmd, sizeof cmd, "tail -n 40 '%s' >&2", current->log_path);
    fprintf(stderr, "----- tail of enjoliverd's log -----\n");
    if (system(cmd) != 0)
        fprintf(stderr, "(cannot read %s)\n", current->log_path);
    if (current->pid > 0)
        kill(current->pid, SIGKILL);
}

static unsigned wait_port(api_env_t *env)
{
    for (int i = 0; i < 200; i++) {
        FILE *f = fopen(env->log_path, "r");
        char line[1024];
        unsigned port = 0;
        while (f && fgets(line, sizeof line, f)) {
            char *p = strstr(line, "msg=\"http: listening\"");
            char *q = p ? strstr(p, " port=") : NULL;
            if (q)
                port = (unsigned)strtoul(q + 6, NULL, 10);
            /* The gRPC server starts first: its line comes before. */
            p = strstr(line, "msg=\"grpc: listening\"");
            q = p ? strstr(p, " port=") : NULL;
            if (q)
                env->grpc_port = (unsigned)strtoul(q + 6, NULL, 10);
        }
        if (f)
            fclose(f);
        if (port)
            return port;
        int st;
        if (waitpid(env->pid, &st, WNOHANG) == env->pid) {
            env->pid = -1;
            CHECKF(0, "enjoliverd exited during start-up (status %d)", st);
        }
        t_sleep_ms(50);
    }
    CHECKF(0, "enjoliverd did not log its HTTP port within 10 s");
    return 0;
}

static void spawn(api_env_t *env, const char *bin, const char *const *extra);

void api_env_start(api_env_t *env, const char *bin, const char *const *extra)
{
    memset(env, 0, sizeof(*env));
    current = env;
    t_on_fail(dump_log);
    env->etcd = t_server_start(NULL);
    env->owns_etcd = 1;
    env->cli = t_client(env->etcd);
    snprintf(env->log_path, sizeof env->log_path, "%s/enjoliverd.log",
             etcd_server_tmp_dir(env->etcd));
    spawn(env, bin, extra);
}

void api_env_start_on(api_env_t *env, const char *bin, const char *const *extra, api_env_t *first)
{
    memset(env, 0, sizeof(*env));
    env->etcd = first->etcd;
    env->cli = t_client(env->etcd);
    snprintf(env->log_path, sizeof env->log_path, "%s/enjoliverd-%d.log",
             etcd_server_tmp_dir(env->etcd), (int)t_now_ms());
    spawn(env, bin, extra);
}

static void spawn(api_env_t *env, const char *bin, const char *const *extra)
{
    /* API tests see the API alone: no reconciler acts behind their back
     * unless a test asks for it (--reconcile true among its flags). */
    const char *argv[32] = {bin,
                            "--etcd-endpoints",
                            etcd_server_endpoint(env->etcd),
                            "--listen-http",
                            "127.0.0.1:0",
                            "--listen-grpc",
                            "127.0.0.1:0",
                            "--reconcile",
                            "false"};
    size_t n = 9;
    for (size_t i = 0; extra && extra[i] && n < 31; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    pid_t parent = getpid();
    env->pid = fork();
    CHECK(env->pid >= 0);
    if (env->pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        if (getppid() != parent)
            _exit(127);
        int fd = open(env->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd < 0 || dup2(fd, 2) < 0 || dup2(fd, 1) < 0)
            _exit(127);
        execv(bin, (char *const *)argv);
        _exit(127);
    }
    env->port = wait_port(env);
    snprintf(env->base, sizeof env->base, "http://127.0.0.1:%u", env->port);
}

void api_env_stop(api_env_t *env)
{
    int st = 0;
    CHECK(kill(env->pid, SIGTERM) == 0);
    for (int i = 0; i < 200; i++) {
        if (waitpid(env->pid, &st, WNOHANG) == env->pid)
            break;
        t_sleep_ms(50);
        CHECKF(i < 199, "enjoliverd did not stop within 10 s of SIGTERM");
    }
    env->pid = -1;
    CHECKF(WIFEXITED(st) && WEXITSTATUS(st) == 0, "enjoliverd exited with status %d", st);
    t_client_free(env->cli);
    if (env->owns_etcd) {
        t_server_free(env->etcd);
        current = NULL;
    }
}

void api_env_stop_keep_etcd(api_env_t *env)
{
    int owns = env->owns_etcd;
    etcd_sync_t *cli = env->cli;
    env->owns_etcd = 0;
    env->cli = t_client(env->etcd); /* api_env_stop frees one */
    api_env_stop(env);
    env->cli = cli;
    env->owns_etcd = owns;
}

void api_env_kill(api_env_t *env)
{
    CHECK(kill(env->pid, SIGKILL) == 0);
    CHECK(waitpid(env->pid, NULL, 0) == env->pid);
    env->pid = -1;
    t_client_free(env->cli);
}

void api_env_pause(api_env_t *env)
{
    CHECK(kill(env->pid, SIGSTOP) == 0);
}

void api_env_resume(api_env_t *env)
{
    CHECK(kill(env->pid, SIGCONT) == 0);
}

static size_t on_body(char *p, size_t size, size_t n, void *userdata)
{
    api_resp_t *r = userdata;
    size_t len = size * n;
    char *b = realloc(r->body, r->len + len + 1);
    CHECK(b != NULL);
    memcpy(b + r->len, p, len);
    r->body = b;
    r->len += len;
    r->body[r->len] = '\0';
    return len;
}

static size_t on_header(char *p, size_t size, size_t n, void *userdata)
{
    api_resp_t *r = userdata;
    size_t len = size * n, used = strlen(r->headers);
    size_t take = len < sizeof r->headers - 1 - used ? len : sizeof r->headers - 1 - used;
    memcpy(r->headers + used, p, take);
    r->headers[used + take] = '\0';
    return len;
}

void api_req(api_env_t *env, const char *method, const char *path, const char *body, size_t len,
             api_resp_t *r)
{
    api_resp_free(r);
    r->body = calloc(1, 1);
    CURL *c = curl_easy_init();
    CHECK(c != NULL && r->body != NULL);
    char url[4096];
    snprintf(url, sizeof url, "%s%s", env->base, path);
    struct curl_slist *h = curl_slist_append(NULL, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 15000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
    }
    r->status = -1;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
}

pid_t api_standin_start(const char *bin, const char *dir, unsigned *port)
{
    int fds[2];
    CHECK(pipe(fds) == 0);
    pid_t pid = fork();
    CHECK(pid >= 0);
    if (pid == 0) {
        prctl(PR_SET_PDEATHSIG, SIGKILL);
        dup2(fds[1], 1);
        close(fds[0]);
        execl(bin, bin, dir, (char *)NULL);
        _exit(127);
    }
    close(fds[1]);
    char line[64] = "";
    FILE *f = fdopen(fds[0], "r");
    CHECK(f && fgets(line, sizeof line, f));
    fclose(f);
    *port = 0;
    CHECK(sscanf(line, "PORT=%u", port) == 1 && *port);
    return pid;
}

void api_standin_stop(pid_t pid)
{
    if (pid > 0) {
        kill(pid, SIGTERM);
        waitpid(pid, NULL, 0);
    }
}

int api_wait_body(api_env_t *env, const char *path, const char *needle, unsigned ms)
{
    api_resp_t r = {0};
    uint64_t t0 = t_now_ms();
    int found = 0;
    do {
        api_req(env, "GET", path, NULL, 0, &r);
        found = r.body && strstr(r.body, needle) != NULL;
        if (!found)
            t_sleep_ms(20);
    } while (!found && t_now_ms() - t0 < ms);
    api_resp_free(&r);
    return found;
}

void api_resp_free(api_resp_t *r)
{
    free(r->body);
    r->body = NULL;
    r->len = 0;
    r->headers[0] = '\0';
}

char *api_fixture(const char *name, size_t *len)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", ENJ_FIXTURES_DIR, name);
    return api_fixture_path(path, len);
}

char *api_fixture_path(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    CHECKF(f != NULL, "cannot open %s", path);
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *buf = malloc((size_t)n + 1);
    CHECK(buf && fread(buf, 1, (size_t)n, f) == (size_t)n);
    buf[n] = '\0';
    fclose(f);
    if (len)
        *len = (size_t)n;
    return buf;
}

char *api_discovery_body(const char *uuid, const char *mac, const char *ip, unsigned plen,
                         const char *gateway)
{
    size_t n;
    char *text = api_fixture("discovery-m01.json", &n);
    json_t *j = json_loads(text, 0, NULL);
    free(text);
    CHECK(j != NULL);
    char cidr[40];
    snprintf(cidr, sizeof cidr, "%s/%u", ip, plen);
    json_object_set_new(json_object_get(j, "boot-info"), "uuid", json_string(uuid));
    json_object_set_new(json_object_get(j, "boot-info"), "mac", json_string(mac));
    json_t *eth0 = json_array_get(json_object_get(j, "interfaces"), 1);
    json_object_set_new(eth0, "mac", json_string(mac));
    json_object_set_new(eth0, "ipv4", json_string(ip));
    json_object_set_new(eth0, "cidrv4", json_string(cidr));
    json_object_set_new(eth0, "netmask", json_integer(plen));
    json_object_set_new(eth0, "gateway", json_string(gateway));
    json_object_set_new(eth0, "fqdn", json_null());
    json_object_set_new(j, "lldp", json_pack("{s:b, s:{s:n}}", "is_file", 0, "data", "interfaces"));
    char *body = json_dumps(j, 0);
    json_decref(j);
    CHECK(body != NULL);
    return body;
}

void api_discover_fixture(api_env_t *env, int i, api_resp_t *r)
{
    char name[64];
    size_t n;
    snprintf(name, sizeof name, "discovery-m%02d.json", i);
    char *body = api_fixture(name, &n);
    api_req(env, "POST", "/discovery", body, n, r);
    CHECKF(r->status == 200, "%s: %ld %s", name, r->status, r->body);
    free(body);
}
