/*
 * "get schedules", "get slots" and "get events": one unary List call each,
 * shown as a table or as the answer itself in JSON/YAML.
 */
#include <stdlib.h>
#include <string.h>

#include "get.h"
#include "names.h"
#include "pbjson.h"

/* Prints a List answer: with its table printer, or as a document. */
typedef int (*table_fn)(const ProtobufCMessage *resp);

static int show(struct ctl *ctl, const char *what, const char *path, const ProtobufCMessage *req,
                const ProtobufCMessageDescriptor *desc, table_fn table)
{
    struct rpc_status st = {0};
    ProtobufCMessage *resp;
    int rc;

    if (rpc_unary(ctl->conn, path, req, desc, &resp, &st) < 0) {
        rc = ctl_rpc_error(&st, "%s", what);
        rpc_status_clear(&st);
        return rc;
    }
    rpc_status_clear(&st);
    rc = ctl->out != OUT_TABLE ? ctl_emit(ctl, pbjson_message(resp)) : table(resp);
    protobuf_c_message_free_unpacked(resp, NULL);
    return rc;
}

static int finish_table(struct table *t, int rc)
{
    if (rc == 0)
        table_print(t, stdout);
    table_free(t);
    return rc == 0 ? EXIT_OK : ctl_error("out of memory");
}

static int schedules_table(const ProtobufCMessage *resp)
{
    const Enjoliver__V1__ListSchedulesResponse *r =
        (const Enjoliver__V1__ListSchedulesResponse *)resp;
    static const char *const head[] = {"MAC", "ROLES", "REVISION"};
    struct table *t = table_new(3, head);
    char roles[128], rev[32];
    int rc = 0;

    if (t == NULL)
        return ctl_error("out of memory");
    for (size_t i = 0; i < r->n_schedules && rc == 0; i++) {
        const Enjoliver__V1__Schedule *s = r->schedules[i];
        const char *row[] = {s->mac, roles_join(s->roles, s->n_roles, roles, sizeof roles), rev};

        snprintf(rev, sizeof rev, "%lld", (long long)s->revision);
        rc = table_add(t, row);
    }
    return finish_table(t, rc);
}

int get_schedules(struct ctl *ctl, const struct get_args *a)
{
    Enjoliver__V1__ListSchedulesRequest req = ENJOLIVER__V1__LIST_SCHEDULES_REQUEST__INIT;

    req.role = a->role;
    return show(ctl, "list schedules", "/enjoliver.v1.Schedules/List", &req.base,
                &enjoliver__v1__list_schedules_response__descriptor, schedules_table);
}

static int slots_table(const ProtobufCMessage *resp)
{
    const Enjoliver__V1__ListSlotsResponse *r = (const Enjoliver__V1__ListSlotsResponse *)resp;
    static const char *const head[] = {"MAC", "TOKEN", "GRANTED", "GRANTED BY"};
    struct table *t = table_new(4, head);
    char token[32], when[32];
    int rc = 0;

    if (t == NULL)
        return ctl_error("out of memory");
    for (size_t i = 0; i < r->n_slots && rc == 0; i++) {
        const Enjoliver__V1__Slot *s = r->slots[i];
        const char *row[] = {s->mac, token, out_time(s->granted_unix_ms, when, sizeof when),
                             s->granted_by};

        snprintf(token, sizeof token, "%lld", (long long)s->token);
        rc = table_add(t, row);
    }
    if ((rc = finish_table(t, rc)) != EXIT_OK)
        return rc;
    printf("\nWaiting:       ");
    for (size_t i = 0; i < r->n_waiting; i++)
        printf("%s%s", i ? ", " : "", r->waiting[i]);
    printf("%s\n", r->n_waiting ? "" : "none");
    printf("Paused:        %s\n", r->paused ? "yes" : "no");
    printf("Last release:  %s\n", out_time(r->last_release_unix_ms, when, sizeof when));
    return EXIT_OK;
}

int get_slots(struct ctl *ctl)
{
    Enjoliver__V1__ListSlotsRequest req = ENJOLIVER__V1__LIST_SLOTS_REQUEST__INIT;

    return show(ctl, "list slots", "/enjoliver.v1.Lifecycle/ListSlots", &req.base,
                &enjoliver__v1__list_slots_response__descriptor, slots_table);
}

static int events_table(const ProtobufCMessage *resp)
{
    const Enjoliver__V1__ListEventsResponse *r = (const Enjoliver__V1__ListEventsResponse *)resp;
    static const char *const head[] = {"TIME", "KIND", "MACHINE", "REPLICA", "MESSAGE"};
    struct table *t = table_new(5, head);
    char when[32];
    int rc = 0;

    if (t == NULL)
        return ctl_error("out of memory");
    for (size_t i = 0; i < r->n_events && rc == 0; i++) {
        const Enjoliver__V1__Event *e = r->events[i];
        const char *row[] = {out_time(e->unix_ms, when, sizeof when), e->kind, e->machine,
                             e->replica, e->message};
        rc = table_add(t, row);
    }
    return finish_table(t, rc);
}

int get_events(struct ctl *ctl, const struct get_args *a)
{
    Enjoliver__V1__ListEventsRequest req = ENJOLIVER__V1__LIST_EVENTS_REQUEST__INIT;

    if (a->machine != NULL)
        req.machine = (char *)a->machine;
    req.limit = a->limit;
    return show(ctl, "list events", "/enjoliver.v1.Events/List", &req.base,
                &enjoliver__v1__list_events_response__descriptor, events_table);
}
