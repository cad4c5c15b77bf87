/* Ignition journal records. See journal.h. */
#include "journal.h"

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "model/keys.h"

#define ENCODING "zlib+base64"

/* base64 of deflate(text), NUL-terminated; NULL on failure. Fast level and
 * a 4 KiB window: compress2()'s defaults (level 6, 32 KiB window, 256 KiB
 * of state to set up) took a fifth of a discovery's CPU for a few KiB of
 * text, for 10 % smaller output. */
static char *pack(const char *text, size_t len)
{
    z_stream z = {0};
    if (deflateInit2(&z, Z_BEST_SPEED, Z_DEFLATED, 12, 5, Z_DEFAULT_STRATEGY) != Z_OK)
        return NULL;
    uLong bound = deflateBound(&z, (uLong)len);
    unsigned char *buf = malloc(bound);
    char *out = NULL;
    if (buf) {
        z.next_in = (Bytef *)text;
        z.avail_in = (uInt)len;
        z.next_out = buf;
        z.avail_out = (uInt)bound;
        if (deflate(&z, Z_FINISH) == Z_STREAM_END)
            out = malloc(4 * ((z.total_out + 2) / 3) + 1);
    }
    if (out)
        EVP_EncodeBlock((unsigned char *)out, buf, (int)z.total_out);
    deflateEnd(&z);
    free(buf);
    return out;
}

json_t *model_journal_record(json_t *lines, const char *ctime)
{
    if (!json_is_array(lines) || !ctime)
        return NULL;
    char *text = json_dumps(lines, JSON_COMPACT | JSON_ENCODE_ANY);
    char *data = text ? pack(text, strlen(text)) : NULL;
    free(text);
    json_t *rec = data ? json_pack("{s:i, s:s, s:s, s:s}", "schema", MODEL_SCHEMA, "ctime", ctime,
                                   "encoding", ENCODING, "data", data)
                       : NULL;
    free(data);
    return rec;
}

/* inflate(unbase64(data)) as JSON, or NULL. */
static json_t *unpack(const char *data)
{
    size_t blen = strlen(data);
    if (blen == 0 || blen % 4 != 0 || blen > 2 * (size_t)MODEL_JOURNAL_MAX)
        return NULL;
    unsigned char *z = malloc(blen / 4 * 3 + 1);
    int zlen = z ? EVP_DecodeBlock(z, (const unsigned char *)data, (int)blen) : -1;
    /* EVP_DecodeBlock counts the '=' padding as zero bytes: drop them. */
    for (const char *p = data + blen; zlen > 0 && p > data && p[-1] == '='; p--)
        zlen--;
    json_t *lines = NULL;
    uLongf tlen = MODEL_JOURNAL_MAX;
    char *text = zlen > 0 ? malloc(tlen) : NULL;
    if (text && uncompress((Bytef *)text, &tlen, z, (uLong)zlen) == Z_OK)
        lines = json_loadb(text, tlen, 0, NULL);
    free(z);
    free(text);
    if (lines && !json_is_array(lines)) {
        json_decref(lines);
        lines = NULL;
    }
    return lines;
}

json_t *model_journal_lines(json_t *record)
{
    json_t *clear = json_object_get(record, "lines");
    if (json_is_array(clear))
        return json_incref(clear);
    const char *enc = json_string_value(json_object_get(record, "encoding"));
    const char *data = json_string_value(json_object_get(record, "data"));
    if (!enc || !data || strcmp(enc, ENCODING) != 0)
        return NULL;
    return unpack(data);
}
