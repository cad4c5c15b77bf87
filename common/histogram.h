/*
 * Latency histograms in the Prometheus text format: cumulative buckets
 * ("le" = at most that many seconds), a sum and a count.
 */
#ifndef ENJ_HISTOGRAM_H
#define ENJ_HISTOGRAM_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define HISTOGRAM_BUCKETS 12

/* 0.5 ms ... 10 s: the same bounds as etcd_stats_bounds_s. */
extern const double histogram_bounds_s[HISTOGRAM_BUCKETS];

typedef struct histogram_s {
    uint64_t buckets[HISTOGRAM_BUCKETS]; /* cumulative */
    uint64_t count;
    double sum_s;
} histogram_t;

void histogram_observe(histogram_t *h, double seconds);

/* Writes the _bucket, _sum and _count lines of one labelled series.
 * labels: "key=\"value\"" pairs, comma-separated, or "". */
void histogram_write(FILE *f, const char *name, const char *labels, const double *bounds,
                     const uint64_t *buckets, size_t n, uint64_t count, double sum_s);

#endif
