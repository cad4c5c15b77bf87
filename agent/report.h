/*
 * The agent's reports in the original's wire shapes (spec section 4.1):
 * the discovery body that the original's discovery client posted.
 */
#ifndef ENJ_AGENT_REPORT_H
#define ENJ_AGENT_REPORT_H

#include <jansson.h>

#include "agent/facts.h"

/* The POST /discovery body of these facts (a new reference), or NULL when
 * memory runs out. */
json_t *agent_discovery_body(const agent_facts_t *f);

#endif
