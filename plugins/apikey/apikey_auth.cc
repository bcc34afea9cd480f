// Auth scheme "apikey": callers present a static key in "Authorization: Bearer <key>" or
// "x-api-key: <key>". Only SHA-256 hashes of the keys are configured, and a presented key is
// checked against every hash in constant time, so neither the config nor the timing of a
// check tells anything about valid keys.
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>
#include <vector>

namespace switchyard {
namespace apikey {
namespace {

using Json = nlohmann::json;
using Digest = std::array<unsigned char, 32>;

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "apikey auth config: " + std::move(message));
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return out;
}

std::string_view trim(std::string_view s) {
  const auto ws = std::string_view(" \t");
  const size_t b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) {
    return {};
  }
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

int hexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool parseDigest(std::string_view hex, Digest& out) {
  if (hex.size() != out.size() * 2) {
    return false;
  }
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = hexValue(hex[2 * i]);
    const int lo = hexValue(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) {
      return false;
    }
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return true;
}

std::string optionalString(const Json& entry, const char* key, const std::string& where) {
  const auto it = entry.find(key);
  if (it == entry.end() || it->is_null()) {
    return {};
  }
  if (!it->is_string()) {
    throw configError(where + ": \"" + key + "\" must be a string");
  }
  return it->get<std::string>();
}

struct Key {
  std::string id;
  Digest sha256{};
  std::string tenant;
  std::string app;
};

class ApiKeyAuth : public sdk::AuthScheme {
 public:
  explicit ApiKeyAuth(std::string_view config_text) {
    const Json config = Json::parse(config_text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      throw configError("must be a JSON object");
    }
    for (const auto& [key, value] : config.items()) {
      if (key == "keys") {
        parseKeys(value);
      } else if (key == "headers") {
        parseHeaders(value);
      } else {
        throw configError("unknown key \"" + key + "\" (allowed: keys, headers)");
      }
    }
    if (keys_.empty()) {
      throw configError("\"keys\" must list at least one key");
    }
    if (headers_.empty()) {
      headers_ = {"authorization", "x-api-key"};
    }
  }

  sy_status authenticate(const sdk::HttpRequest& request, const sdk::Output& out) override {
    const std::string_view credential = findCredential(request.headers);
    if (credential.empty()) {
      return SY_DECLINED;
    }
    Digest digest{};
    unsigned int digest_len = 0;
    if (EVP_Digest(credential.data(), credential.size(), digest.data(), &digest_len,
                   sha256_ ? sha256_.get() : EVP_sha256(), nullptr) != 1 ||
        digest_len != digest.size()) {
      out.setError(500, "internal_error", "auth_failure", "could not check the API key");
      return SY_ERR_INTERNAL;
    }
    // Every stored hash is compared and the match is selected with masks, so the time taken
    // depends neither on whether nor on which key matched.
    uint64_t found = 0;
    uint64_t index = 0;
    for (size_t i = 0; i < keys_.size(); ++i) {
      const uint64_t equal = static_cast<uint64_t>(
          CRYPTO_memcmp(digest.data(), keys_[i].sha256.data(), digest.size()) == 0);
      const uint64_t mask = 0 - equal;
      index = (index & ~mask) | (static_cast<uint64_t>(i) & mask);
      found |= equal;
    }
    OPENSSL_cleanse(digest.data(), digest.size());
    if (found == 0) {
      out.setError(401, "authentication_error", "invalid_api_key", "Incorrect API key provided");
      return SY_ERR_DENIED;
    }
    const Key& key = keys_[index];
    out.setPrincipal(key.tenant, key.app, key.id);
    return SY_OK;
  }

 private:
  /// The first credential present in the configured headers, in their order. "Authorization"
  /// carries it after the Bearer scheme; any other header carries it bare.
  std::string_view findCredential(const sdk::Headers& headers) const {
    for (const auto& name : headers_) {
      std::string_view value = trim(headers.get(name));
      if (value.empty()) {
        continue;
      }
      if (name == "authorization") {
        constexpr std::string_view kBearer = "bearer ";
        if (value.size() <= kBearer.size() || lower(value.substr(0, kBearer.size())) != kBearer) {
          continue;  // another scheme (Basic, ...) is not ours
        }
        value = trim(value.substr(kBearer.size()));
        if (value.empty()) {
          continue;
        }
      }
      return value;
    }
    return {};
  }

  void parseKeys(const Json& value) {
    if (!value.is_array()) {
      throw configError("\"keys\" must be an array");
    }
    std::set<std::string> ids;
    std::set<Digest> hashes;
    for (size_t i = 0; i < value.size(); ++i) {
      const Json& entry = value[i];
      const std::string where = "keys[" + std::to_string(i) + "]";
      if (!entry.is_object()) {
        throw configError(where + " must be an object");
      }
      for (const auto& [k, v] : entry.items()) {
        if (k != "id" && k != "sha256" && k != "tenant" && k != "app") {
          throw configError(where + ": unknown key \"" + k +
                            "\" (allowed: id, sha256, tenant, app)");
        }
      }
      Key key;
      key.id = optionalString(entry, "id", where);
      if (key.id.empty()) {
        throw configError(where + ": \"id\" is required");
      }
      const std::string hex = optionalString(entry, "sha256", where);
      if (!parseDigest(hex, key.sha256)) {
        throw configError(where + " (id \"" + key.id +
                          "\"): \"sha256\" must be 64 hex digits, the SHA-256 of the key");
      }
      key.tenant = optionalString(entry, "tenant", where);
      key.app = optionalString(entry, "app", where);
      if (!ids.insert(key.id).second) {
        throw configError("duplicate key id \"" + key.id + "\"");
      }
      if (!hashes.insert(key.sha256).second) {
        throw configError(where + " (id \"" + key.id + "\"): the same key is listed twice");
      }
      keys_.push_back(std::move(key));
    }
  }

  void parseHeaders(const Json& value) {
    if (!value.is_array() || value.empty()) {
      throw configError("\"headers\" must be a non-empty array of header names");
    }
    for (const auto& h : value) {
      if (!h.is_string() || h.get<std::string>().empty()) {
        throw configError("\"headers\" must contain only non-empty strings");
      }
      headers_.push_back(lower(h.get<std::string>()));
    }
  }

  std::vector<Key> keys_;
  std::vector<std::string> headers_;
  // Fetched once: EVP_sha256() makes every EVP_Digest look the implementation up again in
  // OpenSSL 3's provider store (about half of the ~5.7k instructions a check cost).
  std::unique_ptr<EVP_MD, decltype(&EVP_MD_free)> sha256_{EVP_MD_fetch(nullptr, "SHA256", nullptr),
                                                          &EVP_MD_free};
};

}  // namespace
}  // namespace apikey
}  // namespace switchyard

SY_PLUGIN("apikey", "1.0.0", "Switchyard", "Static API keys, stored as SHA-256 hashes",
          switchyard::sdk::authScheme<switchyard::apikey::ApiKeyAuth>(
              "apikey", "Authorization: Bearer <key> or x-api-key: <key>"))
