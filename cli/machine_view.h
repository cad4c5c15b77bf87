/*
 * A machine summed up in the cells of a table row: what "get machines",
 * "get machine" and "watch machines" show.
 */
#ifndef ENJ_CLI_MACHINE_VIEW_H
#define ENJ_CLI_MACHINE_VIEW_H

#include <stddef.h>

#include "enjoliver/v1/enjoliver.pb-c.h"

/* The boot interface's IPv4 ("" when none). */
const char *machine_ipv4(const Enjoliver__V1__Machine *m);
/* Its state's name, "" when unknown. */
const char *machine_state(const Enjoliver__V1__Machine *m);
/* "a,b" role names; "" unscheduled. */
const char *machine_roles(const Enjoliver__V1__Machine *m, char *buf, size_t len);
/* The strategy when rolling updates are enabled, else "off". */
const char *machine_rolling(const Enjoliver__V1__Machine *m);
/* The slot's token, "" without a slot. */
const char *machine_slot(const Enjoliver__V1__Machine *m, char *buf, size_t len);

/* Bytes as "20.0 GiB". */
const char *human_bytes(unsigned long long n, char *buf, size_t len);

#endif
