/*
 * A stand-in for matchbox in the API tests (matchbox itself is not in
 * Debian): it serves what a test put in a directory, the way matchbox
 * would answer the API's proxied requests, and logs every request line.
 *
 *   GET /, /boot.ipxe, /boot.ipxe.0   200
 *   GET /ipxe?...                     DIR/ipxe (200), else 404
 *   GET /ignition?...mac=M...         DIR/ignition/M.json (M as sent) or
 *                                     DIR/ignition/default.json, else 404
 *   GET /metadata?...                 200 "REQUEST_RAW_QUERY=<query>"
 *   GET /assets/<path>                DIR/assets/<path>, else 404
 *
 * usage: matchbox-standin DIR   prints "PORT=<n>", serves until SIGTERM.
 * Every request is appended to DIR/requests.log as "<method> <uri>".
 */
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <microhttpd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static const char *dir;

static void *log_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls, (void)c;
    return strdup(uri);
}

static enum MHD_Result send_text(struct MHD_Connection *c, unsigned status, const char *text)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(text), (void *)text, MHD_RESPMEM_MUST_COPY);
    MHD_add_response_header(r, "Content-Type", "text/plain; charset=utf-8");
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result send_file(struct MHD_Connection *c, const char *path, const char *type)
{
    int fd = open(path, O_RDONLY);
    struct stat st;
    if (fd < 0 || fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        if (fd >= 0)
            close(fd);
        return send_text(c, 404, "404 page not found\n");
    }
    struct MHD_Response *r = MHD_create_response_from_fd((uint64_t)st.st_size, fd);
    MHD_add_response_header(r, "Content-Type", type);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result answer(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version, (void)upload;
    char *uri = *con_cls;
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/requests.log", dir);
    FILE *log = fopen(path, "a");
    if (log) {
        fprintf(log, "%s %s\n", method, uri ? uri : url);
        fclose(log);
    }
    const char *q = uri && strchr(uri, '?') ? strchr(uri, '?') + 1 : "";
    if (!strcmp(url, "/") || !strcmp(url, "/boot.ipxe") || !strcmp(url, "/boot.ipxe.0"))
        return send_text(c, 200, "matchbox\n");
    if (!strcmp(url, "/ipxe")) {
        snprintf(path, sizeof path, "%s/ipxe", dir);
        return send_file(c, path, "text/plain; charset=utf-8");
    }
    if (!strcmp(url, "/ignition")) {
        const char *mac = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, "mac");
        snprintf(path, sizeof path, "%s/ignition/%s.json", dir, mac ? mac : "-");
        if (!mac || strchr(mac, '/') || access(path, R_OK) != 0)
            snprintf(path, sizeof path, "%s/ignition/default.json", dir);
        return send_file(c, path, "application/json");
    }
    if (!strcmp(url, "/metadata")) {
        char text[4200];
        snprintf(text, sizeof text, "REQUEST_RAW_QUERY=%s\n", q);
        return send_text(c, 200, text);
    }
    if (!strncmp(url, "/assets/", 8) && !strstr(url, "..")) {
        snprintf(path, sizeof path, "%s%s", dir, url);
        return send_file(c, path, "application/octet-stream");
    }
    return send_text(c, 404, "404 page not found\n");
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)c, (void)toe;
    free(*con_cls);
    *con_cls = NULL;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: matchbox-standin DIR\n");
        return 2;
    }
    dir = argv[1];
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigprocmask(SIG_BLOCK, &set, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL, answer, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_URI_LOG_CALLBACK, log_uri, NULL,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_END);
    if (!d) {
        perror("matchbox-standin: MHD_start_daemon");
        return 1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT);
    printf("PORT=%u\n", (unsigned)info->port);
    fflush(stdout);
    int sig;
    sigwait(&set, &sig);
    MHD_stop_daemon(d);
    return 0;
}
