/*
 * The names operators type and read: roles by their HTTP names, MACs versus
 * UUIDs, strategies.
 */
#ifndef ENJ_CLI_NAMES_H
#define ENJ_CLI_NAMES_H

#include <stddef.h>

#include "enjoliver/v1/enjoliver.pb-c.h"

/* "etcd-member" -> ENJOLIVER__V1__ROLE__ETCD_MEMBER...; -EINVAL if unknown. */
int role_parse(const char *name, Enjoliver__V1__Role *role);
/* The HTTP name of a role, "?" for one this client does not know. */
const char *role_name(Enjoliver__V1__Role role);
/* "a,b,c" -> a malloc'd array of *n roles. -EINVAL for an empty list or an
 * unknown name; *bad is then a malloc'd copy of that name (or NULL). */
int roles_parse(const char *list, Enjoliver__V1__Role **roles, size_t *n, char **bad);
/* The roles as "a,b" into buf; "" for none. */
const char *roles_join(const Enjoliver__V1__Role *roles, size_t n, char *buf, size_t len);

/* 1 when id is a MAC: six hex pairs separated by ':' or '-'. */
int id_is_mac(const char *id);

/* 1 for "kexec", "reboot", "poweroff". */
int strategy_valid(const char *s);

/* The list of role names for help texts. */
#define ROLE_NAMES "etcd-member, kubernetes-control-plane, kubernetes-node"

#endif
