// Provider "openai": translates the unified (OpenAI-format) API to OpenAI or any
// OpenAI-compatible upstream. The wire format is already the unified one, so the work is in
// the edges: the model rename, headers, always-on usage accounting for streams, and mapping
// every upstream failure to a well-formed client error. A "preset" (presets.json, see
// README.md) adapts all of that to one compatible upstream's documented quirks.
#include <algorithm>
#include <array>
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <switchyard/json_scan.hpp>
#include <switchyard/sdk.hpp>
#include <switchyard/sse_parser.hpp>
#include <switchyard/text.hpp>
#include <utility>
#include <vector>

#include "presets.h"
#include "request_body.h"

namespace switchyard {
namespace openai {
namespace {

using sdk::equalsIgnoreCase;
using sdk::isTokenChar;
using sdk::trim;
using sdk::validHeaderName;
using sdk::validHeaderValue;

using sdk::Output;
// ordered_json keeps the client's key order in the body we forward.
using Json = nlohmann::ordered_json;

// Upstream error messages are passed to clients; bound them so a hostile upstream cannot.
constexpr size_t kMaxMessageBytes = 8 * 1024;
// A JSON (not SSE) answer to a stream request is buffered whole; bound it.
constexpr size_t kMaxJsonStreamBytes = 16u << 20;

sdk::Error configError(std::string message) {
  return sdk::Error(400, "invalid_request_error", "invalid_config",
                    "openai provider config: " + std::move(message));
}

std::string clip(std::string s) {
  if (s.size() > kMaxMessageBytes) {
    s.resize(kMaxMessageBytes);
    // Do not leave half a UTF-8 sequence at the cut.
    while (!s.empty() && (static_cast<unsigned char>(s.back()) & 0xC0) == 0x80) {
      s.pop_back();
    }
    if (!s.empty() && (static_cast<unsigned char>(s.back()) & 0x80) != 0) {
      s.pop_back();
    }
    s += "...";
  }
  return s;
}

/// OpenAI's "code" is a string, but null and numbers occur in the wild.
std::string stringifyCode(const Json& code) {
  if (code.is_null()) {
    return {};
  }
  if (code.is_string()) {
    return code.get<std::string>();
  }
  return code.dump();
}

std::string dumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

/// A usage object's counts as usageEvent reads them: a count that is not an integer is 0.
struct UsageCounts {
  int64_t prompt = 0;
  int64_t completion = 0;
  int64_t total = 0;
  int64_t cached = 0;     ///< prompt_tokens_details.cached_tokens
  int64_t cache_hit = 0;  ///< DeepSeek's prompt_cache_hit_tokens
  int64_t reasoning = 0;  ///< completion_tokens_details.reasoning_tokens
};

/// The USAGE event every provider emits (docs/sdk.md): OpenAI's counts with the cache and
/// reasoning breakdown flat. DeepSeek reports its cache hits as prompt_cache_hit_tokens.
std::string usageText(const UsageCounts& u) {
  std::string out;
  out.reserve(128);
  auto add = [&](const char* key, int64_t n) {
    out.append(out.empty() ? "{\"" : ",\"").append(key).append("\":").append(std::to_string(n));
  };
  add("prompt_tokens", u.prompt);
  add("completion_tokens", u.completion);
  add("total_tokens", u.total);
  const int64_t cached = std::max(u.cached, u.cache_hit);
  if (cached > 0) add("cached_tokens", cached);
  if (u.reasoning > 0) add("reasoning_tokens", u.reasoning);
  out.push_back('}');
  return out;
}

std::string usageEvent(const Json& usage) {
  auto count = [](const Json& obj, const char* key) -> int64_t {
    const auto it = obj.find(key);
    return it != obj.end() && it->is_number_integer() ? std::max<int64_t>(0, it->get<int64_t>()) : 0;
  };
  auto nested = [&](const char* object, const char* key) -> int64_t {
    const auto o = usage.find(object);
    return o != usage.end() && o->is_object() ? count(*o, key) : 0;
  };
  UsageCounts u;
  u.prompt = count(usage, "prompt_tokens");
  u.completion = count(usage, "completion_tokens");
  u.total = count(usage, "total_tokens");
  u.cached = nested("prompt_tokens_details", "cached_tokens");
  u.cache_hit = count(usage, "prompt_cache_hit_tokens");
  u.reasoning = nested("completion_tokens_details", "reasoning_tokens");
  return usageText(u);
}

/// Reads a successful upstream answer for what parseResponse needs (is it an object, does it
/// carry an "error", its usage counts) without building a DOM: the ordered_json parse of
/// every answer was ~58k instructions a small call. Strict: it accepts only JSON nlohmann
/// accepts, with the values nlohmann would give (the last of repeated keys wins, as in
/// ordered_json); anything it is unsure of (an object key with an escape, a \u escape, a
/// BOM, deep nesting, malformed text) makes run() false and the caller parses with nlohmann.
class AnswerScan {
 public:
  bool has_error = false;
  bool has_usage = false;
  bool choices_empty = false;  ///< the top-level "choices" is [] (a usage-only stream chunk)
  UsageCounts usage;

  bool run(std::string_view body) {
    sdk::JsonCursor c(body);
    c.skipSpace();
    if (!c.at('{') || !sdk::walkJson(c, *this, kMaxDepth)) {
      return false;
    }
    c.skipSpace();
    return c.atEnd();
  }

  // sdk::walkJson's events. Only the first kFrames levels can hold what is read; deeper
  // containers are only counted.
  bool startObject() {
    return push(depth_ == 0 ? Where::kTop : inner(), /*is_array=*/false);
  }
  bool startArray() { return push(Where::kOther, /*is_array=*/true); }
  bool end() {
    --depth_;
    if (depth_ == 1 && frames_[0].choices) {
      choices_empty = frames_[1].is_array && frames_[1].elements == 0;
    }
    member(0, false);  // a container's count is 0 and it is not null
    return true;
  }
  bool key(const sdk::JsonString& k) {
    if (k.escaped) {
      return false;
    }
    if (depth_ > kFrames) {
      return true;
    }
    Frame& f = frames_[depth_ - 1];
    const std::string_view key = k.raw;
    f.inner = Where::kOther;
    f.count = nullptr;
    f.error = f.where == Where::kTop && key == "error";
    f.choices = f.where == Where::kTop && key == "choices";
    if (f.choices) {
      choices_empty = false;  // a repeated key: the last value counts
    }
    if (f.where == Where::kTop && key == "usage") {
      usage = UsageCounts{};  // a repeated key: the last value counts
      has_usage = false;      // until the value turns out to be an object
      f.inner = Where::kUsage;
    } else if (f.where == Where::kUsage) {
      if (key == "prompt_tokens") f.count = &usage.prompt;
      else if (key == "completion_tokens") f.count = &usage.completion;
      else if (key == "total_tokens") f.count = &usage.total;
      else if (key == "prompt_cache_hit_tokens") f.count = &usage.cache_hit;
      else if (key == "prompt_tokens_details") {
        usage.cached = 0;
        f.inner = Where::kPromptDetails;
      } else if (key == "completion_tokens_details") {
        usage.reasoning = 0;
        f.inner = Where::kCompletionDetails;
      }
    } else if (f.where == Where::kPromptDetails && key == "cached_tokens") {
      f.count = &usage.cached;
    } else if (f.where == Where::kCompletionDetails && key == "reasoning_tokens") {
      f.count = &usage.reasoning;
    }
    return true;
  }
  bool string(const sdk::JsonString& s) {
    if (s.unicode_escape) {
      return false;  // nlohmann decides
    }
    member(0, false);
    return true;
  }
  bool boolean(bool) { return member(0, false), true; }
  bool null() { return member(0, true), true; }

  /// A member's count is what usageEvent would read: 0 unless an integer that fits int64,
  /// negatives 0.
  bool number(const sdk::JsonNumber& num) {
    if (!num.integral) {
      // nlohmann rejects a float that overflows a double; leave such text to it.
      double d = 0;
      if (!sdk::jsonFiniteDouble(num.text, 24, d)) {
        return false;
      }
      member(0, false);
      return true;
    }
    switch (num.kind) {
      case sdk::JsonNumber::Kind::kInt64:
        member(0, false);
        return true;
      case sdk::JsonNumber::Kind::kUint64:
        member(num.u <= static_cast<uint64_t>(INT64_MAX) ? static_cast<int64_t>(num.u) : 0, false);
        return true;
      case sdk::JsonNumber::Kind::kFloat:
        break;
    }
    return false;  // past 64 bits: a float to nlohmann (not an integer count); leave it to it
  }

 private:
  enum class Where { kTop, kUsage, kPromptDetails, kCompletionDetails, kOther };
  static constexpr int kMaxDepth = 128;
  /// top, usage, the details objects, and what they hold: deeper levels are all kOther.
  static constexpr int kFrames = 4;

  /// An open container and, for an object, what its current member's value feeds.
  struct Frame {
    Where where = Where::kOther;
    bool is_array = false;
    Where inner = Where::kOther;  // for a member's object value
    int64_t* count = nullptr;     // the count a member's value sets
    bool error = false;           // the member is the top-level "error"
    bool choices = false;         // the member is the top-level "choices"
    int64_t elements = 0;         // for an array: the values it held so far
  };

  /// What an object value in the current container reads.
  Where inner() const {
    if (depth_ > kFrames) {
      return Where::kOther;
    }
    const Frame& f = frames_[depth_ - 1];
    return f.is_array ? Where::kOther : f.inner;
  }

  bool push(Where where, bool is_array) {
    if (where == Where::kUsage) {
      has_usage = true;
    }
    if (depth_ < kFrames) {
      frames_[depth_] = Frame{where, is_array};
    }
    ++depth_;
    return true;
  }

  /// A value of the current container's member ended, `n` its count.
  void member(int64_t n, bool is_null) {
    if (depth_ == 0 || depth_ > kFrames) {
      return;
    }
    Frame& f = frames_[depth_ - 1];
    if (f.is_array) {
      ++f.elements;
      return;
    }
    if (f.count != nullptr) {
      *f.count = n;
    }
    if (f.error) {
      has_error = !is_null;
    }
  }

  std::array<Frame, kFrames> frames_{};
  int depth_ = 0;
};

bool isErrorStatus(uint32_t status) {
  return status >= 400 && status <= 599;
}

/// Sets the client error from an upstream error document: {"error":{...}}, {"error":"..."},
/// or a bare {"message"|"detail": "..."} as some compatible servers send.
void setUpstreamError(const Json& doc, uint32_t status, const Output& out) {
  std::string type = "upstream_error";
  std::string code;
  std::string message;
  const auto err = doc.find("error");
  if (err != doc.end() && err->is_object()) {
    if (auto t = err->find("type"); t != err->end() && t->is_string() && !t->empty()) {
      type = t->get<std::string>();
    }
    if (auto c = err->find("code"); c != err->end()) {
      code = stringifyCode(*c);
    }
    if (auto m = err->find("message"); m != err->end()) {
      message = m->is_string() ? m->get<std::string>() : dumpJson(*m);
    }
  } else if (err != doc.end() && err->is_string()) {
    message = err->get<std::string>();
  } else {
    for (const char* key : {"message", "detail"}) {
      if (auto m = doc.find(key); m != doc.end() && m->is_string()) {
        message = m->get<std::string>();
        break;
      }
    }
  }
  if (message.empty()) {
    message = "upstream returned an error";
  }
  out.setError(status, type, code, clip(std::move(message)));
}

/// The status an in-band error (inside a 2xx answer) should map to: 502 unless the error
/// itself names a better one.
uint32_t inBandErrorStatus(const Json& doc) {
  const auto err = doc.find("error");
  if (err == doc.end() || !err->is_object()) {
    return 502;
  }
  for (const char* key : {"status", "code"}) {
    if (auto v = err->find(key); v != err->end() && v->is_number_integer()) {
      const auto n = v->get<int64_t>();
      if (n >= 400 && n <= 599) {
        return static_cast<uint32_t>(n);
      }
    }
  }
  return 502;
}

bool hasError(const Json& doc) {
  const auto err = doc.find("error");
  return err != doc.end() && !err->is_null();
}

/// Finds body.stream_options.include_usage without building a DOM of a possibly huge body
/// (images, long histories): stream_open needs only this one flag.
class IncludeUsageProbe : public nlohmann::json_sax<nlohmann::json> {
 public:
  bool value() const { return value_; }

  bool null() override { return scalar(); }
  bool boolean(bool v) override {
    if (depth_ == 2 && in_options_ && options_key_ == "include_usage") {
      value_ = v;
    }
    return scalar();
  }
  bool number_integer(number_integer_t) override { return scalar(); }
  bool number_unsigned(number_unsigned_t) override { return scalar(); }
  bool number_float(number_float_t, const string_t&) override { return scalar(); }
  bool string(string_t&) override { return scalar(); }
  bool binary(binary_t&) override { return scalar(); }
  bool start_object(std::size_t) override {
    ++depth_;
    if (depth_ == 2 && top_key_ == "stream_options") {
      in_options_ = true;
    }
    return true;
  }
  bool key(string_t& k) override {
    if (depth_ == 1) {
      top_key_ = k;
    } else if (depth_ == 2 && in_options_) {
      options_key_ = k;
    }
    return true;
  }
  bool end_object() override {
    if (depth_ == 2 && in_options_) {
      return false;  // seen all we need; stop early
    }
    --depth_;
    return true;
  }
  bool start_array(std::size_t) override {
    ++depth_;
    return true;
  }
  bool end_array() override {
    --depth_;
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override {
    return false;
  }

 private:
  static bool scalar() { return true; }

  int depth_ = 0;
  bool in_options_ = false;
  bool value_ = false;
  std::string top_key_;
  std::string options_key_;
};

bool clientAskedForUsage(std::string_view body) {
  IncludeUsageProbe probe;
  nlohmann::json::sax_parse(body.data(), body.data() + body.size(), &probe);
  return probe.value();
}

// ---------------------------------------------------------------------------------------------
// Usage estimation for upstreams that never report usage in streams (stream_usage "none").
// The rule is the documented rough one: about 4 characters of text per token, rounded up.

constexpr uint64_t kCharsPerToken = 4;

/// Characters (UTF-8 code points, not bytes) of a string value; 0 for anything else.
uint64_t textChars(const Json& value) {
  if (!value.is_string()) {
    return 0;
  }
  uint64_t chars = 0;
  for (const unsigned char c : value.get_ref<const std::string&>()) {
    chars += (c & 0xC0) != 0x80 ? 1 : 0;
  }
  return chars;
}

uint64_t charsToTokens(uint64_t chars) {
  return (chars + kCharsPerToken - 1) / kCharsPerToken;
}

/// Characters of the tool calls' names and argument text (in a message or a delta).
uint64_t toolCallChars(const Json& holder) {
  uint64_t chars = 0;
  const auto calls = holder.find("tool_calls");
  if (calls == holder.end() || !calls->is_array()) {
    return 0;
  }
  for (const auto& call : *calls) {
    const auto fn = call.is_object() ? call.find("function") : call.end();
    if (call.is_object() && fn != call.end() && fn->is_object()) {
      chars += textChars(fn->value("name", Json())) + textChars(fn->value("arguments", Json()));
    }
  }
  return chars;
}

/// Estimated prompt tokens: the text of every message (string content or the "text" of
/// content parts) and the arguments of tool calls in the history.
uint64_t estimatePromptTokens(std::string_view request_body) {
  const Json body = Json::parse(request_body, nullptr, false);
  if (body.is_discarded() || !body.is_object()) {
    return 0;
  }
  const auto messages = body.find("messages");
  if (messages == body.end() || !messages->is_array()) {
    return 0;
  }
  uint64_t chars = 0;
  for (const auto& message : *messages) {
    if (!message.is_object()) {
      continue;
    }
    const Json content = message.value("content", Json());
    if (content.is_array()) {
      for (const auto& part : content) {
        chars += part.is_object() ? textChars(part.value("text", Json())) : 0;
      }
    } else {
      chars += textChars(content);
    }
    chars += toolCallChars(message);
  }
  return charsToTokens(chars);
}

/// Characters of generated text in one chunk: content, reasoning, refusal and tool calls.
uint64_t completionChars(const Json& chunk) {
  const auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) {
    return 0;
  }
  uint64_t chars = 0;
  for (const auto& choice : *choices) {
    const auto delta = choice.is_object() ? choice.find("delta") : choice.end();
    if (!choice.is_object() || delta == choice.end() || !delta->is_object()) {
      continue;
    }
    for (const char* key : {"content", "reasoning_content", "reasoning", "refusal"}) {
      chars += textChars(delta->value(key, Json()));
    }
    chars += toolCallChars(*delta);
  }
  return chars;
}

/// How a stream accounts usage; the default is the no-preset behaviour.
struct StreamUsagePolicy {
  /// Hold usage back until the end and emit only the last one seen: upstreams that send
  /// usage unasked may repeat it (cumulatively) in several chunks.
  bool defer = false;
  /// Estimate usage at the end if the upstream sent none.
  bool estimate = false;
  uint64_t estimated_prompt_tokens = 0;
};

class OpenAiStream : public sdk::ProviderStream {
 public:
  OpenAiStream(bool client_wants_usage, bool json_body, StreamUsagePolicy usage_policy = {})
      : client_wants_usage_(client_wants_usage),
        json_body_(json_body),
        usage_policy_(usage_policy) {}

  sy_status onData(std::string_view bytes, const Output& out) override {
    if (failed_) {
      return SY_ERR_UPSTREAM;
    }
    if (done_) {
      return SY_OK;  // anything after [DONE] has no meaning
    }
    if (json_body_) {
      if (body_.size() + bytes.size() > kMaxJsonStreamBytes) {
        return fail(out, 502, "upstream_error", "bad_upstream_response",
                    "upstream answered a stream request with an oversized JSON body");
      }
      body_.append(bytes);
      return SY_OK;
    }
    sy_status status = SY_OK;
    const auto result = parser_.feed(bytes, [&](std::string_view data) {
      status = onEvent(data, out);
      return status == SY_OK && !done_;
    });
    if (result == sdk::SseParser::Result::kTooLarge) {
      return fail(out, 502, "upstream_error", "chunk_too_large",
                  "upstream sent a stream event larger than the gateway accepts");
    }
    return status;
  }

  sy_status onEnd(const Output& out) override {
    if (failed_) {
      return SY_ERR_UPSTREAM;
    }
    if (done_) {
      return SY_OK;
    }
    if (json_body_) {
      return endJsonBody(out);
    }
    // Some servers close right after "data: [DONE]\n" without the blank line; accept that.
    if (trim(parser_.finish()) == "[DONE]") {
      return finish(out);
    }
    return fail(out, 502, "upstream_error", "stream_truncated",
                "upstream closed the stream before [DONE]");
  }

 private:
  sy_status onEvent(std::string_view data, const Output& out) {
    const std::string_view trimmed = trim(data);
    if (trimmed.empty()) {
      return SY_OK;
    }
    if (trimmed == "[DONE]") {
      return finish(out);
    }
    // The common chunk (an object on one line, no error, no estimate to make) is read without
    // a DOM: the ordered_json parse was ~27k instructions an event.
    if (!usage_policy_.estimate && sdk::findLineBreak(trimmed) == std::string_view::npos) {
      AnswerScan scan;
      if (scan.run(trimmed) && !scan.has_error) {
        if (!(scan.has_usage && scan.choices_empty) || client_wants_usage_) {
          out.emit(SY_EVENT_CHUNK, trimmed);
        }
        if (scan.has_usage && usage_policy_.defer) {
          last_usage_ = usageText(scan.usage);
        } else if (scan.has_usage) {
          out.emit(SY_EVENT_USAGE, usageText(scan.usage));
        }
        return SY_OK;
      }
    }
    const Json chunk = Json::parse(trimmed, nullptr, false);
    if (chunk.is_discarded() || !chunk.is_object()) {
      return fail(out, 502, "upstream_error", "malformed_chunk",
                  "upstream sent a stream chunk that is not a JSON object");
    }
    if (hasError(chunk)) {
      failed_ = true;
      setUpstreamError(chunk, inBandErrorStatus(chunk), out);
      return SY_ERR_UPSTREAM;
    }
    const auto usage = chunk.find("usage");
    const bool has_usage = usage != chunk.end() && usage->is_object();
    const auto choices = chunk.find("choices");
    // With include_usage the upstream ends with a choices-less chunk that carries only the
    // usage; a client that did not ask for it must not see it.
    const bool usage_only =
        has_usage && choices != chunk.end() && choices->is_array() && choices->empty();
    if (!usage_only || client_wants_usage_) {
      // Multi-line data would break the core's one-line "data: <json>" framing.
      if (sdk::findLineBreak(trimmed) == std::string_view::npos) {
        out.emit(SY_EVENT_CHUNK, trimmed);
      } else {
        out.emit(SY_EVENT_CHUNK, dumpJson(chunk));
      }
    }
    if (has_usage && usage_policy_.defer) {
      last_usage_ = usageEvent(*usage);
    } else if (has_usage) {
      out.emit(SY_EVENT_USAGE, usageEvent(*usage));
    }
    if (usage_policy_.estimate) {
      completion_chars_ += completionChars(chunk);
    }
    return SY_OK;
  }

  /// The end of a well-formed stream: the held-back or estimated usage, then DONE.
  sy_status finish(const Output& out) {
    done_ = true;
    if (last_usage_) {
      out.emit(SY_EVENT_USAGE, *last_usage_);
    } else if (usage_policy_.estimate) {
      const uint64_t prompt = usage_policy_.estimated_prompt_tokens;
      const uint64_t completion = charsToTokens(completion_chars_);
      const Json usage = {{"prompt_tokens", prompt},
                          {"completion_tokens", completion},
                          {"total_tokens", prompt + completion},
                          {"estimated", true}};
      out.emit(SY_EVENT_USAGE, dumpJson(usage));
    }
    out.emit(SY_EVENT_DONE);
    return SY_OK;
  }

  sy_status endJsonBody(const Output& out) {
    const Json doc = Json::parse(body_, nullptr, false);
    if (!doc.is_discarded() && doc.is_object() && hasError(doc)) {
      failed_ = true;
      setUpstreamError(doc, inBandErrorStatus(doc), out);
      return SY_ERR_UPSTREAM;
    }
    return fail(out, 502, "upstream_error", "bad_upstream_response",
                "upstream answered a stream request without an event stream");
  }

  sy_status fail(const Output& out, uint32_t status, std::string_view type, std::string_view code,
                 std::string_view message) {
    failed_ = true;
    out.setError(status, type, code, message);
    return SY_ERR_UPSTREAM;
  }

  const bool client_wants_usage_;
  const bool json_body_;
  const StreamUsagePolicy usage_policy_;
  std::optional<std::string> last_usage_;  // held back under usage_policy_.defer
  uint64_t completion_chars_ = 0;          // counted under usage_policy_.estimate
  sdk::SseParser parser_;
  std::string body_;
  bool done_ = false;
  bool failed_ = false;
};

class OpenAiProvider : public sdk::Provider {
 public:
  explicit OpenAiProvider(std::string_view config_text) {
    if (trim(config_text).empty()) {
      return;
    }
    const Json config = Json::parse(config_text, nullptr, false);
    if (config.is_discarded() || !config.is_object()) {
      throw configError("must be a JSON object");
    }
    for (const auto& [key, value] : config.items()) {
      if (key == "organization" || key == "project") {
        if (!value.is_string()) {
          throw configError("\"" + key + "\" must be a string");
        }
        const auto text = value.get<std::string>();
        if (!validHeaderValue(text)) {
          throw configError("\"" + key + "\" contains a control character");
        }
        (key == "organization" ? organization_ : project_) = text;
      } else if (key == "extra_headers") {
        parseExtraHeaders(value);
      } else if (key == "preset") {
        loadPreset(value);
      } else {
        throw configError("unknown key \"" + key +
                          "\" (allowed: preset, organization, project, extra_headers)");
      }
    }
  }

  sy_status buildRequest(const sdk::ProviderRequest& request, const Output& out) override {
    std::string_view path;
    switch (request.operation) {
      case SY_OP_CHAT_COMPLETIONS:
        path = "/chat/completions";
        break;
      case SY_OP_EMBEDDINGS:
        path = "/embeddings";
        if (request.stream) {
          out.setError(400, "invalid_request_error", "unsupported_stream",
                       "embeddings cannot be streamed");
          return SY_ERR_UNSUPPORTED;
        }
        break;
      default:
        out.setError(400, "invalid_request_error", "unsupported_operation",
                     "the openai provider does not support this operation");
        return SY_ERR_UNSUPPORTED;
    }

    // A plain body of a whole-response call is rewritten as text (request_body.h): the bytes
    // the DOM below gives, without its allocations.
    std::string forwarded;
    if (preset_ || request.stream ||
        !rewriteRequestBody(request.body, request.upstream_model,
                            request.operation == SY_OP_CHAT_COMPLETIONS, forwarded)) {
      Json body = Json::parse(request.body, nullptr, false);
      if (body.is_discarded()) {
        out.setError(400, "invalid_request_error", "invalid_json",
                     "the request body is not valid JSON");
        return SY_ERR_INVALID_ARG;
      }
      if (!body.is_object()) {
        out.setError(400, "invalid_request_error", "invalid_json",
                     "the request body must be a JSON object");
        return SY_ERR_INVALID_ARG;
      }
      if (!request.upstream_model.empty()) {
        body["model"] = std::string(request.upstream_model);
      }
      if (preset_ && !applyParameterPolicy(body, request.operation, out)) {
        return SY_ERR_INVALID_ARG;
      }
      if (request.operation == SY_OP_CHAT_COMPLETIONS) {
        if (request.stream) {
          body["stream"] = true;
          if (injectsIncludeUsage()) {
            // Always ask for usage so streamed calls are counted; the stream hides the extra
            // chunk again from clients that did not ask.
            auto options = body.find("stream_options");
            if (options == body.end() || options->is_null()) {
              body["stream_options"] = Json{{"include_usage", true}};
            } else if (options->is_object()) {
              (*options)["include_usage"] = true;
            }
            // Any other type is the client's mistake; the upstream will say so.
          }
        } else if (body.contains("stream")) {
          // The core answers this call as a whole response, whatever the body says.
          body["stream"] = false;
        }
      }
      forwarded = dumpJson(body);
    }

    // Keys read from files often end in a newline; anything else that could break the header
    // line is refused (without echoing the key).
    const std::string_view api_key = trim(request.api_key);
    if (!validHeaderValue(api_key)) {
      out.setError(500, "internal_error", "invalid_upstream_credential",
                   "the provider's API key contains control characters");
      return SY_ERR_INVALID_ARG;
    }

    out.setMethod("POST");
    out.setPath(path);
    std::vector<std::pair<std::string_view, std::string>> headers;
    headers.emplace_back("Content-Type", "application/json");
    if (!api_key.empty()) {
      addAuthHeader(api_key, headers);
    }
    if (!organization_.empty()) {
      headers.emplace_back("OpenAI-Organization", organization_);
    }
    if (!project_.empty()) {
      headers.emplace_back("OpenAI-Project", project_);
    }
    if (request.stream) {
      headers.emplace_back("Accept", "text/event-stream");
    }
    // A configured header replaces a built-in one of the same name (e.g. a gateway that
    // wants its own Accept), rather than sending both; the instance's replace the preset's.
    const auto extras = extraHeaders();
    for (const auto& extra : extras) {
      std::erase_if(headers, [&](const auto& h) { return equalsIgnoreCase(h.first, extra.first); });
    }
    for (const auto& [name, value] : headers) {
      out.addHeader(name, value);
    }
    for (const auto& [name, value] : extras) {
      out.addHeader(name, value);
    }
    out.appendBody(forwarded);
    return SY_OK;
  }

  sy_status parseResponse(const sdk::ProviderRequest&, const sdk::UpstreamResponse& response,
                          const Output& out) override {
    const bool success = response.status >= 200 && response.status <= 299;
    if (success) {
      AnswerScan scan;
      if (scan.run(response.body) && !scan.has_error) {
        out.emit(SY_EVENT_RESPONSE, response.body);
        if (scan.has_usage) {
          out.emit(SY_EVENT_USAGE, usageText(scan.usage));
        }
        return SY_OK;
      }
    }
    const Json doc = Json::parse(response.body, nullptr, false);
    const bool is_object = !doc.is_discarded() && doc.is_object();
    if (!is_object) {
      out.setError(502, "upstream_error", "bad_upstream_response",
                   "upstream answered HTTP " + std::to_string(response.status) +
                       " with a body that is not a JSON object");
      return SY_ERR_UPSTREAM;
    }
    if (!success) {
      setUpstreamError(doc, isErrorStatus(response.status) ? response.status : 502, out);
      return SY_ERR_UPSTREAM;
    }
    if (hasError(doc)) {
      setUpstreamError(doc, inBandErrorStatus(doc), out);
      return SY_ERR_UPSTREAM;
    }
    out.emit(SY_EVENT_RESPONSE, response.body);
    if (auto usage = doc.find("usage"); usage != doc.end() && usage->is_object()) {
      out.emit(SY_EVENT_USAGE, usageEvent(*usage));
    }
    return SY_OK;
  }

  std::unique_ptr<sdk::ProviderStream> openStream(const sdk::ProviderRequest& request,
                                                  const sdk::UpstreamResponse& response) override {
    const std::string_view content_type = trim(response.headers.get("content-type"));
    const bool json_body = content_type.size() >= 16 &&
                           equalsIgnoreCase(content_type.substr(0, 16), "application/json");
    return std::make_unique<OpenAiStream>(clientAskedForUsage(request.body), json_body,
                                          streamUsagePolicy(request));
  }

 private:
  void loadPreset(const Json& value) {
    if (!value.is_string()) {
      throw configError("\"preset\" must be a string naming a preset");
    }
    const auto name = value.get<std::string>();
    try {
      preset_ = findPreset(name);
    } catch (const std::invalid_argument& e) {
      throw configError(e.what());
    }
    if (!preset_) {
      std::string known;
      for (const auto& n : presetNames()) {
        known += (known.empty() ? "" : ", ") + n;
      }
      throw configError("unknown preset \"" + name + "\" (known presets: " + known + ")");
    }
  }

  bool injectsIncludeUsage() const {
    return !preset_ || preset_->stream_usage == StreamUsage::kStreamOptions;
  }

  StreamUsagePolicy streamUsagePolicy(const sdk::ProviderRequest& request) const {
    StreamUsagePolicy policy;
    if (!preset_ || preset_->stream_usage == StreamUsage::kStreamOptions) {
      return policy;  // exactly the no-preset behaviour
    }
    policy.defer = true;
    if (preset_->stream_usage == StreamUsage::kNone) {
      // Should the upstream report usage after all, the real figures win over the estimate.
      policy.estimate = true;
      policy.estimated_prompt_tokens = estimatePromptTokens(request.body);
    }
    return policy;
  }

  /// The preset's parameter policy on the client's body: refuse what the upstream does not
  /// support, drop what its documentation says it ignores (or would reject while we provide
  /// the feature otherwise), and rename the max-tokens field. False (error set) on refusal.
  bool applyParameterPolicy(Json& body, sy_operation operation, const Output& out) const {
    for (const auto& param : preset_->unsupported) {
      const auto it = body.find(param);
      if (it == body.end()) {
        continue;
      }
      if (it->is_null()) {
        body.erase(it);  // an explicit null asks for the default, which is what we send
        continue;
      }
      out.setError(400, "invalid_request_error", "unsupported_parameter",
                   "parameter \"" + param + "\" is not supported by the " + preset_->display_name +
                       " upstream (preset \"" + preset_->name + "\")");
      return false;
    }
    for (const auto& param : preset_->drop) {
      const auto it = body.find(param);
      if (it == body.end()) {
        continue;
      }
      // Named to the client, never a silent drop; except stream_options, whose include_usage
      // the gateway honours itself (see streamUsagePolicy).
      if (!it->is_null() && param != "stream_options") {
        out.noteDroppedParam(param);
      }
      body.erase(it);
    }
    if (operation == SY_OP_CHAT_COMPLETIONS && !preset_->max_tokens_field.empty()) {
      const std::string& target = preset_->max_tokens_field;
      const std::string other = target == "max_tokens" ? "max_completion_tokens" : "max_tokens";
      const auto source = body.find(other);
      if (source != body.end()) {
        // A client sending both means the same limit; the upstream's own name wins.
        if (!body.contains(target)) {
          body[target] = *source;
        }
        body.erase(other);
      }
    }
    return true;
  }

  /// The preset's extra headers not overridden by the instance's, then the instance's.
  std::vector<std::pair<std::string, std::string>> extraHeaders() const {
    if (!preset_ || preset_->extra_headers.empty()) {
      return extra_headers_;
    }
    std::vector<std::pair<std::string, std::string>> merged;
    for (const auto& preset_header : preset_->extra_headers) {
      const bool overridden = std::any_of(
          extra_headers_.begin(), extra_headers_.end(),
          [&](const auto& h) { return equalsIgnoreCase(h.first, preset_header.first); });
      if (!overridden) {
        merged.push_back(preset_header);
      }
    }
    merged.insert(merged.end(), extra_headers_.begin(), extra_headers_.end());
    return merged;
  }

  void addAuthHeader(std::string_view api_key,
                     std::vector<std::pair<std::string_view, std::string>>& headers) const {
    const AuthStyle style = preset_ ? preset_->auth : AuthStyle::kBearer;
    switch (style) {
      case AuthStyle::kBearer:
        headers.emplace_back("Authorization", "Bearer " + std::string(api_key));
        break;
      case AuthStyle::kHeader:
        headers.emplace_back(preset_->auth_header, std::string(api_key));
        break;
      case AuthStyle::kNone:
        break;  // e.g. a local server: the key must not leave the gateway
    }
  }

  void parseExtraHeaders(const Json& value) {
    if (!value.is_object()) {
      throw configError("\"extra_headers\" must be an object of header names to strings");
    }
    for (const auto& [name, v] : value.items()) {
      if (!validHeaderName(name)) {
        throw configError("\"extra_headers\" has an invalid header name \"" + name + "\"");
      }
      if (!v.is_string()) {
        throw configError("\"extra_headers\" value of \"" + name + "\" must be a string");
      }
      auto text = v.get<std::string>();
      if (!validHeaderValue(text)) {
        throw configError("\"extra_headers\" value of \"" + name +
                          "\" contains a control character");
      }
      extra_headers_.emplace_back(name, std::move(text));
    }
  }

  std::string organization_;
  std::string project_;
  std::vector<std::pair<std::string, std::string>> extra_headers_;
  std::optional<Preset> preset_;  // absent: plain OpenAI behaviour
};

}  // namespace
}  // namespace openai
}  // namespace switchyard

SY_PLUGIN("openai", "1.0.0", "Switchyard", "OpenAI and OpenAI-compatible upstreams",
          switchyard::sdk::provider<switchyard::openai::OpenAiProvider>(
              "openai", "OpenAI chat completions and embeddings, or any compatible base URL"))
