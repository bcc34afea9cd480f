/// @file metrics_exposition.h
/// @brief The admin port's /metrics: the analytics modules' Prometheus series followed by the
/// core's own (upstream health, record delivery, connections, plugin metrics).
#pragma once

#include <optional>
#include <string>

#include "admin_handler.h"
#include "switchyard/common/api_error.h"

namespace switchyard {

/// Sends `query` to one analytics module. @return its answer, or the error it set.
std::optional<ApiError> queryAnalytics(const NamedInstance& module, const std::string& query,
                                       std::string* answer);

/// The whole exposition (text format 0.0.4). A module that does not answer
/// {"format":"prometheus"} with exposition text is left out; a metric family a previous module
/// already exposed is dropped so that the output never declares a family twice.
std::string renderMetrics(const AdminState& state);

}  // namespace switchyard
