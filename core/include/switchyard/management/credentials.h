/// @file switchyard/management/credentials.h
/// @brief Passwords (PBKDF2-HMAC-SHA256), signed session tokens and app keys.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

namespace switchyard {

/// PBKDF2 iterations for new password hashes (OWASP's floor for PBKDF2-HMAC-SHA256 is 210,000
/// as of 2023); a stored hash names its own count, so raising this never locks anyone out.
inline constexpr int kPasswordIterations = 210000;

/// "pbkdf2-sha256$<iterations>$<salt hex>$<hash hex>" with a 16-byte random salt.
std::string hashPassword(const std::string& password);
/// Recomputes and compares in constant time. False for any malformed hash.
bool verifyPassword(const std::string& password, const std::string& stored);

std::string sha256Hex(const std::string& data);
/// n random bytes as 2n hex digits. @throw std::runtime_error when the system has no entropy.
std::string randomHex(size_t n);

/// The claims of a session token.
struct SessionClaims {
  std::string user_id;
  int64_t issued_at = 0;
  int64_t expires_at = 0;
};

/// Signs and checks session tokens: base64url(JSON claims) "." base64url(HMAC-SHA256).
class SessionSigner {
 public:
  explicit SessionSigner(std::string secret) : secret_(std::move(secret)) {}
  std::string sign(const SessionClaims& claims) const;
  /// The claims of a well-signed, unexpired token.
  std::optional<SessionClaims> verify(const std::string& token, int64_t now) const;

 private:
  std::string secret_;
};

/**
 * The session secret: SWITCHYARD_SESSION_SECRET when set, else `<data_dir>/session.secret`,
 * generated on first use and written owner-only (0600). @throw std::runtime_error.
 */
std::string loadSessionSecret(const std::filesystem::path& data_dir);

/// A new app key: "sy-" + 8 hex (the visible prefix is "sy-" + those 8) + "-" + 40 hex secret.
struct NewAppKey {
  std::string key;
  std::string prefix;
  std::string hash;  ///< sha256Hex(key)
};
NewAppKey generateAppKey();

}  // namespace switchyard
