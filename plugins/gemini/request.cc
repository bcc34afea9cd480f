// OpenAI chat.completions / embeddings request → Gemini generateContent / embedContent.
// Every client parameter is either mapped, dropped for a documented reason, or refused with a
// 400 naming it (README.md has the table); nothing unknown is passed on or silently lost.
#include <algorithm>
#include <cctype>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "gemini.h"

namespace switchyard {
namespace gemini {
namespace {

[[noreturn]] void unsupported(const std::string& param, const std::string& why) {
  throw sdk::Error(400, "invalid_request_error", "unsupported_parameter",
                   "'" + param + "' is not supported by the gemini provider: " + why);
}

[[noreturn]] void invalid(const std::string& param, const std::string& why) {
  throw sdk::Error(400, "invalid_request_error", "invalid_value", "'" + param + "' " + why);
}

bool present(const Json& body, const char* key) {
  const auto it = body.find(key);
  return it != body.end() && !it->is_null();
}

std::string upper(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::toupper(c)); });
  return s;
}

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

// ---------------------------------------------------------------------------------------------
// JSON Schema → Gemini Schema

// Keywords Gemini's Schema object has under the same name and meaning.
const std::set<std::string, std::less<>> kSchemaCopied = {
    "description",   "title",         "nullable",         "enum",      "minItems", "maxItems",
    "minimum",       "maximum",       "minLength",        "maxLength", "pattern",  "default",
    "minProperties", "maxProperties", "propertyOrdering", "example"};
// Keywords Gemini refuses that are annotations or only loosen validation when left out (the
// model is still told exactly which properties exist), so they are dropped.
const std::set<std::string, std::less<>> kSchemaDropped = {
    "$schema",   "$id",        "$comment", "additionalProperties", "examples", "readOnly",
    "writeOnly", "deprecated", "strict"};
// Gemini accepts `format` only with these values; other formats are validation hints we drop.
const std::set<std::string, std::less<>> kSchemaFormats = {"enum",  "date-time", "int32",
                                                           "int64", "float",     "double"};

Json convertType(const Json& type, const std::string& where, Json& out) {
  if (type.is_string()) {
    return upper(type.get<std::string>());
  }
  if (type.is_array()) {
    // ["string","null"] is how JSON Schema says nullable; Gemini has a flag for it.
    std::vector<std::string> types;
    for (const auto& t : type) {
      if (!t.is_string()) {
        invalid(where + ".type", "must be a string or an array of strings");
      }
      if (t.get<std::string>() == "null") {
        out["nullable"] = true;
      } else {
        types.push_back(t.get<std::string>());
      }
    }
    if (types.size() == 1) {
      return upper(types.front());
    }
    unsupported(where + ".type", "a union of several non-null types (use anyOf)");
  }
  invalid(where + ".type", "must be a string or an array of strings");
}

// Inlines local references ("#/$defs/Name", "#/definitions/Name"), as Gemini's Schema has
// none; pydantic and zod emit them for every nested model.
class SchemaConverter {
 public:
  explicit SchemaConverter(const Json& root) {
    for (const char* key : {"$defs", "definitions"}) {
      if (const auto it = root.find(key); it != root.end() && it->is_object()) {
        for (const auto& [name, def] : it->items()) {
          defs_["#/" + std::string(key) + "/" + name] = &def;
        }
      }
    }
  }

  Json convert(const Json& schema, const std::string& where, int depth = 0) {
    if (!schema.is_object()) {
      invalid(where, "must be a JSON Schema object");
    }
    // A recursive model cannot be inlined; anything this deep is one.
    if (depth > kMaxDepth) {
      unsupported(where, "the schema nests deeper than " + std::to_string(kMaxDepth) +
                             " levels (a recursive $ref?)");
    }
    Json out = Json::object();
    if (const auto ref = schema.find("$ref"); ref != schema.end()) {
      out = resolve(*ref, where, depth);
    }
    for (const auto& [key, value] : schema.items()) {
      convertKeyword(key, value, where, depth, out);
    }
    return out;
  }

 private:
  static constexpr int kMaxDepth = 32;

  Json resolve(const Json& ref, const std::string& where, int depth) {
    const auto it = ref.is_string() ? defs_.find(ref.get<std::string>()) : defs_.end();
    if (it == defs_.end()) {
      unsupported(where + ".$ref", "only references to the schema's own $defs/definitions");
    }
    return convert(*it->second, where + ".$ref", depth + 1);
  }

  void convertKeyword(const std::string& key, const Json& value, const std::string& where,
                      int depth, Json& out) {
    if (key == "$ref" || key == "$defs" || key == "definitions") {
      return;  // resolved above / inlined where used
    }
    if (key == "type") {
      Json type = convertType(value, where, out);
      out["type"] = std::move(type);
    } else if (key == "properties") {
      if (!value.is_object()) {
        invalid(where + ".properties", "must be an object");
      }
      Json props = Json::object();
      for (const auto& [name, sub] : value.items()) {
        props[name] = convert(sub, where + ".properties." + name, depth + 1);
      }
      out["properties"] = std::move(props);
    } else if (key == "items") {
      out["items"] = convert(value, where + ".items", depth + 1);
    } else if (key == "anyOf") {
      if (!value.is_array()) {
        invalid(where + ".anyOf", "must be an array");
      }
      Json any = Json::array();
      for (size_t i = 0; i < value.size(); ++i) {
        any.push_back(convert(value[i], where + ".anyOf[" + std::to_string(i) + "]", depth + 1));
      }
      out["anyOf"] = std::move(any);
    } else if (key == "required") {
      out["required"] = value;
    } else if (key == "const") {
      out["enum"] = Json::array({value});
    } else if (key == "format") {
      if (value.is_string() && kSchemaFormats.count(value.get<std::string>()) > 0) {
        out["format"] = value;
      }
    } else if (kSchemaCopied.count(key) > 0) {
      out[key] = value;
    } else if (kSchemaDropped.count(key) == 0) {
      unsupported(where + "." + key, "this JSON Schema keyword is outside Gemini's schema subset");
    }
  }

  std::map<std::string, const Json*> defs_;
};

}  // namespace

Json convertSchema(const Json& schema, const std::string& where) {
  return SchemaConverter(schema).convert(schema, where);
}

namespace {

// ---------------------------------------------------------------------------------------------
// Messages → contents

std::string textOfParts(const Json& content, const std::string& where) {
  if (content.is_null()) {
    return {};
  }
  if (content.is_string()) {
    return content.get<std::string>();
  }
  if (!content.is_array()) {
    invalid(where, "must be a string or an array of content parts");
  }
  std::string text;
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    if (!part.is_object() || part.value("type", "") != "text" || !part.contains("text") ||
        !part["text"].is_string()) {
      unsupported(where + "[" + std::to_string(i) + "]", "only text parts are accepted here");
    }
    text += part["text"].get<std::string>();
  }
  return text;
}

/// The image MIME type an http(s) URL's extension names, or "" when it does not tell.
std::string mimeFromUrl(std::string_view url) {
  std::string_view path = url.substr(0, url.find_first_of("?#"));
  const size_t dot = path.rfind('.');
  if (dot == std::string_view::npos || path.find('/', dot) != std::string_view::npos) {
    return {};
  }
  static const std::map<std::string, std::string, std::less<>> kTypes = {
      {"png", "image/png"},   {"jpg", "image/jpeg"},  {"jpeg", "image/jpeg"},
      {"webp", "image/webp"}, {"heic", "image/heic"}, {"heif", "image/heif"}};
  const auto it = kTypes.find(lower(std::string(path.substr(dot + 1))));
  return it == kTypes.end() ? std::string() : it->second;
}

Json imagePart(const Json& part, const std::string& where) {
  const Json& image = part.contains("image_url") ? part["image_url"] : Json();
  const Json& url_json = image.is_object() && image.contains("url") ? image["url"] : image;
  if (!url_json.is_string()) {
    invalid(where + ".image_url.url", "must be a string");
  }
  const std::string url = url_json.get<std::string>();
  if (url.rfind("data:", 0) == 0) {
    // data:<mime>;base64,<payload>
    const size_t comma = url.find(',');
    const std::string header = url.substr(5, comma == std::string::npos ? 0 : comma - 5);
    const size_t semi = header.find(';');
    if (comma == std::string::npos || semi == std::string::npos ||
        header.substr(semi + 1) != "base64" || semi == 0) {
      invalid(where + ".image_url.url", "must be a base64 data URL (data:<mime>;base64,...)");
    }
    return Json{
        {"inlineData", {{"mimeType", header.substr(0, semi)}, {"data", url.substr(comma + 1)}}}};
  }
  if (url.rfind("https://", 0) == 0 || url.rfind("http://", 0) == 0) {
    const std::string mime = mimeFromUrl(url);
    if (mime.empty()) {
      throw sdk::Error(400, "invalid_request_error", "unsupported_image_url",
                       "the gemini provider cannot tell the image type of '" + where +
                           ".image_url.url' from its extension (png, jpg, jpeg, webp, heic, "
                           "heif); send the image as a base64 data URL instead");
    }
    return Json{{"fileData", {{"mimeType", mime}, {"fileUri", url}}}};
  }
  invalid(where + ".image_url.url", "must be a data: URL or an http(s) URL");
}

Json audioPart(const Json& part, const std::string& where) {
  const Json& audio = part.contains("input_audio") ? part["input_audio"] : Json();
  if (!audio.is_object() || !audio.contains("data") || !audio["data"].is_string()) {
    invalid(where + ".input_audio", "must be an object with base64 \"data\"");
  }
  const std::string format = audio.value("format", "");
  if (format != "wav" && format != "mp3") {
    invalid(where + ".input_audio.format", "must be \"wav\" or \"mp3\"");
  }
  return Json{{"inlineData", {{"mimeType", "audio/" + format}, {"data", audio["data"]}}}};
}

/// A user message's content → Gemini parts (text, images, audio).
Json userParts(const Json& content, const std::string& where) {
  Json parts = Json::array();
  if (content.is_string()) {
    parts.push_back({{"text", content}});
    return parts;
  }
  if (!content.is_array()) {
    invalid(where, "must be a string or an array of content parts");
  }
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& part = content[i];
    const std::string at = where + "[" + std::to_string(i) + "]";
    const std::string type = part.is_object() ? part.value("type", "") : "";
    if (type == "text" && part.contains("text") && part["text"].is_string()) {
      parts.push_back({{"text", part["text"]}});
    } else if (type == "image_url") {
      parts.push_back(imagePart(part, at));
    } else if (type == "input_audio") {
      parts.push_back(audioPart(part, at));
    } else {
      unsupported(at + ".type", "content part type \"" + type + "\"");
    }
  }
  return parts;
}

/// OpenAI arguments (a JSON string) → the args object Gemini wants.
Json parseArguments(const Json& arguments, const std::string& where) {
  if (arguments.is_object()) {
    return arguments;
  }
  if (arguments.is_null() || (arguments.is_string() && arguments.get<std::string>().empty())) {
    return Json::object();
  }
  if (!arguments.is_string()) {
    invalid(where, "must be a JSON string");
  }
  Json args = Json::parse(arguments.get<std::string>(), nullptr, false);
  if (args.is_discarded() || !args.is_object()) {
    invalid(where, "must be a JSON object encoded as a string");
  }
  return args;
}

class ContentsBuilder {
 public:
  void add(const Json& message, size_t i) {
    const std::string where = "messages[" + std::to_string(i) + "]";
    if (!message.is_object()) {
      invalid(where, "must be an object");
    }
    const std::string role = message.value("role", "");
    const Json& content = message.contains("content") ? message["content"] : Json();
    if (role == "system" || role == "developer") {
      // Gemini has one system instruction; every system message adds a part to it.
      system_parts_.push_back({{"text", textOfParts(content, where + ".content")}});
    } else if (role == "user") {
      append("user", userParts(content, where + ".content"));
    } else if (role == "assistant") {
      addAssistant(message, where);
    } else if (role == "tool") {
      addToolResult(message, where);
    } else {
      unsupported(where + ".role", "role \"" + role + "\"");
    }
  }

  Json contents() && { return std::move(contents_); }
  Json systemParts() && { return std::move(system_parts_); }

 private:
  void addAssistant(const Json& message, const std::string& where) {
    Json parts = Json::array();
    const Json& content = message.contains("content") ? message["content"] : Json();
    if (content.is_array()) {
      // Assistant content may carry refusal parts; their text is what the model said.
      for (size_t k = 0; k < content.size(); ++k) {
        const Json& p = content[k];
        const std::string type = p.is_object() ? p.value("type", "") : "";
        const char* field = type == "refusal" ? "refusal" : "text";
        if ((type != "text" && type != "refusal") || !p.contains(field) || !p[field].is_string()) {
          unsupported(where + ".content[" + std::to_string(k) + "]",
                      "only text and refusal parts are accepted in assistant messages");
        }
        parts.push_back({{"text", p[field]}});
      }
    } else if (content.is_string() && !content.get<std::string>().empty()) {
      parts.push_back({{"text", content}});
    } else if (!content.is_null() && !content.is_string()) {
      invalid(where + ".content", "must be a string or an array of content parts");
    }
    if (const auto calls = message.find("tool_calls");
        calls != message.end() && !calls->is_null()) {
      if (!calls->is_array()) {
        invalid(where + ".tool_calls", "must be an array");
      }
      for (size_t k = 0; k < calls->size(); ++k) {
        parts.push_back(
            functionCall((*calls)[k], where + ".tool_calls[" + std::to_string(k) + "]"));
      }
    }
    if (!parts.empty()) {
      append("model", std::move(parts));
    }
  }

  Json functionCall(const Json& call, const std::string& where) {
    if (!call.is_object() || call.value("type", "function") != "function" ||
        !call.contains("function") || !call["function"].is_object()) {
      invalid(where, "must be a function tool call");
    }
    const Json& fn = call["function"];
    if (!fn.contains("name") || !fn["name"].is_string()) {
      invalid(where + ".function.name", "must be a string");
    }
    const std::string name = fn["name"].get<std::string>();
    if (call.contains("id") && call["id"].is_string()) {
      // Gemini matches results to calls by name; remember which id stood for which name.
      call_names_[call["id"].get<std::string>()] = name;
    }
    return Json{{"functionCall",
                 {{"name", name},
                  {"args", parseArguments(fn.contains("arguments") ? fn["arguments"] : Json(),
                                          where + ".function.arguments")}}}};
  }

  void addToolResult(const Json& message, const std::string& where) {
    const Json& id = message.contains("tool_call_id") ? message["tool_call_id"] : Json();
    if (!id.is_string()) {
      invalid(where + ".tool_call_id", "must be a string");
    }
    const auto name = call_names_.find(id.get<std::string>());
    if (name == call_names_.end()) {
      invalid(where + ".tool_call_id",
              "does not match a tool call of an earlier assistant message");
    }
    const std::string text =
        textOfParts(message.contains("content") ? message["content"] : Json(), where + ".content");
    // Gemini wants an object: a JSON object result is passed as is, anything else is wrapped.
    Json response = Json::parse(text, nullptr, false);
    if (response.is_discarded() || !response.is_object()) {
      response = Json{{"result", text}};
    }
    append("user", Json::array({{{"functionResponse",
                                  {{"name", name->second}, {"response", std::move(response)}}}}}));
  }

  // Consecutive turns of one role become one Content: Gemini wants the results of parallel
  // calls together in one user turn, right after the model turn that made them.
  void append(const char* role, Json parts) {
    if (!contents_.empty() && contents_.back()["role"] == role) {
      for (auto& p : parts) {
        contents_.back()["parts"].push_back(std::move(p));
      }
      return;
    }
    contents_.push_back({{"role", role}, {"parts", std::move(parts)}});
  }

  Json contents_ = Json::array();
  Json system_parts_ = Json::array();
  std::map<std::string, std::string> call_names_;
};

// ---------------------------------------------------------------------------------------------
// Parameters → generationConfig, tools, toolConfig

double number(const Json& body, const char* key) {
  if (!body[key].is_number()) {
    invalid(key, "must be a number");
  }
  return body[key].get<double>();
}

int64_t integer(const Json& body, const char* key) {
  if (!body[key].is_number_integer()) {
    invalid(key, "must be an integer");
  }
  return body[key].get<int64_t>();
}

void responseFormat(const Json& format, Json& config) {
  if (!format.is_object() || !format.contains("type") || !format["type"].is_string()) {
    invalid("response_format", "must be an object with a \"type\"");
  }
  const std::string type = format["type"].get<std::string>();
  if (type == "text") {
    return;
  }
  if (type == "json_object") {
    config["responseMimeType"] = "application/json";
    return;
  }
  if (type == "json_schema") {
    const Json& spec = format.contains("json_schema") ? format["json_schema"] : Json();
    if (!spec.is_object()) {
      invalid("response_format.json_schema", "must be an object");
    }
    config["responseMimeType"] = "application/json";
    if (spec.contains("schema") && !spec["schema"].is_null()) {
      config["responseSchema"] =
          convertSchema(spec["schema"], "response_format.json_schema.schema");
    }
    return;
  }
  unsupported("response_format.type", "type \"" + type + "\"");
}

Json generationConfig(const Json& body) {
  Json config = Json::object();
  if (present(body, "temperature")) {
    config["temperature"] = number(body, "temperature");
  }
  if (present(body, "top_p")) {
    config["topP"] = number(body, "top_p");
  }
  // max_completion_tokens is the newer name; it wins when a client sends both.
  for (const char* key : {"max_tokens", "max_completion_tokens"}) {
    if (present(body, key)) {
      config["maxOutputTokens"] = integer(body, key);
    }
  }
  if (present(body, "stop")) {
    const Json& stop = body["stop"];
    if (stop.is_string()) {
      config["stopSequences"] = Json::array({stop});
    } else if (stop.is_array() &&
               std::all_of(stop.begin(), stop.end(), [](const Json& s) { return s.is_string(); })) {
      config["stopSequences"] = stop;
    } else {
      invalid("stop", "must be a string or an array of strings");
    }
  }
  if (present(body, "n")) {
    config["candidateCount"] = integer(body, "n");
  }
  if (present(body, "presence_penalty")) {
    config["presencePenalty"] = number(body, "presence_penalty");
  }
  if (present(body, "frequency_penalty")) {
    config["frequencyPenalty"] = number(body, "frequency_penalty");
  }
  if (present(body, "seed")) {
    config["seed"] = integer(body, "seed");
  }
  if (present(body, "response_format")) {
    responseFormat(body["response_format"], config);
  }
  if (present(body, "reasoning_effort")) {
    // The budgets Google's own OpenAI-compatibility layer uses for these levels.
    static const std::map<std::string, int, std::less<>> kBudgets = {
        {"none", 0}, {"low", 1024}, {"medium", 8192}, {"high", 24576}};
    const Json& effort = body["reasoning_effort"];
    const auto it = effort.is_string() ? kBudgets.find(effort.get<std::string>()) : kBudgets.end();
    if (it == kBudgets.end()) {
      unsupported("reasoning_effort",
                  "only \"none\", \"low\", \"medium\" and \"high\" have a "
                  "Gemini thinking budget");
    }
    config["thinkingConfig"] = {{"thinkingBudget", it->second}};
  }
  return config;
}

Json functionDeclarations(const Json& tools, std::set<std::string>& names) {
  if (!tools.is_array()) {
    invalid("tools", "must be an array");
  }
  Json declarations = Json::array();
  for (size_t i = 0; i < tools.size(); ++i) {
    const std::string where = "tools[" + std::to_string(i) + "]";
    const Json& tool = tools[i];
    if (!tool.is_object() || tool.value("type", "") != "function") {
      unsupported(where + ".type", "only function tools are supported");
    }
    const Json& fn = tool.contains("function") ? tool["function"] : Json();
    if (!fn.is_object() || !fn.contains("name") || !fn["name"].is_string()) {
      invalid(where + ".function.name", "must be a string");
    }
    Json decl = {{"name", fn["name"]}};
    names.insert(fn["name"].get<std::string>());
    if (fn.contains("description") && fn["description"].is_string()) {
      decl["description"] = fn["description"];
    }
    if (fn.contains("parameters") && !fn["parameters"].is_null()) {
      Json params = convertSchema(fn["parameters"], where + ".function.parameters");
      // Gemini refuses an OBJECT without properties; a function without parameters says so by
      // leaving them out.
      const bool empty_object = params.value("type", "") == "OBJECT" &&
                                (!params.contains("properties") || params["properties"].empty());
      if (!empty_object) {
        decl["parameters"] = std::move(params);
      }
    }
    declarations.push_back(std::move(decl));
  }
  return declarations;
}

Json toolConfig(const Json& choice, const std::set<std::string>& names) {
  Json config = Json::object();
  if (choice.is_string()) {
    const std::string c = choice.get<std::string>();
    static const std::map<std::string, std::string, std::less<>> kModes = {
        {"auto", "AUTO"}, {"none", "NONE"}, {"required", "ANY"}};
    const auto it = kModes.find(c);
    if (it == kModes.end()) {
      invalid("tool_choice", "must be \"auto\", \"none\", \"required\" or a function choice");
    }
    config["mode"] = it->second;
  } else if (choice.is_object() && choice.value("type", "") == "function" &&
             choice.contains("function") && choice["function"].is_object() &&
             choice["function"].contains("name") && choice["function"]["name"].is_string()) {
    const std::string name = choice["function"]["name"].get<std::string>();
    if (names.count(name) == 0) {
      invalid("tool_choice.function.name", "names no function in 'tools'");
    }
    config["mode"] = "ANY";
    config["allowedFunctionNames"] = Json::array({name});
  } else {
    invalid("tool_choice", "must be \"auto\", \"none\", \"required\" or a function choice");
  }
  return Json{{"functionCallingConfig", std::move(config)}};
}

// Parameters the translation reads; anything else is refused.
const std::set<std::string, std::less<>> kChatKeys = {"model",
                                                      "messages",
                                                      "stream",
                                                      "stream_options",
                                                      "temperature",
                                                      "top_p",
                                                      "max_tokens",
                                                      "max_completion_tokens",
                                                      "stop",
                                                      "n",
                                                      "presence_penalty",
                                                      "frequency_penalty",
                                                      "seed",
                                                      "response_format",
                                                      "tools",
                                                      "tool_choice",
                                                      "parallel_tool_calls",
                                                      "reasoning_effort",
                                                      "user",
                                                      "logprobs",
                                                      "top_logprobs",
                                                      "store",
                                                      "metadata",
                                                      "service_tier"};

void checkChatKeys(const Json& body) {
  for (const auto& [key, value] : body.items()) {
    if (kChatKeys.count(key) == 0 && !value.is_null()) {
      unsupported(key, "Gemini has no equivalent");
    }
  }
  if (present(body, "parallel_tool_calls") && body["parallel_tool_calls"] != true) {
    unsupported("parallel_tool_calls", "Gemini cannot be told to make one call at a time");
  }
}

}  // namespace

std::string modelId(std::string_view upstream_model) {
  std::string_view id = upstream_model;
  if (id.rfind("models/", 0) == 0) {
    id.remove_prefix(7);
  }
  const bool ok = !id.empty() && std::all_of(id.begin(), id.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) != 0 || c == '-' || c == '.' || c == '_';
  });
  if (!ok) {
    throw sdk::Error(400, "invalid_request_error", "invalid_model",
                     "the gemini provider needs a model id of letters, digits, '-', '.' and '_'");
  }
  return std::string(id);
}

std::vector<std::string> droppedChatParams(const Json& body) {
  std::vector<std::string> dropped;
  if (present(body, "logprobs") && body["logprobs"] != false) dropped.emplace_back("logprobs");
  if (present(body, "top_logprobs") && body["top_logprobs"] != 0)
    dropped.emplace_back("top_logprobs");
  if (present(body, "user")) dropped.emplace_back("user");
  if (present(body, "store") && body["store"] != false) dropped.emplace_back("store");
  if (present(body, "metadata")) dropped.emplace_back("metadata");
  if (present(body, "service_tier") && body["service_tier"] != "auto" &&
      body["service_tier"] != "default") {
    dropped.emplace_back("service_tier");
  }
  return dropped;
}

UpstreamRequest buildChatRequest(const Json& body, const std::string& model, bool stream,
                                 const Json& safety_settings) {
  checkChatKeys(body);
  const Json& messages = body.contains("messages") ? body["messages"] : Json();
  if (!messages.is_array()) {
    invalid("messages", "must be an array");
  }
  ContentsBuilder builder;
  for (size_t i = 0; i < messages.size(); ++i) {
    builder.add(messages[i], i);
  }
  Json system_parts = std::move(builder).systemParts();
  Json contents = std::move(builder).contents();
  if (contents.empty()) {
    invalid("messages", "must contain at least one user or assistant message");
  }

  Json out = {{"contents", std::move(contents)}};
  if (!system_parts.empty()) {
    out["systemInstruction"] = {{"parts", std::move(system_parts)}};
  }
  std::set<std::string> names;
  if (present(body, "tools") && !body["tools"].empty()) {
    out["tools"] =
        Json::array({{{"functionDeclarations", functionDeclarations(body["tools"], names)}}});
    if (present(body, "tool_choice")) {
      out["toolConfig"] = toolConfig(body["tool_choice"], names);
    }
  } else if (present(body, "tool_choice") && body["tool_choice"] != "none" &&
             body["tool_choice"] != "auto") {
    invalid("tool_choice", "needs 'tools'");
  }
  if (!safety_settings.is_null()) {
    out["safetySettings"] = safety_settings;
  }
  if (Json config = generationConfig(body); !config.empty()) {
    out["generationConfig"] = std::move(config);
  }
  const std::string path =
      "/models/" + model + (stream ? ":streamGenerateContent?alt=sse" : ":generateContent");
  return UpstreamRequest{path, std::move(out)};
}

UpstreamRequest buildEmbeddingsRequest(const Json& body, const std::string& model) {
  for (const auto& [key, value] : body.items()) {
    if (key != "model" && key != "input" && key != "dimensions" && key != "encoding_format" &&
        key != "user" && !value.is_null()) {
      unsupported(key, "Gemini embeddings have no equivalent");
    }
  }
  if (present(body, "encoding_format") && body["encoding_format"] != "float" &&
      body["encoding_format"] != "base64") {
    invalid("encoding_format", "must be \"float\" or \"base64\"");
  }
  const std::string resource = "models/" + model;
  auto request = [&](const Json& text) {
    Json r = {{"model", resource}, {"content", {{"parts", Json::array({{{"text", text}}})}}}};
    if (present(body, "dimensions")) {
      r["outputDimensionality"] = integer(body, "dimensions");
    }
    return r;
  };
  const Json& input = body.contains("input") ? body["input"] : Json();
  if (input.is_string()) {
    return UpstreamRequest{"/models/" + model + ":embedContent", request(input)};
  }
  if (!input.is_array() || input.empty()) {
    invalid("input", "must be a string or a non-empty array of strings");
  }
  Json requests = Json::array();
  for (const auto& item : input) {
    if (!item.is_string()) {
      unsupported("input", "token arrays cannot be embedded by Gemini; send strings");
    }
    requests.push_back(request(item));
  }
  return UpstreamRequest{"/models/" + model + ":batchEmbedContents",
                         Json{{"requests", std::move(requests)}}};
}

std::string dumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace gemini
}  // namespace switchyard
