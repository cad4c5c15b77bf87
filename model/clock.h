/*
 * Dates. Stored values carry RFC 3339 UTC with milliseconds
 * ("2026-11-25T15:31:06.123Z"); the original's responses use RFC 1123
 * ("Wed, 25 Nov 2026 15:31:06 GMT"), which the codecs render from the same
 * millisecond count.
 */
#ifndef MODEL_CLOCK_H
#define MODEL_CLOCK_H

#include <stdint.h>

#define MODEL_DATE_MAX 64

/* Wall clock in ms since the epoch. */
int64_t model_now_ms(void);
/* "2026-11-25T15:31:06.123Z" */
char *model_rfc3339(int64_t ms, char out[MODEL_DATE_MAX]);
/* "Wed, 25 Nov 2026 15:31:06 GMT" */
char *model_rfc1123(int64_t ms, char out[MODEL_DATE_MAX]);
/* Parses model_rfc3339()'s form (the fraction is optional). -EINVAL otherwise. */
int model_rfc3339_parse(const char *in, int64_t *ms);

#endif
