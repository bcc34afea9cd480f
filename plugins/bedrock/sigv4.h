// AWS Signature Version 4 for header-signed requests, written against the published algorithm
// (https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html). Pure
// functions, no I/O and no clock: the caller passes the time, so tests can pin it.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace switchyard::bedrock::sigv4 {

struct Credentials {
  std::string access_key_id;
  std::string secret_access_key;
  std::string session_token;  ///< empty when the credentials are long-term keys
};

/// What is signed. `path` is the path exactly as it goes on the wire (already percent-encoded
/// once); `query` the raw query string without '?'. `headers` are the headers to sign (host and
/// x-amz-date included); names in any case.
struct Request {
  std::string method;
  std::string path;
  std::string query;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string payload_sha256_hex;
};

struct Scope {
  std::string region;
  std::string service;
  std::string amz_date;  ///< "YYYYMMDDTHHMMSSZ"
};

/// Hex SHA-256 of `data`.
std::string sha256Hex(std::string_view data);
/// Raw HMAC-SHA256.
std::string hmacSha256(std::string_view key, std::string_view data);
/// "YYYYMMDDTHHMMSSZ" for a Unix time in milliseconds (UTC).
std::string amzDate(int64_t unix_ms);
/// RFC 3986 percent-encoding of everything except unreserved characters (A-Z a-z 0-9 - _ . ~),
/// uppercase hex, as SigV4 requires. With keep_slash, '/' is left alone.
std::string uriEncode(std::string_view s, bool keep_slash = false);
/// The canonical URI for services other than S3: every segment of the wire path encoded once
/// more (so "%3A" on the wire becomes "%253A" here).
std::string canonicalUri(std::string_view wire_path);
/// The canonical query string: pairs sorted by encoded name, then value.
std::string canonicalQuery(std::string_view query);

struct Signed {
  std::string canonical_request;
  std::string string_to_sign;
  std::string signed_headers;  ///< "host;x-amz-date;..."
  std::string signature;       ///< lowercase hex
  std::string authorization;   ///< the Authorization header value
};

Signed sign(const Request& request, const Scope& scope, const Credentials& credentials);

}  // namespace switchyard::bedrock::sigv4
