// The OpenAPI 3.1 document of one prompt API, generated from its variables so it never drifts
// from what the endpoint checks.
#include <algorithm>

#include "openapi_parts.h"
#include "switchyard/management/prompt_api.h"

namespace switchyard {
namespace {

using nlohmann::json;

using openapi::errorResponse;
using openapi::ref;

json variablesSchema(const PromptSpec& spec) {
  json properties = json::object();
  json required = json::array();
  for (const auto& v : spec.variables) {
    json p = {{"type", v.type}};
    if (!v.description.empty()) {
      p["description"] = v.description;
    }
    if (!v.enum_values.is_null()) {
      p["enum"] = v.enum_values;
    }
    if (!v.default_value.is_null()) {
      p["default"] = v.default_value;
    }
    properties[v.name] = std::move(p);
    if (v.required) {
      required.push_back(v.name);
    }
  }
  json schema = {{"type", "object"},
                 {"description",
                  "The prompt's variables; strings are inserted as they are, "
                  "other values as compact JSON."},
                 {"properties", std::move(properties)},
                 {"additionalProperties", false}};
  if (!required.empty()) {
    schema["required"] = std::move(required);
  }
  return schema;
}

}  // namespace

json promptOpenApi(const Api& api, const Service& service) {
  PromptSpec spec;
  if (parsePromptSpec(service.prompt, &spec)) {
    spec = PromptSpec{};  // a stored spec was checked when written; never throw here
  }
  const std::string mount = api.mount();
  const bool any_required = std::any_of(spec.variables.begin(), spec.variables.end(),
                                        [](const PromptVariable& v) { return v.required; });
  json request = {{"type", "object"},
                  {"properties",
                   {{"variables", ref("Variables")},
                    {"stream",
                     {{"type", "boolean"},
                      {"default", false},
                      {"description",
                       "Answer as server-sent events (prompt.delta, then "
                       "prompt.completed with the usage)."}}}}},
                  {"additionalProperties", false}};
  if (any_required) {
    request["required"] = json::array({"variables"});
  }
  const json app_key =
      json::array({{{"appKey", json::array()}}, {{"appKeyHeader", json::array()}}});

  json run = {
      {"operationId", "run"},
      {"summary", "Run the prompt"},
      {"description",
       "Checks the variables against their schema, renders the template and "
       "runs it on model route " +
           spec.model + "."},
      {"security", app_key},
      {"requestBody",
       {{"required", true}, {"content", {{"application/json", {{"schema", ref("RunRequest")}}}}}}},
      {"responses",
       {{"200",
         {{"description",
           "The model's answer. With \"stream\": true, server-sent events: `prompt.delta` "
           "(data: PromptDelta) for each piece of text, then `prompt.completed` (data: "
           "PromptCompleted), or `error` (data: StreamError) when the stream fails."},
          {"content",
           {{"application/json", {{"schema", ref("PromptResult")}}},
            {"text/event-stream",
             {{"schema",
               {{"type", "string"},
                {"description",
                 "event: prompt.delta | prompt.completed | error, each with "
                 "one JSON data line"}}}}}}}}},
        {"400", errorResponse("Invalid JSON, or missing, wrong-typed or unknown variables "
                              "(code invalid_variables, naming each)")},
        {"401", errorResponse("Missing, unknown, revoked or expired app key")},
        {"403", errorResponse("The app has no approved subscription to this API")},
        {"404", errorResponse("The model route is not served by this gateway")},
        {"410", errorResponse("The API was retired")},
        {"429", errorResponse("A rate limit or quota was reached")},
        {"502", errorResponse("The provider failed or could not be reached")},
        {"503", errorResponse("No healthy provider target")},
        {"504", errorResponse("The provider did not answer in time")}}}};
  if (api.state == ApiState::kDeprecated) {
    run["deprecated"] = true;
  }
  json document_op = {
      {"operationId", "openapi"},
      {"summary", "This document"},
      {"security", api.visibility == "public" ? json::array({json::object()}) : app_key},
      {"responses",
       {{"200",
         {{"description", "The OpenAPI document of this prompt API"},
          {"content", {{"application/json", {{"schema", {{"type", "object"}}}}}}}}}}}};

  const json usage = {{"type", json::array({"object", "null"})},
                      {"properties",
                       {{"prompt_tokens", {{"type", "integer"}}},
                        {"completion_tokens", {{"type", "integer"}}},
                        {"total_tokens", {{"type", "integer"}}}}}};
  json result = {
      {"type", "object"},
      {"required",
       json::array({"id", "object", "created", "model", "output", "finish_reason", "usage"})},
      {"properties",
       {{"id", {{"type", "string"}}},
        {"object", {{"const", "prompt.result"}}},
        {"created", {{"type", "integer"}, {"description", "Unix seconds"}}},
        {"model", {{"type", "string"}, {"const", spec.model}}},
        {"output", {{"type", "string"}, {"description", "The model's text"}}},
        {"data",
         {{"description",
           "The output parsed as JSON, when the prompt asks for JSON (response_format) and the "
           "output is valid JSON"}}},
        {"finish_reason", {{"type", json::array({"string", "null"})}}},
        {"usage", usage}}}};
  const json error_body = {{"type", "object"},
                           {"required", json::array({"message", "type", "code"})},
                           {"properties",
                            {{"message", {{"type", "string"}}},
                             {"type", {{"type", "string"}}},
                             {"code", {{"type", json::array({"string", "null"})}}}}}};

  std::string description = api.description;
  description += (description.empty() ? "" : "\n\n");
  description += "A prompt API of Switchyard: POST the variables to " + mount +
                 " with an app key whose app is subscribed to this API.";
  return {{"openapi", "3.1.0"},
          {"info", {{"title", api.name}, {"version", api.version}, {"description", description}}},
          {"servers", json::array({{{"url", "/"}}})},
          {"paths", {{mount, {{"post", run}}}, {mount + "/openapi.json", {{"get", document_op}}}}},
          {"components",
           {{"schemas",
             {{"Variables", variablesSchema(spec)},
              {"RunRequest", request},
              {"PromptResult", result},
              {"PromptDelta",
               {{"type", "object"},
                {"required", json::array({"type", "delta"})},
                {"properties",
                 {{"type", {{"const", "prompt.delta"}}}, {"delta", {{"type", "string"}}}}}}},
              {"PromptCompleted",
               {{"type", "object"},
                {"required", json::array({"type", "result"})},
                {"properties",
                 {{"type", {{"const", "prompt.completed"}}}, {"result", ref("PromptResult")}}}}},
              {"StreamError",
               {{"type", "object"},
                {"properties", {{"type", {{"const", "error"}}}, {"error", error_body}}}}},
              {"Error",
               {{"type", "object"},
                {"required", json::array({"error"})},
                {"properties", {{"error", error_body}}}}}}},
            {"securitySchemes",
             {{"appKey",
               {{"type", "http"},
                {"scheme", "bearer"},
                {"description", "An app key (Authorization: Bearer <key>)"}}},
              {"appKeyHeader", {{"type", "apiKey"}, {"in", "header"}, {"name", "x-api-key"}}}}}}}};
}

}  // namespace switchyard
