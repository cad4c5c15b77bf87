/*
 * Ignition journals as stored in etcd (<prefix>journals/<uuid>/<boot id>).
 *
 * A journal is a few KiB of repetitive lines, written with every discovery
 * of a new boot and read only by GET /discovery/ignition-journal. Stored
 * as the original's list, it was most of each discovery's etcd Txn and of
 * every replica's cache. The lines are kept deflated (zlib) and base64'd:
 *
 *   {"schema": 1, "ctime": "<RFC 3339>", "encoding": "zlib+base64",
 *    "data": "<base64 of the deflated compact JSON array of lines>"}
 *
 * (about 5 times smaller). A record with the lines in clear ("lines": [...],
 * the first format) is read as well.
 */
#ifndef MODEL_JOURNAL_H
#define MODEL_JOURNAL_H

#include <jansson.h>

/* The most bytes a journal's lines may take once inflated. */
#define MODEL_JOURNAL_MAX (4u << 20)

/* The record for `lines` (an array of strings, borrowed) written at
 * `ctime`; NULL on -ENOMEM or when lines is not an array. */
json_t *model_journal_record(json_t *lines, const char *ctime);

/* The lines of a record (a new reference), or NULL when it is not a
 * journal record this code can read. */
json_t *model_journal_lines(json_t *record);

#endif
