// Presets of the openai provider: named bundles of upstream quirks (auth header, usage in
// streams, the max-tokens field name, parameters to refuse or drop) read from presets.json,
// which is embedded into the plugin at build time. A preset is data, not code.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {
namespace openai {

enum class AuthStyle {
  kBearer,  // Authorization: Bearer <key>
  kHeader,  // <auth_header>: <key>
  kNone,    // the key is never sent
};

enum class StreamUsage {
  kStreamOptions,  // inject stream_options.include_usage (the no-preset behaviour)
  kAlways,         // the upstream reports usage in its stream unasked; inject nothing
  kNone,           // the upstream never reports usage in streams; estimate it
};

struct Preset {
  std::string name;
  std::string display_name;
  std::string default_base_url;
  AuthStyle auth = AuthStyle::kBearer;
  std::string auth_header;  // only for AuthStyle::kHeader
  StreamUsage stream_usage = StreamUsage::kStreamOptions;
  std::string max_tokens_field;  // empty: the client's field is forwarded as sent
  std::vector<std::string> unsupported;
  std::vector<std::string> drop;
  std::vector<std::pair<std::string, std::string>> extra_headers;
};

/// Names of every preset in the embedded file, in file order.
std::vector<std::string> presetNames();

/// The preset of this name, validated; std::nullopt if there is none. Throws
/// std::invalid_argument naming the field when the entry itself is malformed.
std::optional<Preset> findPreset(std::string_view name);

}  // namespace openai
}  // namespace switchyard
