#include "switchyard/http/http_types.h"

#include <strings.h>

namespace switchyard {

std::string_view HttpRequest::header(std::string_view name) const {
  for (const auto& [n, v] : headers) {
    if (n.size() == name.size() && strncasecmp(n.data(), name.data(), name.size()) == 0) {
      return v;
    }
  }
  return {};
}

}  // namespace switchyard
