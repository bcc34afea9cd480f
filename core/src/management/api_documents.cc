#include "api_documents.h"

#include <algorithm>
#include <ctime>

#include "admin_openapi_data.h"
#include "openapi_parts.h"
#include "switchyard/management/prompt_api.h"

namespace switchyard {
namespace {

using nlohmann::json;

using openapi::errorResponse;
using openapi::ref;

std::string utcDate(int64_t unix_s) {
  const std::time_t t = static_cast<std::time_t>(unix_s);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%d", &tm);
  return buf;
}

/// What every API's document shares: who may call it (an app key, with an approved
/// subscription) and how the gateway refuses.
json gatewayComponents() {
  json schemas = {{"Error",
                   {{"type", "object"},
                    {"required", {"error"}},
                    {"description", "Every refusal by the gateway, OpenAI-shaped"},
                    {"properties",
                     {{"error",
                       {{"type", "object"},
                        {"required", {"message", "type", "code"}},
                        {"properties",
                         {{"message", {{"type", "string"}}},
                          {"type", {{"type", "string"}}},
                          {"code", {{"type", "string"}}}}}}}}}}}};
  json responses = {
      {"Unauthorized",
       errorResponse("No app key, or an unknown, revoked or expired one (missing_api_key, "
                     "invalid_api_key, key_revoked, key_expired)")},
      {"Forbidden",
       errorResponse("The app has no approved subscription to this API "
                     "(subscription_required, subscription_pending, subscription_rejected, "
                     "subscription_revoked)")},
      {"Gone", errorResponse("The API was retired (api_retired)")},
      {"MethodNotAllowed", errorResponse("The API does not accept this method")},
      {"TooManyRequests", errorResponse("A rate limit or quota was reached; see Retry-After")},
      {"BadGateway", errorResponse("The service could not be reached")},
      {"GatewayTimeout", errorResponse("The service did not answer in time")}};
  json security = {{"appKey",
                    {{"type", "http"},
                     {"scheme", "bearer"},
                     {"description",
                      "An app key (from the admin API's POST /apps/{id}/keys) of an app "
                      "with an approved subscription to this API"}}},
                   {"appKeyHeader", {{"type", "apiKey"}, {"in", "header"}, {"name", "x-api-key"}}}};
  return {{"schemas", schemas}, {"responses", responses}, {"securitySchemes", security}};
}

/// How OpenAI answers lists: {"object":"list","data":[items with these properties]}.
json listSchema(json item_properties) {
  return {{"type", "object"},
          {"required", {"object", "data"}},
          {"properties",
           {{"object", {{"const", "list"}}},
            {"data",
             {{"type", "array"},
              {"items", {{"type", "object"}, {"properties", std::move(item_properties)}}}}}}}};
}

json gatewaySecurity() {
  return json::array({{{"appKey", json::array()}}, {{"appKeyHeader", json::array()}}});
}

/// The refusals any managed call may get, whatever the service.
json gatewayRefusals() {
  json r = json::object();
  for (const auto& [status, name] :
       std::vector<std::pair<const char*, const char*>>{{"401", "Unauthorized"},
                                                        {"403", "Forbidden"},
                                                        {"410", "Gone"},
                                                        {"429", "TooManyRequests"},
                                                        {"502", "BadGateway"},
                                                        {"504", "GatewayTimeout"}}) {
    r[status] = {{"$ref", std::string("#/components/responses/") + name}};
  }
  return r;
}

json info(const Api& api) {
  std::string description = api.description;
  if (api.state == ApiState::kDeprecated) {
    description += std::string(description.empty() ? "" : "\n\n") + "Deprecated since " +
                   utcDate(api.deprecated_at) +
                   (api.sunset_at != 0 ? "; it stops serving on " + utcDate(api.sunset_at) : "") +
                   ". Answers carry Deprecation (and Sunset) headers.";
  }
  json i = {{"title", api.name}, {"version", api.version}};
  if (!description.empty()) {
    i["description"] = description;
  }
  return i;
}

json extensions(const Api& api) {
  return {{"api_id", api.id},
          {"tenant_id", api.tenant_id},
          {"mount", api.mount()},
          {"state", apiStateName(api.state)},
          {"approval_required", api.approval_required}};
}

bool allows(const Api& api, const std::string& method) {
  return std::find(api.methods.begin(), api.methods.end(), method) != api.methods.end();
}

/// The OpenAI-compatible surface a mount over an AI service serves (management.cc route()).
json aiDocument(const Api& api, const Service& service, const std::string& gateway_url) {
  json components = gatewayComponents();
  json& s = components["schemas"];
  const json model = {{"type", "string"},
                      {"enum", service.models},
                      {"description", "One of the model routes this API offers"}};
  const json content = {{"oneOf", json::array({{{"type", "string"}},
                                               {{"type", "array"}, {"items", {{"type", "object"}}}},
                                               {{"type", "null"}}})}};
  s["ChatMessage"] = {
      {"type", "object"},
      {"required", {"role"}},
      {"properties",
       {{"role",
         {{"type", "string"}, {"enum", {"system", "developer", "user", "assistant", "tool"}}}},
        {"content", content},
        {"name", {{"type", "string"}}},
        {"tool_calls", {{"type", "array"}, {"items", {{"type", "object"}}}}},
        {"tool_call_id", {{"type", "string"}}}}}};
  s["ChatCompletionRequest"] = {
      {"type", "object"},
      {"required", {"model", "messages"}},
      {"properties",
       {{"model", model},
        {"messages", {{"type", "array"}, {"minItems", 1}, {"items", ref("ChatMessage")}}},
        {"stream",
         {{"type", "boolean"},
          {"default", false},
          {"description",
           "Answer as server-sent events (text/event-stream), ending with "
           "'data: [DONE]'"}}},
        {"stream_options",
         {{"type", "object"}, {"properties", {{"include_usage", {{"type", "boolean"}}}}}}},
        {"max_tokens", {{"type", "integer"}, {"minimum", 1}}},
        {"max_completion_tokens", {{"type", "integer"}, {"minimum", 1}}},
        {"temperature", {{"type", "number"}, {"minimum", 0}, {"maximum", 2}}},
        {"top_p", {{"type", "number"}, {"minimum", 0}, {"maximum", 1}}},
        {"n", {{"type", "integer"}, {"minimum", 1}}},
        {"stop",
         {{"oneOf", json::array({{{"type", "string"}},
                                 {{"type", "array"}, {"items", {{"type", "string"}}}}})}}},
        {"seed", {{"type", "integer"}}},
        {"tools", {{"type", "array"}, {"items", {{"type", "object"}}}}},
        {"tool_choice", json::object()},
        {"response_format", {{"type", "object"}}},
        {"user", {{"type", "string"}}}}}};
  const json usage = {{"type", "object"},
                      {"properties",
                       {{"prompt_tokens", {{"type", "integer"}}},
                        {"completion_tokens", {{"type", "integer"}}},
                        {"total_tokens", {{"type", "integer"}}}}}};
  s["ChatCompletion"] = {{"type", "object"},
                         {"required", {"id", "object", "created", "model", "choices"}},
                         {"properties",
                          {{"id", {{"type", "string"}}},
                           {"object", {{"const", "chat.completion"}}},
                           {"created", {{"type", "integer"}}},
                           {"model", {{"type", "string"}}},
                           {"choices",
                            {{"type", "array"},
                             {"items",
                              {{"type", "object"},
                               {"properties",
                                {{"index", {{"type", "integer"}}},
                                 {"message", ref("ChatMessage")},
                                 {"finish_reason", {{"type", {"string", "null"}}}}}}}}}},
                           {"usage", usage}}}};
  s["EmbeddingRequest"] = {
      {"type", "object"},
      {"required", {"model", "input"}},
      {"properties",
       {{"model", model},
        {"input",
         {{"oneOf", json::array({{{"type", "string"}},
                                 {{"type", "array"}, {"items", {{"type", "string"}}}},
                                 {{"type", "array"}, {"items", {{"type", "integer"}}}}})}}},
        {"encoding_format", {{"type", "string"}, {"enum", {"float", "base64"}}}},
        {"dimensions", {{"type", "integer"}, {"minimum", 1}}},
        {"user", {{"type", "string"}}}}}};
  s["EmbeddingList"] =
      listSchema({{"object", {{"const", "embedding"}}},
                  {"index", {{"type", "integer"}}},
                  {"embedding", {{"type", "array"}, {"items", {{"type", "number"}}}}}});
  s["EmbeddingList"]["required"].push_back("model");
  s["EmbeddingList"]["properties"]["model"] = {{"type", "string"}};
  s["EmbeddingList"]["properties"]["usage"] = usage;
  s["ModelList"] = listSchema({{"id", {{"type", "string"}, {"enum", service.models}}},
                               {"object", {{"const", "model"}}},
                               {"owned_by", {{"type", "string"}}}});

  auto operation = [&](const char* id, const char* summary, json ok, json extra_errors) {
    json responses = {{"200", std::move(ok)}};
    responses.update(gatewayRefusals());
    responses.update(extra_errors);
    json op = {{"operationId", id}, {"summary", summary}, {"responses", responses}};
    if (api.state == ApiState::kDeprecated) {
      op["deprecated"] = true;
    }
    return op;
  };
  const json bad = {{"400", errorResponse("The request is invalid")},
                    {"404", errorResponse("The model is not one this API offers "
                                          "(model_not_found)")}};
  json paths = json::object();
  if (allows(api, "POST")) {
    json chat = operation(
        "createChatCompletion", "Chat completion; streamed when 'stream' is true",
        {{"description", "The completion, or with stream=true its chunks as server-sent events"},
         {"content",
          {{"application/json", {{"schema", ref("ChatCompletion")}}},
           {"text/event-stream",
            {{"schema",
              {{"type", "string"},
               {"description",
                "'data: <chat.completion.chunk JSON>' events, then "
                "'data: [DONE]'"}}}}}}}},
        bad);
    chat["requestBody"] = {
        {"required", true},
        {"content", {{"application/json", {{"schema", ref("ChatCompletionRequest")}}}}}};
    paths["/chat/completions"]["post"] = chat;
    json embed =
        operation("createEmbedding", "Embeddings of the input",
                  {{"description", "The embeddings"},
                   {"content", {{"application/json", {{"schema", ref("EmbeddingList")}}}}}},
                  bad);
    embed["requestBody"] = {
        {"required", true},
        {"content", {{"application/json", {{"schema", ref("EmbeddingRequest")}}}}}};
    paths["/embeddings"]["post"] = embed;
  }
  if (allows(api, "GET")) {
    paths["/models"]["get"] =
        operation("listModels", "The model routes this API offers",
                  {{"description", "The models"},
                   {"content", {{"application/json", {{"schema", ref("ModelList")}}}}}},
                  json::object());
  }
  return {{"openapi", "3.1.0"},
          {"info", info(api)},
          {"servers", json::array({{{"url", gateway_url + api.mount() + "/v1"},
                                    {"description",
                                     "OpenAI-compatible base URL (the trailing /v1 is "
                                     "optional)"}}})},
          {"security", gatewaySecurity()},
          {"paths", paths},
          {"components", components},
          {"x-switchyard", extensions(api)}};
}

/// Any service the gateway relays as it is: the mount, the methods, the gateway's refusals.
json genericDocument(const Api& api, const Service& service, const std::string& gateway_url) {
  json path_item = json::object();
  for (const std::string& method : api.methods) {
    std::string lower = method;
    std::transform(lower.begin(), lower.end(), lower.begin(), ::tolower);
    json responses = {{"default", {{"description", "The service's answer, relayed as it is"}}}};
    responses.update(gatewayRefusals());
    json op = {{"summary", method + " to service " + service.name}, {"responses", responses}};
    if (method == "POST" || method == "PUT" || method == "PATCH") {
      op["requestBody"] = {{"required", false},
                           {"description", "Forwarded to the service as it is"},
                           {"content", {{"*/*", {{"schema", json::object()}}}}}};
    }
    if (api.state == ApiState::kDeprecated) {
      op["deprecated"] = true;
    }
    path_item[lower] = op;
  }
  json rest_item = path_item;
  rest_item["parameters"] = json::array(
      {{{"name", "path"},
        {"in", "path"},
        {"required", true},
        {"description", "The rest of the path (it may hold '/'), forwarded with the query"},
        {"schema", {{"type", "string"}}}}});
  // operationIds must be unique in a document: one per method and path item.
  for (auto& [item, suffix] : {std::pair<json*, const char*>{&path_item, "Root"},
                               std::pair<json*, const char*>{&rest_item, "Path"}}) {
    for (auto& [lower, op] : item->items()) {
      if (lower != "parameters") {
        op["operationId"] = lower + suffix;
      }
    }
  }
  return {{"openapi", "3.1.0"},
          {"info", info(api)},
          {"servers", json::array({{{"url", gateway_url + api.mount()}}})},
          {"security", gatewaySecurity()},
          {"paths", {{"/", path_item}, {"/{path}", rest_item}}},
          {"components", gatewayComponents()},
          {"x-switchyard", extensions(api)}};
}

/// The owner's document, as callers reach it: through the gateway's mount, with an app key.
/// The upstream's own servers and credentials mean nothing to them (the gateway drops the
/// caller's Authorization and x-api-key headers).
json ownerDocument(const Api& api, json doc, const std::string& gateway_url) {
  doc["servers"] = json::array({{{"url", gateway_url + api.mount()}}});
  doc["security"] = gatewaySecurity();
  json shared = gatewayComponents();
  if (!doc["components"].is_object()) {
    doc["components"] = json::object();
  }
  for (auto& [name, scheme] : shared["securitySchemes"].items()) {
    doc["components"]["securitySchemes"][name] = scheme;
  }
  if (doc["paths"].is_object()) {
    for (auto& [path, item] : doc["paths"].items()) {
      if (!item.is_object()) {
        continue;
      }
      for (auto& [method, op] : item.items()) {
        if (op.is_object()) {
          op.erase("security");
          if (api.state == ApiState::kDeprecated) {
            op["deprecated"] = true;
          }
        }
      }
    }
  }
  doc["x-switchyard"] = extensions(api);
  return doc;
}

}  // namespace

const json& adminOpenApi() {
  static const json kDocument = json::parse(kAdminOpenApiJson);
  return kDocument;
}

json apiDocument(const Api& api, const Service& service, const std::string& gateway_url) {
  if (service.kind == "ai") {
    return aiDocument(api, service, gateway_url);
  }
  if (service.kind == "prompt") {
    // Its paths are whole mounts, for the data port that also serves it at
    // <mount>/openapi.json; from the admin port's catalog the server must say where that is.
    json doc = promptOpenApi(api, service);
    doc["servers"] = json::array({{{"url", gateway_url}}});
    doc["x-switchyard"] = extensions(api);
    return doc;
  }
  if (service.kind == "rest" && !api.openapi.empty()) {
    json doc = json::parse(api.openapi, nullptr, false);
    if (doc.is_object()) {
      return ownerDocument(api, std::move(doc), gateway_url);
    }
  }
  return genericDocument(api, service, gateway_url);
}

std::string ownerDocumentOf(const admin::Body& body, const Api& api, Store& store) {
  if (!body.present("openapi")) {
    return api.openapi;
  }
  const json& doc = body.raw("openapi");
  if (doc.is_null()) {
    return "";
  }
  if (!doc.is_object() || !doc.contains("openapi") || !doc["openapi"].is_string() ||
      doc["openapi"].get<std::string>().rfind("3.", 0) != 0 || !doc.contains("info") ||
      !doc["info"].is_object() || !doc.contains("paths") || !doc["paths"].is_object()) {
    admin::badRequest(
        "'openapi' must be an OpenAPI 3.x document: an object with 'openapi' (\"3.x\"), "
        "'info' and 'paths'",
        "invalid_openapi");
  }
  auto service = store.service(api.service_id);
  if (!service || service->kind != "rest") {
    admin::badRequest(
        "'openapi' documents are attached to REST APIs; other APIs' documents are generated",
        "invalid_openapi");
  }
  std::string text = doc.dump();
  constexpr size_t kMaxBytes = 512 * 1024;
  if (text.size() > kMaxBytes) {
    admin::badRequest("'openapi' is larger than 512 KiB", "invalid_openapi");
  }
  return text;
}

admin::AdminFamily apiDocumentFamily(std::function<std::string(const HttpRequest&)> gateway_url) {
  return [gateway_url = std::move(gateway_url)](const admin::AdminCall& call) {
    const bool catalog = call.is({"catalog", "*", "openapi"}, "GET");
    if (!catalog && !call.is({"apis", "*", "openapi"}, "GET")) {
      return false;
    }
    auto api = call.store.api(call.at(1));
    if (!api ||
        !(catalog ? admin::catalogShows(call.actor, *api) : call.actor.reaches(api->tenant_id))) {
      admin::notFound("API", call.at(1));
    }
    auto service = call.store.service(api->service_id);
    if (!service) {
      admin::notFound("service", api->service_id);
    }
    call.send(200, apiDocument(*api, *service, gateway_url(call.request)));
    return true;
  };
}

}  // namespace switchyard
