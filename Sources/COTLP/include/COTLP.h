/*
 * Umbrella header of the COTLP module: the protobuf-c runtime plus the C
 * bindings generated from proto/ by scripts/gen-proto (hand-written; not
 * generated). include/module.modulemap names it as the module's umbrella.
 */
#ifndef TRACEGATE_COTLP_H
#define TRACEGATE_COTLP_H

#include <protobuf-c/protobuf-c.h>

#include "opentelemetry/proto/common/v1/common.pb-c.h"
#include "opentelemetry/proto/resource/v1/resource.pb-c.h"
#include "opentelemetry/proto/trace/v1/trace.pb-c.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.pb-c.h"

#endif /* TRACEGATE_COTLP_H */
