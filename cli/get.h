/*
 * The "get" views, one function each; cmd_get.c parses the command line and
 * calls them with the connection open. Each returns an exit code.
 */
#ifndef ENJ_CLI_GET_H
#define ENJ_CLI_GET_H

#include "ctl.h"
#include "enjoliver/v1/enjoliver.pb-c.h"

struct get_args {
    Enjoliver__V1__Role role; /* get machines --role, get schedules ROLE */
    const char *state;        /* get machines --state */
    int unscheduled;          /* get machines --unscheduled */
    const char *machine;      /* get events --machine */
    unsigned limit;           /* get events --limit; 0: the server's default */
};

int get_machines(struct ctl *ctl, const struct get_args *a);
int get_rolling(struct ctl *ctl, const struct get_args *a);
int get_machine(struct ctl *ctl, const char *id);
int get_schedules(struct ctl *ctl, const struct get_args *a);
int get_slots(struct ctl *ctl);
int get_events(struct ctl *ctl, const struct get_args *a);

/*
 * Every machine matching req's filters, following next_page_token: a
 * malloc'd array of the pages (each a ListMachinesResponse to free with
 * machine_pages_free). *revision is the smallest page revision, so that a
 * watch from it + 1 misses nothing.
 */
struct machine_pages {
    Enjoliver__V1__ListMachinesResponse **pages;
    size_t n;
    long long revision;
};

int machine_pages_fetch(struct ctl *ctl, Enjoliver__V1__ListMachinesRequest *req,
                        struct machine_pages *out);
void machine_pages_free(struct machine_pages *p);

#endif
