// A prompt API call as one more ingress: {"variables","stream"} becomes the rendered chat
// request, so routing, retries, fallbacks, records and cost are the ordinary AI data plane's.
#include <ctime>

#include "ingress/json_access.h"
#include "switchyard/management/prompt_api.h"

namespace switchyard {
namespace {

using ingress::Json;
using namespace ingress::detail;

int64_t nowUnix() {
  return static_cast<int64_t>(std::time(nullptr));
}

/// The JSON answer, and the payload of the stream's prompt.completed event.
Json promptResult(const std::string& id, int64_t created, const std::string& model,
                  const std::string& output, const std::string& finish_reason, const Json& usage,
                  bool json_output) {
  Json result = {{"id", id},
                 {"object", "prompt.result"},
                 {"created", created},
                 {"model", model},
                 {"output", output}};
  if (json_output) {
    // Asked for JSON (response_format): the parsed value too, when the model kept its word.
    Json data = Json::parse(output, nullptr, false);
    if (!data.is_discarded()) {
      result["data"] = std::move(data);
    }
  }
  result["finish_reason"] = finish_reason.empty() ? Json() : Json(finish_reason);
  result["usage"] = usage.is_object() ? usage : Json();
  return result;
}

/// Unified chunks → prompt.delta events with the text, then prompt.completed with the whole
/// result and its usage; `error` when the stream fails.
class PromptStreamEncoder : public ingress::StreamEncoder {
 public:
  PromptStreamEncoder(std::string model, bool json_output)
      : model_(std::move(model)), json_output_(json_output), created_(nowUnix()) {}

  std::string chunk(const Json& chunk) override {
    std::string out;
    if (id_.empty()) {
      id_ = prefixedId("prompt_", stringOr(chunk, "id"));
    }
    if (const Json* usage = given(chunk, "usage")) {
      usage_ = *usage;
    }
    const Json& choice = firstChoice(chunk);
    if (const Json* delta = member(choice, "delta")) {
      const std::string text = stringOr(*delta, "content");
      if (!text.empty()) {
        output_ += text;
        appendEvent(out, "prompt.delta", {{"type", "prompt.delta"}, {"delta", text}});
      }
    }
    if (const Json* finish = given(choice, "finish_reason");
        finish != nullptr && finish->is_string()) {
      finish_ = finish->get<std::string>();
    }
    return out;
  }

  std::string done() override {
    std::string out;
    if (finished_) {
      return out;
    }
    finished_ = true;
    if (id_.empty()) {
      id_ = prefixedId("prompt_", "");
    }
    appendEvent(
        out, "prompt.completed",
        {{"type", "prompt.completed"},
         {"result", promptResult(id_, created_, model_, output_, finish_, usage_, json_output_)}});
    return out;
  }

  std::string error(const ApiError& error) override {
    std::string out;
    if (finished_) {
      return out;
    }
    finished_ = true;
    appendEvent(
        out, "error",
        {{"type", "error"},
         {"error", {{"message", error.message}, {"type", error.type}, {"code", error.code}}}});
    return out;
  }

 private:
  std::string model_;
  bool json_output_;
  int64_t created_;
  std::string id_;
  std::string output_;
  std::string finish_;
  Json usage_;
  bool finished_ = false;
};

class PromptAdapter : public ingress::IngressAdapter {
 public:
  explicit PromptAdapter(PromptSpecPtr spec) : spec_(std::move(spec)) {
    const auto& p = spec_->parameters;
    auto rf = p.find("response_format");
    if (rf != p.end() && rf->is_object()) {
      const std::string type = rf->value("type", "");
      json_output_ = type == "json_object" || type == "json_schema";
    }
  }

  std::optional<ApiError> toUnified(std::string_view body, std::string& unified) override {
    const nlohmann::json in = nlohmann::json::parse(body, nullptr, false);
    if (in.is_discarded() || !in.is_object()) {
      return badRequest(
          "The request body must be a JSON object: {\"variables\": {...}, \"stream\": false}",
          "invalid_json");
    }
    for (const auto& [key, value] : in.items()) {
      if (key != "variables" && key != "stream") {
        return ApiError::invalidRequest(
            "Unknown field '" + key + "': a prompt API takes 'variables' and 'stream'",
            "unknown_parameter");
      }
    }
    bool stream = false;
    if (auto it = in.find("stream"); it != in.end() && !it->is_null()) {
      if (!it->is_boolean()) {
        return badRequest("'stream' must be a boolean", "invalid_type");
      }
      stream = it->get<bool>();
    }
    nlohmann::json resolved;
    if (auto e = checkPromptVariables(*spec_, in.value("variables", nlohmann::json()), &resolved)) {
      return e;
    }
    unified = renderPromptRequest(*spec_, resolved, stream)
                  .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    return std::nullopt;
  }

  void answer(int& status, std::string& body) override {
    if (status < 200 || status >= 300) {
      return;  // gateway and provider errors are already OpenAI's shape
    }
    const auto parsed = ingress::parseCompletion(status, body);
    if (!parsed) {
      return;
    }
    const Json& completion = *parsed;
    const Json& choice = firstChoice(completion);
    const Json* message = member(choice, "message");
    const Json* usage = given(completion, "usage");
    body = dump(promptResult(
        prefixedId("prompt_", stringOr(completion, "id")), intOr(completion, "created", nowUnix()),
        spec_->model, message != nullptr ? stringOr(*message, "content") : "",
        stringOr(choice, "finish_reason"), usage != nullptr ? *usage : Json(), json_output_));
  }

  ingress::StreamEncoderPtr streamEncoder() override {
    return std::make_unique<PromptStreamEncoder>(spec_->model, json_output_);
  }

 private:
  PromptSpecPtr spec_;
  bool json_output_ = false;
};

}  // namespace

ingress::IngressAdapterPtr makePromptAdapter(PromptSpecPtr spec) {
  return std::make_unique<PromptAdapter>(std::move(spec));
}

}  // namespace switchyard
