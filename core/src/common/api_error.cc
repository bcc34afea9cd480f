#include "switchyard/common/api_error.h"

#include <nlohmann/json.hpp>

namespace switchyard {

std::string ApiError::toJson() const {
  nlohmann::json body = {{"error", {{"message", message}, {"type", type}, {"code", code}}}};
  // Replace invalid UTF-8 rather than throw: messages can quote untrusted input.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

} // namespace switchyard
