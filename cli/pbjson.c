/*
 * Descriptor-driven conversion of protobuf-c messages to JSON. protobuf-c
 * keeps each field at desc->offset in the C struct; repeated fields keep
 * their count at quantifier_offset and a pointer to the elements at offset;
 * members of a oneof keep the case (a field number) at quantifier_offset.
 */
#include "pbjson.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

static json_t *base64(const ProtobufCBinaryData *b)
{
    size_t out_len = (b->len + 2) / 3 * 4;
    char *out = malloc(out_len + 1);
    size_t i, o = 0;
    json_t *j;

    if (out == NULL)
        return NULL;
    for (i = 0; i < b->len; i += 3) {
        uint32_t v = (uint32_t)b->data[i] << 16;
        size_t left = b->len - i;

        if (left > 1)
            v |= (uint32_t)b->data[i + 1] << 8;
        if (left > 2)
            v |= b->data[i + 2];
        out[o++] = B64[(v >> 18) & 63];
        out[o++] = B64[(v >> 12) & 63];
        out[o++] = left > 1 ? B64[(v >> 6) & 63] : '=';
        out[o++] = left > 2 ? B64[v & 63] : '=';
    }
    out[o] = '\0';
    j = json_string(out);
    free(out);
    return j;
}

const char *pbjson_enum_name(const ProtobufCEnumDescriptor *desc, int value)
{
    const ProtobufCEnumValue *v = protobuf_c_enum_descriptor_get_value(desc, value);

    return v != NULL ? v->name : NULL;
}

static json_t *enum_value(const ProtobufCEnumDescriptor *desc, int value)
{
    const char *name = pbjson_enum_name(desc, value);

    /* A value newer than this client: the number is all we know. */
    return name != NULL ? json_string(name) : json_integer(value);
}

/* uint64 values past json_int_t become reals rather than wrap negative. */
static json_t *u64(uint64_t v)
{
    return v <= INT64_MAX ? json_integer((json_int_t)v) : json_real((double)v);
}

/* One scalar or message stored at p, of the field's type. */
static json_t *value_at(const ProtobufCFieldDescriptor *f, const void *p)
{
    switch (f->type) {
    case PROTOBUF_C_TYPE_INT32:
    case PROTOBUF_C_TYPE_SINT32:
    case PROTOBUF_C_TYPE_SFIXED32:
        return json_integer(*(const int32_t *)p);
    case PROTOBUF_C_TYPE_UINT32:
    case PROTOBUF_C_TYPE_FIXED32:
        return json_integer(*(const uint32_t *)p);
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
        return json_integer(*(const int64_t *)p);
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return u64(*(const uint64_t *)p);
    case PROTOBUF_C_TYPE_FLOAT:
        return json_real(*(const float *)p);
    case PROTOBUF_C_TYPE_DOUBLE:
        return json_real(*(const double *)p);
    case PROTOBUF_C_TYPE_BOOL:
        return json_boolean(*(const protobuf_c_boolean *)p);
    case PROTOBUF_C_TYPE_ENUM:
        return enum_value(f->descriptor, *(const int *)p);
    case PROTOBUF_C_TYPE_STRING: {
        const char *s = *(char *const *)p;
        return json_string(s != NULL ? s : "");
    }
    case PROTOBUF_C_TYPE_BYTES:
        return base64((const ProtobufCBinaryData *)p);
    case PROTOBUF_C_TYPE_MESSAGE:
        return pbjson_message(*(ProtobufCMessage *const *)p);
    }
    return json_null();
}

static size_t element_size(ProtobufCType t)
{
    switch (t) {
    case PROTOBUF_C_TYPE_INT64:
    case PROTOBUF_C_TYPE_SINT64:
    case PROTOBUF_C_TYPE_SFIXED64:
    case PROTOBUF_C_TYPE_UINT64:
    case PROTOBUF_C_TYPE_FIXED64:
        return sizeof(int64_t);
    case PROTOBUF_C_TYPE_DOUBLE:
        return sizeof(double);
    case PROTOBUF_C_TYPE_FLOAT:
        return sizeof(float);
    case PROTOBUF_C_TYPE_BOOL:
        return sizeof(protobuf_c_boolean);
    case PROTOBUF_C_TYPE_ENUM:
        return sizeof(int);
    case PROTOBUF_C_TYPE_STRING:
    case PROTOBUF_C_TYPE_MESSAGE:
        return sizeof(void *);
    case PROTOBUF_C_TYPE_BYTES:
        return sizeof(ProtobufCBinaryData);
    default:
        return sizeof(int32_t);
    }
}

static json_t *repeated(const ProtobufCFieldDescriptor *f, const char *base)
{
    size_t n = *(const size_t *)(base + f->quantifier_offset);
    const char *elems = *(char *const *)(base + f->offset);
    json_t *arr = json_array();
    size_t i;

    for (i = 0; arr != NULL && i < n; i++) {
        if (json_array_append_new(arr, value_at(f, elems + i * element_size(f->type))) < 0) {
            json_decref(arr);
            arr = NULL;
        }
    }
    return arr;
}

/* 1 when the field has a value to show: oneof members and proto2-style
 * optional scalars are only there when set. */
static int present(const ProtobufCFieldDescriptor *f, const char *base)
{
    if (f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF)
        return *(const uint32_t *)(base + f->quantifier_offset) == f->id;
    if (f->label == PROTOBUF_C_LABEL_OPTIONAL && f->quantifier_offset != 0)
        return *(const protobuf_c_boolean *)(base + f->quantifier_offset);
    return 1;
}

json_t *pbjson_message(const ProtobufCMessage *msg)
{
    const ProtobufCMessageDescriptor *d;
    const char *base = (const char *)msg;
    json_t *obj;
    unsigned i;

    if (msg == NULL)
        return json_null();
    d = msg->descriptor;
    if ((obj = json_object()) == NULL)
        return NULL;
    for (i = 0; i < d->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &d->fields[i];
        json_t *v;

        if (!present(f, base))
            continue;
        v = f->label == PROTOBUF_C_LABEL_REPEATED ? repeated(f, base)
                                                  : value_at(f, base + f->offset);
        if (json_object_set_new(obj, f->name, v) < 0) {
            json_decref(obj);
            return NULL;
        }
    }
    return obj;
}
