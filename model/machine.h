/*
 * A machine as stored under machines/<uuid>: the facts of its last
 * discovery report and its dates. Encoded as
 *   {"schema": 1, "uuid", "boot_mac", "boot_id", "created", "updated",
 *    "interfaces": [{"name", "mac", "ipv4", "cidrv4", "netmask", "gateway",
 *                    "fqdn", "as_boot", "lldp": {"chassis_id",
 *                    "chassis_name", "port_id"} | null,
 *                    "ipv6", "cidrv6" (only when reported)}],
 *    "disks": [{"path", "size_bytes"}]}
 * with dates in RFC 3339 (model/clock.h) and "" for absent strings.
 */
#ifndef MODEL_MACHINE_H
#define MODEL_MACHINE_H

#include <jansson.h>

#include "model/discovery.h"

typedef struct model_machine_s {
    model_discovery_t facts; /* facts.journal is never set here */
    int64_t created_ms, updated_ms;
} model_machine_t;

/* The stored JSON of a machine; NULL on ENOMEM. New reference. */
json_t *model_machine_encode(const model_machine_t *m);

/* Decodes a stored value (len bytes). 0, -EINVAL (not a machine record of
 * a known schema; err says why), -ENOMEM. *out is freed with free(). */
int model_machine_decode(const char *json, size_t len, model_machine_t **out, model_err_t *err);

/* Fills m from a discovery report at time now_ms, keeping created_ms of
 * `prev` when not NULL. The journal is not copied. */
void model_machine_from_discovery(model_machine_t *m, const model_discovery_t *d,
                                  const model_machine_t *prev, int64_t now_ms);

#endif
