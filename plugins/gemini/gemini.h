/// @file plugins/gemini/gemini.h
/// @brief The translations between the unified (OpenAI-format) API and the Google AI Gemini API.
///
/// Everything here is pure: JSON in, JSON out, sdk::Error thrown for a client mistake. The
/// provider class (gemini_provider.cc) wires these functions to the plugin hooks.
#pragma once

#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <switchyard/sdk.hpp>
#include <vector>

namespace switchyard {
namespace gemini {

// ordered_json keeps the key order we build, so request bodies are stable and readable.
using Json = nlohmann::ordered_json;

/// Serializes without throwing on invalid UTF-8 coming from an upstream.
std::string dumpJson(const Json& j);

// ---------------------------------------------------------------------------------------------
// Requests (request.cc)

/// An upstream request: the path relative to base_url and the JSON body.
struct UpstreamRequest {
  std::string path;
  Json body;
};

/// "gemini-2.0-flash" or "models/gemini-2.0-flash" → "gemini-2.0-flash"; refuses names that
/// could change the request path.
std::string modelId(std::string_view upstream_model);

/// Translates a chat.completions body. `safety_settings` (from the provider config, may be
/// null) is sent as `safetySettings`.
UpstreamRequest buildChatRequest(const Json& body, const std::string& model, bool stream,
                                 const Json& safety_settings);

/// Parameters of a chat body the translation drops rather than refuses: extras the answer can
/// come without (log probabilities are not translated yet; `user` has no Gemini field).
std::vector<std::string> droppedChatParams(const Json& body);

/// Translates an embeddings body: one string → embedContent, an array → batchEmbedContents.
UpstreamRequest buildEmbeddingsRequest(const Json& body, const std::string& model);

/// OpenAI JSON Schema → Gemini's OpenAPI-subset Schema. `where` names the location for errors.
Json convertSchema(const Json& schema, const std::string& where);

// ---------------------------------------------------------------------------------------------
// Responses (response.cc)

/// Gemini finishReason → OpenAI finish_reason.
std::string mapFinishReason(std::string_view reason);

/// usageMetadata → the OpenAI `usage` object of a response (with *_details when known).
Json openAiUsage(const Json& usage_metadata);
/// usageMetadata → the flat SY_EVENT_USAGE payload.
Json usageEvent(const Json& usage_metadata);

/// Identity of the completion we hand back.
struct CompletionMeta {
  std::string id;     ///< "chatcmpl-..."
  std::string model;  ///< reported model name
  int64_t created = 0;
};

/// "chatcmpl-<responseId>" when the upstream sent one, else "chatcmpl-<request id>".
CompletionMeta completionMeta(const Json& doc, std::string_view request_id,
                              std::string_view upstream_model, int64_t created);

/// A GenerateContentResponse → an OpenAI chat.completion.
Json translateCompletion(const Json& doc, const CompletionMeta& meta);

/// An embedContent / batchEmbedContents answer → an OpenAI embeddings list. `request` is the
/// client's body (for encoding_format and the token estimate).
Json translateEmbeddings(const Json& doc, const Json& request, const std::string& model);

/// The client-visible error for a Gemini error document ({"error":{code,message,status}}).
sdk::Error upstreamError(const Json& doc, uint32_t http_status);
/// True when the document carries an "error" object.
bool hasError(const Json& doc);
/// The HTTP status an in-band error names (its "code"), or 502.
uint32_t inBandStatus(const Json& doc);

// ---------------------------------------------------------------------------------------------
// Streams (stream.cc)

std::unique_ptr<sdk::ProviderStream> makeChatStream(CompletionMeta meta, bool include_usage,
                                                    bool json_body);

}  // namespace gemini
}  // namespace switchyard
