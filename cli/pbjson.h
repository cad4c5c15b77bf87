/*
 * protobuf-c messages as jansson values, walked through their descriptors so
 * that every message of the API converts the same way: field names as in the
 * .proto (snake_case), every field present (defaults included, absent
 * messages as null), enums by name, 64-bit integers as numbers, bytes in
 * base64.
 */
#ifndef ENJ_CLI_PBJSON_H
#define ENJ_CLI_PBJSON_H

#include <jansson.h>
#include <protobuf-c/protobuf-c.h>

/* A new reference, or NULL when out of memory. NULL msg gives JSON null. */
json_t *pbjson_message(const ProtobufCMessage *msg);

/* The value's name in its enum, or NULL when the value has none. */
const char *pbjson_enum_name(const ProtobufCEnumDescriptor *desc, int value);

#endif
