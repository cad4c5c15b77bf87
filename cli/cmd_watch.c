/*
 * "enjoliverctl watch machines|events": server streams printed as they
 * arrive, one line per message (table), one JSON object per line (json) or
 * one YAML document per message (yaml), stdout flushed after each so that a
 * pipe sees it at once.
 *
 * A watch ends on SIGINT/SIGTERM or after --count messages (exit 0), or when
 * the server ends the stream (exit 0 if its status is OK, else 1).
 */
#include <errno.h>
#include <string.h>

#include "ctl.h"
#include "machine_view.h"
#include "names.h"
#include "pbjson.h"

enum { F_MAC = 0x300, F_MACHINE, F_RESUME, F_COUNT, F_LIMIT };

static const struct option OPTIONS[] = {
    {"mac", required_argument, NULL, F_MAC},       {"machine", required_argument, NULL, F_MACHINE},
    {"resume", required_argument, NULL, F_RESUME}, {"count", required_argument, NULL, F_COUNT},
    {"limit", required_argument, NULL, F_LIMIT},   {0},
};

struct watch_args {
    const char *mac;     /* machines --mac */
    const char *machine; /* events --machine */
    long long resume;    /* 0: from the current state */
    long long count;     /* 0: until stopped */
    long long limit;     /* events --limit */
};

static void help(FILE *out)
{
    fputs("Usage: enjoliverctl watch machines [--mac MAC] [--resume REV] [--count N]\n"
          "       enjoliverctl watch events [--machine MAC] [--resume REV] [--limit N]\n"
          "                                 [--count N]\n"
          "\n"
          "Follows changes as enjoliverd sees them, one line per message (-o table:\n"
          "a header line first, then fixed-width columns), one JSON object per line\n"
          "(-o json) or one YAML document per message (-o yaml).\n"
          "\n"
          "  machines  without --resume: every machine first (type SNAPSHOT), then one\n"
          "            SNAPSHOT_END carrying the revision they were read at, then each\n"
          "            change (PUT, DELETE)\n"
          "  events    without --resume: the latest events first (at most --limit), then\n"
          "            one line with an empty kind ('-' in a table) marking the end of\n"
          "            what was recorded, then new events as they are recorded\n"
          "\n"
          "Flags:\n"
          "  --mac MAC       (machines) only this machine\n"
          "  --machine MAC   (events) only this machine's events\n"
          "  --resume REV    the changes from etcd revision REV on, none missed and none\n"
          "                  twice (a revision from 'get' + 1); fails with OUT_OF_RANGE\n"
          "                  when REV is compacted\n"
          "  --limit N       (events) how many recorded events to send first, 1..1000\n"
          "  --count N       exit 0 after N messages (markers included)\n"
          "\n"
          "Stops with exit 0 on SIGINT or SIGTERM, or when --count is reached; when the\n"
          "server ends the stream: exit 0 if its status is OK, else the status on stderr\n"
          "and exit 1.\n"
          "\n",
          out);
    help_global_flags(out);
}

static int on_flag(void *arg, int opt, const char *value)
{
    struct watch_args *w = arg;

    switch (opt) {
    case F_MAC:
        w->mac = value;
        return 0;
    case F_MACHINE:
        w->machine = value;
        return 0;
    case F_RESUME:
        if (ctl_parse_ll(value, 1, INT64_MAX, &w->resume) < 0)
            return ctl_usage_error("watch", "--resume: '%s' is not a revision (>= 1)", value);
        return 0;
    case F_COUNT:
        if (ctl_parse_ll(value, 1, INT64_MAX, &w->count) < 0)
            return ctl_usage_error("watch", "--count: '%s' is not a number >= 1", value);
        return 0;
    case F_LIMIT:
        if (ctl_parse_ll(value, 1, 1000, &w->limit) < 0)
            return ctl_usage_error("watch", "--limit: '%s' is not a number from 1 to 1000", value);
        return 0;
    }
    return 1;
}

/* ---- one line per message ------------------------------------------------ */

static const size_t MACHINE_W[] = {12, 8, 36, 17, 15, 14, 0};
static const char *const MACHINE_HEAD[] = {"TYPE", "REVISION", "UUID", "BOOT MAC",
                                           "IPV4", "STATE",    "ROLES"};
static const size_t EVENT_W[] = {20, 8, 16, 17, 12, 0};
static const char *const EVENT_HEAD[] = {"TIME",    "REVISION", "KIND",
                                         "MACHINE", "REPLICA",  "MESSAGE"};

static void machine_row(const ProtobufCMessage *msg)
{
    const Enjoliver__V1__MachineEvent *ev = (const Enjoliver__V1__MachineEvent *)msg;
    const Enjoliver__V1__Machine *m = ev->machine;
    const char *type = pbjson_enum_name(&enjoliver__v1__machine_event__type__descriptor, ev->type);
    char rev[32], roles[128];
    const char *cells[7] = {type, rev};

    snprintf(rev, sizeof rev, "%lld", (long long)ev->revision);
    if (m != NULL) {
        cells[2] = m->uuid;
        cells[3] = m->boot_mac;
        cells[4] = machine_ipv4(m);
        cells[5] = machine_state(m);
        cells[6] = machine_roles(m, roles, sizeof roles);
    }
    out_fixed_row(stdout, 7, MACHINE_W, cells);
}

static void event_row(const ProtobufCMessage *msg)
{
    const Enjoliver__V1__Event *e = (const Enjoliver__V1__Event *)msg;
    char when[32], rev[32];
    const char *cells[6] = {
        out_time(e->unix_ms, when, sizeof when), rev, e->kind, e->machine, e->replica, e->message};

    snprintf(rev, sizeof rev, "%lld", (long long)e->revision);
    /* The marker between recorded and new events has no kind. */
    if (e->kind[0] == '\0')
        cells[5] = "(end of the recorded events; new ones follow)";
    out_fixed_row(stdout, 6, EVENT_W, cells);
}

struct watch_view {
    const char *what; /* for errors: "watch machines" */
    const char *path;
    const ProtobufCMessageDescriptor *desc;
    size_t ncols;
    const size_t *widths;
    const char *const *head;
    void (*row)(const ProtobufCMessage *msg);
};

static int print_message(const struct ctl *ctl, const struct watch_view *v,
                         const ProtobufCMessage *msg)
{
    json_t *j;
    int rc = 0;

    if (ctl->out == OUT_TABLE) {
        v->row(msg);
    } else {
        if ((j = pbjson_message(msg)) == NULL)
            return -ENOMEM;
        if (ctl->out == OUT_YAML)
            fputs("---\n", stdout);
        rc = ctl->out == OUT_YAML ? out_yaml(j, stdout) : out_json_line(j, stdout);
        json_decref(j);
    }
    if (fflush(stdout) == EOF)
        rc = -EIO;
    return rc;
}

/* ---- the stream ---------------------------------------------------------- */

/* Reads messages until the end, a signal or the count; the exit code. */
static int pump(struct ctl *ctl, const struct watch_view *v, struct rpc_stream *s, long long count)
{
    ProtobufCMessage *msg;
    long long seen = 0;
    int rc;

    while (count == 0 || seen < count) {
        rc = rpc_stream_next(s, &msg, &ctl_stop);
        if (rc == -EINTR)
            return EXIT_OK;
        if (rc == 0)
            return -1; /* ended by the server: its status decides */
        if (rc < 0)
            return ctl_error("%s: the server sent something that is not a %s", v->what,
                             v->desc->name);
        rc = print_message(ctl, v, msg);
        protobuf_c_message_free_unpacked(msg, NULL);
        if (rc < 0)
            return ctl_error("%s: cannot write the output", v->what);
        seen++;
    }
    return EXIT_OK;
}

static int watch(struct ctl *ctl, const struct watch_view *v, const ProtobufCMessage *req,
                 long long count)
{
    struct rpc_status st = {0};
    struct rpc_stream *s;
    int rc;

    if ((rc = ctl_connect(ctl)) != EXIT_OK)
        return rc;
    ctl_catch_stop_signals();
    if (rpc_stream_open(ctl->conn, v->path, req, v->desc, 0, &s) < 0)
        return ctl_error("%s: cannot start the call", v->what);
    if (ctl->out == OUT_TABLE) {
        out_fixed_row(stdout, v->ncols, v->widths, v->head);
        fflush(stdout);
    }
    rc = pump(ctl, v, s, count);
    if (rpc_stream_finish(s, &st) < 0 && rc == -1)
        rc = ctl_rpc_error(&st, "%s", v->what);
    else if (rc == -1)
        rc = EXIT_OK;
    rpc_status_clear(&st);
    return rc;
}

static int watch_machines(struct ctl *ctl, const struct watch_args *w)
{
    static const struct watch_view v = {"watch machines",
                                        "/enjoliver.v1.Machines/Watch",
                                        &enjoliver__v1__machine_event__descriptor,
                                        7,
                                        MACHINE_W,
                                        MACHINE_HEAD,
                                        machine_row};
    Enjoliver__V1__WatchMachinesRequest req = ENJOLIVER__V1__WATCH_MACHINES_REQUEST__INIT;

    req.resume_revision = w->resume;
    if (w->mac != NULL)
        req.mac = (char *)w->mac;
    return watch(ctl, &v, &req.base, w->count);
}

static int watch_events(struct ctl *ctl, const struct watch_args *w)
{
    static const struct watch_view v = {"watch events",
                                        "/enjoliver.v1.Events/Watch",
                                        &enjoliver__v1__event__descriptor,
                                        6,
                                        EVENT_W,
                                        EVENT_HEAD,
                                        event_row};
    Enjoliver__V1__WatchEventsRequest req = ENJOLIVER__V1__WATCH_EVENTS_REQUEST__INIT;

    req.resume_revision = w->resume;
    req.limit = (uint32_t)w->limit;
    if (w->machine != NULL)
        req.machine = (char *)w->machine;
    return watch(ctl, &v, &req.base, w->count);
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    struct watch_args w = {0};
    int first, rc;

    rc = ctl_parse(ctl, &CMD_WATCH, argc, argv, OPTIONS, on_flag, &w, &first);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (first >= argc)
        return ctl_usage_error("watch", "watch what? machines or events");
    if (argc - first > 1)
        return ctl_usage_error("watch", "watch %s: too many arguments", argv[first]);
    if (strcmp(argv[first], "machines") == 0) {
        if (w.machine != NULL || w.limit != 0)
            return ctl_usage_error("watch", "--machine and --limit apply to 'watch events'");
        return watch_machines(ctl, &w);
    }
    if (strcmp(argv[first], "events") == 0) {
        if (w.mac != NULL)
            return ctl_usage_error("watch", "--mac applies to 'watch machines'");
        return watch_events(ctl, &w);
    }
    return ctl_usage_error("watch", "watch: unknown stream '%s' (machines or events)", argv[first]);
}

const struct ctl_cmd CMD_WATCH = {
    .name = "watch",
    .summary = "follow machines or events as they change",
    .run = run,
    .help = help,
};
