/*
 * The OpenAPI document (api/openapi.json, served at /apidocs and /spec)
 * and the server agree: every route the server registered (as /metrics
 * lists them, method and path) is documented, and every documented path
 * and method is answered by a route (never "no such route" nor 405).
 */
#include <jansson.h>
#include <stdlib.h>

#include "api_test.h"

static api_env_t env;
static api_resp_t r;

/* A concrete path for a documented template. */
static void instantiate(const char *tmpl, char *out, size_t n)
{
    static const struct {
        const char *param, *value;
    } samples[] = {
        {"{uuid}", "b7f5f93a-b029-475f-b3a4-479ba198cb8a"},
        {"{raw_query}", "mac=52-54-00-e8-32-5b"},
        {"{roles}", "kubernetes-node"},
        {"{role}", "etcd-member"},
        {"{name}", "sample"},
        {"{status}", "success"},
        {"{path}", "sample.bin"},
        {"{boot_id}", "boot"},
    };
    size_t o = 0;
    for (const char *p = tmpl; *p && o + 1 < n;) {
        int done = 0;
        for (size_t i = 0; i < sizeof samples / sizeof samples[0] && !done; i++) {
            size_t l = strlen(samples[i].param);
            if (strncmp(p, samples[i].param, l) == 0) {
                o += (size_t)snprintf(out + o, n - o, "%s", samples[i].value);
                p += l;
                done = 1;
            }
        }
        if (!done) {
            CHECKF(*p != '{', "no sample value for a parameter of %s", tmpl);
            out[o++] = *p++;
        }
    }
    out[o] = '\0';
}

/* Does documented path P (a template) fall under server route R? */
static int covers(const char *route, const char *doc_path)
{
    size_t n = strlen(route);
    if (n > 6 && strcmp(route + n - 6, "<path>") == 0)
        return strncmp(route, doc_path, n - 6) == 0 && strlen(doc_path) > n - 6;
    return strcmp(route, doc_path) == 0;
}

static void to_lower(char *s)
{
    for (; *s; s++)
        if (*s >= 'A' && *s <= 'Z')
            *s = (char)(*s - 'A' + 'a');
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    api_env_start(&env, argv[1], NULL);
    api_req(&env, "GET", "/apidocs", NULL, 0, &r);
    CHECK(r.status == 200);
    json_t *doc = json_loads(r.body, 0, NULL);
    CHECK(doc && strcmp(json_string_value(json_object_get(doc, "openapi")), "3.0.3") == 0);
    json_t *paths = json_object_get(doc, "paths");
    api_req(&env, "GET", "/spec", NULL, 0, &r);
    json_t *spec = json_loads(r.body, 0, NULL);
    CHECK(json_equal(doc, spec));
    json_decref(spec);

    /* Every documented operation is answered by a route. */
    const char *path;
    json_t *item;
    size_t n_ops = 0;
    json_object_foreach(paths, path, item)
    {
        const char *method;
        json_t *op;
        json_object_foreach(item, method, op)
        {
            char url[512], m[16];
            instantiate(path, url, sizeof url);
            snprintf(m, sizeof m, "%s", method);
            for (char *c = m; *c; c++)
                *c = (char)(*c >= 'a' && *c <= 'z' ? *c - 'a' + 'A' : *c);
            api_req(&env, m, url, NULL, 0, &r);
            CHECKF(r.status != 405 && !(r.status == 404 && strstr(r.body, "no such route")),
                   "documented %s %s (as %s) is not served: %ld %s", m, path, url, r.status,
                   r.body);
            n_ops++;
        }
    }

    /* Every route of the server is documented, method included. */
    api_req(&env, "GET", "/metrics", NULL, 0, &r);
    CHECK(r.status == 200);
    size_t n_routes = 0;
    for (char *line = strtok(r.body, "\n"); line; line = strtok(NULL, "\n")) {
        char method[16], route[256];
        if (sscanf(line, "enjoliver_request_total{method=\"%15[^\"]\",path=\"%255[^\"]\"}", method,
                   route) != 2)
            continue;
        to_lower(method);
        int found = 0;
        json_object_foreach(paths, path, item)
        {
            found |= covers(route, path) && json_object_get(item, method) != NULL;
        }
        CHECKF(found, "route %s %s is not in the OpenAPI document", method, route);
        n_routes++;
    }
    CHECK(n_routes > 40);
    t_log("%zu documented operations all served; %zu routes all documented", n_ops, n_routes);

    api_req(&env, "GET", "/metrics", NULL, 0, &r);
    /* Asked for once at the start and once in the walk. */
    CHECK(strstr(
        r.body,
        "enjoliver_responses_total{method=\"GET\",path=\"/apidocs\",status_code=\"200\"} 2"));
    json_decref(doc);
    api_resp_free(&r);
    api_env_stop(&env);
    t_log("test_apidocs: all passed");
    return 0;
}
