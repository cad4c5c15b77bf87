/*
 * Operators know roles by the names of the HTTP API (POST /scheduler); the
 * gRPC API numbers them. This file maps one to the other.
 */
#include "names.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const struct {
    const char *name;
    Enjoliver__V1__Role role;
} ROLES[] = {
    {"etcd-member", ENJOLIVER__V1__ROLE__ETCD_MEMBER},
    {"kubernetes-control-plane", ENJOLIVER__V1__ROLE__KUBERNETES_CONTROL_PLANE},
    {"kubernetes-node", ENJOLIVER__V1__ROLE__KUBERNETES_NODE},
};

#define N_ROLES (sizeof ROLES / sizeof ROLES[0])

int role_parse(const char *name, Enjoliver__V1__Role *role)
{
    for (size_t i = 0; i < N_ROLES; i++)
        if (strcmp(name, ROLES[i].name) == 0) {
            *role = ROLES[i].role;
            return 0;
        }
    return -EINVAL;
}

const char *role_name(Enjoliver__V1__Role role)
{
    for (size_t i = 0; i < N_ROLES; i++)
        if (ROLES[i].role == role)
            return ROLES[i].name;
    return "?";
}

static size_t count_commas(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        n += *s == ',';
    return n;
}

int roles_parse(const char *list, Enjoliver__V1__Role **roles, size_t *n, char **bad)
{
    char *copy = strdup(list), *save = NULL, *tok;
    Enjoliver__V1__Role *out = calloc(count_commas(list) + 1, sizeof *out);
    size_t k = 0;

    *bad = NULL;
    if (copy == NULL || out == NULL) {
        free(copy);
        free(out);
        return -ENOMEM;
    }
    for (tok = strtok_r(copy, ",", &save); tok != NULL; tok = strtok_r(NULL, ",", &save)) {
        if (role_parse(tok, &out[k]) < 0) {
            *bad = strdup(tok);
            break;
        }
        k++;
    }
    free(copy);
    if (*bad != NULL || k == 0) {
        free(out);
        return -EINVAL;
    }
    *roles = out;
    *n = k;
    return 0;
}

const char *roles_join(const Enjoliver__V1__Role *roles, size_t n, char *buf, size_t len)
{
    size_t used = 0;

    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? "," : "", role_name(roles[i]));
        if (w < 0)
            break;
        used += (size_t)w;
    }
    return buf;
}

int id_is_mac(const char *id)
{
    char sep;

    if (strlen(id) != 17)
        return 0;
    sep = id[2];
    if (sep != ':' && sep != '-')
        return 0;
    for (int i = 0; i < 17; i++) {
        if (i % 3 == 2) {
            if (id[i] != sep)
                return 0;
        } else if (!isxdigit((unsigned char)id[i])) {
            return 0;
        }
    }
    return 1;
}

int strategy_valid(const char *s)
{
    return strcmp(s, "kexec") == 0 || strcmp(s, "reboot") == 0 || strcmp(s, "poweroff") == 0;
}
