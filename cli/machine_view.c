/*
 * Cells of machine rows. Sub-messages may be absent on the wire (a DELETE
 * event carries only uuid and boot_mac), so every accessor copes with NULL.
 */
#include "machine_view.h"

#include <stdio.h>
#include <strings.h>

#include "names.h"

/* The interface flagged as_boot; else the one with the boot MAC; else the
 * first with a MAC and an address (loopback has no MAC). */
const char *machine_ipv4(const Enjoliver__V1__Machine *m)
{
    const Enjoliver__V1__Interface *by_mac = NULL, *any = NULL;

    for (size_t i = 0; i < m->n_interfaces; i++) {
        const Enjoliver__V1__Interface *itf = m->interfaces[i];

        if (itf->as_boot)
            return itf->ipv4;
        if (by_mac == NULL && itf->mac[0] != '\0' && strcasecmp(itf->mac, m->boot_mac) == 0)
            by_mac = itf;
        if (any == NULL && itf->mac[0] != '\0' && itf->ipv4[0] != '\0')
            any = itf;
    }
    if (by_mac != NULL)
        return by_mac->ipv4;
    return any != NULL ? any->ipv4 : "";
}

const char *machine_state(const Enjoliver__V1__Machine *m)
{
    return m->state != NULL ? m->state->state : "";
}

const char *machine_roles(const Enjoliver__V1__Machine *m, char *buf, size_t len)
{
    return roles_join(m->roles, m->n_roles, buf, len);
}

const char *machine_rolling(const Enjoliver__V1__Machine *m)
{
    if (m->rolling == NULL || !m->rolling->enabled)
        return "off";
    return m->rolling->strategy[0] != '\0' ? m->rolling->strategy : "on";
}

const char *machine_slot(const Enjoliver__V1__Machine *m, char *buf, size_t len)
{
    if (m->slot == NULL)
        return "";
    snprintf(buf, len, "%lld", (long long)m->slot->token);
    return buf;
}

const char *human_bytes(unsigned long long n, char *buf, size_t len)
{
    static const char *const units[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
    double v = (double)n;
    size_t u = 0;

    while (v >= 1024 && u + 1 < sizeof units / sizeof units[0]) {
        v /= 1024;
        u++;
    }
    if (u == 0)
        snprintf(buf, len, "%llu B", n);
    else
        snprintf(buf, len, "%.1f %s", v, units[u]);
    return buf;
}
