/*
 * "enjoliverctl get WHAT": the command line. Flags that belong to another
 * view are refused rather than ignored, so that a typo in a script does not
 * silently show more than it asked for.
 */
#include <stdlib.h>
#include <string.h>

#include "get.h"
#include "names.h"

enum { F_ROLE = 0x200, F_STATE, F_UNSCHEDULED, F_MACHINE, F_LIMIT };

/* Which view takes which flag: bit (flag - F_ROLE). */
#define BIT(f) (1u << ((f)-F_ROLE))

static const struct option OPTIONS[] = {
    {"role", required_argument, NULL, F_ROLE},
    {"state", required_argument, NULL, F_STATE},
    {"unscheduled", no_argument, NULL, F_UNSCHEDULED},
    {"machine", required_argument, NULL, F_MACHINE},
    {"limit", required_argument, NULL, F_LIMIT},
    {0},
};

struct parsed {
    struct get_args a;
    unsigned seen; /* BIT()s of the flags given */
};

static const struct view {
    const char *name;
    int min_args, max_args;
    unsigned flags;
} VIEWS[] = {
    {"machines", 0, 0, BIT(F_ROLE) | BIT(F_STATE) | BIT(F_UNSCHEDULED)},
    {"machine", 1, 1, 0},
    {"schedules", 0, 1, 0},
    {"rolling", 0, 0, 0},
    {"slots", 0, 0, 0},
    {"events", 0, 0, BIT(F_MACHINE) | BIT(F_LIMIT)},
};

static void help(FILE *out)
{
    fputs("Usage: enjoliverctl get machines [--role ROLE] [--state STATE] [--unscheduled]\n"
          "       enjoliverctl get machine UUID|MAC\n"
          "       enjoliverctl get schedules [ROLE]\n"
          "       enjoliverctl get rolling\n"
          "       enjoliverctl get slots\n"
          "       enjoliverctl get events [--machine MAC] [--limit N]\n"
          "\n"
          "Shows what enjoliverd knows, read from one replica's cache.\n"
          "\n"
          "  machines   every machine (all pages): UUID, BOOT MAC, IPV4, ROLES, STATE,\n"
          "             ROLLING (the strategy, or off), SLOT (the token of the rolling-\n"
          "             update slot it holds)\n"
          "  machine    one machine in detail, by UUID or by any of its MACs (six hex\n"
          "             pairs separated by ':' or '-'); exit 1 with NOT_FOUND if unknown\n"
          "  schedules  the scheduled machines and their roles; ROLE keeps those with it\n"
          "  rolling    each machine's rolling-update setting: MAC, ENABLED, STRATEGY\n"
          "  slots      the rolling-update slots held now, the machines waiting for one,\n"
          "             whether the rollout is paused\n"
          "  events     the event log, newest first\n"
          "\n"
          "Flags:\n"
          "  --role ROLE     (machines) only machines with this role\n"
          "  --state STATE   (machines) only machines in this state, e.g. discovery\n"
          "  --unscheduled   (machines) only machines without roles\n"
          "  --machine MAC   (events) only this machine's events\n"
          "  --limit N       (events) at most N events, 1..1000 (default: 100)\n"
          "\n"
          "Roles: " ROLE_NAMES ".\n"
          "\n"
          "With -o json or -o yaml: one document with the API's field names, e.g.\n"
          "{\"machines\": [...], \"revision\": N} (machines), {\"rolling\": [...],\n"
          "\"revision\": N} (rolling), the Machine (machine), the List answer (others).\n"
          "\n",
          out);
    help_global_flags(out);
}

static int on_flag(void *arg, int opt, const char *value)
{
    struct parsed *p = arg;
    long long n;

    switch (opt) {
    case F_ROLE:
        if (role_parse(value, &p->a.role) < 0)
            return ctl_usage_error("get", "--role: unknown role '%s' (roles: %s)", value,
                                   ROLE_NAMES);
        break;
    case F_STATE:
        p->a.state = value;
        break;
    case F_UNSCHEDULED:
        p->a.unscheduled = 1;
        break;
    case F_MACHINE:
        p->a.machine = value;
        break;
    case F_LIMIT:
        if (ctl_parse_ll(value, 1, 1000, &n) < 0)
            return ctl_usage_error("get", "--limit: '%s' is not a number from 1 to 1000", value);
        p->a.limit = (unsigned)n;
        break;
    default:
        return 1;
    }
    p->seen |= BIT(opt);
    return 0;
}

static const struct view *find_view(const char *name)
{
    for (size_t i = 0; i < sizeof VIEWS / sizeof VIEWS[0]; i++)
        if (strcmp(VIEWS[i].name, name) == 0)
            return &VIEWS[i];
    return NULL;
}

/* The arguments and flags fit the view; else a usage error. */
static int check_view(const struct view *v, const struct parsed *p, int nargs)
{
    if (nargs < v->min_args)
        return ctl_usage_error("get", "get %s: missing argument", v->name);
    if (nargs > v->max_args)
        return ctl_usage_error("get", "get %s: too many arguments", v->name);
    for (const struct option *o = OPTIONS; o->name != NULL; o++)
        if ((p->seen & BIT(o->val)) && !(v->flags & BIT(o->val)))
            return ctl_usage_error("get", "--%s does not apply to 'get %s'", o->name, v->name);
    return 0;
}

static int dispatch(struct ctl *ctl, const struct view *v, struct parsed *p, char **args)
{
    if (strcmp(v->name, "machines") == 0)
        return get_machines(ctl, &p->a);
    if (strcmp(v->name, "machine") == 0)
        return get_machine(ctl, args[0]);
    if (strcmp(v->name, "schedules") == 0)
        return get_schedules(ctl, &p->a);
    if (strcmp(v->name, "rolling") == 0)
        return get_rolling(ctl, &p->a);
    if (strcmp(v->name, "slots") == 0)
        return get_slots(ctl);
    return get_events(ctl, &p->a);
}

static int run(struct ctl *ctl, int argc, char **argv)
{
    struct parsed p = {0};
    const struct view *v;
    int first, rc, nargs;

    rc = ctl_parse(ctl, &CMD_GET, argc, argv, OPTIONS, on_flag, &p, &first);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (first >= argc)
        return ctl_usage_error("get", "get what? machines, machine, schedules, rolling, slots or "
                                      "events");
    if ((v = find_view(argv[first])) == NULL)
        return ctl_usage_error("get", "get: unknown view '%s'", argv[first]);
    nargs = argc - first - 1;
    if ((rc = check_view(v, &p, nargs)) != 0)
        return rc;
    if (strcmp(v->name, "schedules") == 0 && nargs == 1 &&
        role_parse(argv[first + 1], &p.a.role) < 0)
        return ctl_usage_error("get", "get schedules: unknown role '%s' (roles: %s)",
                               argv[first + 1], ROLE_NAMES);
    if ((rc = ctl_connect(ctl)) != EXIT_OK)
        return rc;
    return dispatch(ctl, v, &p, argv + first + 1);
}

const struct ctl_cmd CMD_GET = {
    .name = "get",
    .summary = "show machines, a machine, schedules, rolling settings, slots, events",
    .run = run,
    .help = help,
};
