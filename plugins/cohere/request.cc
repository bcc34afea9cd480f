#include "request.h"

#include <set>
#include <string>

namespace switchyard::cohere {
namespace {

/// OpenAI content (a string or an array of parts) → Cohere content. Text parts map 1:1;
/// Cohere v2 takes images as `image_url` parts too.
Json translateContent(const Json& content, const std::string& where) {
  if (content.is_string()) return content;
  if (content.is_null()) return "";
  if (!content.is_array()) throw invalidValue(where, "must be a string or an array of parts");
  Json parts = Json::array();
  for (const auto& part : content) {
    const std::string type = part.is_object() ? part.value("type", "") : "";
    if (type == "text" && part.contains("text") && part["text"].is_string()) {
      parts.push_back({{"type", "text"}, {"text", part["text"]}});
    } else if (type == "image_url" && part.contains("image_url")) {
      parts.push_back({{"type", "image_url"}, {"image_url", part["image_url"]}});
    } else {
      throw unsupported(where, "content part type '" + type + "'");
    }
  }
  return parts;
}

/// Concatenated text of OpenAI content, for places Cohere takes a plain string.
std::string contentText(const Json& content) {
  if (content.is_string()) return content.get<std::string>();
  std::string text;
  if (content.is_array()) {
    for (const auto& part : content) {
      if (part.is_object() && part.value("type", "") == "text") text += part.value("text", "");
    }
  }
  return text;
}

Json translateToolCalls(const Json& calls) {
  if (!calls.is_array()) throw invalidValue("messages[].tool_calls", "must be an array");
  Json out = Json::array();
  for (const auto& call : calls) {
    if (!call.is_object() || !call.contains("function") || !call["function"].is_object()) {
      throw invalidValue("messages[].tool_calls", "entries must be function calls");
    }
    const Json& fn = call["function"];
    out.push_back({{"id", call.value("id", "")},
                   {"type", "function"},
                   {"function",
                    {{"name", fn.value("name", "")}, {"arguments", fn.value("arguments", "{}")}}}});
  }
  return out;
}

Json translateMessage(const Json& m) {
  if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
    throw invalidValue("messages", "entries must be objects with a string role");
  }
  const std::string role = m["role"];
  const Json content = m.value("content", Json());
  if (role == "system" || role == "developer") {
    return {{"role", "system"}, {"content", translateContent(content, "messages[].content")}};
  }
  if (role == "user") {
    return {{"role", "user"}, {"content", translateContent(content, "messages[].content")}};
  }
  if (role == "assistant") {
    Json out = {{"role", "assistant"}};
    const auto calls = m.find("tool_calls");
    if (calls != m.end() && !calls->is_null() && !calls->empty()) {
      // Cohere calls the text that accompanies tool calls the tool plan.
      if (const std::string plan = contentText(content); !plan.empty()) out["tool_plan"] = plan;
      out["tool_calls"] = translateToolCalls(*calls);
    } else {
      out["content"] = translateContent(content, "messages[].content");
    }
    return out;
  }
  if (role == "tool") {
    const auto id = m.find("tool_call_id");
    if (id == m.end() || !id->is_string()) {
      throw invalidValue("messages[].tool_call_id", "is required on tool messages");
    }
    return {{"role", "tool"}, {"tool_call_id", *id}, {"content", contentText(content)}};
  }
  throw unsupported("messages[].role", "role '" + role + "'");
}

Json translateTools(const Json& tools) {
  if (!tools.is_array()) throw invalidValue("tools", "must be an array");
  Json out = Json::array();
  for (const auto& tool : tools) {
    if (!tool.is_object() || tool.value("type", "") != "function" || !tool.contains("function")) {
      throw unsupported("tools", "only tools of type 'function' are supported");
    }
    const Json& fn = tool["function"];
    Json f = {{"name", fn.value("name", "")}};
    if (fn.contains("description")) f["description"] = fn["description"];
    f["parameters"] =
        fn.value("parameters", Json{{"type", "object"}, {"properties", Json::object()}});
    out.push_back({{"type", "function"}, {"function", f}});
  }
  return out;
}

/// "auto" is Cohere's default; "none"/"required" map to NONE/REQUIRED. Cohere cannot force
/// one named function.
void translateToolChoice(const Json& choice, Json& out) {
  if (choice.is_string()) {
    const std::string c = choice;
    if (c == "auto") return;
    if (c == "none") {
      out["tool_choice"] = "NONE";
      return;
    }
    if (c == "required") {
      out["tool_choice"] = "REQUIRED";
      return;
    }
  }
  throw unsupported("tool_choice", "only \"auto\", \"none\" and \"required\" are supported");
}

void translateResponseFormat(const Json& format, Json& out) {
  const std::string type = format.is_object() ? format.value("type", "") : "";
  if (type == "text") return;
  if (type == "json_object") {
    out["response_format"] = {{"type", "json_object"}};
    return;
  }
  if (type == "json_schema" && format.contains("json_schema") &&
      format["json_schema"].contains("schema")) {
    out["response_format"] = {{"type", "json_object"},
                              {"json_schema", format["json_schema"]["schema"]}};
    return;
  }
  throw invalidValue("response_format", "must be of type text, json_object or json_schema");
}

Json stopSequences(const Json& stop) {
  if (stop.is_string()) return Json::array({stop});
  if (stop.is_array()) return stop;
  throw invalidValue("stop", "must be a string or an array of strings");
}

// Keys with no Cohere equivalent that change what is generated: rejected so the client
// learns its request is not honoured.
const std::set<std::string, std::less<>> kRejected = {
    "logit_bias", "functions",  "function_call",    "audio",
    "modalities", "prediction", "reasoning_effort", "web_search_options"};

// Extras the answer can come without (log probabilities, a stored copy, annotations, a
// billing tier, an end-user id): dropped and named to the client by the gateway.
const std::set<std::string, std::less<>> kDropped = {"logprobs", "top_logprobs", "store",
                                                     "metadata", "service_tier", "user"};

}  // namespace

Json translateChatRequest(const Json& in, std::string_view model, bool stream,
                          std::vector<std::string>* dropped) {
  Json out = {{"model", std::string(model)}};
  const auto messages = in.find("messages");
  if (messages == in.end() || !messages->is_array() || messages->empty()) {
    throw invalidValue("messages", "must be a non-empty array");
  }
  out["messages"] = Json::array();
  for (const auto& m : *messages) out["messages"].push_back(translateMessage(m));

  for (const auto& [key, value] : in.items()) {
    if (key == "model" || key == "messages" || key == "stream" || key == "stream_options" ||
        value.is_null()) {
      continue;
    }
    if (key == "tools") {
      out["tools"] = translateTools(value);
    } else if (key == "tool_choice") {
      translateToolChoice(value, out);
    } else if (key == "max_tokens" || key == "max_completion_tokens") {
      if (!value.is_number_integer() || value.get<int64_t>() <= 0) {
        throw invalidValue(key, "must be a positive integer");
      }
      if (!out.contains("max_tokens") || key == "max_completion_tokens") out["max_tokens"] = value;
    } else if (key == "temperature" || key == "seed" || key == "frequency_penalty" ||
               key == "presence_penalty") {
      if (!value.is_number()) throw invalidValue(key, "must be a number");
      out[key] = value;
    } else if (key == "top_p") {
      if (!value.is_number()) throw invalidValue(key, "must be a number");
      out["p"] = value;
    } else if (key == "stop") {
      out["stop_sequences"] = stopSequences(value);
    } else if (key == "response_format") {
      translateResponseFormat(value, out);
    } else if (key == "n") {
      if (value != 1) throw unsupported("n", "Cohere returns one choice");
    } else if (key == "parallel_tool_calls") {
      if (value == false)
        throw unsupported("parallel_tool_calls", "Cohere cannot disable parallel calls");
    } else if (kDropped.count(key) != 0) {
      // A neutral value asks for nothing; anything else is reported as not honoured.
      const bool neutral = value == false || (key == "top_logprobs" && value == 0) ||
                           (key == "service_tier" && (value == "auto" || value == "default"));
      if (!neutral && dropped != nullptr) dropped->push_back(key);
    } else if (kRejected.count(key) != 0) {
      throw unsupported(key, "Cohere has no equivalent");
    } else {
      throw unsupported(key, "unknown to this provider");
    }
  }
  if (stream) out["stream"] = true;
  return out;
}

Json translateEmbedRequest(const Json& in, std::string_view model, const Settings& settings) {
  Json texts = Json::array();
  const auto input = in.find("input");
  if (input != in.end() && input->is_string()) {
    texts.push_back(*input);
  } else if (input != in.end() && input->is_array() && !input->empty()) {
    for (const auto& t : *input) {
      if (!t.is_string())
        throw unsupported("input", "only strings can be embedded (no token arrays)");
      texts.push_back(t);
    }
  } else {
    throw invalidValue("input", "must be a string or a non-empty array of strings");
  }
  Json out = {{"model", std::string(model)},
              {"texts", texts},
              {"input_type", settings.embed_input_type},
              {"embedding_types", Json::array({"float"})}};
  for (const auto& [key, value] : in.items()) {
    if (key == "model" || key == "input" || key == "user" || value.is_null()) continue;
    if (key == "encoding_format") {
      if (value != "float") throw unsupported("encoding_format", "only \"float\" is supported");
    } else if (key == "dimensions") {
      if (!value.is_number_integer()) throw invalidValue(key, "must be an integer");
      out["output_dimension"] = value;
    } else {
      throw unsupported(key, "unknown to this provider");
    }
  }
  return out;
}

}  // namespace switchyard::cohere
