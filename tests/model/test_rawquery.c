/* Unit tests of model/rawquery.c: exact key=value parsing and MAC
 * extraction, including what the original got wrong. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "model/rawquery.h"

#define Q1 "uuid=b7f5f93a-b029-475f-b3a4-479ba198cb8a&mac=52-54-00-e8-32-5b&os=installed"

static int parse(const char *in, model_query_t *q, model_err_t *err)
{
    return model_query_parse(in, strlen(in), q, err);
}

/* The query parses and its pairs are exactly `want` (key, value, ..., NULL). */
static void pairs_are(const char *in, const char *const *want)
{
    model_query_t q;
    model_err_t err = {{0}};
    int rc = parse(in, &q, &err);
    CHECKF(rc == 0, "%s -> %d (%s)", in, rc, err.msg);
    if (rc != 0)
        return;
    size_t n = 0;
    for (; want[2 * n] != NULL; n++) {
        if (n >= q.n_pairs)
            break;
        CHECKF(strcmp(q.pairs[n].key, want[2 * n]) == 0, "%s: key %zu is %s", in, n,
               q.pairs[n].key);
        CHECKF(strcmp(q.pairs[n].value, want[2 * n + 1]) == 0, "%s: value %zu is %s", in, n,
               q.pairs[n].value);
        /* Keys and values live in the query's own buffer. */
        CHECK(q.pairs[n].key >= q.buf && q.pairs[n].key < q.buf + sizeof(q.buf));
        CHECK(q.pairs[n].value >= q.buf && q.pairs[n].value < q.buf + sizeof(q.buf));
    }
    CHECKF(q.n_pairs == n && want[2 * n] == NULL, "%s: %zu pairs", in, q.n_pairs);
}

#define PAIRS(in, ...)                                                                             \
    do {                                                                                           \
        const char *const want_[] = {__VA_ARGS__, NULL};                                           \
        pairs_are(in, want_);                                                                      \
    } while (0)

static void parse_bad(const char *in, size_t len, int want_rc, const char *why)
{
    model_query_t q;
    q.n_pairs = 7;
    model_err_t err = {{0}};
    int rc = model_query_parse(in, len, &q, &err);
    CHECKF(rc == want_rc, "%.60s -> %d, want %d", in, rc, want_rc);
    CHECK(q.n_pairs == 0);
    CHECK_MSG(err, "query");
    CHECKF(strstr(err.msg, why) != NULL, "want %s in %s", why, err.msg);
}

static void test_parse(void)
{
    PAIRS(Q1, "uuid", "b7f5f93a-b029-475f-b3a4-479ba198cb8a", "mac", "52-54-00-e8-32-5b", "os",
          "installed");
    PAIRS("?" Q1, "uuid", "b7f5f93a-b029-475f-b3a4-479ba198cb8a", "mac", "52-54-00-e8-32-5b", "os",
          "installed");
    PAIRS("??a=1", "?a", "1"); /* only one '?' is skipped */
    PAIRS("a=1&&b=2", "a", "1", "b", "2");
    PAIRS("&a=1&", "a", "1");
    PAIRS("key&k2=", "key", "", "k2", "");
    PAIRS("a=b=c", "a", "b=c");
    PAIRS("a=?x", "a", "?x");

    /* Percent escapes, decoded after splitting. */
    PAIRS("a=%2F", "a", "/");
    PAIRS("a=%2f%2F", "a", "//");
    PAIRS("a%2Fb=1", "a/b", "1");
    PAIRS("%41=%61", "A", "a");
    PAIRS("a=%26b&c=%3D", "a", "&b", "c", "=");
    PAIRS("a%3Db=c", "a=b", "c");
    PAIRS("a=%25", "a", "%");
    PAIRS("a=%C3%A9", "a", "\xc3\xa9");
    PAIRS("mac=52%3A54%3A00%3Ae8%3A32%3A5b", "mac", "52:54:00:e8:32:5b");

    /* '+' is a space in values only. */
    PAIRS("a=b+c", "a", "b c");
    PAIRS("a=+", "a", " ");
    PAIRS("a+b=c", "a+b", "c");
    PAIRS("a=%2B", "a", "+");

    /* Nothing at all. */
    model_query_t q;
    model_err_t err;
    CHECK(parse("", &q, &err) == 0 && q.n_pairs == 0);
    CHECK(parse("?", &q, &err) == 0 && q.n_pairs == 0);
    CHECK(parse("&&&", &q, &err) == 0 && q.n_pairs == 0);
    CHECK(model_query_parse(NULL, 0, &q, &err) == 0 && q.n_pairs == 0);
    /* Only `len` bytes are read. */
    CHECK(model_query_parse("a=1&b=2", 3, &q, &err) == 0 && q.n_pairs == 1 &&
          strcmp(q.pairs[0].value, "1") == 0);

    parse_bad("a=%G1", 5, -EINVAL, "bad percent escape \"%G1\" at byte 2");
    parse_bad("a=%1G", 5, -EINVAL, "bad percent escape \"%1G\"");
    parse_bad("a=%2", 4, -EINVAL, "bad percent escape \"%2\"");
    parse_bad("a=%", 3, -EINVAL, "bad percent escape \"%\"");
    parse_bad("a=%2&b=3", 8, -EINVAL, "bad percent escape \"%2\" at byte 2");
    parse_bad("?a=%zz", 6, -EINVAL, "at byte 3");
    parse_bad("%=1", 3, -EINVAL, "bad percent escape");
    parse_bad("a=%00", 5, -EINVAL, "bad percent escape \"%00\"");
    parse_bad("=1", 2, -EINVAL, "empty key at byte 0");
    parse_bad("a=1&=2", 6, -EINVAL, "empty key at byte 4");
    parse_bad("a=1\0b=2", 7, -EINVAL, "NUL byte at byte 3");
    parse_bad("\0", 1, -EINVAL, "NUL byte");
}

static void test_limits(void)
{
    static char big[MODEL_RAWQUERY_MAX + 8];
    model_query_t q;
    model_err_t err;

    /* Exactly the limit, a single key without value: the buffer's worst
     * case (every byte plus one terminator). */
    memset(big, 'k', MODEL_RAWQUERY_MAX);
    CHECK(model_query_parse(big, MODEL_RAWQUERY_MAX, &q, &err) == 0 && q.n_pairs == 1 &&
          strlen(q.pairs[0].key) == MODEL_RAWQUERY_MAX && q.pairs[0].value[0] == '\0');
    big[0] = 'a';
    big[1] = '=';
    CHECK(model_query_parse(big, MODEL_RAWQUERY_MAX, &q, &err) == 0 &&
          strlen(q.pairs[0].value) == MODEL_RAWQUERY_MAX - 2);
    /* The '?' does not count. */
    memmove(big + 1, big, MODEL_RAWQUERY_MAX);
    big[0] = '?';
    CHECK(model_query_parse(big, MODEL_RAWQUERY_MAX + 1, &q, &err) == 0);
    memset(big, 'k', sizeof(big));
    parse_bad(big, MODEL_RAWQUERY_MAX + 1, -E2BIG, "is too long (2049 bytes, want at most 2048)");
    parse_bad(big, sizeof(big), -E2BIG, "too long");

    /* 32 pairs, then one too many. */
    char many[400] = "";
    for (int i = 0; i < MODEL_RAWQUERY_MAX_PAIRS; i++) {
        char pair[16];
        snprintf(pair, sizeof(pair), "&k%d=%d", i, i);
        strcat(many, pair);
    }
    CHECK(parse(many, &q, &err) == 0 && q.n_pairs == MODEL_RAWQUERY_MAX_PAIRS);
    CHECK(strcmp(model_query_get(&q, "k31"), "31") == 0);
    strcat(many, "&&&"); /* empty pieces are not pairs */
    CHECK(parse(many, &q, &err) == 0 && q.n_pairs == MODEL_RAWQUERY_MAX_PAIRS);
    strcat(many, "x");
    parse_bad(many, strlen(many), -E2BIG, "more than 32 key=value pairs");
}

static void test_get_count(void)
{
    model_query_t q;
    model_err_t err;
    CHECK(parse("a=1&b=2&a=3&c&mac=x", &q, &err) == 0);
    CHECK(strcmp(model_query_get(&q, "a"), "1") == 0);
    CHECK(strcmp(model_query_get(&q, "c"), "") == 0);
    CHECK(model_query_get(&q, "d") == NULL);
    CHECK(model_query_get(&q, "A") == NULL);
    CHECK(model_query_get(&q, "") == NULL);
    CHECK(model_query_count(&q, "a") == 2);
    CHECK(model_query_count(&q, "b") == 1);
    CHECK(model_query_count(&q, "ma") == 0);
    CHECK(model_query_count(&q, "d") == 0);
    /* Copies of a query point into the original's buffer; count on q only. */
}

static void mac_ok(const char *in, const char *want)
{
    char out[MODEL_MAC_LEN + 1] = "";
    model_err_t err = {{0}};
    int rc = model_query_mac(in, strlen(in), out, &err);
    CHECKF(rc == 0 && strcmp(out, want) == 0, "%s -> %d %s (%s)", in, rc, out, err.msg);
}

static void mac_bad(const char *in, size_t len, int want_rc, const char *where, const char *why)
{
    char out[MODEL_MAC_LEN + 1];
    model_err_t err = {{0}};
    int rc = model_query_mac(in, len, out, &err);
    CHECKF(rc == want_rc, "%.60s -> %d, want %d (%s)", in, rc, want_rc, err.msg);
    CHECKF(msg_is_safe(err.msg, sizeof(err.msg)), "unsafe: %s", err.msg);
    CHECKF(strncmp(err.msg, where, strlen(where)) == 0, "%s does not start with %s", err.msg,
           where);
    CHECKF(strstr(err.msg, why) != NULL, "want %s in %s", why, err.msg);
}

#define MAC_BAD(in, rc, where, why) mac_bad(in, sizeof(in) - 1, rc, where, why)

static void test_mac(void)
{
    mac_ok(Q1, "52:54:00:e8:32:5b");
    mac_ok("?" Q1, "52:54:00:e8:32:5b");
    mac_ok("mac=52:54:00:e8:32:5b", "52:54:00:e8:32:5b");
    mac_ok("mac=52-54-00-E8-32-5B&os=installed", "52:54:00:e8:32:5b");
    mac_ok("mac=52%2D54%2D00%2De8%2D32%2D5b", "52:54:00:e8:32:5b");
    /* Other keys that merely contain "mac" are not the mac key. */
    mac_ok("foomac=00-00-00-00-00-00&mac=52-54-00-e8-32-5b&macaddr=x", "52:54:00:e8:32:5b");
    mac_ok("uuid=x&&mac=0c-c4-7a-8e-10-a2&", "0c:c4:7a:8e:10:a2");

    MAC_BAD("uuid=b7f5f93a-b029-475f-b3a4-479ba198cb8a&os=installed", -ENOENT,
            "query: ", "has no mac key");
    MAC_BAD("", -ENOENT, "query: ", "\"\" has no mac key");
    MAC_BAD("amac=52-54-00-e8-32-5b", -ENOENT, "query: ", "has no mac key");
    MAC_BAD("MAC=52-54-00-e8-32-5b", -ENOENT, "query: ", "has no mac key");
    MAC_BAD("mac_addr=52-54-00-e8-32-5b", -ENOENT, "query: ", "has no mac key");
    MAC_BAD("mac=52-54-00-e8-32-5b&mac=52-54-00-e8-32-5b", -EINVAL,
            "query: ", "has 2 mac keys (want exactly one)");
    MAC_BAD("mac=a&mac=b&mac=c", -EINVAL, "query: ", "has 3 mac keys");
    MAC_BAD("mac=52-54-00-e8-32", -EINVAL,
            "query.mac: ", "\"52-54-00-e8-32\" is not a MAC address (want aa:bb:cc:dd:ee:ff)");
    MAC_BAD("mac=52-54-00-e8-32-5b-01", -EINVAL, "query.mac: ", "is not a MAC address");
    MAC_BAD("mac=52:54-00-e8-32-5b", -EINVAL, "query.mac: ", "is not a MAC address");
    MAC_BAD("mac=", -EINVAL, "query.mac: ", "\"\" is not a MAC address");
    MAC_BAD("mac", -EINVAL, "query.mac: ", "is not a MAC address");
    /* The original removed every "mac=" from a piece: not us. */
    MAC_BAD("mac=mac=52-54-00-e8-32-5b", -EINVAL, "query.mac: ", "is not a MAC address");
    MAC_BAD("mac=52-54-00-e8-32-5b+", -EINVAL, "query.mac: ", "\"52-54-00-e8-32-5b \"");
    MAC_BAD("mac=52-54-00-e8-32-5%0A", -EINVAL, "query.mac: ", "\"52-54-00-e8-32-5\\x0a\"");
    MAC_BAD("mac=52-54-00-e8-32-5%G1", -EINVAL, "query: ", "bad percent escape");
    MAC_BAD("mac=52-54-00-e8-32-5b\0", -EINVAL, "query: ", "NUL byte at byte 21");
    MAC_BAD("mac=52-54-00-e8-32-5b&=x", -EINVAL, "query: ", "empty key");

    static char big[MODEL_RAWQUERY_MAX + 64];
    memset(big, 'x', sizeof(big));
    memcpy(big, "mac=52-54-00-e8-32-5b&x=", 24);
    mac_bad(big, sizeof(big), -E2BIG, "query: ", "too long");
    CHECK(model_query_mac(big, MODEL_RAWQUERY_MAX, (char[MODEL_MAC_LEN + 1]){0}, NULL) == 0);
    /* err may be NULL on every path. */
    CHECK(model_query_mac("x=1", 3, (char[MODEL_MAC_LEN + 1]){0}, NULL) == -ENOENT);
    CHECK(model_query_mac("mac=1&mac=2", 11, (char[MODEL_MAC_LEN + 1]){0}, NULL) == -EINVAL);
    CHECK(model_query_mac("a=%", 3, (char[MODEL_MAC_LEN + 1]){0}, NULL) == -EINVAL);
}

int main(void)
{
    test_parse();
    test_limits();
    test_get_count();
    test_mac();
    return check_report("test_rawquery");
}
