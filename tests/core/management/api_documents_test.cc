// The OpenAPI documents: the admin API's own, and the ones generated for catalog entries.
#include "management/api_documents.h"

#include <gtest/gtest.h>

#include "support/openapi_checker.h"

namespace switchyard {
namespace {

using nlohmann::json;
using testing::openApiOperations;
using testing::openApiProblems;

std::string problems(const json& doc) {
  std::string out;
  for (const auto& p : openApiProblems(doc)) {
    out += p + "\n";
  }
  return out;
}

Api api(const std::vector<std::string>& methods = {"GET", "POST"}) {
  Api a;
  a.id = "api_1";
  a.tenant_id = "ten_a";
  a.name = "support";
  a.description = "Support assistant";
  a.path = "/apis/support";
  a.version = "v2";
  a.methods = methods;
  a.service_id = "svc_1";
  a.state = ApiState::kPublished;
  return a;
}

Service service(const std::string& kind) {
  Service s{"svc_1", "ten_a", "backend", kind, {}, "", 1, nullptr};
  if (kind == "ai") {
    s.models = {"gpt-test", "embed-test"};
  } else {
    s.base_url = "http://10.0.0.7:9000/internal";
  }
  return s;
}

TEST(AdminOpenApi, IsAnOpenApi31DocumentWithBearerSessions) {
  const json& doc = adminOpenApi();
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_EQ(problems(doc), "");
  EXPECT_EQ(doc["components"]["securitySchemes"]["session"]["scheme"], "bearer");
  EXPECT_EQ(doc["security"][0].begin().key(), "session");
  // Signing in and reading this document need no session; everything else does.
  EXPECT_EQ(doc["paths"]["/sessions"]["post"]["security"], json::array());
  EXPECT_EQ(doc["paths"]["/openapi.json"]["get"]["security"], json::array());
  EXPECT_FALSE(doc["paths"]["/apps"]["post"].contains("security"));
  // Every error answer has the OpenAI shape.
  for (const auto& [name, response] : doc["components"]["responses"].items()) {
    EXPECT_EQ(response["content"]["application/json"]["schema"]["$ref"],
              "#/components/schemas/Error")
        << name;
  }
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (method == "parameters") {
        continue;
      }
      // Whatever touches the store may fail with a 500 (this document itself is in memory).
      EXPECT_TRUE(path == "/openapi.json" || op["responses"].contains("500"))
          << method << " " << path;
      if (op.contains("requestBody")) {
        EXPECT_TRUE(op["requestBody"]["content"].contains("application/json"))
            << method << " " << path;
      }
    }
  }
}

TEST(ApiDocument, AnAiApiDescribesTheOpenAiSubsetWithItsModels) {
  const json doc = apiDocument(api(), service("ai"), "http://gw.example:8080");
  EXPECT_EQ(problems(doc), "");
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_EQ(doc["info"]["title"], "support");
  EXPECT_EQ(doc["info"]["version"], "v2");
  EXPECT_EQ(doc["servers"][0]["url"], "http://gw.example:8080/apis/support/v2/v1");
  EXPECT_EQ(openApiOperations(doc),
            (std::set<std::pair<std::string, std::string>>{
                {"POST", "/chat/completions"}, {"POST", "/embeddings"}, {"GET", "/models"}}));
  const json& chat = doc["components"]["schemas"]["ChatCompletionRequest"];
  EXPECT_EQ(chat["properties"]["model"]["enum"], json({"gpt-test", "embed-test"}));
  EXPECT_EQ(chat["properties"]["stream"]["type"], "boolean");
  EXPECT_EQ(chat["required"], json({"model", "messages"}));
  EXPECT_EQ(doc["components"]["schemas"]["EmbeddingRequest"]["properties"]["model"]["enum"],
            json({"gpt-test", "embed-test"}));
  const json& post = doc["paths"]["/chat/completions"]["post"];
  EXPECT_TRUE(post["responses"]["200"]["content"].contains("text/event-stream"));
  for (const char* status : {"401", "403", "404", "410"}) {
    EXPECT_TRUE(post["responses"].contains(status)) << status;
  }
  EXPECT_EQ(doc["components"]["securitySchemes"]["appKey"]["scheme"], "bearer");
  EXPECT_EQ(doc["x-switchyard"]["mount"], "/apis/support/v2");
  EXPECT_FALSE(post.contains("deprecated"));
}

TEST(ApiDocument, OnlyTheApisMethodsAreDescribedAndDeprecationShows) {
  Api a = api({"GET"});
  a.state = ApiState::kDeprecated;
  a.deprecated_at = 1767225600;  // 2026-01-01
  a.sunset_at = 1798761600;      // 2027-01-01
  const json doc = apiDocument(a, service("ai"), "http://gw:1");
  EXPECT_EQ(problems(doc), "");
  EXPECT_EQ(openApiOperations(doc),
            (std::set<std::pair<std::string, std::string>>{{"GET", "/models"}}));
  EXPECT_EQ(doc["paths"]["/models"]["get"]["deprecated"], true);
  const std::string description = doc["info"]["description"];
  EXPECT_NE(description.find("Deprecated since 2026-01-01"), std::string::npos) << description;
  EXPECT_NE(description.find("2027-01-01"), std::string::npos) << description;
}

TEST(ApiDocument, ARestApiWithoutADocumentGetsTheMountAndItsMethods) {
  const json doc = apiDocument(api({"GET", "PUT"}), service("rest"), "http://gw:8080");
  EXPECT_EQ(problems(doc), "");
  EXPECT_EQ(doc["servers"][0]["url"], "http://gw:8080/apis/support/v2");
  EXPECT_EQ(openApiOperations(doc), (std::set<std::pair<std::string, std::string>>{
                                        {"GET", "/"}, {"PUT", "/"}, {"GET", "/*"}, {"PUT", "/*"}}));
  EXPECT_TRUE(doc["paths"]["/{path}"]["put"].contains("requestBody"));
  EXPECT_FALSE(doc["paths"]["/{path}"]["get"].contains("requestBody"));
  // The upstream's address is the owner's business: other tenants read the catalog.
  EXPECT_EQ(doc.dump().find("10.0.0.7"), std::string::npos);
}

TEST(ApiDocument, AnOwnersDocumentIsServedThroughTheGateway) {
  Api a = api({"GET"});
  a.openapi =
      json{{"openapi", "3.0.3"},
           {"info", {{"title", "Orders"}, {"version", "2.1"}}},
           {"servers", {{{"url", "http://10.0.0.7:9000/internal"}}}},
           {"security", {{{"upstreamKey", json::array()}}}},
           {"components",
            {{"securitySchemes",
              {{"upstreamKey", {{"type", "apiKey"}, {"in", "header"}, {"name", "k"}}}}}}},
           {"paths",
            {{"/orders/{id}",
              {{"parameters",
                {{{"name", "id"}, {"in", "path"}, {"required", true}, {"schema", json::object()}}}},
               {"get",
                {{"operationId", "getOrder"},
                 {"security", {{{"upstreamKey", json::array()}}}},
                 {"responses", {{"200", {{"description", "the order"}}}}}}}}}}}}
          .dump();
  const json doc = apiDocument(a, service("rest"), "http://gw:8080");
  EXPECT_EQ(problems(doc), "");
  EXPECT_EQ(doc["openapi"], "3.0.3");
  EXPECT_EQ(doc["info"]["title"], "Orders");
  EXPECT_EQ(doc["servers"], json::parse(R"([{"url":"http://gw:8080/apis/support/v2"}])"));
  EXPECT_EQ(doc["security"][0].begin().key(), "appKey");
  EXPECT_FALSE(doc["paths"]["/orders/{id}"]["get"].contains("security"));
  EXPECT_EQ(doc["paths"]["/orders/{id}"]["get"]["operationId"], "getOrder");
  EXPECT_EQ(doc.dump().find("10.0.0.7"), std::string::npos);
}

TEST(ApiDocument, APromptApiServesItsGeneratedDocumentWithTheDataPortAsServer) {
  Service prompt = service("prompt");
  prompt.prompt = json::parse(R"({"model": "gpt-test",
      "messages": [{"role": "user", "content": "Classify {{text}}"}],
      "parameters": {}, "variables": {"text": {"type": "string", "required": true}}})");
  const json doc = apiDocument(api({"POST"}), prompt, "http://gw:8080");
  EXPECT_EQ(problems(doc), "");
  EXPECT_EQ(doc["servers"], json::parse(R"([{"url":"http://gw:8080"}])"));
  EXPECT_TRUE(openApiOperations(doc).count({"POST", "/apis/support/v2"}));
  EXPECT_TRUE(doc["components"]["schemas"]["Variables"]["properties"].contains("text"));
  EXPECT_EQ(doc["x-switchyard"]["api_id"], "api_1");
}

TEST(ApiDocument, OtherKindsFallBackToTheGenericDocument) {
  Service other = service("rest");
  other.kind = "grpc";  // a kind to come, until it describes itself
  const json doc = apiDocument(api({"POST"}), other, "http://gw:8080");
  EXPECT_EQ(problems(doc), "");
  EXPECT_EQ(openApiOperations(doc),
            (std::set<std::pair<std::string, std::string>>{{"POST", "/"}, {"POST", "/*"}}));
}

}  // namespace
}  // namespace switchyard
