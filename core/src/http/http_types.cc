#include "switchyard/http/http_types.h"

#include "http/request_parser.h"

namespace switchyard {

std::string_view HttpRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (http1::iequals(n, name)) {
      return v;
    }
  }
  return {};
}

}  // namespace switchyard
