/*
 * Reading stored records as JSON (what the API's cache and the controller
 * hold): the small accessors every view and reconciler needs, in one place.
 * Borrowed results are valid as long as the record.
 */
#ifndef MODEL_RECORDS_H
#define MODEL_RECORDS_H

#include <jansson.h>

#include "model/matchbox_gen.h"

/* The interface marked as_boot of a machine record, or NULL. Borrowed. */
json_t *model_rec_boot_iface(json_t *machine);

/* What the matchbox sync needs of a machine record, read from the JSON
 * (model_sync_facts_from() of the decoded machine gives the same, at many
 * times the cost). 0, or -EINVAL when a field is missing or too long. */
int model_rec_sync_facts(json_t *machine, model_sync_facts_t *out);

/* The roles of a schedule record, as a set of model_role_t bits. */
unsigned model_rec_roles(json_t *schedule);

/* A stored RFC 3339 date as the original's RFC 1123 string, or JSON null.
 * New reference. */
json_t *model_rec_date_1123(json_t *rfc3339);

/* The digest of an Ignition document: SHA-256 (hex) of its canonical JSON
 * (keys sorted, compact), so that two documents equal as JSON values
 * (object key order ignored, array order kept) have the same digest.
 * 0, -EINVAL (not a JSON value), -ENOMEM. */
#define MODEL_DIGEST_LEN 64
int model_rec_digest(json_t *doc, char out[MODEL_DIGEST_LEN + 1]);

#endif
