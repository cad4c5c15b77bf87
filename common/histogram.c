/* Prometheus histograms. See histogram.h. */
#include "common/histogram.h"

const double histogram_bounds_s[HISTOGRAM_BUCKETS] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
                                                      0.05,   0.1,   0.25,   0.5,   1,    10};

void histogram_observe(histogram_t *h, double seconds)
{
    h->count++;
    h->sum_s += seconds;
    for (size_t i = 0; i < HISTOGRAM_BUCKETS; i++)
        h->buckets[i] += seconds <= histogram_bounds_s[i];
}

void histogram_write(FILE *f, const char *name, const char *labels, const double *bounds,
                     const uint64_t *buckets, size_t n, uint64_t count, double sum_s)
{
    const char *sep = labels[0] ? "," : "";
    for (size_t i = 0; i < n; i++)
        fprintf(f, "%s_bucket{%s%sle=\"%g\"} %llu\n", name, labels, sep, bounds[i],
                (unsigned long long)buckets[i]);
    fprintf(f, "%s_bucket{%s%sle=\"+Inf\"} %llu\n", name, labels, sep, (unsigned long long)count);
    fprintf(f, "%s_sum{%s} %.6f\n%s_count{%s} %llu\n", name, labels, sum_s, name, labels,
            (unsigned long long)count);
}
