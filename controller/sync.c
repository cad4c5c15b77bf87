/* The matchbox sync. See sync.h. */
#include "sync.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "model/keys.h"
#include "model/machine.h"
#include "model/records.h"
#include "model/validate.h"
#include "sync_memo.h"

struct sync_s {
    const config_t *cfg;
    model_sync_config_t mc;
    model_sync_kv_t *selectors;
    model_sync_ladder_t *ladder;
    char **keys; /* ssh_authorized_keys contents, read per pass */
    size_t n_keys;
    sync_memo_t memo;                 /* every machine the sync considers (sync_memo.h) */
    bool all_dirty;                   /* the memo must be rebuilt from the whole cache */
    bool look_around;                 /* groups may have gone since the last full apply */
    char (*dirty)[MODEL_MAC_LEN + 1]; /* else: the MACs to look at again */
    size_t n_dirty, cap_dirty;
};

/* ---- configuration -------------------------------------------------------- */

static void map_config(sync_t *s)
{
    const config_t *c = s->cfg;
    model_sync_config_t *m = &s->mc;
    model_sync_config_defaults(m);
    m->api_uri = c->api_uri;
    m->assets_server_uri = c->assets_server_uri;
    m->kernel = c->kernel;
    m->initrd = c->initrd;
    m->ignition_discovery = c->ignition_dict.discovery;
    m->ignition_control_plane = c->ignition_dict.etcd_member_kubernetes_control_plane;
    m->ignition_node = c->ignition_dict.kubernetes_nodes;
    for (size_t i = 0; i < c->extra_selectors.n; i++)
        s->selectors[i] =
            (model_sync_kv_t){c->extra_selectors.keys[i], c->extra_selectors.values[i]};
    m->extra_selectors = s->selectors;
    m->n_extra_selectors = c->extra_selectors.n;
    m->etc_hosts = (const char *const *)c->etc_hosts.v;
    m->n_etc_hosts = c->etc_hosts.n;
    m->nameservers = (const char *const *)c->nameservers.v;
    m->n_nameservers = c->nameservers.n;
    m->ntp = (const char *const *)c->ntp.v;
    m->n_ntp = c->ntp.n;
    m->fallbackntp = (const char *const *)c->fallbackntp.v;
    m->n_fallbackntp = c->fallbackntp.n;
    m->kubernetes_etcd =
        (model_sync_etcd_t){c->kubernetes_etcd_data_dir, (unsigned)c->kubernetes_etcd_client_port,
                            (unsigned)c->kubernetes_etcd_peer_port};
    m->vault_etcd = (model_sync_etcd_t){c->vault_etcd_data_dir, (unsigned)c->vault_etcd_client_port,
                                        (unsigned)c->vault_etcd_peer_port};
    m->fleet_etcd = (model_sync_etcd_t){c->fleet_etcd_data_dir, (unsigned)c->fleet_etcd_client_port,
                                        (unsigned)c->fleet_etcd_peer_port};
    m->kubernetes_apiserver_insecure_port = (unsigned)c->kubernetes_apiserver_insecure_port;
    m->kubernetes_apiserver_insecure_bind_address = c->kubernetes_apiserver_insecure_bind_address;
    m->kubernetes_service_cluster_ip_range = c->kubernetes_service_cluster_ip_range;
    m->kubelet_healthz_port = (unsigned)c->kubelet_healthz_port;
    m->vault_port = (unsigned)c->vault_port;
    m->hyperkube_image_url = c->hyperkube_image_url;
    m->cephtools_image_url = c->cephtools_image_url;
    m->lldp_image_url = c->lldp_image_url;
    m->vault_polling_sec = c->vault_polling_sec;
    m->lifecycle_update_polling_sec = c->lifecycle_update_polling_sec;
    m->sub_ips = (unsigned)c->sub_ips;
    m->range_nb_ips = (unsigned)c->range_nb_ips;
    m->skip_ips = (unsigned)c->skip_ips;
    m->perennial_local_host_ip = c->perennial_local_host_ip;
    m->sync_replace_ip_by_fqdn = c->sync_replace_ip_by_fqdn;
    for (size_t i = 0; i < c->disks_ladder_gb.n; i++)
        s->ladder[i] = (model_sync_ladder_t){c->disks_ladder_gb.keys[i],
                                             (unsigned)c->disks_ladder_gb.values[i]};
    m->disks_ladder_gb = s->ladder;
    m->n_disks_ladder_gb = c->disks_ladder_gb.n;
    m->coreos_install_base_url = c->coreos_install_base_url;
}

int sync_new(const config_t *cfg, sync_t **out)
{
    sync_t *s = calloc(1, sizeof(*s));
    if (!s)
        return -ENOMEM;
    s->cfg = cfg;
    s->all_dirty = true;
    s->selectors = calloc(cfg->extra_selectors.n + 1, sizeof(*s->selectors));
    s->ladder = calloc(cfg->disks_ladder_gb.n + 1, sizeof(*s->ladder));
    if (!s->selectors || !s->ladder) {
        sync_free(s);
        return -ENOMEM;
    }
    map_config(s);
    *out = s;
    return 0;
}

int sync_check(const sync_t *s, model_err_t *err)
{
    return model_sync_config_check(&s->mc, err);
}

static void free_keys(sync_t *s)
{
    for (size_t i = 0; i < s->n_keys; i++)
        free(s->keys[i]);
    free(s->keys);
    s->keys = NULL;
    s->n_keys = 0;
}

void sync_free(sync_t *s)
{
    if (!s)
        return;
    free_keys(s);
    sync_memo_free(&s->memo);
    free(s->dirty);
    free(s->selectors);
    free(s->ladder);
    free(s);
}

const char *sync_dir(const sync_t *s)
{
    return s->cfg->matchbox_path;
}

/* ---- files ------------------------------------------------------------------ */

static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    char *buf = NULL;
    size_t cap = 0, n = 0;
    for (;;) {
        if (n + 4096 + 1 > cap) {
            cap = cap ? cap * 2 : 8192;
            char *b = realloc(buf, cap);
            if (!b) {
                free(buf);
                fclose(f);
                return NULL;
            }
            buf = b;
        }
        size_t r = fread(buf + n, 1, 4096, f);
        n += r;
        if (r < 4096)
            break;
    }
    fclose(f);
    buf[n] = '\0';
    *len = n;
    return buf;
}

/* The original read every file of ssh_authorized_keys/ that holds a space. */
static int read_ssh_keys(sync_t *s)
{
    free_keys(s);
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/ssh_authorized_keys", s->cfg->matchbox_path);
    DIR *d = opendir(dir);
    if (!d)
        return errno == ENOENT ? 0 : -errno;
    struct dirent *e;
    int rc = 0;
    char **names = NULL;
    size_t n = 0;
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        char **nn = realloc(names, (n + 1) * sizeof(*names));
        if (!nn || !(nn[n] = strdup(e->d_name)))
            rc = -ENOMEM;
        if (nn)
            names = nn;
        if (rc == 0)
            n++;
    }
    closedir(d);
    /* Sorted, so that the list and the files do not depend on readdir. */
    for (size_t i = 1; i < n; i++)
        for (size_t j = i; j > 0 && strcmp(names[j - 1], names[j]) > 0; j--) {
            char *t = names[j];
            names[j] = names[j - 1];
            names[j - 1] = t;
        }
    s->keys = calloc(n + 1, sizeof(*s->keys));
    for (size_t i = 0; rc == 0 && i < n; i++) {
        char path[1400];
        size_t len;
        snprintf(path, sizeof path, "%s/%s", dir, names[i]);
        char *text = read_file(path, &len);
        if (text && strchr(text, ' ') && s->keys)
            s->keys[s->n_keys++] = text;
        else
            free(text);
    }
    for (size_t i = 0; i < n; i++)
        free(names[i]);
    free(names);
    s->mc.ssh_authorized_keys = (const char *const *)s->keys;
    s->mc.n_ssh_authorized_keys = s->n_keys;
    return rc ? rc : s->keys ? 0 : -ENOMEM;
}

static int write_atomic(const char *path, const char *text, size_t len)
{
    char tmp[1500];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0)
        return -errno;
    size_t off = 0;
    int rc = 0;
    while (off < len) {
        ssize_t w = write(fd, text + off, len - off);
        if (w < 0) {
            rc = -errno;
            break;
        }
        off += (size_t)w;
    }
    if (rc == 0 && fsync(fd) != 0)
        rc = -errno;
    if (close(fd) != 0 && rc == 0)
        rc = -errno;
    if (rc == 0 && rename(tmp, path) != 0)
        rc = -errno;
    if (rc)
        unlink(tmp);
    return rc;
}

/* Ours: "<control-plane or node profile>-<12 hex digits>.json". */
static bool owned_group(const char *name)
{
    const char *profiles[] = {MODEL_SYNC_PROFILE_CONTROL_PLANE "-", MODEL_SYNC_PROFILE_NODE "-"};
    for (int i = 0; i < 2; i++) {
        size_t p = strlen(profiles[i]);
        if (strncmp(name, profiles[i], p) != 0)
            continue;
        const char *h = name + p;
        for (int k = 0; k < 12; k++)
            if (!((h[k] >= '0' && h[k] <= '9') || (h[k] >= 'a' && h[k] <= 'f')))
                return false;
        return strcmp(h + 12, ".json") == 0;
    }
    return false;
}

static int cmp_path(const void *key, const void *f)
{
    return strcmp(key, ((const model_sync_file_t *)f)->path);
}

/* Is groups/<name> planned, or the group of a skipped machine? A skipped
 * machine keeps the file it had: booting it as before is safer than
 * sending it back to discovery, and the skip is reported until fixed. */
static bool keep_group(const model_sync_files_t *files, const char *rel, const char *name)
{
    if (bsearch(rel, files->files, files->n, sizeof *files->files, cmp_path))
        return true;                          /* files are sorted by path */
    const char *hex = strrchr(name, '-') + 1; /* owned_group() checked the shape */
    for (size_t i = 0; i < files->n_skipped; i++) {
        const char *m = files->skipped[i].mac;
        size_t k = 0;
        for (; *m && k < 12; m++)
            if (*m != ':' && *m == hex[k])
                k++;
            else if (*m != ':')
                break;
        if (k == 12 && !*m)
            return true;
    }
    return false;
}

static int remove_orphans(sync_t *s, const model_sync_files_t *files, sync_result_t *res)
{
    char dir[1024];
    snprintf(dir, sizeof dir, "%s/groups", s->cfg->matchbox_path);
    DIR *d = opendir(dir);
    if (!d)
        return -errno;
    struct dirent *e;
    int rc = 0;
    while ((e = readdir(d))) {
        char rel[600], path[1400];
        snprintf(rel, sizeof rel, "groups/%s", e->d_name);
        if (!owned_group(e->d_name) || keep_group(files, rel, e->d_name))
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        if (unlink(path) == 0)
            res->removed++;
        else if (errno != ENOENT)
            rc = -errno;
    }
    closedir(d);
    return rc;
}

static bool same_stat(const struct stat *st, const sync_memo_entry_t *e)
{
    return st->st_size == e->size && st->st_mtim.tv_sec == e->mtime.tv_sec &&
           st->st_mtim.tv_nsec == e->mtime.tv_nsec;
}

/* Writes one file unless it already holds its text. A reused machine
 * group (model_sync_generate_reusing()) was found on disk, unchanged since
 * the sync wrote it, by sync_generate(): nothing to do. */
static int write_file(sync_t *s, const model_sync_file_t *f, sync_result_t *res)
{
    if (f->reused) {
        res->unchanged++;
        return 0;
    }
    char path[1400];
    snprintf(path, sizeof path, "%s/%s", s->cfg->matchbox_path, f->path);
    size_t old_len = 0;
    char *old = read_file(path, &old_len);
    bool same = old && old_len == f->len && memcmp(old, f->text, f->len) == 0;
    free(old);
    if (same) {
        res->unchanged++;
    } else {
        int rc = write_atomic(path, f->text, f->len);
        if (rc)
            return rc;
        res->written++;
    }
    sync_memo_entry_t *e = f->mac[0] ? sync_memo_find(&s->memo, f->mac) : NULL;
    struct stat st;
    if (e && stat(path, &st) == 0) {
        e->on_disk = true;
        e->size = st.st_size;
        e->mtime = st.st_mtim;
    }
    return 0;
}

static int write_files(sync_t *s, const model_sync_files_t *files, bool look_around,
                       sync_result_t *res, model_err_t *err)
{
    for (const char *sub = "groups"; sub; sub = strcmp(sub, "groups") == 0 ? "profiles" : NULL) {
        char dir[1100];
        snprintf(dir, sizeof dir, "%s/%s", s->cfg->matchbox_path, sub);
        if (mkdir(dir, 0755) != 0 && errno != EEXIST)
            return model_err_set(err, NULL, "cannot create %s: %s", dir, strerror(errno)), -errno;
    }
    for (size_t i = 0; i < files->n; i++) {
        int rc = write_file(s, &files->files[i], res);
        if (rc) {
            model_err_set(err, NULL, "cannot write %s/%s: %s", s->cfg->matchbox_path,
                          files->files[i].path, strerror(-rc));
            return rc;
        }
    }
    int rc = look_around ? remove_orphans(s, files, res) : 0;
    if (rc)
        model_err_set(err, NULL, "cannot clean %s/groups: %s", s->cfg->matchbox_path,
                      strerror(-rc));
    return rc;
}

/* ---- the pass ----------------------------------------------------------------- */

/* What an earlier pass gave mac, as the generator takes it; zeros when
 * nothing (or something unreadable) is recorded. */
typedef struct given_s {
    uint32_t start, end;
    unsigned name_slot; /* 1 + index in set, 0: none */
    const char *set;    /* "cp" or "node" */
} given_t;

/* g.set is valid until rec is released. */
static given_t recorded(json_t *rec)
{
    given_t g = {0};
    const char *s = json_string_value(json_object_get(rec, "start"));
    const char *e = json_string_value(json_object_get(rec, "end"));
    if (!s || !e || model_ipv4_parse(s, &g.start, NULL, NULL) != 0 ||
        model_ipv4_parse(e, &g.end, NULL, NULL) != 0)
        g.start = g.end = 0;
    json_t *idx = json_object_get(rec, "index");
    g.set = json_string_value(json_object_get(rec, "set"));
    if (g.set && json_is_integer(idx) && json_integer_value(idx) >= 0 &&
        json_integer_value(idx) < 1000000)
        g.name_slot = (unsigned)json_integer_value(idx) + 1;
    return g;
}

static const char *set_name(unsigned roles)
{
    return roles == MODEL_SYNC_ROLES_CONTROL_PLANE ? "cp" : "node";
}

/* The facts of a machine as of its mod revision rev, into e: read again
 * only when e holds older ones. */
static int refresh_facts(sync_memo_entry_t *e, json_t *m, int64_t rev)
{
    if (e->rev == rev && rev != 0)
        return 0;
    int rc = model_rec_sync_facts(m, &e->facts);
    e->rev = rc == 0 ? rev : 0;
    return rc;
}

/* Fills e from the cache for mac and its schedule: 1 when the sync
 * considers the machine, 0 when not (no syncable roles, no facts), or
 * -ENOMEM. */
static int fill_entry(sync_t *s, api_cache_t *cache, sync_memo_entry_t *e, const char *mac,
                      json_t *schedule)
{
    unsigned roles = model_rec_roles(schedule);
    if (roles != MODEL_SYNC_ROLES_CONTROL_PLANE && roles != MODEL_SYNC_ROLES_NODE)
        return 0; /* partial or mixed roles: nothing the original would sync */
    json_t *idx = api_cache_get(cache, MODEL_K_MACS, mac);
    const char *uuid = json_string_value(json_object_get(idx, "uuid"));
    json_t *m = uuid ? api_cache_get(cache, MODEL_K_MACHINES, uuid) : NULL;
    if (!m)
        return 0; /* a schedule of a forgotten machine */
    char key[MODEL_KEY_MAX];
    const char *value;
    size_t len;
    int64_t rev = 0, created;
    if (model_key(key, sizeof key, s->cfg->etcd_prefix, MODEL_K_MACHINES, uuid) < 0 ||
        !api_cache_peek(cache, key, &value, &len, &rev, &created))
        rev = 0;
    int rc = refresh_facts(e, m, rev);
    if (rc)
        return rc == -ENOMEM ? rc : 0; /* undecodable facts: nothing to sync */
    json_t *rec = api_cache_load(cache, MODEL_K_ALLOCATIONS, mac);
    given_t g = recorded(rec);
    e->touched = true;
    e->sched_roles = roles;
    e->rec_start = g.start;
    e->rec_end = g.end;
    e->rec_slot = g.set && strcmp(g.set, set_name(roles)) == 0 ? g.name_slot : 0;
    json_decref(rec);
    return 1;
}

typedef struct rebuild_s {
    sync_t *s;
    api_cache_t *cache;
    sync_memo_t next;
    int err;
} rebuild_t;

static int rebuild_one(const char *mac, json_t *schedule, void *arg)
{
    rebuild_t *r = arg;
    sync_memo_entry_t *e = sync_memo_carry(&r->s->memo, &r->next, mac);
    int rc = e ? fill_entry(r->s, r->cache, e, mac, schedule) : -ENOMEM;
    if (e && rc <= 0)
        r->next.n--; /* appended, not kept */
    r->err = rc < 0 ? rc : 0;
    return rc < 0;
}

static int add_alloc(sync_plan_t *p, const char *mac, char *value)
{
    sync_alloc_t *a = realloc(p->allocs, (p->n_allocs + 1) * sizeof(*a));
    if (!a) {
        free(value);
        return -ENOMEM;
    }
    p->allocs = a;
    snprintf(a[p->n_allocs].mac, sizeof a->mac, "%s", mac);
    a[p->n_allocs++].value = value;
    return 0;
}

typedef struct stale_s {
    sync_t *s;
    sync_plan_t *plan;
    int err;
} stale_t;

/* The allocations of a machine the sync no longer considers are released. */
static int release_stale(const char *mac, json_t *rec, void *arg)
{
    stale_t *st = arg;
    (void)rec;
    if (sync_memo_find(&st->s->memo, mac))
        return 0;
    st->err = add_alloc(st->plan, mac, NULL);
    return st->err != 0;
}

/* The whole memo again from the cache (first pass, a resync, a new
 * leadership): every schedule, every allocation record. */
static int rebuild(sync_t *s, api_cache_t *cache, sync_plan_t *plan)
{
    rebuild_t r = {.s = s, .cache = cache};
    int rc = api_cache_foreach(cache, MODEL_K_SCHEDULES, rebuild_one, &r);
    uint64_t digest = s->memo.digest;
    sync_memo_free(&s->memo); /* entries carried over now live in next */
    s->memo = r.next;
    s->memo.digest = digest;
    /* An incomplete walk must not release the records of machines it did
     * not get to. */
    if (r.err || rc < 0)
        return r.err ? r.err : rc;
    stale_t st = {s, plan, 0};
    rc = api_cache_foreach(cache, MODEL_K_ALLOCATIONS, release_stale, &st);
    return st.err ? st.err : rc < 0 ? rc : 0;
}

static int cmp_dirty(const void *a, const void *b)
{
    return strcmp(a, b);
}

/* Only the MACs that changed since the last pass. */
static int refresh_dirty(sync_t *s, api_cache_t *cache, sync_plan_t *plan)
{
    if (s->n_dirty > 1)
        qsort(s->dirty, s->n_dirty, sizeof *s->dirty, cmp_dirty);
    int rc = 0;
    for (size_t i = 0; rc == 0 && i < s->n_dirty; i++) {
        const char *mac = s->dirty[i];
        if (i > 0 && strcmp(mac, s->dirty[i - 1]) == 0)
            continue;
        json_t *schedule = api_cache_get(cache, MODEL_K_SCHEDULES, mac);
        sync_memo_entry_t *e = schedule ? sync_memo_upsert(&s->memo, mac) : NULL;
        rc = schedule && !e ? -ENOMEM : e ? fill_entry(s, cache, e, mac, schedule) : 0;
        if (rc == 0) {
            plan->look_around = plan->look_around || sync_memo_find(&s->memo, mac);
            sync_memo_remove(&s->memo, mac);
            if (api_cache_has(cache, MODEL_K_ALLOCATIONS, mac))
                rc = add_alloc(plan, mac, NULL);
        }
        rc = rc < 0 ? rc : 0;
    }
    return rc;
}

void sync_changed(sync_t *s, api_cache_t *cache, const char *key)
{
    const char *prefix = s->cfg->etcd_prefix, *id;
    size_t klen = strlen(key);
    char mac[MODEL_MAC_LEN + 1] = "";
    if (!*key) {
        s->all_dirty = true;
    } else if ((id = model_key_id(key, klen, prefix, MODEL_K_SCHEDULES)) ||
               (id = model_key_id(key, klen, prefix, MODEL_K_ALLOCATIONS))) {
        snprintf(mac, sizeof mac, "%s", id);
    } else if ((id = model_key_id(key, klen, prefix, MODEL_K_MACHINES))) {
        json_t *m = api_cache_get(cache, MODEL_K_MACHINES, id);
        const char *boot = json_string_value(json_object_get(m, "boot_mac"));
        for (size_t i = 0; !boot && i < s->memo.n; i++) /* gone: which one was it? */
            if (strcmp(s->memo.v[i].facts.uuid, id) == 0)
                boot = s->memo.v[i].mac;
        snprintf(mac, sizeof mac, "%s", boot ? boot : "");
    }
    if (!mac[0] || s->all_dirty)
        return;
    if (s->n_dirty == s->cap_dirty) {
        size_t cap = s->cap_dirty ? s->cap_dirty * 2 : 64;
        void *d = realloc(s->dirty, cap * sizeof *s->dirty);
        if (!d) {
            s->all_dirty = true; /* the next pass looks at everything */
            return;
        }
        s->dirty = d;
        s->cap_dirty = cap;
    }
    memcpy(s->dirty[s->n_dirty++], mac, sizeof *s->dirty);
}

/* The generator's input, one per memo entry. */
static int fill_plan(sync_t *s, sync_plan_t *plan)
{
    size_t n = s->memo.n;
    plan->ms = calloc(n ? n : 1, sizeof(*plan->ms));
    plan->reuse = calloc(n ? n : 1, sizeof(*plan->reuse));
    if (!plan->ms || !plan->reuse)
        return -ENOMEM;
    for (size_t i = 0; i < n; i++) {
        const sync_memo_entry_t *e = &s->memo.v[i];
        plan->ms[i] =
            (model_sync_machine_t){NULL, e->sched_roles, e->rec_start, e->rec_slot, &e->facts};
        /* Still to check on disk (sync_generate()) when touched. */
        plan->reuse[i] = e->on_disk && e->gen_rev == e->rev && e->roles == e->sched_roles &&
                         e->pod_start == e->rec_start && e->name_index + 1 == e->rec_slot &&
                         e->digest == s->memo.digest;
        /* A machine whose roles changed leaves a group of the other set. */
        plan->look_around = plan->look_around || (e->roles && e->roles != e->sched_roles);
    }
    plan->n = n;
    return 0;
}

/* Notes what each machine's group is now generated for; a group
 * rendered again is not on disk until sync_apply() writes or finds it. */
static void note_generated(sync_memo_t *memo, const model_sync_files_t *files)
{
    for (size_t i = 0; i < files->n; i++) {
        const model_sync_file_t *f = &files->files[i];
        sync_memo_entry_t *e = f->mac[0] ? sync_memo_find(memo, f->mac) : NULL;
        if (!e)
            continue;
        e->roles = strncmp(f->id, MODEL_SYNC_PROFILE_CONTROL_PLANE "-",
                           strlen(MODEL_SYNC_PROFILE_CONTROL_PLANE) + 1) == 0
                       ? MODEL_SYNC_ROLES_CONTROL_PLANE
                       : MODEL_SYNC_ROLES_NODE;
        e->pod_start = f->pod_start;
        e->name_index = f->name_index;
        e->digest = files->digest;
        e->gen_rev = e->rev;
        if (!f->reused)
            e->on_disk = false;
    }
    memo->digest = files->digest;
}

/* A reuse candidate whose file changed behind the sync's back (or went)
 * is rendered again. Only machines read again are looked at (all of them
 * after a resync or a new leadership): a pass costs what changed. */
static void check_on_disk(sync_t *s, sync_plan_t *p)
{
    for (size_t i = 0; i < p->n; i++) {
        sync_memo_entry_t *e = &s->memo.v[i];
        bool touched = e->touched;
        e->touched = false;
        if (!p->reuse[i] || !touched)
            continue;
        char id[64], path[1400];
        struct stat st;
        model_sync_group_id(p->ms[i].roles, e->mac, id, sizeof id);
        snprintf(path, sizeof path, "%s/groups/%s.json", s->cfg->matchbox_path, id);
        p->reuse[i] = stat(path, &st) == 0 && same_stat(&st, e);
    }
}

static char *record(const model_sync_file_t *f, const char *by)
{
    char s[16], e[16];
    bool cp = strncmp(f->id, MODEL_SYNC_PROFILE_CONTROL_PLANE "-",
                      strlen(MODEL_SYNC_PROFILE_CONTROL_PLANE) + 1) == 0;
    json_t *v =
        json_pack("{s:i, s:s, s:s, s:s, s:i, s:s}", "schema", MODEL_SCHEMA, "start",
                  model_ipv4_format(f->pod_start, s), "end", model_ipv4_format(f->pod_end, e),
                  "set", cp ? "cp" : "node", "index", (json_int_t)f->name_index, "by", by);
    char *text = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS) : NULL;
    json_decref(v);
    return text;
}

/* New or changed allocations of the planned groups. */
static int plan_puts(sync_t *s, const char *by, sync_plan_t *p)
{
    for (size_t i = 0; i < p->files.n; i++) {
        const model_sync_file_t *f = &p->files.files[i];
        const sync_memo_entry_t *e = f->mac[0] ? sync_memo_find(&s->memo, f->mac) : NULL;
        if (!e || (e->rec_start == f->pod_start && e->rec_end == f->pod_end &&
                   e->rec_slot == f->name_index + 1))
            continue; /* rec_slot is only set for the roles of the schedule */
        char *text = record(f, by);
        int rc = text ? add_alloc(p, f->mac, text) : -ENOMEM;
        if (rc)
            return rc;
    }
    return 0;
}

int sync_collect(sync_t *s, api_cache_t *cache, sync_plan_t *plan, model_err_t *err)
{
    memset(plan, 0, sizeof(*plan));
    plan->revision = api_cache_revision(cache);
    plan->look_around = s->all_dirty;
    int rc = s->all_dirty ? rebuild(s, cache, plan) : refresh_dirty(s, cache, plan);
    s->n_dirty = 0;
    s->all_dirty = rc != 0;
    if (rc == 0)
        rc = fill_plan(s, plan);
    s->look_around = s->look_around || plan->look_around;
    if (rc) {
        model_err_set(err, NULL, "out of memory");
        sync_plan_free(plan);
        s->all_dirty = true;
    }
    return rc;
}

int sync_generate(sync_t *s, sync_plan_t *plan, model_err_t *err)
{
    struct stat st;
    if (stat(s->cfg->matchbox_path, &st) != 0 || !S_ISDIR(st.st_mode)) {
        model_err_set(err, NULL, "the matchbox directory %s is missing", s->cfg->matchbox_path);
        return -ENOENT;
    }
    int rc = read_ssh_keys(s);
    if (rc) {
        model_err_set(err, NULL, "cannot read %s/ssh_authorized_keys: %s", s->cfg->matchbox_path,
                      strerror(-rc));
        return rc;
    }
    check_on_disk(s, plan);
    rc = model_sync_generate_reusing(&s->mc, plan->ms, plan->n, plan->reuse, s->memo.digest,
                                     &plan->files, err);
    if (rc == 0)
        note_generated(&s->memo, &plan->files);
    return rc;
}

int sync_records(sync_t *s, const char *by, sync_plan_t *plan, model_err_t *err)
{
    int rc = plan_puts(s, by, plan);
    if (rc == -ENOMEM)
        model_err_set(err, NULL, "out of memory");
    return rc;
}

void sync_plan_free(sync_plan_t *plan)
{
    model_sync_files_free(&plan->files);
    for (size_t i = 0; i < plan->n_allocs; i++)
        free(plan->allocs[i].value);
    free(plan->allocs);
    free(plan->ms);
    free(plan->reuse);
    memset(plan, 0, sizeof(*plan));
}

int sync_apply(sync_t *s, const sync_plan_t *plan, sync_result_t *res, model_err_t *err)
{
    memset(res, 0, sizeof(*res));
    res->revision = plan->revision;
    int rc = write_files(s, &plan->files, s->look_around, res, err);
    if (rc == 0)
        s->look_around = false;
    return rc;
}
