/*
 * Process-level API tests: a real etcd (harness), a real enjoliverd
 * process pointed at it, and HTTP over loopback with libcurl. Assertions
 * come from etcd_test.h (CHECK, CHECKF...): a failure prints the tail of
 * enjoliverd's log too.
 */
#ifndef API_TEST_H
#define API_TEST_H

#include <stddef.h>
#include <sys/types.h>

#include "etcd_test.h"

typedef struct api_env_s {
    etcd_server_t *etcd;
    etcd_sync_t *cli; /* to judge what etcd holds */
    pid_t pid;        /* enjoliverd */
    unsigned port;
    unsigned grpc_port; /* its gRPC API */
    char log_path[512];
    char base[64]; /* "http://127.0.0.1:P" */
    int owns_etcd;
} api_env_t;

typedef struct api_resp_s {
    long status; /* -1 when no answer */
    char *body;  /* NUL-terminated, owned */
    size_t len;
    char headers[4096];
} api_resp_t;

/* Starts etcd and `enjoliverd_bin` with extra flags (NULL-terminated, may be NULL). */
void api_env_start(api_env_t *env, const char *enjoliverd_bin, const char *const *extra);
/* A second enjoliverd on the etcd of `first` (which must outlive it). */
void api_env_start_on(api_env_t *env, const char *enjoliverd_bin, const char *const *extra,
                      api_env_t *first);
/* SIGTERM, checks a clean exit (status 0), stops etcd if it owns it. */
void api_env_stop(api_env_t *env);

/* SIGTERM and a clean exit, like api_env_stop, but etcd stays (for a
 * restart with api_env_start_on). */
void api_env_stop_keep_etcd(api_env_t *env);
/* SIGKILL (a crash), reaped; its etcd stays. */
void api_env_kill(api_env_t *env);
/* SIGSTOP / SIGCONT. */
void api_env_pause(api_env_t *env);
void api_env_resume(api_env_t *env);

/* One request; body may be NULL. The response is reset first. */
void api_req(api_env_t *env, const char *method, const char *path, const char *body, size_t len,
             api_resp_t *r);
void api_resp_free(api_resp_t *r);
/* Starts the stand-in matchbox (matchbox_standin.c) serving dir; returns
 * its pid and sets *port. api_standin_stop() ends it (SIGTERM, reaped). */
pid_t api_standin_start(const char *bin, const char *dir, unsigned *port);
void api_standin_stop(pid_t pid);

/* GETs path until the body contains needle (1) or ms passed (0). */
int api_wait_body(api_env_t *env, const char *path, const char *needle, unsigned ms);

/* A fixture of ../shared/spec/fixtures, NUL-terminated; free() it. */
char *api_fixture(const char *name, size_t *len);
/* Any file, likewise. */
char *api_fixture_path(const char *path, size_t *len);

/* POSTs the fixture discovery-mNN.json (NN = i) through env; checks 200. */
void api_discover_fixture(api_env_t *env, int i, api_resp_t *r);

/* A discovery body (the M01 fixture's shape) for a machine of one boot
 * interface: uuid, mac, ip/plen, gateway; no FQDN, no LLDP. free() it. */
char *api_discovery_body(const char *uuid, const char *mac, const char *ip, unsigned plen,
                         const char *gateway);

#endif
