#include "request_translator.h"

#include <string_view>
#include <utility>
#include <vector>

namespace switchyard {
namespace anthropic {
namespace {

// ---------------------------------------------------------------------------------------------
// Parameter policy. Everything the client may send is listed here; an unknown key is
// rejected rather than forwarded, because Anthropic would reject it anyway with a less
// helpful message, or (worse) a future Anthropic field of the same name could mean something
// else. See README.md for the table.

bool isNullOr(const Json& body, const char* key, const Json& neutral) {
  const auto it = body.find(key);
  return it == body.end() || it->is_null() || *it == neutral;
}

/// Parameters that ask for an extra the answer can come without (log probabilities, a stored
/// copy, a billing tier, a best-effort seed, annotations): dropped, and named to the client in
/// the gateway's `x-switchyard-dropped-params` header. The generated content means the same.
void noteDropped(const Json& body, std::vector<std::string>* dropped) {
  struct Rule {
    const char* key;
    Json neutral;
  };
  const Rule rules[] = {
      {"logprobs", false}, {"top_logprobs", 0},   {"seed", nullptr},
      {"store", false},    {"metadata", nullptr},
  };
  auto note = [&](const char* key) {
    if (dropped != nullptr) {
      dropped->emplace_back(key);
    }
  };
  for (const Rule& r : rules) {
    if (!isNullOr(body, r.key, r.neutral)) {
      note(r.key);
    }
  }
  if (auto t = body.find("service_tier"); t != body.end() && !t->is_null()) {
    if (*t != "auto" && *t != "default") {
      note("service_tier");
    }
  }
  // image_url.detail has no counterpart (Anthropic sizes images itself).
  if (auto m = body.find("messages"); m != body.end() && m->is_array()) {
    for (const Json& msg : *m) {
      const auto c = msg.is_object() ? msg.find("content") : msg.end();
      if (!msg.is_object() || c == msg.end() || !c->is_array()) {
        continue;
      }
      for (const Json& part : *c) {
        if (part.is_object() && part.contains("image_url") && part["image_url"].is_object() &&
            part["image_url"].contains("detail")) {
          note("image_url.detail");
          return;
        }
      }
    }
  }
}

/// Parameters without an Anthropic equivalent that change what is generated: accepted only
/// at their neutral value (which is what "not sent" means to OpenAI), otherwise a clear 400.
void rejectUnsupported(const Json& body) {
  struct Rule {
    const char* key;
    Json neutral;
    const char* why;
  };
  const Rule rules[] = {
      {"n", 1, "Anthropic returns exactly one choice"},
      {"frequency_penalty", 0, "Anthropic has no frequency penalty"},
      {"presence_penalty", 0, "Anthropic has no presence penalty"},
      {"logit_bias", Json::object(), "Anthropic has no logit bias"},
      {"reasoning_effort", nullptr,
       "Anthropic's extended thinking takes a token budget, not an effort level"},
      {"audio", nullptr, "Anthropic has no audio output"},
      {"prediction", nullptr, "Anthropic has no predicted outputs"},
      {"web_search_options", nullptr, "use Anthropic's server tools through a native client"},
      {"functions", nullptr, "the deprecated 'functions' API is not translated; use 'tools'"},
      {"function_call", nullptr,
       "the deprecated 'functions' API is not translated; use 'tool_choice'"},
  };
  for (const Rule& r : rules) {
    if (!isNullOr(body, r.key, r.neutral)) {
      throw unsupportedParameter(r.key, r.why);
    }
  }
  if (auto rf = body.find("response_format"); rf != body.end() && !rf->is_null()) {
    if (!rf->is_object() || rf->value("type", "") != "text") {
      throw unsupportedParameter("response_format",
                                 "only {\"type\":\"text\"} can be honoured; JSON modes are not "
                                 "translated");
    }
  }
  if (auto m = body.find("modalities"); m != body.end() && !m->is_null()) {
    if (*m != Json::array({"text"})) {
      throw unsupportedParameter("modalities", "Anthropic produces text only");
    }
  }
}

void rejectUnknownKeys(const Json& body) {
  static constexpr std::string_view kKnown[] = {"model",
                                                "messages",
                                                "max_tokens",
                                                "max_completion_tokens",
                                                "temperature",
                                                "top_p",
                                                "top_k",
                                                "stop",
                                                "stream",
                                                "stream_options",
                                                "tools",
                                                "tool_choice",
                                                "parallel_tool_calls",
                                                "user",
                                                "metadata",
                                                "n",
                                                "frequency_penalty",
                                                "presence_penalty",
                                                "logit_bias",
                                                "logprobs",
                                                "top_logprobs",
                                                "seed",
                                                "store",
                                                "reasoning_effort",
                                                "audio",
                                                "prediction",
                                                "web_search_options",
                                                "functions",
                                                "function_call",
                                                "response_format",
                                                "modalities",
                                                "service_tier"};
  for (const auto& [key, value] : body.items()) {
    bool known = false;
    for (std::string_view k : kKnown) {
      known = known || k == key;
    }
    if (!known) {
      throw unsupportedParameter(key, "the parameter is unknown to the translation");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Sampling and limits

int64_t maxTokens(const Json& body, int64_t fallback) {
  // max_completion_tokens is OpenAI's newer name; it wins when both are sent.
  for (const char* key : {"max_completion_tokens", "max_tokens"}) {
    const auto it = body.find(key);
    if (it == body.end() || it->is_null()) {
      continue;
    }
    if (!it->is_number_integer() || it->get<int64_t>() < 1) {
      throw badRequest(std::string("'") + key + "' must be a positive integer", "invalid_type");
    }
    return it->get<int64_t>();
  }
  return fallback;
}

/// Copies a sampling parameter that both APIs have, where Anthropic's range is 0..1.
void copyUnitInterval(const Json& body, const char* key, Json& out) {
  const auto it = body.find(key);
  if (it == body.end() || it->is_null()) {
    return;
  }
  if (!it->is_number()) {
    throw badRequest(std::string("'") + key + "' must be a number", "invalid_type");
  }
  const double v = it->get<double>();
  if (v < 0 || v > 1) {
    // OpenAI allows temperature up to 2; Anthropic up to 1. Rescaling would change the
    // meaning, so the client hears about it.
    throw badRequest(std::string("'") + key + "' must be between 0 and 1 for Anthropic models",
                     "invalid_value");
  }
  out[key] = *it;
}

Json stopSequences(const Json& stop) {
  if (stop.is_string()) {
    return Json::array({stop});
  }
  if (stop.is_array()) {
    for (const auto& s : stop) {
      if (!s.is_string()) {
        throw badRequest("'stop' must be a string or an array of strings", "invalid_type");
      }
    }
    return stop;
  }
  throw badRequest("'stop' must be a string or an array of strings", "invalid_type");
}

// ---------------------------------------------------------------------------------------------
// Content

/// Text of a system/developer message (a string or an array of text parts).
std::string plainText(const Json& content, const char* role) {
  if (content.is_string()) {
    return content.get<std::string>();
  }
  if (!content.is_array()) {
    throw badRequest(std::string("a ") + role + " message's content must be a string or parts",
                     "invalid_messages");
  }
  std::string text;
  for (const auto& part : content) {
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      throw badRequest(std::string("a ") + role + " message may only contain text parts",
                       "invalid_messages");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

/// image_url → an Anthropic image block: data URLs become a base64 source, http(s) URLs a
/// url source. "detail" has no counterpart and is dropped.
Json imageBlock(const Json& part) {
  const auto iu = part.find("image_url");
  std::string url;
  if (iu != part.end() && iu->is_string()) {
    url = iu->get<std::string>();
  } else if (iu != part.end() && iu->is_object() && iu->contains("url") &&
             (*iu)["url"].is_string()) {
    url = (*iu)["url"].get<std::string>();
  } else {
    throw badRequest("an image_url part needs image_url.url", "invalid_messages");
  }
  if (url.rfind("data:", 0) == 0) {
    const size_t comma = url.find(',');
    const std::string_view meta =
        std::string_view(url).substr(5, comma == std::string::npos ? 0 : comma - 5);
    constexpr std::string_view kBase64 = ";base64";
    if (comma == std::string::npos || meta.size() <= kBase64.size() ||
        meta.substr(meta.size() - kBase64.size()) != kBase64) {
      throw badRequest("image data URLs must look like data:<media type>;base64,<data>",
                       "invalid_image_url");
    }
    return Json{{"type", "image"},
                {"source",
                 {{"type", "base64"},
                  {"media_type", std::string(meta.substr(0, meta.size() - kBase64.size()))},
                  {"data", url.substr(comma + 1)}}}};
  }
  if (url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0) {
    return Json{{"type", "image"}, {"source", {{"type", "url"}, {"url", url}}}};
  }
  throw badRequest("image URLs must be data: URLs or http(s) URLs", "invalid_image_url");
}

/// A user message's content: a string stays a string; parts become blocks.
Json userContent(const Json& content) {
  if (content.is_string()) {
    return content;
  }
  if (!content.is_array()) {
    throw badRequest("a user message's content must be a string or an array of parts",
                     "invalid_messages");
  }
  Json blocks = Json::array();
  for (const auto& part : content) {
    const std::string type = part.is_object() ? part.value("type", "") : "";
    if (type == "text" && part.contains("text") && part["text"].is_string()) {
      blocks.push_back({{"type", "text"}, {"text", part["text"]}});
    } else if (type == "image_url") {
      blocks.push_back(imageBlock(part));
    } else {
      throw sdk::Error(400, "invalid_request_error", "unsupported_content",
                       "content part type '" + type +
                           "' is not supported by the anthropic provider (text and image_url "
                           "are)");
    }
  }
  return blocks;
}

/// Tool call arguments are a JSON string in OpenAI and an object in Anthropic.
Json toolInput(const Json& call) {
  const Json& fn = call.contains("function") ? call["function"] : Json();
  const auto args = fn.is_object() ? fn.find("arguments") : fn.end();
  if (!fn.is_object() || args == fn.end() || args->is_null()) {
    return Json::object();
  }
  if (!args->is_string()) {
    throw badRequest("tool_calls[].function.arguments must be a string", "invalid_messages");
  }
  const std::string& text = args->get_ref<const std::string&>();
  if (text.find_first_not_of(" \t\r\n") == std::string::npos) {
    return Json::object();
  }
  Json input = Json::parse(text, nullptr, false);
  if (input.is_discarded() || !input.is_object()) {
    throw badRequest("tool_calls[].function.arguments must be a JSON object", "invalid_messages");
  }
  return input;
}

Json assistantContent(const Json& message) {
  const Json content = message.contains("content") ? message["content"] : Json();
  const auto calls = message.find("tool_calls");
  const bool has_calls = calls != message.end() && calls->is_array() && !calls->empty();
  if (content.is_string() && !has_calls) {
    return content;
  }
  Json blocks = Json::array();
  if (content.is_string()) {
    if (!content.get_ref<const std::string&>().empty()) {
      blocks.push_back({{"type", "text"}, {"text", content}});
    }
  } else if (content.is_array()) {
    for (const auto& part : content) {
      const std::string type = part.is_object() ? part.value("type", "") : "";
      if (type == "text" && part.contains("text") && part["text"].is_string()) {
        blocks.push_back({{"type", "text"}, {"text", part["text"]}});
      } else if (type != "refusal") {  // a refusal part is the model's own words; not replayed
        throw badRequest("an assistant message may only contain text parts", "invalid_messages");
      }
    }
  } else if (!content.is_null()) {
    throw badRequest("an assistant message's content must be a string, parts or null",
                     "invalid_messages");
  }
  if (has_calls) {
    for (const auto& call : *calls) {
      if (!call.is_object() || !call.contains("id") || !call["id"].is_string() ||
          !call.contains("function") || !call["function"].is_object() ||
          !call["function"].contains("name") || !call["function"]["name"].is_string()) {
        throw badRequest("each tool_calls[] entry needs an id and a function name",
                         "invalid_messages");
      }
      blocks.push_back({{"type", "tool_use"},
                        {"id", call["id"]},
                        {"name", call["function"]["name"]},
                        {"input", toolInput(call)}});
    }
  }
  return blocks;
}

Json toolResultBlock(const Json& message) {
  const auto id = message.find("tool_call_id");
  if (id == message.end() || !id->is_string()) {
    throw badRequest("a tool message needs a tool_call_id", "invalid_messages");
  }
  Json block = {{"type", "tool_result"}, {"tool_use_id", *id}};
  const Json content = message.contains("content") ? message["content"] : Json("");
  if (content.is_string()) {
    block["content"] = content;
  } else if (content.is_array()) {
    Json parts = Json::array();
    for (const auto& part : content) {
      if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text")) {
        throw badRequest("a tool message may only contain text parts", "invalid_messages");
      }
      parts.push_back({{"type", "text"}, {"text", part["text"]}});
    }
    block["content"] = std::move(parts);
  } else {
    throw badRequest("a tool message's content must be a string or text parts", "invalid_messages");
  }
  return block;
}

/// Splits the OpenAI messages into Anthropic's top-level system and the turn list.
void translateMessages(const Json& messages, Json& out) {
  if (!messages.is_array() || messages.empty()) {
    throw badRequest("'messages' must be a non-empty array", "invalid_messages");
  }
  std::vector<std::string> system;
  Json turns = Json::array();
  bool last_was_tool = false;
  for (const auto& m : messages) {
    if (!m.is_object() || !m.contains("role") || !m["role"].is_string()) {
      throw badRequest("each message needs a role", "invalid_messages");
    }
    const std::string role = m["role"].get<std::string>();
    const Json content = m.contains("content") ? m["content"] : Json();
    if (role == "system" || role == "developer") {
      // Anthropic has one system prompt, outside the turns; every system message goes there
      // in order, wherever it stood.
      system.push_back(plainText(content, role.c_str()));
      continue;
    }
    if (role == "tool") {
      // Anthropic wants every result of one assistant turn in the next user turn.
      if (!last_was_tool) {
        turns.push_back({{"role", "user"}, {"content", Json::array()}});
      }
      turns.back()["content"].push_back(toolResultBlock(m));
      last_was_tool = true;
      continue;
    }
    if (role == "user" && last_was_tool) {
      // Text after tool results joins their turn, as Anthropic's clients send it (results
      // first, then text): a /v1/messages request comes back out unchanged.
      Json blocks = userContent(content);
      if (blocks.is_string()) {
        blocks = Json::array({{{"type", "text"}, {"text", std::move(blocks)}}});
      }
      for (auto& b : blocks) {
        turns.back()["content"].push_back(std::move(b));
      }
      last_was_tool = false;
      continue;
    }
    last_was_tool = false;
    if (role == "user") {
      turns.push_back({{"role", "user"}, {"content", userContent(content)}});
    } else if (role == "assistant") {
      turns.push_back({{"role", "assistant"}, {"content", assistantContent(m)}});
    } else {
      throw badRequest("message role '" + role + "' is not supported by the anthropic provider",
                       "invalid_messages");
    }
  }
  if (system.size() == 1) {
    out["system"] = system.front();
  } else if (system.size() > 1) {
    Json blocks = Json::array();
    for (auto& text : system) {
      blocks.push_back({{"type", "text"}, {"text", std::move(text)}});
    }
    out["system"] = std::move(blocks);
  }
  if (turns.empty()) {
    throw badRequest("Anthropic needs at least one user or assistant message", "invalid_messages");
  }
  out["messages"] = std::move(turns);
}

// ---------------------------------------------------------------------------------------------
// Tools

Json translateTools(const Json& tools) {
  if (!tools.is_array()) {
    throw badRequest("'tools' must be an array", "invalid_type");
  }
  Json out = Json::array();
  for (const auto& tool : tools) {
    if (!tool.is_object() || tool.value("type", "") != "function" || !tool.contains("function") ||
        !tool["function"].is_object()) {
      throw unsupportedParameter("tools", "only tools of type \"function\" are translated");
    }
    const Json& fn = tool["function"];
    if (!fn.contains("name") || !fn["name"].is_string()) {
      throw badRequest("tools[].function.name is required", "invalid_tools");
    }
    Json t = {{"name", fn["name"]}};
    if (fn.contains("description") && fn["description"].is_string()) {
      t["description"] = fn["description"];
    }
    // Anthropic requires a schema; OpenAI allows none for a tool without parameters.
    t["input_schema"] = fn.contains("parameters") && fn["parameters"].is_object()
                            ? fn["parameters"]
                            : Json{{"type", "object"}, {"properties", Json::object()}};
    out.push_back(std::move(t));
  }
  return out;
}

Json translateToolChoice(const Json& choice) {
  if (choice.is_string()) {
    const std::string c = choice.get<std::string>();
    if (c == "auto") return {{"type", "auto"}};
    if (c == "none") return {{"type", "none"}};
    if (c == "required") return {{"type", "any"}};
  } else if (choice.is_object() && choice.value("type", "") == "function" &&
             choice.contains("function") && choice["function"].is_object() &&
             choice["function"].contains("name") && choice["function"]["name"].is_string()) {
    return {{"type", "tool"}, {"name", choice["function"]["name"]}};
  }
  throw badRequest(
      "'tool_choice' must be \"auto\", \"none\", \"required\" or "
      "{\"type\":\"function\",\"function\":{\"name\":...}}",
      "invalid_tool_choice");
}

void translateToolFields(const Json& body, Json& out) {
  const auto tools = body.find("tools");
  if (tools != body.end() && !tools->is_null()) {
    out["tools"] = translateTools(*tools);
  }
  Json choice;
  if (auto c = body.find("tool_choice"); c != body.end() && !c->is_null()) {
    choice = translateToolChoice(*c);
  }
  if (auto p = body.find("parallel_tool_calls"); p != body.end() && !p->is_null()) {
    if (!p->is_boolean()) {
      throw badRequest("'parallel_tool_calls' must be a boolean", "invalid_type");
    }
    // Anthropic keeps this flag inside tool_choice, and only where tools may be called.
    const bool none = choice.is_object() && choice.value("type", "") == "none";
    if (!p->get<bool>() && out.contains("tools") && !none) {
      if (choice.is_null()) {
        choice = {{"type", "auto"}};
      }
      choice["disable_parallel_tool_use"] = true;
    }
  }
  if (!choice.is_null()) {
    out["tool_choice"] = std::move(choice);
  }
}

}  // namespace

Json toAnthropicRequest(const Json& body, const RequestOptions& options) {
  rejectUnknownKeys(body);
  rejectUnsupported(body);
  noteDropped(body, options.dropped);

  Json out = Json::object();
  if (!options.model.empty()) {
    out["model"] = options.model;
  } else if (body.contains("model") && body["model"].is_string()) {
    out["model"] = body["model"];
  } else {
    throw badRequest("no model to send upstream", "missing_model");
  }
  // Anthropic requires max_tokens; OpenAI does not.
  out["max_tokens"] = maxTokens(body, options.default_max_tokens);
  translateMessages(body.contains("messages") ? body["messages"] : Json(), out);
  translateToolFields(body, out);
  if (auto s = body.find("stop"); s != body.end() && !s->is_null()) {
    out["stop_sequences"] = stopSequences(*s);
  }
  copyUnitInterval(body, "temperature", out);
  copyUnitInterval(body, "top_p", out);
  // Not an OpenAI parameter, but Anthropic's own: the /v1/messages ingress passes it by name.
  if (auto k = body.find("top_k"); k != body.end() && !k->is_null()) {
    if (!k->is_number_integer() || k->get<int64_t>() < 1) {
      throw badRequest("'top_k' must be a positive integer", "invalid_type");
    }
    out["top_k"] = *k;
  }
  if (auto u = body.find("user"); u != body.end() && !u->is_null()) {
    if (!u->is_string()) {
      throw badRequest("'user' must be a string", "invalid_type");
    }
    out["metadata"] = {{"user_id", *u}};
  }
  if (options.stream) {
    out["stream"] = true;
  }
  return out;
}

}  // namespace anthropic
}  // namespace switchyard
