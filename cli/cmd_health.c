/*
 * "enjoliverctl health" and "enjoliverctl version", both from Health.Check.
 */
#include <string.h>

#include "ctl.h"
#include "enjoliver/v1/enjoliver.pb-c.h"
#include "pbjson.h"

#define PATH "/enjoliver.v1.Health/Check"

static void health_help(FILE *out)
{
    fputs("Usage: enjoliverctl health\n"
          "\n"
          "Asks one replica what GET /healthz reports (Health.Check): whether etcd and\n"
          "matchbox answer, which replica leads, the replica's version and cache\n"
          "revision. Exit 0 when healthy, 1 when not (or unreachable).\n"
          "\n",
          out);
    help_global_flags(out);
}

static void version_help(FILE *out)
{
    fputs("Usage: enjoliverctl version\n"
          "\n"
          "Prints enjoliverctl's version and, when the server answers Health.Check,\n"
          "enjoliverd's. An unreachable server is reported on stderr but is not a\n"
          "failure: exit 0.\n"
          "\n",
          out);
    help_global_flags(out);
}

static int check(struct ctl *ctl, Enjoliver__V1__HealthResponse **resp, struct rpc_status *st)
{
    Enjoliver__V1__HealthRequest req = ENJOLIVER__V1__HEALTH_REQUEST__INIT;

    return rpc_unary(ctl->conn, PATH, &req.base, &enjoliver__v1__health_response__descriptor,
                     (ProtobufCMessage **)resp, st);
}

static const char *ok(int b)
{
    return b ? "ok" : "failing";
}

static void health_table(const Enjoliver__V1__HealthResponse *h)
{
    printf("healthy:   %s\n", h->healthy ? "yes" : "no");
    printf("etcd:      %s\n", ok(h->etcd));
    printf("matchbox:  %s\n", ok(h->matchbox));
    printf("leader:    %s%s\n", h->leader[0] ? h->leader : "none",
           h->is_leader ? " (this replica)" : "");
    printf("replica:   %s\n", h->replica[0] ? h->replica : "-");
    printf("version:   %s\n", h->version[0] ? h->version : "-");
    printf("revision:  %lld\n", (long long)h->revision);
}

static int health_run(struct ctl *ctl, int argc, char **argv)
{
    Enjoliver__V1__HealthResponse *h;
    struct rpc_status st = {0};
    int first, rc;

    rc = ctl_parse(ctl, &CMD_HEALTH, argc, argv, NULL, NULL, NULL, &first);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (first < argc)
        return ctl_usage_error("health", "health takes no argument");
    if ((rc = ctl_connect(ctl)) != EXIT_OK)
        return rc;
    if (check(ctl, &h, &st) < 0) {
        rc = ctl_rpc_error(&st, "health check");
        rpc_status_clear(&st);
        return rc;
    }
    rpc_status_clear(&st);
    if (ctl->out != OUT_TABLE) {
        rc = ctl_emit(ctl, pbjson_message(&h->base));
    } else {
        health_table(h);
        rc = fflush(stdout) == EOF ? ctl_error("cannot write the output") : EXIT_OK;
    }
    if (rc == EXIT_OK && !h->healthy)
        rc = EXIT_FAIL;
    protobuf_c_message_free_unpacked(&h->base, NULL);
    return rc;
}

static int version_print(const struct ctl *ctl, const char *server)
{
    if (ctl->out != OUT_TABLE)
        return ctl_emit(ctl, json_pack("{s:s, s:s?}", "client", ENJ_VERSION, "server", server));
    printf("enjoliverctl %s\n", ENJ_VERSION);
    if (server != NULL)
        printf("enjoliverd %s (%s)\n", server[0] ? server : "unknown", ctl->server);
    return fflush(stdout) == EOF ? ctl_error("cannot write the output") : EXIT_OK;
}

static int version_run(struct ctl *ctl, int argc, char **argv)
{
    Enjoliver__V1__HealthResponse *h = NULL;
    struct rpc_status st = {0};
    int first, rc;

    rc = ctl_parse(ctl, &CMD_VERSION, argc, argv, NULL, NULL, NULL, &first);
    if (rc != 0)
        return rc < 0 ? EXIT_OK : rc;
    if (first < argc)
        return ctl_usage_error("version", "version takes no argument");
    if ((rc = ctl_connect(ctl)) != EXIT_OK)
        return rc;
    /* The client's version is worth printing even without a server. */
    if (check(ctl, &h, &st) < 0)
        fprintf(stderr, "enjoliverctl: server %s: %s: %s\n", ctl->server, rpc_status_name(st.code),
                st.message);
    rpc_status_clear(&st);
    rc = version_print(ctl, h != NULL ? h->version : NULL);
    if (h != NULL)
        protobuf_c_message_free_unpacked(&h->base, NULL);
    return rc;
}

const struct ctl_cmd CMD_HEALTH = {
    .name = "health",
    .summary = "check a replica's health (exit 1 when unhealthy)",
    .run = health_run,
    .help = health_help,
};

const struct ctl_cmd CMD_VERSION = {
    .name = "version",
    .summary = "print the client's and the server's versions",
    .run = version_run,
    .help = version_help,
};
