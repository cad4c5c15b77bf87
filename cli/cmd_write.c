/*
 * The admin writes: "schedule MAC ROLES" (Schedules.Set) and "rolling
 * enable|disable MAC" (Lifecycle.SetRolling). Role names and strategies are
 * checked here, before any call, so that a typo is a usage error (exit 2)
 * rather than a server error.
 */
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "names.h"
#include "pbjson.h"

enum { F_STRATEGY = 0x400 };

static const struct option ROLLING_OPTIONS[] = {
    {"strategy", required_argument, NULL, F_STRATEGY},
    {0},
};

static void schedule_help(FILE *out)
{
    fputs("Usage: enjoliverctl schedule MAC ROLE[,ROLE...]\n"
          "\n"
          "Gives the machine with boot MAC these roles (Schedules.Set, as POST\n"
          "/scheduler does: roles it already has are kept). An admin call: needs\n"
          "--token-file when enjoliverd has an admin token. Prints the machine's\n"
          "schedule as the server recorded it, every role included.\n"
          "\n"
          "Roles: " ROLE_NAMES ".\n"
          "The server refuses sets its scheduler does not take (INVALID_ARGUMENT).\n"
          "\n"
          "Example: enjoliverctl schedule 52:54:00:e8:32:5b "
          "etcd-member,kubernetes-control-plane\n"
          "\n",
          out);
    help_global_flags(out);
}

static void rolling_help(FILE *out)
{
    fputs("Usage: enjoliverctl rolling enable MAC [--strategy kexec|reboot|poweroff]\n"
          "       enjoliverctl rolling disable MAC\n"
          "\n"
          "Enables or disables rolling updates of the machine with this MAC\n"
          "(Lifecycle.SetRolling, as POST/DELETE /lifecycle/rolling/<mac> do). An\n"
          "admin call: needs --token-file when enjoliverd has an admin token. Prints\n"
          "the setting as the server recorded it.\n"
          "\n"
          "Flags:\n"
          "  --strategy S   how the machine applies an update: kexec, reboot or\n"
          "                 poweroff (default: the server's, kexec)\n"
          "\n",
          out);
    help_global_flags(out);
}

/* Prints the answer to a write: a sentence, or the message as a document. */
static int report(const struct ctl *ctl, const ProtobufCMessage *resp, const char *sentence)
{
    if (ctl->out != OUT_TABLE)
        return ctl_emit(ctl, pbjson_message(resp));
    puts(sentence);
    return fflush(stdout) == EOF ? ctl_error("cannot write the output") : EXIT_OK;
}

static int call(struct ctl *ctl, const char *path, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, ProtobufCMessage **resp, const char *what)
{
    struct rpc_status st = {0};
    int rc;

    if ((rc = ctl_connect(ctl)) != EXIT_OK)
        return rc;
    if (rpc_unary(ctl->conn, path, req, desc, resp, &st) < 0)
        rc = ctl_rpc_error(&st, "%s", what);
    rpc_status_clear(&st);
    return rc;
}

static int set_schedule(struct ctl *ctl, const char *mac, Enjoliver__V1__Role *roles, size_t n)
{
    Enjoliver__V1__SetScheduleRequest req = ENJOLIVER__V1__SET_SCHEDULE_REQUEST__INIT;
    const Enjoliver__V1__Schedule *s;
    ProtobufCMessage *resp;
    char what[128], line[512], names[128];
    int rc;

    req.mac = (char *)mac;
    req.roles = roles;
    req.n_roles = n;
    snprintf(what, sizeof what, "schedule %s", mac);
    if ((rc = call(ctl, "/enjoliver.v1.Schedules/Set", &req.base,
                   &enjoliver__v1__schedule__descriptor, &resp, what)) != EXIT_OK)
        return rc;
    s = (const Enjoliver__V1__Schedule *)resp;
    snprintf(line, sizeof line, "%s scheduled: %s (revision %lld)", s->mac,
             roles_join(s->roles, s->n_roles, names, sizeof names), (long long)s->revision);
    rc = report(ctl, resp, line);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

static int schedule_run(struct ctl *ctl, int argc, char **argv)
{
    Enjoliver__V1__Role *roles;
    char *bad;
    size_t n;
    int first, rc;

    rc = ctl_parse(ctl, &CMD_SCHEDULE, argc, argv, NULL, NULL, NULL, &first);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (argc - first != 2)
        return ctl_usage_error("schedule", "schedule needs MAC and ROLE[,ROLE...]");
    if (roles_parse(argv[first + 1], &roles, &n, &bad) < 0) {
        rc = ctl_usage_error("schedule", "unknown role '%s' (roles: %s)", bad ? bad : "",
                             ROLE_NAMES);
        free(bad);
        return rc;
    }
    rc = set_schedule(ctl, argv[first], roles, n);
    free(roles);
    return rc;
}

static int set_rolling(struct ctl *ctl, const char *mac, int enable, const char *strategy)
{
    Enjoliver__V1__SetRollingRequest req = ENJOLIVER__V1__SET_ROLLING_REQUEST__INIT;
    const Enjoliver__V1__Rolling *r;
    ProtobufCMessage *resp;
    char what[128], line[256];
    int rc;

    req.mac = (char *)mac;
    req.enabled = enable;
    if (strategy != NULL)
        req.strategy = (char *)strategy;
    snprintf(what, sizeof what, "rolling %s %s", enable ? "enable" : "disable", mac);
    if ((rc = call(ctl, "/enjoliver.v1.Lifecycle/SetRolling", &req.base,
                   &enjoliver__v1__rolling__descriptor, &resp, what)) != EXIT_OK)
        return rc;
    r = (const Enjoliver__V1__Rolling *)resp;
    if (r->enabled)
        snprintf(line, sizeof line, "rolling updates of %s: enabled, strategy %s", mac,
                 r->strategy[0] ? r->strategy : "-");
    else
        snprintf(line, sizeof line, "rolling updates of %s: disabled", mac);
    rc = report(ctl, resp, line);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

static int on_strategy(void *arg, int opt, const char *value)
{
    if (opt != F_STRATEGY)
        return 1;
    if (!strategy_valid(value))
        return ctl_usage_error("rolling", "--strategy: '%s' is not kexec, reboot or poweroff",
                               value);
    *(const char **)arg = value;
    return 0;
}

static int rolling_run(struct ctl *ctl, int argc, char **argv)
{
    const char *strategy = NULL;
    int first, rc, enable;

    rc = ctl_parse(ctl, &CMD_ROLLING, argc, argv, ROLLING_OPTIONS, on_strategy, &strategy, &first);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (argc - first != 2)
        return ctl_usage_error("rolling", "rolling needs enable|disable and a MAC");
    if (strcmp(argv[first], "enable") == 0)
        enable = 1;
    else if (strcmp(argv[first], "disable") == 0)
        enable = 0;
    else
        return ctl_usage_error("rolling", "rolling: '%s' is neither enable nor disable",
                               argv[first]);
    if (!enable && strategy != NULL)
        return ctl_usage_error("rolling", "--strategy applies to 'rolling enable'");
    return set_rolling(ctl, argv[first + 1], enable, strategy);
}

const struct ctl_cmd CMD_SCHEDULE = {
    .name = "schedule",
    .summary = "give a machine roles (admin)",
    .run = schedule_run,
    .help = schedule_help,
};

const struct ctl_cmd CMD_ROLLING = {
    .name = "rolling",
    .summary = "enable or disable a machine's rolling updates (admin)",
    .run = rolling_run,
    .help = rolling_help,
};
