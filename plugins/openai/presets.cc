// Reads and validates the embedded presets.json; see presets.h.
#include "presets.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <stdexcept>
#include <switchyard/text.hpp>

#include "presets_data.h"

namespace switchyard {
namespace openai {
namespace {

using Json = nlohmann::json;

[[noreturn]] void invalid(std::string_view preset, const std::string& what) {
  throw std::invalid_argument("preset \"" + std::string(preset) + "\" in presets.json: " + what);
}

/// The "presets" array of the embedded file. Parsed on each call: create() is rare and the
/// file small, and this keeps the plugin free of global mutable state.
Json presetArray() {
  Json doc = Json::parse(kPresetsJson, nullptr, false);
  if (doc.is_discarded() || !doc.is_object() || !doc.contains("presets") ||
      !doc["presets"].is_array()) {
    throw std::invalid_argument("the embedded presets.json has no \"presets\" array");
  }
  return std::move(doc["presets"]);
}

std::string requiredString(const Json& entry, std::string_view preset, const char* key) {
  const auto it = entry.find(key);
  if (it == entry.end() || !it->is_string() || it->get<std::string>().empty()) {
    invalid(preset, std::string("\"") + key + "\" must be a non-empty string");
  }
  return it->get<std::string>();
}

std::vector<std::string> stringList(const Json& entry, std::string_view preset, const char* key) {
  std::vector<std::string> list;
  const auto it = entry.find(key);
  if (it == entry.end()) {
    return list;
  }
  if (!it->is_array()) {
    invalid(preset, std::string("\"") + key + "\" must be an array of parameter names");
  }
  for (const auto& v : *it) {
    if (!v.is_string() || v.get<std::string>().empty()) {
      invalid(preset, std::string("\"") + key + "\" must hold non-empty strings");
    }
    list.push_back(v.get<std::string>());
  }
  return list;
}

void parseAuth(const std::string& auth, Preset& preset) {
  constexpr std::string_view kHeaderPrefix = "header:";
  if (auth == "bearer") {
    preset.auth = AuthStyle::kBearer;
  } else if (auth == "none") {
    preset.auth = AuthStyle::kNone;
  } else if (auth.rfind(kHeaderPrefix, 0) == 0 &&
             sdk::validHeaderName(std::string_view(auth).substr(kHeaderPrefix.size()))) {
    preset.auth = AuthStyle::kHeader;
    preset.auth_header = auth.substr(kHeaderPrefix.size());
  } else {
    invalid(preset.name, "\"auth\" must be \"bearer\", \"none\" or \"header:<name>\"");
  }
}

void parseStreamUsage(const std::string& mode, Preset& preset) {
  if (mode == "stream_options") {
    preset.stream_usage = StreamUsage::kStreamOptions;
  } else if (mode == "always") {
    preset.stream_usage = StreamUsage::kAlways;
  } else if (mode == "none") {
    preset.stream_usage = StreamUsage::kNone;
  } else {
    invalid(preset.name, "\"stream_usage\" must be \"stream_options\", \"always\" or \"none\"");
  }
}

void parseExtraHeaders(const Json& entry, Preset& preset) {
  const auto it = entry.find("extra_headers");
  if (it == entry.end()) {
    return;
  }
  if (!it->is_object()) {
    invalid(preset.name, "\"extra_headers\" must be an object of header names to strings");
  }
  for (const auto& [name, value] : it->items()) {
    if (!sdk::validHeaderName(name) || !value.is_string() ||
        !sdk::validHeaderValue(value.get<std::string>())) {
      invalid(preset.name, "\"extra_headers\" has an invalid header \"" + name + "\"");
    }
    preset.extra_headers.emplace_back(name, value.get<std::string>());
  }
}

Preset parsePreset(const Json& entry) {
  if (!entry.is_object()) {
    invalid("?", "every preset must be an object");
  }
  Preset preset;
  preset.name = requiredString(entry, "?", "name");
  preset.display_name = requiredString(entry, preset.name, "display_name");
  preset.default_base_url = requiredString(entry, preset.name, "default_base_url");
  parseAuth(requiredString(entry, preset.name, "auth"), preset);
  parseStreamUsage(requiredString(entry, preset.name, "stream_usage"), preset);
  if (entry.contains("max_tokens_field")) {
    preset.max_tokens_field = requiredString(entry, preset.name, "max_tokens_field");
    if (preset.max_tokens_field != "max_tokens" &&
        preset.max_tokens_field != "max_completion_tokens") {
      invalid(preset.name,
              "\"max_tokens_field\" must be \"max_tokens\" or \"max_completion_tokens\"");
    }
  }
  preset.unsupported = stringList(entry, preset.name, "unsupported");
  preset.drop = stringList(entry, preset.name, "drop");
  parseExtraHeaders(entry, preset);
  static const char* const kKnownKeys[] = {"name",        "display_name", "default_base_url",
                                           "auth",        "stream_usage", "max_tokens_field",
                                           "unsupported", "drop",         "extra_headers"};
  for (const auto& [key, value] : entry.items()) {
    if (std::find(std::begin(kKnownKeys), std::end(kKnownKeys), key) == std::end(kKnownKeys)) {
      invalid(preset.name, "unknown field \"" + key + "\"");
    }
  }
  return preset;
}

}  // namespace

std::vector<std::string> presetNames() {
  std::vector<std::string> names;
  for (const auto& entry : presetArray()) {
    if (entry.is_object() && entry.contains("name") && entry["name"].is_string()) {
      names.push_back(entry["name"].get<std::string>());
    }
  }
  return names;
}

std::optional<Preset> findPreset(std::string_view name) {
  for (const auto& entry : presetArray()) {
    if (entry.is_object() && entry.contains("name") && entry["name"] == name) {
      return parsePreset(entry);
    }
  }
  return std::nullopt;
}

}  // namespace openai
}  // namespace switchyard
