/// @file switchyard/ingress/ingress_adapter.h
/// @brief Client APIs other than chat completions, served by translating them to and from it.
#pragma once

#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>

#include "switchyard/common/api_error.h"
#include "switchyard/http/http_types.h"

namespace switchyard::ingress {

/// ordered_json keeps keys in the order they are written, so answers read like the documented ones.
using Json = nlohmann::ordered_json;

/// Turns a unified (OpenAI chat.completion.chunk) stream into one client API's stream events.
class StreamEncoder {
 public:
  virtual ~StreamEncoder() = default;
  /// Events for one unified chunk (possibly none).
  virtual std::string chunk(const Json& chunk) = 0;
  /// Events that end a stream that completed (the unified "[DONE]").
  virtual std::string done() = 0;
  /// Events that end a stream that failed after bytes reached the client.
  virtual std::string error(const ApiError& error) = 0;
};
using StreamEncoderPtr = std::unique_ptr<StreamEncoder>;

/// One request's translation between a client API and the unified chat format. The proxy routes,
/// retries and relays the unified call; the adapter only changes the shape at the two edges.
class IngressAdapter {
 public:
  virtual ~IngressAdapter() = default;
  /// The client's request body → a unified chat completions body. Errors are OpenAI-shaped here;
  /// the wrapped writer gives them the client API's shape.
  virtual std::optional<ApiError> toUnified(std::string_view body, std::string& unified) = 0;
  /// A complete unified answer (a chat.completion or an OpenAI error document with its status)
  /// → the client API's status and body.
  virtual void answer(int& status, std::string& body) = 0;
  /// A fresh encoder for one streamed answer.
  virtual StreamEncoderPtr streamEncoder() = 0;

  /// A writer for the unified answer that sends the client API's shape to `client`. It must not
  /// outlive this adapter or `client`.
  std::unique_ptr<HttpResponseWriter> wrap(HttpResponseWriter& client);
};
using IngressAdapterPtr = std::unique_ptr<IngressAdapter>;

/// The adapter that serves `path` ("/v1/messages", "/v1/responses", with or without "/v1"), or
/// null when the path is not a translated ingress.
IngressAdapterPtr adapterForPath(std::string_view path);

/// A successful (2xx) unified answer's chat.completion; when the provider's answer was not a
/// JSON object, nullopt, with `status` and `body` turned into a 502 OpenAI-shaped error.
std::optional<Json> parseCompletion(int& status, std::string& body);

/// The status and error of an OpenAI error document ({"error":{"message","type","code"}}).
ApiError parseOpenAiError(int status, std::string_view body);

}  // namespace switchyard::ingress
