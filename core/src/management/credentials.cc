#include "switchyard/management/credentials.h"

#include <fcntl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <stdexcept>
#include <vector>

namespace switchyard {
namespace {

std::string hex(const unsigned char* p, size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  out.reserve(n * 2);
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
  return out;
}

std::optional<std::string> unhex(const std::string& s) {
  if (s.size() % 2 != 0) {
    return std::nullopt;
  }
  auto nibble = [](char c) -> int {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
  };
  std::string out;
  for (size_t i = 0; i < s.size(); i += 2) {
    const int hi = nibble(s[i]);
    const int lo = nibble(s[i + 1]);
    if (hi < 0 || lo < 0) {
      return std::nullopt;
    }
    out += static_cast<char>(hi * 16 + lo);
  }
  return out;
}

std::string pbkdf2(const std::string& password, const std::string& salt, int iterations) {
  unsigned char out[32];
  if (PKCS5_PBKDF2_HMAC(password.data(), static_cast<int>(password.size()),
                        reinterpret_cast<const unsigned char*>(salt.data()),
                        static_cast<int>(salt.size()), iterations, EVP_sha256(), sizeof out,
                        out) != 1) {
    return {};
  }
  return std::string(reinterpret_cast<char*>(out), sizeof out);
}

std::string base64url(const std::string& in) {
  static const char* kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
  std::string out;
  size_t i = 0;
  for (; i + 2 < in.size(); i += 3) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8) | uint8_t(in[i + 2]);
    for (int s = 18; s >= 0; s -= 6) {
      out += kAlphabet[(v >> s) & 63];
    }
  }
  if (i + 1 == in.size()) {
    const uint32_t v = uint8_t(in[i]) << 16;
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
  } else if (i + 2 == in.size()) {
    const uint32_t v = (uint8_t(in[i]) << 16) | (uint8_t(in[i + 1]) << 8);
    out += kAlphabet[(v >> 18) & 63];
    out += kAlphabet[(v >> 12) & 63];
    out += kAlphabet[(v >> 6) & 63];
  }
  return out;
}

std::optional<std::string> unbase64url(const std::string& in) {
  std::string out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : in) {
    int v = c >= 'A' && c <= 'Z'   ? c - 'A'
            : c >= 'a' && c <= 'z' ? c - 'a' + 26
            : c >= '0' && c <= '9' ? c - '0' + 52
            : c == '-'             ? 62
            : c == '_'             ? 63
                                   : -1;
    if (v < 0) {
      return std::nullopt;
    }
    acc = (acc << 6) | static_cast<uint32_t>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  return out;
}

std::string hmac(const std::string& key, const std::string& data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(data.data()), data.size(), out, &len);
  return std::string(reinterpret_cast<char*>(out), len);
}

bool equalConstantTime(const std::string& a, const std::string& b) {
  return a.size() == b.size() && CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

}  // namespace

std::string randomHex(size_t n) {
  std::vector<unsigned char> bytes(n);
  if (RAND_bytes(bytes.data(), static_cast<int>(n)) != 1) {
    throw std::runtime_error("no randomness available");
  }
  return hex(bytes.data(), n);
}

std::string sha256Hex(const std::string& data) {
  unsigned char out[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(data.data()), data.size(), out);
  return hex(out, sizeof out);
}

std::string hashPassword(const std::string& password) {
  const std::string salt_hex = randomHex(16);
  const std::string salt = *unhex(salt_hex);
  return "pbkdf2-sha256$" + std::to_string(kPasswordIterations) + "$" + salt_hex + "$" +
         hex(reinterpret_cast<const unsigned char*>(
                 pbkdf2(password, salt, kPasswordIterations).data()),
             32);
}

bool verifyPassword(const std::string& password, const std::string& stored) {
  std::vector<std::string> parts;
  std::stringstream ss(stored);
  for (std::string part; std::getline(ss, part, '$');) {
    parts.push_back(part);
  }
  if (parts.size() != 4 || parts[0] != "pbkdf2-sha256") {
    return false;
  }
  char* end = nullptr;
  const long iterations = std::strtol(parts[1].c_str(), &end, 10);
  auto salt = unhex(parts[2]);
  auto expected = unhex(parts[3]);
  if (*end != '\0' || iterations < 1 || iterations > 10000000 || !salt || !expected ||
      expected->size() != 32) {
    return false;
  }
  return equalConstantTime(pbkdf2(password, *salt, static_cast<int>(iterations)), *expected);
}

std::string SessionSigner::sign(const SessionClaims& claims) const {
  const std::string payload = base64url(nlohmann::json{
      {"sub", claims.user_id},
      {"iat", claims.issued_at},
      {"exp", claims.expires_at}}.dump());
  return payload + "." + base64url(hmac(secret_, payload));
}

std::optional<SessionClaims> SessionSigner::verify(const std::string& token, int64_t now) const {
  const auto dot = token.find('.');
  if (dot == std::string::npos) {
    return std::nullopt;
  }
  const std::string payload = token.substr(0, dot);
  auto signature = unbase64url(token.substr(dot + 1));
  if (!signature || !equalConstantTime(*signature, hmac(secret_, payload))) {
    return std::nullopt;
  }
  auto text = unbase64url(payload);
  if (!text) {
    return std::nullopt;
  }
  auto j = nlohmann::json::parse(*text, nullptr, false);
  if (!j.is_object() || !j.contains("sub") || !j["sub"].is_string() || !j.contains("exp") ||
      !j["exp"].is_number_integer() || !j.contains("iat") || !j["iat"].is_number_integer()) {
    return std::nullopt;
  }
  SessionClaims c{j["sub"].get<std::string>(), j["iat"].get<int64_t>(), j["exp"].get<int64_t>()};
  if (c.expires_at <= now) {
    return std::nullopt;
  }
  return c;
}

std::string loadSessionSecret(const std::filesystem::path& data_dir) {
  const char* env = std::getenv("SWITCHYARD_SESSION_SECRET");
  if (env != nullptr && *env != '\0') {
    if (std::string(env).size() < 32) {
      throw std::runtime_error("SWITCHYARD_SESSION_SECRET must be at least 32 characters");
    }
    return env;
  }
  const auto file = data_dir / "session.secret";
  {
    std::ifstream in(file);
    std::string secret;
    if (in && std::getline(in, secret) && secret.size() >= 32) {
      return secret;
    }
  }
  std::filesystem::create_directories(data_dir);
  const std::string secret = randomHex(32);
  // Created 0600 from the start (O_EXCL): the secret is never readable by others, not even briefly.
  const int fd = ::open(file.c_str(), O_WRONLY | O_CREAT | O_EXCL, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot create " + file.string());
  }
  const std::string line = secret + "\n";
  const bool ok = ::write(fd, line.data(), line.size()) == static_cast<ssize_t>(line.size());
  ::close(fd);
  if (!ok) {
    throw std::runtime_error("cannot write " + file.string());
  }
  return secret;
}

NewAppKey generateAppKey() {
  NewAppKey k;
  k.prefix = "sy-" + randomHex(4);
  k.key = k.prefix + "-" + randomHex(20);
  k.hash = sha256Hex(k.key);
  return k;
}

}  // namespace switchyard
