#include "call_accounting.h"

#include <strings.h>

#include <cctype>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "switchyard/json_scan.hpp"
#include "switchyard/log/body_log.h"

namespace switchyard {
namespace {

using Clock = std::chrono::steady_clock;
using nlohmann::json;

constexpr uint64_t kCharsPerToken = 4;

uint64_t codePoints(std::string_view s) {
  uint64_t n = 0;
  for (unsigned char c : s) {
    n += (c & 0xC0) != 0x80 ? 1 : 0;
  }
  return n;
}

int64_t charsToTokens(uint64_t chars) { return static_cast<int64_t>((chars + kCharsPerToken - 1) / kCharsPerToken); }

/// SAX handler summing the code points of string values by the key they sit under (the
/// array's key for strings directly in an array).
class TextCounter : public nlohmann::json_sax<json> {
public:
  enum class Mode {
    kCompletion, ///< generated text only
    kPrompt,     ///< everything the model reads; token-id arrays under "input" count a token each
  };
  explicit TextCounter(Mode mode) : mode_(mode) {}

  uint64_t chars() const { return chars_; }

  bool null() override { return true; }
  bool boolean(bool) override { return true; }
  bool number_integer(number_integer_t) override { return tokenId(); }
  bool number_unsigned(number_unsigned_t) override { return tokenId(); }
  bool number_float(number_float_t, const string_t&) override { return true; }
  bool binary(binary_t&) override { return true; }
  bool string(string_t& v) override {
    if (counts(currentKey())) {
      chars_ += codePoints(v);
    }
    return true;
  }
  bool start_object(std::size_t) override {
    frames_.push_back({false, ""});
    return true;
  }
  bool start_array(std::size_t) override {
    frames_.push_back({true, currentKey()});
    return true;
  }
  bool end_object() override { return pop(); }
  bool end_array() override { return pop(); }
  bool key(string_t& k) override {
    if (!frames_.empty()) {
      frames_.back().key = k;
    }
    return true;
  }
  bool parse_error(std::size_t, const std::string&, const nlohmann::detail::exception&) override { return false; }

private:
  struct Frame {
    bool array;
    std::string key;
  };

  std::string currentKey() const { return frames_.empty() ? std::string() : frames_.back().key; }
  bool pop() {
    if (!frames_.empty()) {
      frames_.pop_back();
    }
    return true;
  }
  bool tokenId() {
    if (mode_ == Mode::kPrompt && !frames_.empty() && frames_.back().array && frames_.back().key == "input") {
      chars_ += kCharsPerToken;
    }
    return true;
  }
  bool counts(const std::string& key) const {
    if (mode_ == Mode::kCompletion) {
      return key == "content" || key == "reasoning_content" || key == "reasoning" || key == "refusal" ||
             key == "arguments";
    }
    return key != "model" && key != "role" && key != "type" && key != "finish_reason";
  }

  Mode mode_;
  std::vector<Frame> frames_;
  uint64_t chars_ = 0;
};

/// TextCounter's count for the common case (keys and counted strings without escapes, at most
/// kMaxFrames deep) at a few instructions a byte; run() is false for anything else, which
/// TextCounter then counts (nlohmann's SAX costs ~100 instructions a byte, and a stream has
/// every chunk counted).
class FastTextCounter {
public:
  explicit FastTextCounter(TextCounter::Mode mode) : mode_(mode) {}

  bool run(std::string_view text) {
    sdk::JsonCursor c(text);
    c.skipSpace();
    if (!sdk::walkJson(c, *this, kMaxFrames)) {
      return false;
    }
    c.skipSpace();
    return c.atEnd();
  }
  uint64_t chars() const { return chars_; }

  // sdk::walkJson's events.
  bool startObject() { return push(false, {}); }
  bool startArray() { return push(true, currentKey()); }
  bool end() {
    --depth_;
    return true;
  }
  bool key(const sdk::JsonString& k) {
    if (k.escaped || depth_ == 0) {
      return false;
    }
    frames_[depth_ - 1].key = k.raw;
    return true;
  }
  bool string(const sdk::JsonString& s) {
    if (!counts(currentKey())) {
      return true;
    }
    if (s.escaped) {
      return false; // the decoded text is what counts: nlohmann's
    }
    chars_ += codePoints(s.raw);
    return true;
  }
  bool boolean(bool) { return true; }
  bool null() { return true; }
  bool number(const sdk::JsonNumber& n) {
    if (n.kind == sdk::JsonNumber::Kind::kFloat) {
      double d = 0;
      return sdk::jsonFiniteDouble(n.text, 64, d); // nlohmann stops at a float it refuses
    }
    if (mode_ == TextCounter::Mode::kPrompt && depth_ > 0 && frames_[depth_ - 1].array &&
        frames_[depth_ - 1].key == "input") {
      chars_ += kCharsPerToken;
    }
    return true;
  }

private:
  static constexpr int kMaxFrames = 32;
  struct Frame {
    bool array = false;
    std::string_view key;
  };

  std::string_view currentKey() const { return depth_ == 0 ? std::string_view() : frames_[depth_ - 1].key; }
  bool push(bool array, std::string_view key) {
    if (depth_ == kMaxFrames) {
      return false;
    }
    frames_[depth_++] = Frame{array, key};
    return true;
  }
  bool counts(std::string_view key) const {
    if (mode_ == TextCounter::Mode::kCompletion) {
      return key == "content" || key == "reasoning_content" || key == "reasoning" || key == "refusal" ||
             key == "arguments";
    }
    return key != "model" && key != "role" && key != "type" && key != "finish_reason";
  }

  TextCounter::Mode mode_;
  std::array<Frame, kMaxFrames> frames_{};
  int depth_ = 0;
  uint64_t chars_ = 0;
};

uint64_t countText(std::string_view text, TextCounter::Mode mode) {
  FastTextCounter fast(mode);
  if (fast.run(text)) {
    return fast.chars();
  }
  TextCounter counter(mode);
  json::sax_parse(text.data(), text.data() + text.size(), &counter);
  return counter.chars();
}

std::string stringAt(const json& obj, const char* key) {
  auto it = obj.find(key);
  return it != obj.end() && it->is_string() ? it->get<std::string>() : std::string();
}

size_t indexAt(const json& obj) {
  auto it = obj.find("index");
  // Bounded: a hostile index must not make the assembler allocate gigabytes.
  return it != obj.end() && it->is_number_unsigned() ? std::min<size_t>(it->get<size_t>(), 255) : 0;
}

} // namespace

void beginRecord(CallRecord& record, const HttpRequest& request) {
  record.request_id = request.request_id;
  record.start = Clock::now();
  record.start_unix_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count();
  record.client_address = request.peer;
  record.endpoint = request.path;
}

ApiError upstreamFailureError(UpstreamFailure f, const std::string& noun, const std::string& name) {
  std::string who = noun + " " + name;
  std::string Who = who;
  Who[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(Who[0])));
  switch (f) {
  case UpstreamFailure::kTimeout:
    return ApiError{504, "upstream_error", "upstream_timeout", Who + " did not answer in time"};
  case UpstreamFailure::kConnect:
    return ApiError{502, "upstream_error", "upstream_unreachable", "Cannot connect to " + who};
  case UpstreamFailure::kTooLarge:
    return ApiError{502, "upstream_error", "upstream_response_too_large",
                    Who + " answered with a body larger than the gateway accepts"};
  case UpstreamFailure::kProtocol:
    return ApiError{502, "upstream_error", "bad_upstream_response", Who + " answered with a malformed HTTP response"};
  default:
    return ApiError{502, "upstream_error", "upstream_connection_reset", "The connection to " + who + " broke"};
  }
}

void OverheadStampingWriter::setHeader(const std::string& name, const std::string& value) {
  if (strcasecmp(name.c_str(), kOverheadHeader) == 0) {
    stamped_ = true; // an inner writer stamped it with what it knows about upstream time
  }
  inner_.setHeader(name, value);
}

void OverheadStampingWriter::stamp() {
  if (stamped_) {
    return;
  }
  double ms = std::chrono::duration<double, std::milli>(Clock::now() - start_).count();
  if (upstream_ms_ != nullptr && upstream_ms_->has_value()) {
    ms -= **upstream_ms_;
  }
  char text[32];
  std::snprintf(text, sizeof text, "%.3f", std::max(0.0, ms));
  inner_.setHeader(kOverheadHeader, text);
  stamped_ = true;
}

bool OverheadStampingWriter::send(int status, std::string_view content_type, std::string_view body) {
  stamp();
  return inner_.send(status, content_type, body);
}

bool OverheadStampingWriter::beginStream(int status, std::string_view content_type) {
  stamp();
  return inner_.beginStream(status, content_type);
}

uint64_t completionChars(std::string_view response_json) {
  return countText(response_json, TextCounter::Mode::kCompletion);
}

TokenUsage estimateUsage(std::string_view request_body, uint64_t completion_chars) {
  TokenUsage u;
  u.prompt_tokens = charsToTokens(countText(request_body, TextCounter::Mode::kPrompt));
  u.completion_tokens = charsToTokens(completion_chars);
  u.total_tokens = u.prompt_tokens + u.completion_tokens;
  u.estimated = true;
  return u;
}

void StreamContent::add(std::string_view chunk_json) {
  if (!assemble_) {
    chars_ += ::switchyard::completionChars(chunk_json);
    return;
  }
  const json chunk = json::parse(chunk_json, nullptr, false);
  if (!chunk.is_object()) {
    return;
  }
  if (id_.empty()) {
    id_ = stringAt(chunk, "id");
    model_ = stringAt(chunk, "model");
    auto created = chunk.find("created");
    created_ = created != chunk.end() && created->is_number_integer() ? created->get<int64_t>() : 0;
  }
  auto choices = chunk.find("choices");
  if (choices == chunk.end() || !choices->is_array()) {
    return;
  }
  for (const auto& c : *choices) {
    if (!c.is_object()) {
      continue;
    }
    const size_t index = indexAt(c);
    if (choices_.size() <= index) {
      choices_.resize(index + 1);
    }
    Choice& choice = choices_[index];
    if (auto reason = stringAt(c, "finish_reason"); !reason.empty()) {
      choice.finish_reason = reason;
    }
    auto delta = c.find("delta");
    if (delta == c.end() || !delta->is_object()) {
      continue;
    }
    if (auto role = stringAt(*delta, "role"); !role.empty()) {
      choice.role = role;
    }
    for (auto [key, into] : {std::pair{"content", &choice.content}, std::pair{"reasoning_content", &choice.reasoning},
                             std::pair{"reasoning", &choice.reasoning}, std::pair{"refusal", &choice.refusal}}) {
      const std::string text = stringAt(*delta, key);
      chars_ += codePoints(text);
      into->append(text);
    }
    auto calls = delta->find("tool_calls");
    if (calls == delta->end() || !calls->is_array()) {
      continue;
    }
    for (const auto& call : *calls) {
      if (!call.is_object()) {
        continue;
      }
      const size_t ci = indexAt(call);
      if (choice.tool_calls.size() <= ci) {
        choice.tool_calls.resize(ci + 1);
      }
      Choice::Call& into = choice.tool_calls[ci];
      if (auto id = stringAt(call, "id"); !id.empty()) {
        into.id = id;
      }
      if (auto type = stringAt(call, "type"); !type.empty()) {
        into.type = type;
      }
      auto fn = call.find("function");
      if (fn != call.end() && fn->is_object()) {
        into.name += stringAt(*fn, "name");
        const std::string args = stringAt(*fn, "arguments");
        chars_ += codePoints(args);
        into.arguments += args;
      }
    }
  }
}

std::string StreamContent::assembled(const std::optional<TokenUsage>& usage) const {
  if (!assemble_) {
    return {};
  }
  nlohmann::ordered_json out = {{"id", id_}, {"object", "chat.completion"}, {"created", created_}, {"model", model_}};
  nlohmann::ordered_json list = nlohmann::ordered_json::array();
  for (size_t i = 0; i < choices_.size(); ++i) {
    const Choice& c = choices_[i];
    nlohmann::ordered_json message = {{"role", c.role.empty() ? "assistant" : c.role}};
    message["content"] = c.content.empty() && !c.tool_calls.empty() ? nlohmann::ordered_json()
                                                                    : nlohmann::ordered_json(c.content);
    if (!c.reasoning.empty()) {
      message["reasoning_content"] = c.reasoning;
    }
    if (!c.refusal.empty()) {
      message["refusal"] = c.refusal;
    }
    if (!c.tool_calls.empty()) {
      nlohmann::ordered_json calls = nlohmann::ordered_json::array();
      for (const auto& call : c.tool_calls) {
        calls.push_back({{"id", call.id},
                         {"type", call.type.empty() ? "function" : call.type},
                         {"function", {{"name", call.name}, {"arguments", call.arguments}}}});
      }
      message["tool_calls"] = std::move(calls);
    }
    nlohmann::ordered_json choice = {{"index", i}, {"message", std::move(message)}};
    choice["finish_reason"] =
        c.finish_reason.empty() ? nlohmann::ordered_json() : nlohmann::ordered_json(c.finish_reason);
    list.push_back(std::move(choice));
  }
  out["choices"] = std::move(list);
  if (usage) {
    out["usage"] = {{"prompt_tokens", usage->prompt_tokens},
                    {"completion_tokens", usage->completion_tokens},
                    {"total_tokens", usage->total_tokens}};
  }
  return out.dump(-1, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::vector<std::string_view> callSecrets(const HttpRequest& request, const Runtime& rt) {
  std::vector<std::string_view> secrets;
  for (const auto& [name, value] : request.headers) {
    if (!BodyLogPolicy::isCredentialHeader(name)) {
      continue;
    }
    std::string_view v = value;
    secrets.push_back(v);
    if (v.size() > 7 && strncasecmp(v.data(), "bearer ", 7) == 0) {
      secrets.push_back(v.substr(7));
    } else if (v.size() > 6 && strncasecmp(v.data(), "basic ", 6) == 0) {
      secrets.push_back(v.substr(6));
    }
  }
  for (const auto& [name, target] : rt.providers) {
    if (!target->api_key.empty()) {
      secrets.push_back(target->api_key);
    }
  }
  return secrets;
}

void captureBodies(const HttpRequest& request, const Runtime& rt, CallRecord& record) {
  const BodyLogPolicy* policy = record.body_log;
  if (policy == nullptr) {
    return;
  }
  const auto secrets = callSecrets(request, rt);
  if (policy->request) {
    CapturedBody c = policy->capture(request.body, secrets);
    record.request_body = std::move(c.text);
    record.request_body_truncated = c.truncated;
  }
  if (policy->headers) {
    record.request_headers = policy->captureHeaders(request.headers, secrets);
  }
  if (policy->response) {
    // What the client received: the answer, the assembled stream, or the error.
    std::string text = std::move(record.response_text);
    if (text.empty() && record.error) {
      text = record.error->toJson();
    }
    if (!text.empty()) {
      CapturedBody c = policy->capture(text, secrets);
      record.response_body = std::move(c.text);
      record.response_body_truncated = c.truncated;
    }
  }
  record.response_text.clear();
}

} // namespace switchyard
