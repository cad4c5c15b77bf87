/*
 * Where Enjoliver keeps its state in etcd: everything under one prefix
 * (default "/enjoliver/"), one key per entity, indexes as keys of their
 * own. Values are JSON objects with "schema": MODEL_SCHEMA.
 *
 *   <p>machines/<uuid>            facts of a machine (model/machine.h)
 *   <p>macs/<mac>                 {"uuid"}: every interface MAC -> its machine
 *   <p>states/<mac>               boot / installation state, by boot MAC
 *   <p>schedules/<mac>            roles, by boot MAC
 *   <p>lifecycle/ignition/<mac>   last up-to-date report
 *   <p>lifecycle/rolling/<mac>    rolling-update policy
 *   <p>lifecycle/install/<mac>    coreos-install report
 *   <p>journals/<uuid>/<boot id>  Ignition journal lines of one boot
 *   <p>allocations/<mac>          what the matchbox sync gave a machine, by
 *                                 boot MAC: its CNI pod range and the index
 *                                 of its automatic name (leader only)
 *
 * Invariant kept by every transaction: macs/<m> names uuid U exactly when
 * machines/<U> lists an interface with MAC m. Each change of either side
 * compares the machine key's mod_revision, so the pair never diverges.
 */
#ifndef MODEL_KEYS_H
#define MODEL_KEYS_H

#include <stddef.h>

#define MODEL_SCHEMA 1
#define MODEL_DEFAULT_PREFIX "/enjoliver/"
#define MODEL_KEY_MAX 512

#define MODEL_K_MACHINES "machines/"
#define MODEL_K_MACS "macs/"
#define MODEL_K_STATES "states/"
#define MODEL_K_SCHEDULES "schedules/"
#define MODEL_K_LC_IGNITION "lifecycle/ignition/"
#define MODEL_K_LC_ROLLING "lifecycle/rolling/"
#define MODEL_K_LC_INSTALL "lifecycle/install/"
#define MODEL_K_JOURNALS "journals/"
#define MODEL_K_ALLOCATIONS "allocations/"

/* Writes "<prefix><kind><id>" into out. Returns its length, or -ENAMETOOLONG. */
int model_key(char *out, size_t out_size, const char *prefix, const char *kind, const char *id);

/* When key starts with "<prefix><kind>", returns the id part, else NULL. */
const char *model_key_id(const char *key, size_t key_len, const char *prefix, const char *kind);

#endif
