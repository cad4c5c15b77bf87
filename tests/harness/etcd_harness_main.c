/*
 * etcd-harness: starts one etcd on free loopback ports in a temporary
 * directory, prints where it is, and runs until SIGTERM/SIGINT/SIGHUP, then
 * stops etcd and removes the directory. For shell-driven tests and benches:
 *
 *     coproc H { exec build/tests/harness/etcd-harness; }  # exec: H_PID = harness
 *     read -r line <&"${H[0]}"   # ENDPOINT=127.0.0.1:P
 *     ...
 *     kill "$H_PID"; wait "$H_PID"
 *
 * Output (stdout, one KEY=value per line, in this order, then flushed):
 *     ENDPOINT=127.0.0.1:P  CLIENT_URL=http://127.0.0.1:P  PEER_PORT=Q
 *     DATADIR=...  LOG=...  PID=<etcd pid>  READY=1
 *
 * Exit status: 0 after a signal, 1 when etcd could not start or died, 2 on
 * bad usage.
 */
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include "etcd_server.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static void usage(FILE *f)
{
    fprintf(f, "usage: etcd-harness [--timeout-ms N] [--name NAME] [-- ETCD_FLAG...]\n"
               "\n"
               "Starts a real etcd (Debian's /usr/bin/etcd, or $ENJ_ETCD_BIN) on two free\n"
               "127.0.0.1 ports with its data in a temporary directory under $TMPDIR (or\n"
               "/tmp), prints ENDPOINT=, CLIENT_URL=, PEER_PORT=, DATADIR=, LOG=, PID= and\n"
               "READY=1 on stdout, and runs until SIGTERM, SIGINT or SIGHUP; then stops\n"
               "etcd and removes the temporary directory.\n"
               "\n"
               "  --timeout-ms N  how long to wait for etcd to be healthy (default 15000)\n"
               "  --name NAME     etcd member name (default harness)\n"
               "  -- FLAGS...     extra etcd flags, e.g. -- --auto-compaction-retention=1\n"
               "  --help          this text\n");
}

int main(int argc, char **argv)
{
    etcd_server_opts_t opts = {0};
    int i = 1;
    for (; i < argc; i++) {
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (strcmp(argv[i], "--timeout-ms") == 0 && i + 1 < argc) {
            char *end = NULL;
            errno = 0;
            unsigned long v = strtoul(argv[++i], &end, 10);
            if (errno != 0 || end == argv[i] || *end != '\0' || v == 0 || v > 600000) {
                fprintf(stderr,
                        "etcd-harness: --timeout-ms: '%s' is not a number of "
                        "milliseconds in 1..600000\n",
                        argv[i]);
                return 2;
            }
            opts.start_timeout_ms = (unsigned)v;
        } else if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
            opts.name = argv[++i];
        } else if (strcmp(argv[i], "--") == 0) {
            i++;
            break;
        } else {
            fprintf(stderr, "etcd-harness: unknown or incomplete argument '%s'\n", argv[i]);
            usage(stderr);
            return 2;
        }
    }
    /* argv is NULL-terminated: argv + i is the extra flags list. */
    opts.extra_args = (const char *const *)(argv + i);

    /* Block the stop signals before etcd is forked (the harness resets the
     * mask in the child) so that none is lost during start-up. */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGHUP);
    sigprocmask(SIG_BLOCK, &stop, NULL);

    etcd_server_t *s = NULL;
    int rc = etcd_server_start_opts(&opts, &s);
    if (rc != 0) {
        fprintf(stderr, "etcd-harness: etcd did not start: %s\n", strerror(-rc));
        return 1;
    }
    printf("ENDPOINT=%s\nCLIENT_URL=%s\nPEER_PORT=%u\nDATADIR=%s\nLOG=%s\nPID=%d\nREADY=1\n",
           etcd_server_endpoint(s), etcd_server_client_url(s), (unsigned)etcd_server_peer_port(s),
           etcd_server_data_dir(s), etcd_server_log_path(s), (int)etcd_server_pid(s));
    fflush(stdout);

    int status = 0;
    for (;;) {
        struct timespec tick = {.tv_sec = 1};
        int sig = sigtimedwait(&stop, NULL, &tick);
        if (sig > 0) {
            break;
        }
        if (!etcd_server_running(s)) {
            fprintf(stderr, "etcd-harness: etcd exited unexpectedly\n");
            etcd_server_dump_log(s, 4096);
            status = 1;
            break;
        }
    }
    etcd_server_free(s);
    return status;
}
