/* Fuzz target: raw queries (model_query_parse, model_query_mac), the bytes
 * a machine controls in /lifecycle/ignition/<raw query> and /ignition?... */
#include <errno.h>

#include "fuzz.h"
#include "model/rawquery.h"

/* Non-empty '&'-separated pieces after one leading '?'. */
static size_t count_pieces(const char *in, size_t len)
{
    if (len > 0 && in[0] == '?') {
        in++;
        len--;
    }
    size_t n = 0, piece = 0;
    for (size_t i = 0; i <= len; i++) {
        if (i == len || in[i] == '&') {
            n += piece > 0;
            piece = 0;
        } else {
            piece++;
        }
    }
    return n;
}

static void check_parsed(const model_query_t *q, const char *in, size_t size)
{
    FUZZ_CHECK(q->n_pairs <= MODEL_RAWQUERY_MAX_PAIRS);
    FUZZ_CHECK(q->n_pairs == count_pieces(in, size));
    size_t total = 0;
    for (size_t i = 0; i < q->n_pairs; i++) {
        const model_query_pair_t *p = &q->pairs[i];
        FUZZ_CHECK(p->key >= q->buf && p->key < q->buf + sizeof(q->buf));
        FUZZ_CHECK(p->value >= q->buf && p->value < q->buf + sizeof(q->buf));
        size_t kl = strnlen(p->key, sizeof(q->buf)), vl = strnlen(p->value, sizeof(q->buf));
        FUZZ_CHECK(kl > 0 && p->key + kl < q->buf + sizeof(q->buf));
        FUZZ_CHECK(p->value + vl < q->buf + sizeof(q->buf));
        total += kl + vl;
        /* get() gives the first pair with that key, count() at least this one. */
        size_t first = 0;
        while (strcmp(q->pairs[first].key, p->key) != 0)
            first++;
        FUZZ_CHECK(model_query_get(q, p->key) == q->pairs[first].value);
        FUZZ_CHECK(model_query_count(q, p->key) >= 1);
    }
    FUZZ_CHECK(total <= size); /* decoding never grows text */
}

static void check_mac(const uint8_t *data, size_t size, const model_query_t *q, int parse_rc)
{
    char mac[MODEL_MAC_LEN + 1];
    model_err_t err = {{0}};
    int rc = model_query_mac((const char *)data, size, mac, &err);
    if (parse_rc != 0) {
        FUZZ_CHECK(rc == parse_rc);
    } else if (model_query_count(q, "mac") == 0) {
        FUZZ_CHECK(rc == -ENOENT);
    } else if (model_query_count(q, "mac") > 1) {
        FUZZ_CHECK(rc == -EINVAL);
    } else {
        char again[MODEL_MAC_LEN + 1];
        int want = model_mac_parse(model_query_get(q, "mac"), again, NULL, NULL);
        FUZZ_CHECK(rc == want);
        FUZZ_CHECK(rc != 0 || strcmp(mac, again) == 0);
    }
    if (rc == 0) {
        for (int i = 0; i < MODEL_MAC_LEN; i++)
            FUZZ_CHECK(i % 3 == 2 ? mac[i] == ':' : strchr("0123456789abcdef", mac[i]) != NULL);
        FUZZ_CHECK(mac[MODEL_MAC_LEN] == '\0');
        return;
    }
    fuzz_check_msg(err.msg, sizeof(err.msg));
    FUZZ_CHECK(strncmp(err.msg, "query", 5) == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static model_query_t q; /* 2.6 KB: keep it off the fuzzer's stack */
    model_err_t err = {{0}};
    const char *in = (const char *)data;
    int rc = model_query_parse(in, size, &q, &err);
    size_t body = size - (size > 0 && in[0] == '?');
    if (rc == 0) {
        FUZZ_CHECK(body <= MODEL_RAWQUERY_MAX && memchr(in, '\0', size) == NULL);
        check_parsed(&q, in, size);
    } else {
        FUZZ_CHECK(rc == -EINVAL || rc == -E2BIG);
        FUZZ_CHECK(q.n_pairs == 0);
        FUZZ_CHECK(rc != -E2BIG || body > MODEL_RAWQUERY_MAX ||
                   count_pieces(in, size) > MODEL_RAWQUERY_MAX_PAIRS);
        fuzz_check_msg(err.msg, sizeof(err.msg));
        FUZZ_CHECK(strncmp(err.msg, "query: ", 7) == 0);
    }
    check_mac(data, size, &q, rc);
    return 0;
}
