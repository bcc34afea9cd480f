/// @file switchyard/management/prompt_api.h
/// @brief Prompt APIs: a chat template with typed variables over one model route, served as an
/// endpoint of its own (POST <mount> with {"variables": {...}}) and described by a generated
/// OpenAPI document.
#pragma once

#include <functional>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/common/api_error.h"
#include "switchyard/ingress/ingress_adapter.h"
#include "switchyard/store/store.h"

namespace switchyard {

/// One declared input of a prompt API.
struct PromptVariable {
  std::string name;
  std::string type;  ///< string, number, integer, boolean, array or object
  bool required = true;
  std::string description;
  nlohmann::json enum_values;    ///< null, or the values allowed
  nlohmann::json default_value;  ///< null, or the value used when the caller sends none
};

/// A prompt service's spec, as stored in Service::prompt.
struct PromptSpec {
  std::string model;        ///< a model route of the gateway
  nlohmann::json messages;  ///< [{role, content}] where content may hold {{variable}}
  nlohmann::json parameters = nlohmann::json::object();  ///< merged into the upstream request
  std::vector<PromptVariable> variables;                 ///< sorted by name

  const PromptVariable* variable(const std::string& name) const;
};
using PromptSpecPtr = std::shared_ptr<const PromptSpec>;

/// Parses and checks a spec document {model, messages, parameters, variables}. Every placeholder
/// in the template must be a declared variable. @return the first problem, or nullopt.
std::optional<std::string> parsePromptSpec(const nlohmann::json& doc, PromptSpec* out);

/// The admin API's view of a prompt service: `current` (the stored spec, null when creating)
/// with whatever of model/messages/parameters/variables `body` gives, checked, plus the model
/// route must satisfy `model_routed` (when set). @return the new spec document or the problem.
struct PromptSpecResult {
  nlohmann::json spec;
  std::string error;  ///< empty on success
};
PromptSpecResult mergePromptSpec(const nlohmann::json& current, const nlohmann::json& body,
                                 const std::function<bool(const std::string&)>& model_routed);

/// The names of the {{placeholders}} in `text`, in order of appearance (repeats included).
std::vector<std::string> promptPlaceholders(const std::string& text);

/// Checks a caller's variables against the spec: every missing, wrong-typed, out-of-enum and
/// unknown variable is named in one 400. On success `resolved` holds every variable the template
/// may use (defaults applied).
std::optional<ApiError> checkPromptVariables(const PromptSpec& spec,
                                             const nlohmann::json& variables,
                                             nlohmann::json* resolved);

/// `text` with each {{name}} replaced by resolved[name]: strings as they are, other values as
/// compact JSON, absent optional ones as nothing. One pass, so inserted text is never expanded.
std::string renderPromptText(const std::string& text, const nlohmann::json& resolved);

/// The unified chat completions request for one call: the spec's parameters, model and rendered
/// messages (and stream with usage when `stream`).
nlohmann::json renderPromptRequest(const PromptSpec& spec, const nlohmann::json& resolved,
                                   bool stream);

/// The adapter that serves one call of a prompt API: {"variables","stream"} in, a
/// "prompt.result" JSON or prompt.delta / prompt.completed events out.
ingress::IngressAdapterPtr makePromptAdapter(PromptSpecPtr spec);

/// The OpenAPI 3.1 document of a prompt API: its run operation (request schema from the
/// variables, JSON and SSE answers, errors, app key security) and the document itself.
nlohmann::json promptOpenApi(const Api& api, const Service& service);

}  // namespace switchyard
