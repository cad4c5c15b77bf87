/*
 * SIGHUP reloads the configuration: with its YAML file switched to
 * log_format json and logging_level debug, enjoliverd writes JSON lines
 * (each a valid object with level, ts and msg) and debug lines from then
 * on; a file that no longer parses changes nothing and says so.
 */
#include <jansson.h>
#include <signal.h>
#include <stdlib.h>
#include <unistd.h>

#include "api_test.h"

static char yaml[] = "/tmp/enj-sighup-XXXXXX";

static void write_yaml(const char *text)
{
    FILE *f = fopen(yaml, "w");
    CHECK(f && fputs(text, f) >= 0);
    fclose(f);
}

static int log_has(api_env_t *env, const char *needle)
{
    size_t n;
    char *log = api_fixture_path(env->log_path, &n);
    int found = strstr(log, needle) != NULL;
    free(log);
    return found;
}

static void wait_log(api_env_t *env, const char *needle)
{
    for (int i = 0; i < 200 && !log_has(env, needle); i++)
        t_sleep_ms(20);
    CHECKF(log_has(env, needle), "the log never said %s", needle);
}

int main(int argc, char **argv)
{
    CHECK(argc == 2);
    int fd = mkstemp(yaml);
    CHECK(fd >= 0);
    close(fd);
    write_yaml("logging_level: info\nlog_format: text\n");
    setenv("ENJOLIVER_CONFIGS_YAML", yaml, 1);
    api_env_t env;
    api_env_start(&env, argv[1], NULL);
    api_resp_t r = {0};

    write_yaml("logging_level: debug\nlog_format: json\n");
    CHECK(kill(env.pid, SIGHUP) == 0);
    wait_log(&env, "\"msg\":\"SIGHUP: configuration reloaded\"");
    api_req(&env, "GET", "/healthz", NULL, 0, &r);
    wait_log(&env, "\"msg\":\"http request\""); /* a debug line, as JSON */

    /* Every line after the reload is one JSON object with the basics. */
    size_t n;
    char *log = api_fixture_path(env.log_path, &n);
    char *from = strstr(log, "{\"level\"");
    CHECK(from != NULL);
    int lines = 0;
    for (char *line = strtok(from, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *j = json_loads(line, 0, NULL);
        CHECKF(json_is_object(j) && json_is_string(json_object_get(j, "level")) &&
                   json_is_string(json_object_get(j, "ts")) &&
                   json_is_string(json_object_get(j, "msg")),
               "not a JSON log line: %s", line);
        json_decref(j);
        lines++;
    }
    free(log);
    CHECK(lines >= 2);

    write_yaml("logging_level: [not, a, level]\n");
    CHECK(kill(env.pid, SIGHUP) == 0);
    wait_log(&env, "does not parse; nothing changed");
    api_req(&env, "GET", "/healthz", NULL, 0, &r);
    CHECK(r.status == 200);
    api_resp_free(&r);
    api_env_stop(&env);
    unlink(yaml);
    t_log("SIGHUP: JSON and debug logs after a reload (%d lines checked); a bad file ignored",
          lines);
    return 0;
}
