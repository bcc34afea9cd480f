#include "azure_errors.h"

#include <string_view>

namespace switchyard::azure_openai {
namespace {

using Json = nlohmann::ordered_json;

// Upstream error messages are passed to clients; bound them so a hostile upstream cannot.
constexpr size_t kMaxMessageBytes = 8 * 1024;

std::string typeForStatus(uint32_t status) {
  switch (status) {
    case 400:
    case 413:
    case 422:
      return "invalid_request_error";
    case 401:
      return "authentication_error";
    case 403:
      return "permission_error";
    case 404:
      return "not_found_error";
    case 408:
    case 504:
      return "timeout_error";
    case 429:
      return "rate_limit_error";
    case 503:
      return "service_unavailable_error";
    default:
      return status >= 500 ? "server_error" : "invalid_request_error";
  }
}

/// Azure's gateway errors use the HTTP status as the code ("401", "429"); OpenAI clients
/// expect a word.
std::string codeForNumericCode(std::string_view code, uint32_t status) {
  if (code == "401" || status == 401) return "invalid_api_key";
  if (code == "403") return "permission_denied";
  if (code == "404") return "not_found";
  if (code == "429" || status == 429) return "rate_limit_exceeded";
  return std::string(code);
}

bool allDigits(std::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

std::string stringField(const Json& obj, const char* key) {
  const auto it = obj.find(key);
  if (it == obj.end() || it->is_null()) return {};
  if (it->is_string()) return it->get<std::string>();
  return it->dump();
}

}  // namespace

std::string clip(std::string s) {
  if (s.size() <= kMaxMessageBytes) return s;
  s.resize(kMaxMessageBytes);
  // Drop continuation bytes and then the lead byte of a cut sequence.
  while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) s.pop_back();
  if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80) != 0) s.pop_back();
  return s + "...";
}

bool hasError(const Json& doc) {
  const auto err = doc.find("error");
  return err != doc.end() && !err->is_null();
}

uint32_t inBandStatus(const Json& doc) {
  const auto err = doc.find("error");
  if (err == doc.end() || !err->is_object()) return 502;
  for (const char* key : {"status", "code"}) {
    const auto v = err->find(key);
    if (v == err->end()) continue;
    int64_t n = 0;
    if (v->is_number_integer()) {
      n = v->get<int64_t>();
    } else if (v->is_string() && allDigits(v->get<std::string>()) &&
               v->get<std::string>().size() == 3) {
      n = std::stoi(v->get<std::string>());
    }
    if (n >= 400 && n <= 599) return static_cast<uint32_t>(n);
  }
  return 502;
}

ClientError translateError(const Json& doc, uint32_t status) {
  ClientError out{status, typeForStatus(status), {}, {}};
  const auto err = doc.find("error");
  if (err != doc.end() && err->is_object()) {
    if (std::string type = stringField(*err, "type"); !type.empty()) out.type = std::move(type);
    out.code = stringField(*err, "code");
    if (allDigits(out.code)) out.code = codeForNumericCode(out.code, status);
    out.message = stringField(*err, "message");
    // Azure's content filter: the top-level code is usually already "content_filter", but
    // some API versions only name the policy in innererror.
    if (const auto inner = err->find("innererror"); inner != err->end() && inner->is_object()) {
      if (stringField(*inner, "code") == "ResponsibleAIPolicyViolation")
        out.code = "content_filter";
    }
  } else if (err != doc.end() && err->is_string()) {
    out.message = err->get<std::string>();
  } else {
    out.message = stringField(doc, "message");  // bare {"statusCode":..,"message":..} (APIM)
  }
  if (out.code.empty() && status == 429) out.code = "rate_limit_exceeded";
  // Azure refuses body keys its api-version does not know with a code-less 400; name the
  // case the way the other providers do.
  if (out.code.empty() && status == 400 &&
      out.message.rfind("Unrecognized request argument supplied", 0) == 0) {
    out.code = "unsupported_parameter";
  }
  if (out.message.empty()) out.message = "upstream returned an error";
  out.message = clip(std::move(out.message));
  return out;
}

}  // namespace switchyard::azure_openai
