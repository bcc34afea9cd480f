#include "switchyard/management/prompt_api.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <set>

namespace switchyard {
namespace {

using nlohmann::json;

const std::set<std::string> kTypes = {"string", "number", "integer", "boolean", "array", "object"};
const std::set<std::string> kRoles = {"system", "developer", "user", "assistant"};
// The template and the API own these: a parameter may not replace them.
const std::set<std::string> kReservedParameters = {"model", "messages", "stream", "stream_options",
                                                   "n"};
constexpr size_t kMaxVariables = 64;
constexpr size_t kMaxMessages = 64;

bool identStart(char c) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_';
}
bool identChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

/// Walks `text` once, handing literal runs to `literal` and {{ name }} placeholders to `var`.
/// Anything else that starts with "{{" stays literal text.
template <typename Literal, typename Var>
void scanTemplate(const std::string& text, Literal literal, Var var) {
  size_t lit = 0;
  size_t i = 0;
  while ((i = text.find("{{", i)) != std::string::npos) {
    size_t j = i + 2;
    while (j < text.size() && text[j] == ' ') {
      ++j;
    }
    const size_t name_start = j;
    if (j < text.size() && identStart(text[j])) {
      while (j < text.size() && identChar(text[j])) {
        ++j;
      }
    }
    const size_t name_end = j;
    while (j < text.size() && text[j] == ' ') {
      ++j;
    }
    if (name_end > name_start && text.compare(j, 2, "}}") == 0) {
      literal(std::string_view(text).substr(lit, i - lit));
      var(text.substr(name_start, name_end - name_start));
      i = lit = j + 2;
    } else {
      ++i;
    }
  }
  literal(std::string_view(text).substr(lit));
}

/// JSON Schema's reading of the type names: 2.0 is an integer, true is not a number.
bool hasType(const json& v, const std::string& type) {
  if (type == "string") {
    return v.is_string();
  }
  if (type == "number") {
    return v.is_number();
  }
  if (type == "integer") {
    if (v.is_number_integer()) {
      return true;
    }
    if (!v.is_number_float()) {
      return false;
    }
    const double d = v.get<double>();
    return std::isfinite(d) && std::floor(d) == d && std::fabs(d) < 9.0e15;
  }
  if (type == "boolean") {
    return v.is_boolean();
  }
  if (type == "array") {
    return v.is_array();
  }
  return type == "object" && v.is_object();
}

json normalised(const json& v, const std::string& type) {
  if (type == "integer" && v.is_number_float()) {
    return static_cast<int64_t>(v.get<double>());
  }
  return v;
}

bool inEnum(const PromptVariable& var, const json& v) {
  if (!var.enum_values.is_array()) {
    return true;
  }
  for (const auto& e : var.enum_values) {
    if (e == normalised(v, var.type)) {
      return true;
    }
  }
  return false;
}

std::optional<std::string> parseVariable(const std::string& name, const json& doc,
                                         PromptVariable* out) {
  const std::string where = "variable '" + name + "'";
  if (name.empty() || name.size() > 64 || !identStart(name[0]) ||
      !std::all_of(name.begin(), name.end(), identChar)) {
    return "variable names are 1-64 characters of [A-Za-z0-9_], not starting with a digit: '" +
           name + "'";
  }
  if (!doc.is_object()) {
    return where + " must be an object {type, required, description, enum, default}";
  }
  for (const auto& [k, v] : doc.items()) {
    if (k != "type" && k != "required" && k != "description" && k != "enum" && k != "default") {
      return where + " has an unknown field '" + k + "'";
    }
  }
  PromptVariable var;
  var.name = name;
  const json type = doc.value("type", json());
  if (!type.is_string() || kTypes.count(type.get<std::string>()) == 0) {
    return where + ": 'type' must be one of string, number, integer, boolean, array, object";
  }
  var.type = type.get<std::string>();
  if (doc.contains("description")) {
    if (!doc["description"].is_string()) {
      return where + ": 'description' must be a string";
    }
    var.description = doc["description"].get<std::string>();
  }
  if (doc.contains("enum") && !doc["enum"].is_null()) {
    const json& e = doc["enum"];
    if (!e.is_array() || e.empty()) {
      return where + ": 'enum' must be a non-empty array";
    }
    for (const auto& v : e) {
      if (!hasType(v, var.type)) {
        return where + ": every 'enum' value must be of type " + var.type;
      }
      var.enum_values.push_back(normalised(v, var.type));
    }
  }
  if (doc.contains("default") && !doc["default"].is_null()) {
    if (!hasType(doc["default"], var.type) || !inEnum(var, doc["default"])) {
      return where + ": 'default' must be a " + var.type +
             (var.enum_values.is_array() ? " from 'enum'" : "");
    }
    var.default_value = normalised(doc["default"], var.type);
  }
  var.required = var.default_value.is_null();
  if (doc.contains("required") && !doc["required"].is_null()) {
    if (!doc["required"].is_boolean()) {
      return where + ": 'required' must be a boolean";
    }
    if (doc["required"].get<bool>() && !var.default_value.is_null()) {
      return where + " has a 'default', so it cannot be 'required'";
    }
    var.required = doc["required"].get<bool>();
  }
  *out = std::move(var);
  return std::nullopt;
}

std::optional<std::string> checkParameters(const json& p) {
  if (!p.is_object()) {
    return "'parameters' must be an object (temperature, max_tokens, response_format, ...)";
  }
  for (const auto& [k, v] : p.items()) {
    if (kReservedParameters.count(k) != 0) {
      return "'parameters' may not set '" + k + "': the prompt API decides it";
    }
  }
  for (const char* k : {"temperature", "top_p", "presence_penalty", "frequency_penalty"}) {
    if (p.contains(k) && !p[k].is_number()) {
      return std::string("'parameters.") + k + "' must be a number";
    }
  }
  for (const char* k : {"max_tokens", "max_completion_tokens"}) {
    if (p.contains(k) && (!p[k].is_number_integer() || p[k].get<int64_t>() <= 0)) {
      return std::string("'parameters.") + k + "' must be a positive integer";
    }
  }
  if (p.contains("response_format") && (!p["response_format"].is_object() ||
                                        !p["response_format"].value("type", json()).is_string())) {
    return "'parameters.response_format' must be an object with a 'type'";
  }
  return std::nullopt;
}

json specJson(const PromptSpec& spec) {
  json vars = json::object();
  for (const auto& v : spec.variables) {
    json d = {{"type", v.type}, {"required", v.required}};
    if (!v.description.empty()) {
      d["description"] = v.description;
    }
    if (!v.enum_values.is_null()) {
      d["enum"] = v.enum_values;
    }
    if (!v.default_value.is_null()) {
      d["default"] = v.default_value;
    }
    vars[v.name] = std::move(d);
  }
  return {{"model", spec.model},
          {"messages", spec.messages},
          {"parameters", spec.parameters},
          {"variables", std::move(vars)}};
}

std::string joined(const std::vector<std::string>& parts, const char* sep) {
  std::string out;
  for (const auto& p : parts) {
    out += (out.empty() ? "" : sep) + p;
  }
  return out;
}

}  // namespace

const PromptVariable* PromptSpec::variable(const std::string& name) const {
  for (const auto& v : variables) {
    if (v.name == name) {
      return &v;
    }
  }
  return nullptr;
}

std::vector<std::string> promptPlaceholders(const std::string& text) {
  std::vector<std::string> names;
  scanTemplate(
      text, [](std::string_view) {}, [&](std::string name) { names.push_back(std::move(name)); });
  return names;
}

std::optional<std::string> parsePromptSpec(const json& doc, PromptSpec* out) {
  if (!doc.is_object()) {
    return "a prompt service needs 'model', 'messages' and, optionally, 'parameters' and "
           "'variables'";
  }
  PromptSpec spec;
  const json model = doc.value("model", json());
  if (!model.is_string() || model.get<std::string>().empty()) {
    return "'model' (the model route the prompt runs on) is required";
  }
  spec.model = model.get<std::string>();

  if (doc.contains("variables") && !doc["variables"].is_null()) {
    const json& vars = doc["variables"];
    if (!vars.is_object()) {
      return "'variables' must be an object: name → {type, required, description, enum, default}";
    }
    if (vars.size() > kMaxVariables) {
      return "a prompt takes at most " + std::to_string(kMaxVariables) + " variables";
    }
    for (const auto& [name, d] : vars.items()) {
      PromptVariable v;
      if (auto e = parseVariable(name, d, &v)) {
        return e;
      }
      spec.variables.push_back(std::move(v));
    }
  }

  const json messages = doc.value("messages", json());
  if (!messages.is_array() || messages.empty() || messages.size() > kMaxMessages) {
    return "'messages' must be an array of 1-" + std::to_string(kMaxMessages) +
           " {role, content} templates";
  }
  std::vector<std::string> undeclared;
  for (size_t i = 0; i < messages.size(); ++i) {
    const json& m = messages[i];
    const std::string where = "'messages[" + std::to_string(i) + "]'";
    if (!m.is_object()) {
      return where + " must be an object {role, content}";
    }
    for (const auto& [k, v] : m.items()) {
      if (k != "role" && k != "content" && k != "name") {
        return where + " has an unknown field '" + k + "'";
      }
    }
    const json role = m.value("role", json());
    if (!role.is_string() || kRoles.count(role.get<std::string>()) == 0) {
      return where + ": 'role' must be system, developer, user or assistant";
    }
    const json content = m.value("content", json());
    if (!content.is_string() || content.get<std::string>().empty()) {
      return where + ": 'content' must be a non-empty string";
    }
    if (m.contains("name") && !m["name"].is_string()) {
      return where + ": 'name' must be a string";
    }
    for (const auto& name : promptPlaceholders(content.get<std::string>())) {
      if (spec.variable(name) == nullptr &&
          std::find(undeclared.begin(), undeclared.end(), name) == undeclared.end()) {
        undeclared.push_back(name);
      }
    }
  }
  if (!undeclared.empty()) {
    return "the template uses undeclared variables: " + joined(undeclared, ", ") +
           "; declare them in 'variables'";
  }
  spec.messages = messages;

  if (doc.contains("parameters") && !doc["parameters"].is_null()) {
    if (auto e = checkParameters(doc["parameters"])) {
      return e;
    }
    spec.parameters = doc["parameters"];
  }
  for (const auto& [k, v] : doc.items()) {
    if (k != "model" && k != "messages" && k != "parameters" && k != "variables") {
      return "a prompt spec has no field '" + k + "'";
    }
  }
  *out = std::move(spec);
  return std::nullopt;
}

PromptSpecResult mergePromptSpec(const json& current, const json& body,
                                 const std::function<bool(const std::string&)>& model_routed) {
  json doc = current.is_object() ? current : json::object();
  for (const char* k : {"model", "messages", "parameters", "variables"}) {
    if (body.contains(k)) {
      doc[k] = body[k];
    }
  }
  PromptSpec spec;
  if (auto e = parsePromptSpec(doc, &spec)) {
    return {json(), *e};
  }
  if (model_routed && !model_routed(spec.model)) {
    return {json(), "'model' " + spec.model + " is not a model route of this gateway"};
  }
  return {specJson(spec), ""};
}

std::optional<ApiError> checkPromptVariables(const PromptSpec& spec, const json& variables,
                                             json* resolved) {
  if (!variables.is_null() && !variables.is_object()) {
    return ApiError::invalidRequest("'variables' must be an object of the prompt's variables",
                                    "invalid_variables");
  }
  *resolved = json::object();
  std::vector<std::string> problems;
  for (const auto& var : spec.variables) {
    const json* given = nullptr;
    if (variables.is_object()) {
      auto it = variables.find(var.name);
      if (it != variables.end() && !it->is_null()) {
        given = &*it;
      }
    }
    if (given == nullptr) {
      if (!var.default_value.is_null()) {
        (*resolved)[var.name] = var.default_value;
      } else if (var.required) {
        problems.push_back("'" + var.name + "' is missing");
      }
      continue;
    }
    if (!hasType(*given, var.type)) {
      problems.push_back(
          "'" + var.name + "' must be " +
          (var.type == "integer" || var.type == "array" || var.type == "object" ? "an " : "a ") +
          var.type);
    } else if (!inEnum(var, *given)) {
      problems.push_back("'" + var.name + "' must be one of " + var.enum_values.dump());
    } else {
      (*resolved)[var.name] = normalised(*given, var.type);
    }
  }
  if (variables.is_object()) {
    for (const auto& [name, v] : variables.items()) {
      if (spec.variable(name) == nullptr) {
        problems.push_back("'" + name + "' is not a variable of this prompt");
      }
    }
  }
  if (problems.empty()) {
    return std::nullopt;
  }
  return ApiError::invalidRequest("Invalid variables: " + joined(problems, "; "),
                                  "invalid_variables");
}

std::string renderPromptText(const std::string& text, const json& resolved) {
  std::string out;
  out.reserve(text.size());
  scanTemplate(
      text, [&](std::string_view lit) { out.append(lit); },
      [&](const std::string& name) {
        auto it = resolved.find(name);
        if (it == resolved.end() || it->is_null()) {
          return;
        }
        out += it->is_string() ? it->get<std::string>()
                               : it->dump(-1, ' ', false, json::error_handler_t::replace);
      });
  return out;
}

json renderPromptRequest(const PromptSpec& spec, const json& resolved, bool stream) {
  json request = spec.parameters.is_object() ? spec.parameters : json::object();
  json messages = json::array();
  for (const auto& m : spec.messages) {
    json rendered = m;
    rendered["content"] = renderPromptText(m.value("content", ""), resolved);
    messages.push_back(std::move(rendered));
  }
  request["model"] = spec.model;
  request["messages"] = std::move(messages);
  if (stream) {
    request["stream"] = true;
    request["stream_options"] = {{"include_usage", true}};
  }
  return request;
}

}  // namespace switchyard
