/*
 * enjoliverd's configuration (controller/config.c), in process:
 *   - the defaults are the original's shipped configs.yaml (spec section 2);
 *   - the original's configs.yaml, written here from the spec's table, parses
 *     without error or warning (its dropped keys are accepted and ignored);
 *   - precedence: defaults < YAML file < environment < flags, and the source
 *     of every value;
 *   - every kind of bad value gives CONFIG_INVALID and a message naming the
 *     key and its source (file:line, $ENJOLIVER_X or --flag);
 *   - unknown keys: warnings with the closest key;
 *   - config_to_json(): values, from_yaml/from_env/from_flags/default,
 *     sources, the admin token redacted everywhere;
 *   - --help: every flag and every key.
 * Each case gets an explicit environment, so the caller's does not leak in.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "config.h"

static int g_checks;

#define CHECK(cond) CHECKF(cond, "%s", "")
#define CHECKF(cond, ...)                                                                          \
    do {                                                                                           \
        g_checks++;                                                                                \
        if (!(cond)) {                                                                             \
            fprintf(stderr, "%s:%d: CHECK failed: %s: ", __FILE__, __LINE__, #cond);               \
            fprintf(stderr, __VA_ARGS__);                                                          \
            fprintf(stderr, "\nlast stderr of config_parse:\n%s\n", g_err ? g_err : "");           \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

static char g_dir[256];
static char *g_err; /* what config_parse wrote to err */
static char *g_out; /* ... and to out */

/* A file in the test directory. */
static const char *write_file(const char *name, const char *text)
{
    static char paths[16][512];
    static int next;
    char *p = paths[next++ % 16];
    snprintf(p, 512, "%s/%s", g_dir, name);
    FILE *f = fopen(p, "w");
    if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0) {
        fprintf(stderr, "cannot write %s: %s\n", p, strerror(errno));
        exit(1);
    }
    return p;
}

/*
 * config_parse_env() with argv (NULL-terminated, argv[0] added) and envp
 * (NULL-terminated "NAME=value" list, NULL = empty); returns its result.
 */
static int parse(config_t *cfg, const char *const *args, const char *const *env)
{
    char *argv[64];
    int argc = 0;
    argv[argc++] = (char *)"enjoliverd";
    for (size_t i = 0; args != NULL && args[i] != NULL; i++) {
        argv[argc++] = (char *)args[i];
    }
    argv[argc] = NULL;
    static char *const no_env[] = {NULL};
    size_t elen = 0, olen = 0;
    free(g_err);
    free(g_out);
    FILE *err = open_memstream(&g_err, &elen);
    FILE *out = open_memstream(&g_out, &olen);
    if (err == NULL || out == NULL) {
        exit(1);
    }
    int rc = config_parse_env(argc, argv, env ? (char *const *)env : no_env, cfg, out, err);
    fclose(err);
    fclose(out);
    return rc;
}

/* Parses, expects CONFIG_OK and no output at all on stderr. */
static void parse_ok(config_t *cfg, const char *const *args, const char *const *env)
{
    int rc = parse(cfg, args, env);
    CHECKF(rc == CONFIG_OK, "rc %d", rc);
    CHECKF(g_err[0] == '\0', "unexpected stderr: %s", g_err);
}

/* Parses, expects CONFIG_INVALID and every one of the (NULL-terminated)
 * strings in the message; frees cfg. */
static void parse_bad(const char *const *args, const char *const *env, ...)
{
    config_t cfg;
    int rc = parse(&cfg, args, env);
    config_free(&cfg);
    CHECKF(rc == CONFIG_INVALID, "rc %d, wanted CONFIG_INVALID", rc);
    va_list ap;
    va_start(ap, env);
    for (const char *want = va_arg(ap, const char *); want != NULL;
         want = va_arg(ap, const char *)) {
        CHECKF(strstr(g_err, want) != NULL, "'%s' not in the message", want);
    }
    va_end(ap);
    CHECKF(strchr(g_err, '\n') == g_err + strlen(g_err) - 1, "one line wanted: %s", g_err);
}

static const char *src(const config_t *cfg, const char *key)
{
    static char buf[4][512];
    static int next;
    char *b = buf[next++ % 4];
    const char *s = config_source_text(cfg, key, b, 512);
    CHECKF(s != NULL, "no key %s", key);
    return s;
}

static void check_list(const config_strlist_t *l, const char *const *want)
{
    size_t n = 0;
    while (want[n] != NULL) {
        n++;
    }
    CHECKF(l->n == n, "%zu items, wanted %zu", l->n, n);
    for (size_t i = 0; i < n; i++) {
        CHECKF(strcmp(l->v[i], want[i]) == 0, "item %zu '%s', wanted '%s'", i, l->v[i], want[i]);
    }
}

#define LIST(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ARGS(...) ((const char *const[]){__VA_ARGS__, NULL})
#define ENV(...) ((const char *const[]){__VA_ARGS__, NULL})
#define STREQ(a, b) ((a) != NULL && strcmp((a), (b)) == 0)

/*
 * The spec's section 2 table, the YAML column: what both the defaults and
 * the original's shipped file give. Two deliberate exceptions, kept from
 * enjoliverd's behaviour before the YAML file existed: matchbox_uri (none by
 * default, so that /healthz does not require a matchbox) and logging_level
 * (info by default; the file says DEBUG). `from_file` says which is checked.
 */
static void check_spec_table(const config_t *c, int from_file)
{
    CHECK(STREQ(c->api_uri, "http://127.0.0.1:5000"));
    if (from_file) {
        CHECK(STREQ(c->matchbox_uri, "http://127.0.0.1:8080"));
        CHECK(c->log_level == LOG_LEVEL_DEBUG);
    } else {
        CHECK(c->matchbox_uri == NULL);
        CHECK(c->log_level == LOG_LEVEL_INFO);
    }
    CHECK(STREQ(c->matchbox_path, "/var/lib/matchbox"));
    CHECK(STREQ(c->matchbox_assets, "/var/lib/matchbox/assets"));
    check_list(&c->matchbox_urls, LIST("/", "/boot.ipxe", "/boot.ipxe.0", "/assets", "/metadata"));
    CHECK(c->assets_server_uri == NULL);
    CHECK(STREQ(c->kernel, "/assets/coreos/serve/coreos_production_pxe.vmlinuz"));
    CHECK(STREQ(c->initrd, "/assets/coreos/serve/coreos_production_pxe_image.cpio.gz"));
    CHECK(c->etcd_member_kubernetes_control_plane_expected_nb == 3);
    CHECK(c->extra_selectors.n == 1 && STREQ(c->extra_selectors.keys[0], "os") &&
          STREQ(c->extra_selectors.values[0], "installed"));
    CHECK(STREQ(c->ignition_dict.discovery, "discovery"));
    CHECK(STREQ(c->ignition_dict.etcd_member_kubernetes_control_plane,
                "etcd-member-kubernetes-control-plane"));
    CHECK(STREQ(c->ignition_dict.kubernetes_nodes, "kubernetes-node"));
    CHECK(c->sync_notify_ttl == 60);
    CHECK(c->sub_ips == 256 && c->range_nb_ips == 253 && c->skip_ips == 1);
    CHECK(STREQ(c->perennial_local_host_ip, "172.31.255.255"));
    CHECK(c->kubernetes_apiserver_insecure_port == 8080);
    CHECK(STREQ(c->kubernetes_apiserver_insecure_bind_address, "0.0.0.0"));
    CHECK(STREQ(c->kubernetes_service_cluster_ip_range, "172.30.0.0/24"));
    CHECK(c->kubelet_healthz_port == 10248 && c->vault_port == 8200);
    CHECK(STREQ(c->kubernetes_etcd_data_dir, "/var/lib/etcd3/kubernetes"));
    CHECK(c->kubernetes_etcd_client_port == 4003 && c->kubernetes_etcd_peer_port == 7003);
    /* The YAML's vault ports, not the code's (which were fleet's). */
    CHECK(STREQ(c->vault_etcd_data_dir, "/var/lib/etcd3/vault"));
    CHECK(c->vault_etcd_client_port == 4002 && c->vault_etcd_peer_port == 7002);
    CHECK(STREQ(c->fleet_etcd_data_dir, "/var/lib/etcd3/fleet"));
    CHECK(c->fleet_etcd_client_port == 4001 && c->fleet_etcd_peer_port == 7001);
    CHECK(STREQ(c->hyperkube_image_url, "enjoliver.local/hyperkube:1.9.2"));
    CHECK(STREQ(c->cephtools_image_url, "enjoliver.local/ceph-tools:latest"));
    CHECK(STREQ(c->lldp_image_url, "enjoliver.local/lldp:latest"));
    check_list(&c->etc_hosts, LIST("172.20.0.1 enjoliver.local"));
    check_list(&c->nameservers, LIST("8.8.8.8", "8.8.4.4"));
    check_list(&c->ntp, LIST("0.arch.pool.ntp.org", "1.arch.pool.ntp.org", "2.arch.pool.ntp.org",
                             "3.arch.pool.ntp.org"));
    check_list(&c->fallbackntp, LIST("0.pool.ntp.org", "1.pool.ntp.org", "0.fr.pool.ntp.org"));
    CHECK(c->vault_polling_sec == 30 && c->lifecycle_update_polling_sec == 30);
    CHECK(c->disks_ladder_gb.n == 3 && STREQ(c->disks_ladder_gb.keys[0], "S") &&
          c->disks_ladder_gb.values[0] == 10 && STREQ(c->disks_ladder_gb.keys[1], "M") &&
          c->disks_ladder_gb.values[1] == 20 && STREQ(c->disks_ladder_gb.keys[2], "L") &&
          c->disks_ladder_gb.values[2] == 30);
    CHECK(STREQ(c->coreos_install_base_url, "http://enjoliver.local:5000/assets/coreos"));
    CHECK(c->install_lock_seconds == 45);
    CHECK(c->discovery_fqdn_verify == true);
    CHECK(c->sync_replace_ip_by_fqdn == false);
}

/* enjoliverd's own keys, as before the YAML file existed. */
static void check_own_defaults(const config_t *c)
{
    char host[256] = "";
    gethostname(host, sizeof host - 1);
    CHECK(c->etcd_endpoints.n == 0);
    CHECK(c->etcd_cacert == NULL && c->etcd_cert == NULL && c->etcd_key == NULL);
    CHECK(STREQ(c->etcd_prefix, "/enjoliver/"));
    CHECK(STREQ(c->data_dir, "./var/etcd"));
    CHECK(c->local_etcd_client_port == 2379 && c->local_etcd_peer_port == 2380);
    CHECK(STREQ(c->etcd_bin, "/usr/bin/etcd"));
    CHECK(STREQ(c->listen_http.host, "127.0.0.1") && c->listen_http.port == 5000);
    CHECK(STREQ(c->listen_grpc.host, "127.0.0.1") && c->listen_grpc.port == 5001);
    CHECK(host[0] == '\0' || STREQ(c->name, host));
    CHECK(c->lease_ttl == 5);
    CHECK(c->log_format == CONFIG_LOG_TEXT);
    CHECK(STREQ(c->backup_dir, "./var/backups"));
    CHECK(c->admin_token_file == NULL && c->admin_token == NULL);
}

static void test_defaults(void)
{
    config_t c;
    parse_ok(&c, NULL, NULL);
    check_spec_table(&c, 0);
    check_own_defaults(&c);
    CHECK(c.config_file == NULL && c.ignored_keys.n == 0);
    for (int i = 0; i < CONFIG_N_KEYS; i++) {
        CHECKF(c.sources[i].kind == CONFIG_SRC_DEFAULT, "%s", config_key_name(i));
        CHECK(STREQ(src(&c, config_key_name(i)), "default"));
    }
    CHECK(config_key_name(CONFIG_N_KEYS) == NULL && config_key_index("nope") < 0);
    config_free(&c);
    printf("ok: defaults are the spec's YAML table\n");
}

/* The original's app/configs.yaml, from the spec's table (the keys it has:
 * those marked "-" in the YAML column are absent). */
static const char original_yaml[] =
    "api_uri: http://127.0.0.1:5000\n"
    "gunicorn_workers: 1\n"
    "gunicorn_worker_type: sync\n"
    "gunicorn_bind: 0.0.0.0:5000\n"
    "matchbox_uri: http://127.0.0.1:8080\n"
    "matchbox_path: /var/lib/matchbox\n"
    "matchbox_assets: /var/lib/matchbox/assets\n"
    "matchbox_urls:\n"
    "  - /\n"
    "  - /boot.ipxe\n"
    "  - /boot.ipxe.0\n"
    "  - /assets\n"
    "  - /metadata\n"
    "matchbox_logging_level: warning\n"
    "logging_level: DEBUG\n"
    "backup_bucket_directory: enjoliver\n"
    "backup_lock_key: backup_lock\n"
    "etcd_member_kubernetes_control_plane_expected_nb: 3\n"
    "apply_deps_tries: 15\n"
    "apply_deps_delay: 60\n"
    "extra_selectors:\n"
    "  os: installed\n"
    "ignition_dict:\n"
    "  discovery: discovery\n"
    "  etcd_member_kubernetes_control_plane: etcd-member-kubernetes-control-plane\n"
    "  kubernetes_nodes: kubernetes-node\n"
    "sub_ips: 256\n"
    "range_nb_ips: 253\n"
    "skip_ips: 1\n"
    "kubernetes_apiserver_insecure_port: 8080\n"
    "kubernetes_apiserver_insecure_bind_address: 0.0.0.0\n"
    "kubernetes_service_cluster_ip_range: 172.30.0.0/24\n"
    "kubelet_healthz_port: 10248\n"
    "vault_port: 8200\n"
    "kubernetes_etcd_data_dir: /var/lib/etcd3/kubernetes\n"
    "kubernetes_etcd_client_port: 4003\n"
    "kubernetes_etcd_peer_port: 7003\n"
    "vault_etcd_data_dir: /var/lib/etcd3/vault\n"
    "vault_etcd_client_port: 4002\n"
    "vault_etcd_peer_port: 7002\n"
    "fleet_etcd_data_dir: /var/lib/etcd3/fleet\n"
    "fleet_etcd_client_port: 4001\n"
    "fleet_etcd_peer_port: 7001\n"
    "hyperkube_image_url: enjoliver.local/hyperkube:1.9.2\n"
    "cephtools_image_url: enjoliver.local/ceph-tools:latest\n"
    "lldp_image_url: enjoliver.local/lldp:latest\n"
    "etc_hosts:\n"
    "  - \"172.20.0.1 enjoliver.local\"\n"
    "nameservers:\n"
    "  - 8.8.8.8\n"
    "  - 8.8.4.4\n"
    "ntp:\n"
    "  - 0.arch.pool.ntp.org\n"
    "  - 1.arch.pool.ntp.org\n"
    "  - 2.arch.pool.ntp.org\n"
    "  - 3.arch.pool.ntp.org\n"
    "fallbackntp:\n"
    "  - 0.pool.ntp.org\n"
    "  - 1.pool.ntp.org\n"
    "  - 0.fr.pool.ntp.org\n"
    "vault_polling_sec: 30\n"
    "disks_ladder_gb:\n"
    "  S: 10\n"
    "  M: 20\n"
    "  L: 30\n"
    "coreos_install_base_url: http://enjoliver.local:5000/assets/coreos\n"
    "coreos_install_lock_seconds: 45\n"
    "discovery_fqdn_verify: true\n"
    "sync_replace_ip_by_fqdn: false\n";

static void test_original_file(void)
{
    const char *path = write_file("original.yaml", original_yaml);
    config_t c;
    parse_ok(&c, ARGS("--config", path), NULL);
    check_spec_table(&c, 1);
    check_own_defaults(&c);
    CHECK(STREQ(c.config_file, path));
    check_list(&c.ignored_keys, LIST("gunicorn_workers", "gunicorn_worker_type", "gunicorn_bind",
                                     "matchbox_logging_level", "backup_bucket_directory",
                                     "backup_lock_key", "apply_deps_tries", "apply_deps_delay"));
    char want[600];
    snprintf(want, sizeof want, "%s:1", path);
    CHECK(STREQ(src(&c, "api_uri"), want));
    snprintf(want, sizeof want, "%s:9", path); /* the list starts on the line after the key */
    CHECK(STREQ(src(&c, "matchbox_urls"), want));
    CHECK(STREQ(src(&c, "sync_notify_ttl"), "default"));
    snprintf(want, sizeof want, "%s:7", path);
    CHECK(STREQ(src(&c, "matchbox_assets"), want));
    config_free(&c);

    /* The same through $ENJOLIVER_CONFIGS_YAML, and --config beats it. */
    char envbuf[600];
    snprintf(envbuf, sizeof envbuf, "ENJOLIVER_CONFIGS_YAML=%s", path);
    parse_ok(&c, NULL, ENV(envbuf));
    CHECK(STREQ(c.config_file, path) && STREQ(c.matchbox_uri, "http://127.0.0.1:8080"));
    config_free(&c);
    const char *other = write_file("other.yaml", "sub_ips: 0\n");
    parse_ok(&c, ARGS("--config", other), ENV(envbuf));
    CHECK(STREQ(c.config_file, other) && c.sub_ips == 0 && c.matchbox_uri == NULL);
    config_free(&c);
    /* An empty file, or an empty $ENJOLIVER_CONFIGS_YAML: defaults. */
    parse_ok(&c, ARGS("--config", write_file("empty.yaml", "# nothing\n")),
             ENV("ENJOLIVER_CONFIGS_YAML="));
    check_spec_table(&c, 0);
    config_free(&c);
    parse_ok(&c, NULL, ENV("ENJOLIVER_CONFIGS_YAML="));
    CHECK(c.config_file == NULL);
    config_free(&c);
    printf("ok: the original's configs.yaml parses (dropped keys ignored)\n");
}

static void test_yaml_overrides_defaults(void)
{
    const char *path =
        write_file("override.yaml", "# enjoliverd\n"
                                    "api_uri: https://enjoliver.example:443\n"
                                    "matchbox_path: /srv/matchbox/\n"
                                    "etcd_member_kubernetes_control_plane_expected_nb: 5\n"
                                    "discovery_fqdn_verify: No\n"
                                    "sync_replace_ip_by_fqdn: 'yes'\n"
                                    "sub_ips: \"0\"\n"
                                    "extra_selectors: {os: installed, rack: r1}\n"
                                    "ignition_dict: {kubernetes_nodes: node-v2}\n"
                                    "disks_ladder_gb: {XS: 5, XL: 100}\n"
                                    "etc_hosts: []\n"
                                    "assets_server_uri: http://assets:8080\n"
                                    "lldp_image_url: ''\n"
                                    "etcd_endpoints: [127.0.0.1:2379, 'https://10.0.0.2:2379']\n"
                                    "listen_http: '[::1]:0'\n"
                                    "name: replica-1\n"
                                    "lease_ttl: 10\n"
                                    "log_format: JSON\n"
                                    "logging_level: warning\n"
                                    "etcd_prefix: /e2/\n"
                                    "data_dir: /tmp/etcd///\n");
    config_t c;
    parse_ok(&c, ARGS("--config", path), NULL);
    CHECK(STREQ(c.api_uri, "https://enjoliver.example:443"));
    CHECK(STREQ(c.matchbox_path, "/srv/matchbox/"));
    CHECK(STREQ(c.matchbox_assets, "/srv/matchbox/assets")); /* derived */
    CHECK(STREQ(src(&c, "matchbox_assets"), "default"));
    CHECK(c.etcd_member_kubernetes_control_plane_expected_nb == 5);
    CHECK(!c.discovery_fqdn_verify && c.sync_replace_ip_by_fqdn && c.sub_ips == 0);
    CHECK(c.extra_selectors.n == 2 && STREQ(c.extra_selectors.keys[1], "rack") &&
          STREQ(c.extra_selectors.values[1], "r1"));
    /* ignition_dict: the names given replace, the others stay. */
    CHECK(STREQ(c.ignition_dict.kubernetes_nodes, "node-v2") &&
          STREQ(c.ignition_dict.discovery, "discovery"));
    CHECK(c.disks_ladder_gb.n == 2 && c.disks_ladder_gb.values[1] == 100);
    CHECK(c.etc_hosts.n == 0);
    CHECK(STREQ(c.assets_server_uri, "http://assets:8080") && STREQ(c.lldp_image_url, ""));
    check_list(&c.etcd_endpoints, LIST("127.0.0.1:2379", "https://10.0.0.2:2379"));
    CHECK(STREQ(c.listen_http.host, "::1") && c.listen_http.port == 0);
    CHECK(STREQ(c.name, "replica-1") && c.lease_ttl == 10 && c.log_format == CONFIG_LOG_JSON);
    CHECK(c.log_level == LOG_LEVEL_WARN && STREQ(c.etcd_prefix, "/e2/"));
    CHECK(STREQ(c.data_dir, "/tmp/etcd"));
    char want[600];
    snprintf(want, sizeof want, "%s:5", path);
    CHECK(STREQ(src(&c, "discovery_fqdn_verify"), want));
    CHECK(c.sources[config_key_index("lease_ttl")].kind == CONFIG_SRC_YAML);
    CHECK(STREQ(src(&c, "vault_port"), "default"));
    config_free(&c);

    /* null unsets what may be unset. */
    path = write_file("nulls.yaml", "matchbox_uri: ~\nassets_server_uri:\netcd_endpoints: null\n");
    parse_ok(&c, ARGS("--config", path, "--matchbox-uri", "http://m:8080"), NULL);
    CHECK(STREQ(c.matchbox_uri, "http://m:8080")); /* the flag comes after */
    CHECK(c.assets_server_uri == NULL && c.etcd_endpoints.n == 0);
    config_free(&c);
    printf("ok: YAML overrides defaults\n");
}

static void test_env_overrides_yaml(void)
{
    const char *path = write_file("env.yaml", "api_uri: http://yaml:5000\n"
                                              "sub_ips: 128\n"
                                              "discovery_fqdn_verify: true\n"
                                              "etc_hosts: ['1.2.3.4 yaml']\n"
                                              "vault_port: 1234\n");
    config_t c;
    parse_ok(&c, ARGS("--config", path),
             ENV("ENJOLIVER_API_URI=http://env:5000", "ENJOLIVER_SUB_IPS=64",
                 "ENJOLIVER_DISCOVERY_FQDN_VERIFY=FALSE",
                 "ENJOLIVER_ETC_HOSTS=[\"172.20.0.1 enjoliver.local\", 10.0.0.1 other]",
                 "ENJOLIVER_EXTRA_SELECTORS={os: installed, disk: ssd}",
                 "ENJOLIVER_DISKS_LADDER_GB={S: 1, M: 2}", "ENJOLIVER_NAMESERVERS=[1.1.1.1]",
                 "ENJOLIVER_SYNC_REPLACE_IP_BY_FQDN=Yes",
                 "ENJOLIVER_ETCD_ENDPOINTS=127.0.0.1:2379,127.0.0.1:22379",
                 "ENJOLIVER_COREOS_INSTALL_LOCK_SECONDS=0",
                 "ENJOLIVER_IGNITION_DICT={discovery: disco}", "ENJOLIVER_LOGGING_LEVEL=ERROR",
                 "ENJOLIVER_LISTEN_GRPC=0.0.0.0:6001",
                 "ENJOLIVER_LLDP_IMAGE_URL=", "ENJOLIVER_ADMIN_TOKEN=0123456789abcdef-env",
                 "PATH=/usr/bin", "ENJOLIVER_DB_URI=sqlite:///x"));
    CHECK(STREQ(c.api_uri, "http://env:5000") && STREQ(src(&c, "api_uri"), "$ENJOLIVER_API_URI"));
    CHECK(c.sub_ips == 64 && !c.discovery_fqdn_verify && c.sync_replace_ip_by_fqdn);
    check_list(&c.etc_hosts, LIST("172.20.0.1 enjoliver.local", "10.0.0.1 other"));
    CHECK(c.extra_selectors.n == 2 && STREQ(c.extra_selectors.values[1], "ssd"));
    CHECK(c.disks_ladder_gb.n == 2 && c.disks_ladder_gb.values[1] == 2);
    check_list(&c.nameservers, LIST("1.1.1.1"));
    check_list(&c.etcd_endpoints, LIST("127.0.0.1:2379", "127.0.0.1:22379"));
    CHECK(c.install_lock_seconds == 0);
    CHECK(STREQ(c.ignition_dict.discovery, "disco"));
    CHECK(c.log_level == LOG_LEVEL_ERROR);
    CHECK(STREQ(c.listen_grpc.host, "0.0.0.0") && c.listen_grpc.port == 6001);
    CHECK(STREQ(c.lldp_image_url, ""));
    CHECK(STREQ(c.admin_token, "0123456789abcdef-env"));
    CHECK(c.vault_port == 1234); /* from the file, no env */
    check_list(&c.ignored_keys, LIST("db_uri"));
    config_free(&c);

    /* Every boolean spelling. */
    static const char *const trues[] = {"true", "TRUE", "True", "yes", "YES", "1"};
    static const char *const falses[] = {"false", "False", "no", "NO", "0"};
    for (size_t i = 0; i < 6 + 5; i++) {
        char e[128];
        snprintf(e, sizeof e, "ENJOLIVER_SYNC_REPLACE_IP_BY_FQDN=%s",
                 i < 6 ? trues[i] : falses[i - 6]);
        parse_ok(&c, NULL, ENV(e));
        CHECKF(c.sync_replace_ip_by_fqdn == (i < 6), "%s", e);
        config_free(&c);
    }
    /* The endpoints in flow syntax too; empty = local etcd. */
    parse_ok(&c, NULL, ENV("ENJOLIVER_ETCD_ENDPOINTS=[10.0.0.1:2379, 'http://10.0.0.2:2379']"));
    check_list(&c.etcd_endpoints, LIST("10.0.0.1:2379", "http://10.0.0.2:2379"));
    config_free(&c);
    parse_ok(&c, NULL, ENV("ENJOLIVER_ETCD_ENDPOINTS="));
    CHECK(c.etcd_endpoints.n == 0);
    config_free(&c);
    printf("ok: the environment overrides YAML, typed\n");
}

static void test_flags_override_env(void)
{
    const char *path = write_file("flags.yaml", "api_uri: http://yaml:5000\n"
                                                "etcd_prefix: /yaml/\n"
                                                "lease_ttl: 7\n");
    const char *token_file = write_file("token", "  flag-token-0123456789  \nsecond line\n");
    const char *ca = write_file("ca.pem", "-----BEGIN CERTIFICATE-----\n");
    config_t c;
    parse_ok(&c,
             ARGS("--config", path, "--api-uri", "http://flag:5000", "--prefix=/flag/",
                  "--lease-ttl", "60", "--log-level", "debug", "--log-format", "json", "--name",
                  "r2", "--listen-grpc", "127.0.0.1:0", "--listen-http=localhost:8000",
                  "--matchbox-path", "/mb", "--admin-token-file", token_file, "--etcd-cacert", ca,
                  "--etcd-cert", ca, "--etcd-key", ca, "--sync-notify-ttl", "0",
                  "--install-lock-seconds", "30", "--etcd-endpoints", "https://e1:2379"),
             ENV("ENJOLIVER_API_URI=http://env:5000", "ENJOLIVER_ETCD_PREFIX=/env/",
                 "ENJOLIVER_LEASE_TTL=8", "ENJOLIVER_LOGGING_LEVEL=error",
                 "ENJOLIVER_ADMIN_TOKEN=env-token-0123456789", "ENJOLIVER_SYNC_NOTIFY_TTL=5"));
    CHECK(STREQ(c.api_uri, "http://flag:5000") && STREQ(src(&c, "api_uri"), "--api-uri"));
    CHECK(STREQ(c.etcd_prefix, "/flag/") && STREQ(src(&c, "etcd_prefix"), "--prefix"));
    CHECK(c.lease_ttl == 60 && c.log_level == LOG_LEVEL_DEBUG && c.log_format == CONFIG_LOG_JSON);
    CHECK(STREQ(c.name, "r2") && c.listen_grpc.port == 0);
    CHECK(STREQ(c.listen_http.host, "127.0.0.1") && c.listen_http.port == 8000);
    CHECK(STREQ(c.matchbox_path, "/mb") && STREQ(c.matchbox_assets, "/mb/assets"));
    /* The file (a flag) beats the token (env). */
    CHECK(STREQ(c.admin_token, "flag-token-0123456789"));
    CHECK(STREQ(src(&c, "admin_token"), "--admin-token-file"));
    CHECK(STREQ(c.etcd_cacert, ca) && STREQ(c.etcd_cert, ca) && STREQ(c.etcd_key, ca));
    CHECK(c.sync_notify_ttl == 0 && c.install_lock_seconds == 30);
    check_list(&c.etcd_endpoints, LIST("https://e1:2379"));
    config_free(&c);

    /* --etcd-prefix and --prefix: the last one wins. */
    parse_ok(&c, ARGS("--prefix", "/a/", "--etcd-prefix", "/b/"), NULL);
    CHECK(STREQ(c.etcd_prefix, "/b/") && STREQ(src(&c, "etcd_prefix"), "--etcd-prefix"));
    config_free(&c);
    /* A token in the environment beats a token file from the YAML file. */
    char yaml[600];
    snprintf(yaml, sizeof yaml, "admin_token_file: %s\n", token_file);
    path = write_file("tokenfile.yaml", yaml);
    parse_ok(&c, ARGS("--config", path), ENV("ENJOLIVER_ADMIN_TOKEN=env-token-0123456789"));
    CHECK(STREQ(c.admin_token, "env-token-0123456789"));
    config_free(&c);
    parse_ok(&c, ARGS("--config", path), NULL);
    CHECK(STREQ(c.admin_token, "flag-token-0123456789"));
    config_free(&c);
    /* Every flag the tests of tests/controller and tests/api use. */
    parse_ok(&c,
             ARGS("--etcd-endpoints", "127.0.0.1:2379", "--data-dir", "/tmp/d/",
                  "--local-etcd-client-port", "3000", "--local-etcd-peer-port", "3001",
                  "--etcd-bin", "/bin/etcd", "--etcd-prefix", "/p/", "--api-uri", "http://a:1",
                  "--matchbox-uri", "http://m:2", "--sync-notify-ttl", "9", "--backup-dir",
                  "/tmp/b", "--install-lock-seconds", "0", "--listen-http", "127.0.0.1:0",
                  "--log-level", "info"),
             ENV("ENJOLIVER_ADMIN_TOKEN=env-token-0123456789"));
    CHECK(STREQ(c.data_dir, "/tmp/d") && c.local_etcd_client_port == 3000 &&
          c.local_etcd_peer_port == 3001 && STREQ(c.etcd_bin, "/bin/etcd") &&
          STREQ(c.matchbox_uri, "http://m:2") && c.sync_notify_ttl == 9 &&
          STREQ(c.backup_dir, "/tmp/b") && c.install_lock_seconds == 0 &&
          STREQ(c.admin_token, "env-token-0123456789"));
    config_free(&c);
    printf("ok: flags override the environment\n");
}

static void test_bad_values(void)
{
    char path_line[600];
    /* YAML: wrong types, with the value's line. */
    const char *p = write_file("bad1.yaml", "api_uri: http://x:5000\n"
                                            "\n"
                                            "sub_ips: [1, 2]\n");
    snprintf(path_line, sizeof path_line, "%s:3", p);
    parse_bad(ARGS("--config", p), NULL, path_line, "sub_ips", "expected an integer", NULL);
    p = write_file("bad2.yaml", "discovery_fqdn_verify: maybe\n");
    snprintf(path_line, sizeof path_line, "%s:1", p);
    parse_bad(ARGS("--config", p), NULL, path_line, "discovery_fqdn_verify", "boolean", "'maybe'",
              NULL);
    p = write_file("bad3.yaml", "nameservers: 8.8.8.8 8.8.4.4\n");
    parse_bad(ARGS("--config", p), NULL, "nameservers", "expected a list", NULL);
    p = write_file("bad4.yaml", "ntp:\n  - 0.pool.ntp.org 1.pool.ntp.org\n");
    snprintf(path_line, sizeof path_line, "%s:2", p);
    parse_bad(ARGS("--config", p), NULL, path_line, "ntp", "item 1", "without blanks", NULL);
    p = write_file("bad5.yaml", "extra_selectors:\n  os: installed\n  rack: [1]\n");
    snprintf(path_line, sizeof path_line, "%s:3", p);
    parse_bad(ARGS("--config", p), NULL, path_line, "extra_selectors", "'rack'", NULL);
    p = write_file("bad6.yaml", "disks_ladder_gb: {S: 10, M: big}\n");
    parse_bad(ARGS("--config", p), NULL, "disks_ladder_gb", "M: expected an integer", NULL);
    p = write_file("bad7.yaml", "ignition_dict: {discovery: d, nodes: n}\n");
    parse_bad(ARGS("--config", p), NULL, "ignition_dict", "unknown key 'nodes'", NULL);
    p = write_file("bad8.yaml", "etcd_member_kubernetes_control_plane_expected_nb: 2\n");
    parse_bad(ARGS("--config", p), NULL, "etcd_member_kubernetes_control_plane_expected_nb", "odd",
              "'2'", NULL);
    p = write_file("bad9.yaml", "api_uri: http://a:1\nsub_ips: 1\napi_uri: http://b:2\n");
    snprintf(path_line, sizeof path_line, "%s:3", p);
    parse_bad(ARGS("--config", p), NULL, path_line, "api_uri", "twice", "line 1", NULL);
    p = write_file("bad10.yaml", "api_uri: http://a:1\n  sub_ips: [1\n");
    parse_bad(ARGS("--config", p), NULL, p, "YAML syntax error", NULL);
    p = write_file("bad11.yaml", "- api_uri\n");
    parse_bad(ARGS("--config", p), NULL, p, "expected a mapping", NULL);
    p = write_file("bad12.yaml", "api_uri: null\n");
    parse_bad(ARGS("--config", p), NULL, "api_uri", "got null", NULL);
    p = write_file("bad13.yaml", "kubernetes_service_cluster_ip_range: 172.30.0.0/33\n");
    parse_bad(ARGS("--config", p), NULL, "kubernetes_service_cluster_ip_range", "ADDRESS/LENGTH",
              NULL);
    p = write_file("bad14.yaml", "api_uri: http://a:1\n---\nsub_ips: 1\n");
    parse_bad(ARGS("--config", p), NULL, p, "one YAML document", NULL);
    p = write_file("bad15.yaml", "kubernetes_apiserver_insecure_bind_address: localhost\n");
    parse_bad(ARGS("--config", p), NULL, "kubernetes_apiserver_insecure_bind_address",
              "IPv4 or IPv6", NULL);

    /* Environment. */
    parse_bad(NULL, ENV("ENJOLIVER_VAULT_PORT=82OO"), "$ENJOLIVER_VAULT_PORT", "vault_port",
              "integer in 1..65535", "'82OO'", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_VAULT_PORT=65536"), "$ENJOLIVER_VAULT_PORT", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_SUB_IPS="), "$ENJOLIVER_SUB_IPS", "got ''", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_DISCOVERY_FQDN_VERIFY=nope"), "$ENJOLIVER_DISCOVERY_FQDN_VERIFY",
              "discovery_fqdn_verify", "boolean", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_ETC_HOSTS=[\"172.20.0.1 enjoliver.local\""),
              "$ENJOLIVER_ETC_HOSTS", "etc_hosts", "YAML flow syntax", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_NAMESERVERS=8.8.8.8 8.8.4.4"), "$ENJOLIVER_NAMESERVERS",
              "expected a list", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_EXTRA_SELECTORS={os: installed"), "$ENJOLIVER_EXTRA_SELECTORS",
              "extra_selectors", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_EXTRA_SELECTORS=[os]"), "$ENJOLIVER_EXTRA_SELECTORS",
              "expected a mapping", "got a list", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_EXTRA_SELECTORS={os: }"), "$ENJOLIVER_EXTRA_SELECTORS",
              "got null", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_DISKS_LADDER_GB={}"), "disks_ladder_gb", "empty mapping", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_ETCD_MEMBER_KUBERNETES_CONTROL_PLANE_EXPECTED_NB=4"),
              "$ENJOLIVER_ETCD_MEMBER_KUBERNETES_CONTROL_PLANE_EXPECTED_NB", "odd integer", "'4'",
              NULL);
    parse_bad(NULL, ENV("ENJOLIVER_ETCD_MEMBER_KUBERNETES_CONTROL_PLANE_EXPECTED_NB=0"), "odd",
              NULL);
    parse_bad(NULL, ENV("ENJOLIVER_ETCD_ENDPOINTS=[10.0.0.1]"), "$ENJOLIVER_ETCD_ENDPOINTS",
              "item 1", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_API_URI=http://x:5000/"), "$ENJOLIVER_API_URI", "trailing '/'",
              NULL);
    parse_bad(NULL, ENV("ENJOLIVER_PERENNIAL_LOCAL_HOST_IP=172.31.255.256"),
              "perennial_local_host_ip", "IPv4", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_LOG_FORMAT=xml"), "$ENJOLIVER_LOG_FORMAT", "text or json", NULL);
    /* A secret is never echoed. */
    parse_bad(NULL, ENV("ENJOLIVER_ADMIN_TOKEN=short-secret"), "$ENJOLIVER_ADMIN_TOKEN",
              "at least 16 characters", NULL);
    CHECK(strstr(g_err, "short-secret") == NULL);
    parse_bad(NULL, ENV("ENJOLIVER_ETCD_CACERT=/nonexistent/ca.pem"), "$ENJOLIVER_ETCD_CACERT",
              "etcd_cacert", "cannot read", NULL);
    parse_bad(NULL, ENV("ENJOLIVER_CONFIGS_YAML=/nonexistent/configs.yaml"),
              "$ENJOLIVER_CONFIGS_YAML", "/nonexistent/configs.yaml", NULL);

    /* Flags. */
    parse_bad(ARGS("--config", "/nonexistent/configs.yaml"), NULL, "--config",
              "/nonexistent/configs.yaml", "No such file", NULL);
    parse_bad(ARGS("--config", g_dir), NULL, "--config", "Is a directory", NULL);
    parse_bad(ARGS("--config"), NULL, "--config needs a value", NULL);
    parse_bad(ARGS("--no-such-flag"), NULL, "unknown flag '--no-such-flag'", NULL);
    parse_bad(ARGS("stray"), NULL, "unexpected argument 'stray'", NULL);
    parse_bad(ARGS("--log-level", "loud"), NULL, "--log-level", "logging_level", "'loud'", NULL);
    parse_bad(ARGS("--lease-ttl", "0"), NULL, "--lease-ttl", "lease_ttl", "1..60", NULL);
    parse_bad(ARGS("--lease-ttl=61"), NULL, "--lease-ttl", NULL);
    parse_bad(ARGS("--lease-ttl=5s"), NULL, "--lease-ttl", "'5s'", NULL);
    parse_bad(ARGS("--log-format", "xml"), NULL, "--log-format", "text or json", NULL);
    parse_bad(ARGS("--listen-grpc", "5001"), NULL, "--listen-grpc", "HOST:PORT", NULL);
    parse_bad(ARGS("--listen-http", "127.0.0.1:5001"), NULL, "listen_http (--listen-http)",
              "listen_grpc (default)", "must differ", NULL);
    parse_bad(ARGS("--name", "a b"), NULL, "--name", "letters, digits", NULL);
    parse_bad(ARGS("--etcd-cacert", "/nonexistent/ca.pem"), NULL, "--etcd-cacert",
              "cannot read '/nonexistent/ca.pem'", NULL);
    const char *ca = write_file("ca2.pem", "x\n");
    parse_bad(ARGS("--etcd-cert", ca), NULL, "--etcd-cert", "etcd_key is missing", NULL);
    parse_bad(ARGS("--admin-token-file", "/nonexistent/token"), NULL, "--admin-token-file",
              "cannot read", NULL);
    parse_bad(ARGS("--admin-token-file", write_file("short", "short\n")), NULL,
              "--admin-token-file", "at least 16 characters", NULL);
    parse_bad(ARGS("--etcd-endpoints", "127.0.0.1:2379,nope"), NULL, "--etcd-endpoints", "'nope'",
              NULL);
    parse_bad(ARGS("--prefix", "enjoliver"), NULL, "--prefix", "etcd_prefix", "ending with '/'",
              NULL);
    parse_bad(ARGS("--data-dir", "///"), NULL, "--data-dir", "'/' cannot be", NULL);
    parse_bad(ARGS("--local-etcd-client-port", "3000", "--local-etcd-peer-port", "3000"), NULL,
              "--local-etcd-client-port", "--local-etcd-peer-port", "must differ", NULL);
    parse_bad(ARGS("--sync-notify-ttl", "-1"), NULL, "--sync-notify-ttl", "0..86400", NULL);
    parse_bad(ARGS("--matchbox-uri", "ftp://m"), NULL, "--matchbox-uri", "http(s)://", NULL);
    /* A bad value is an error even when a later source overrides it. */
    parse_bad(ARGS("--sync-notify-ttl", "5"), ENV("ENJOLIVER_SYNC_NOTIFY_TTL=five"),
              "$ENJOLIVER_SYNC_NOTIFY_TTL", NULL);
    printf("ok: bad values name the key and the source\n");
}

static void test_warnings(void)
{
    const char *p = write_file("typo.yaml", "discovery_fqdn_verfy: false\n"
                                            "db_uri: cockroachdb://root@h1:26257\n"
                                            "aws_secret: s3cr3t\n"
                                            "something_else_entirely: 1\n");
    config_t c;
    int rc = parse(&c, ARGS("--config", p),
                   ENV("ENJOLIVER_ETC_HOST=[]", "ENJOLIVER_GUNICORN_WORKERS=4",
                       "ENJOLIVER_CONFIGS_YAML=/ignored/because/of/--config"));
    CHECK(rc == CONFIG_OK);
    char want[600];
    snprintf(want, sizeof want,
             "%s:1: unknown key 'discovery_fqdn_verfy' ignored (did you mean "
             "'discovery_fqdn_verify'?)",
             p);
    CHECKF(strstr(g_err, want) != NULL, "%s", want);
    CHECK(strstr(g_err, "'something_else_entirely' ignored\n") != NULL);
    CHECK(strstr(g_err, "$ENJOLIVER_ETC_HOST is not a configuration variable; ignored (did you "
                        "mean $ENJOLIVER_ETC_HOSTS?)") != NULL);
    CHECK(strstr(g_err, "db_uri") == NULL && strstr(g_err, "aws_secret") == NULL &&
          strstr(g_err, "GUNICORN") == NULL);
    CHECK(c.discovery_fqdn_verify == true); /* the misspelled key did nothing */
    check_list(&c.ignored_keys, LIST("db_uri", "aws_secret", "gunicorn_workers"));
    config_free(&c);
    printf("ok: unknown keys warn with the closest key; dropped keys are ignored\n");
}

static void test_json(void)
{
    const char *p = write_file("json.yaml", "api_uri: http://yaml:5000\n"
                                            "db_path: /x.sqlite\n"
                                            "admin_token: yaml-token-0123456789\n");
    const char *token = "env-token-abcdefghijklmnop";
    char tenv[128];
    snprintf(tenv, sizeof tenv, "ENJOLIVER_ADMIN_TOKEN=%s", token);
    config_t c;
    parse_ok(&c, ARGS("--config", p, "--sync-notify-ttl", "7"), ENV(tenv, "ENJOLIVER_SUB_IPS=32"));
    json_t *j = config_to_json(&c);
    CHECK(j != NULL);
    char *dump = json_dumps(j, JSON_SORT_KEYS);
    CHECK(strstr(dump, token) == NULL && strstr(dump, "yaml-token") == NULL);
    CHECK(STREQ(json_string_value(json_object_get(j, "admin_token")), "<redacted>"));
    CHECK(STREQ(json_string_value(json_object_get(j, "api_uri")), "http://yaml:5000"));
    CHECK(json_integer_value(json_object_get(j, "sub_ips")) == 32);
    CHECK(json_integer_value(json_object_get(j, "sync_notify_ttl")) == 7);
    CHECK(json_integer_value(json_object_get(j, "coreos_install_lock_seconds")) == 45);
    CHECK(json_is_true(json_object_get(j, "discovery_fqdn_verify")));
    CHECK(STREQ(json_string_value(json_object_get(j, "logging_level")), "info"));
    CHECK(STREQ(json_string_value(json_object_get(j, "listen_http")), "127.0.0.1:5000"));
    CHECK(json_is_null(json_object_get(j, "matchbox_uri")));
    CHECK(json_array_size(json_object_get(j, "etc_hosts")) == 1);
    CHECK(json_integer_value(json_object_get(json_object_get(j, "disks_ladder_gb"), "M")) == 20);
    CHECK(STREQ(
        json_string_value(json_object_get(json_object_get(j, "ignition_dict"), "kubernetes_nodes")),
        "kubernetes-node"));
    json_t *fy = json_object_get(j, "from_yaml"), *fe = json_object_get(j, "from_env");
    json_t *ff = json_object_get(j, "from_flags"), *fd = json_object_get(j, "default");
    CHECK(json_object_size(fy) == 1 && json_object_get(fy, "api_uri"));
    CHECK(json_object_size(fe) == 2 && json_integer_value(json_object_get(fe, "sub_ips")) == 32);
    CHECK(STREQ(json_string_value(json_object_get(fe, "admin_token")), "<redacted>"));
    CHECK(json_object_size(ff) == 1 && json_object_get(ff, "sync_notify_ttl"));
    CHECK(json_object_size(fd) == CONFIG_N_KEYS - 4 && json_object_get(fd, "vault_port"));
    json_t *sources = json_object_get(j, "sources");
    char want[600];
    snprintf(want, sizeof want, "%s:1", p);
    CHECK(STREQ(json_string_value(json_object_get(sources, "api_uri")), want));
    CHECK(STREQ(json_string_value(json_object_get(sources, "sub_ips")), "$ENJOLIVER_SUB_IPS"));
    CHECK(
        STREQ(json_string_value(json_object_get(sources, "sync_notify_ttl")), "--sync-notify-ttl"));
    CHECK(STREQ(json_string_value(json_object_get(sources, "vault_port")), "default"));
    CHECK(STREQ(json_string_value(json_object_get(j, "config_file")), p));
    CHECK(json_array_size(json_object_get(j, "ignored_keys")) == 1);
    free(dump);
    json_decref(j);
    config_free(&c);

    /* No token: null, not an empty string. */
    parse_ok(&c, NULL, NULL);
    j = config_to_json(&c);
    CHECK(json_is_null(json_object_get(j, "admin_token")));
    CHECK(json_is_null(json_object_get(j, "config_file")));
    CHECK(json_object_size(json_object_get(j, "default")) == CONFIG_N_KEYS);
    json_decref(j);
    config_free(&c);
    printf("ok: config_to_json shows values and sources, the token redacted\n");
}

static void test_help(void)
{
    config_t c;
    CHECK(parse(&c, ARGS("--help"), ENV("ENJOLIVER_SUB_IPS=bad")) == CONFIG_HELP);
    config_free(&c);
    static const char *const flags[] = {"--config",
                                        "--etcd-endpoints",
                                        "--data-dir",
                                        "--local-etcd-client-port",
                                        "--local-etcd-peer-port",
                                        "--etcd-bin",
                                        "--etcd-prefix",
                                        "--prefix",
                                        "--api-uri",
                                        "--matchbox-uri",
                                        "--matchbox-path",
                                        "--sync-notify-ttl",
                                        "--backup-dir",
                                        "--admin-token-file",
                                        "--install-lock-seconds",
                                        "--listen-http",
                                        "--listen-grpc",
                                        "--log-level",
                                        "--log-format",
                                        "--etcd-cacert",
                                        "--etcd-cert",
                                        "--etcd-key",
                                        "--name",
                                        "--lease-ttl",
                                        "--help",
                                        "--version",
                                        "ENJOLIVER_CONFIGS_YAML"};
    for (size_t i = 0; i < sizeof flags / sizeof flags[0]; i++) {
        char f[64];
        snprintf(f, sizeof f, "  %s ", flags[i]);
        CHECKF(strstr(g_out, f) != NULL || strstr(g_out, flags[i]) != NULL, "%s", flags[i]);
    }
    for (int i = 0; i < CONFIG_N_KEYS; i++) {
        char k[96];
        snprintf(k, sizeof k, "\n  %s (", config_key_name(i));
        CHECKF(strstr(g_out, k) != NULL, "key %s not in --help", config_key_name(i));
    }
    CHECK(strstr(g_out, "Default: 127.0.0.1:5001") != NULL);
    CHECK(strstr(g_out, "gunicorn_workers") != NULL);
    CHECK(parse(&c, ARGS("--version"), NULL) == CONFIG_HELP &&
          strstr(g_out, "enjoliverd ") != NULL);
    config_free(&c);
    printf("ok: --help lists every flag and key\n");
}

int main(void)
{
    snprintf(g_dir, sizeof g_dir, "%s/enj-config-XXXXXX",
             getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
    if (mkdtemp(g_dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    test_defaults();
    test_original_file();
    test_yaml_overrides_defaults();
    test_env_overrides_yaml();
    test_flags_override_env();
    test_bad_values();
    test_warnings();
    test_json();
    test_help();
    char cmd[300];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    if (system(cmd) != 0) {
        fprintf(stderr, "cannot remove %s\n", g_dir);
    }
    free(g_err);
    free(g_out);
    printf("ok: %d checks\n", g_checks);
    return 0;
}
