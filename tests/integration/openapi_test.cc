// OpenAPI documents through a real gateway: the admin API's own (checked against the endpoints
// the admin API really serves) and those of the catalog's APIs (used to make a real call).
#include <filesystem>
#include <fstream>
#include <sstream>

#include "management_fixture.h"
#include "support/openapi_checker.h"

namespace switchyard::testing {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using Endpoint = std::pair<std::string, std::string>;  // METHOD, path shape under /admin/v1

std::string problems(const json& doc) {
  std::string out;
  for (const auto& p : openApiProblems(doc)) {
    out += p + "\n";
  }
  return out;
}

/// The endpoints the admin API's families match by pattern, read from their sources:
/// every `{"apps", "*", "keys"}, "POST"` (AdminCall::is and matches()) in core/src/management.
/// An endpoint another family adds shows up here without anyone listing it.
std::set<Endpoint> endpointsInSources() {
  std::set<Endpoint> out;
  const std::vector<std::string> methods = {"GET", "POST", "PUT", "PATCH", "DELETE"};
  for (const auto& entry :
       fs::directory_iterator(fs::path(SWITCHYARD_SOURCE_DIR) / "core" / "src" / "management")) {
    const std::string ext = entry.path().extension().string();
    if (ext != ".cc" && ext != ".h") {
      continue;
    }
    std::ifstream in(entry.path());
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    for (const auto& method : methods) {
      const std::string quoted = "\"" + method + "\"";
      for (size_t at = text.find(quoted); at != std::string::npos; at = text.find(quoted, at + 1)) {
        // Backwards from the method: whitespace, ',', whitespace, '}' closing a list of literals.
        size_t i = at;
        auto skipSpace = [&] {
          while (i > 0 && std::isspace(static_cast<unsigned char>(text[i - 1]))) {
            --i;
          }
        };
        skipSpace();
        if (i == 0 || text[i - 1] != ',') {
          continue;
        }
        --i;
        skipSpace();
        if (i == 0 || text[i - 1] != '}') {
          continue;
        }
        const size_t close = i - 1;
        const size_t open = text.rfind('{', close);
        if (open == std::string::npos) {
          continue;
        }
        std::string path;
        bool literals_only = true;
        size_t j = open + 1;
        while (j < close && literals_only) {
          const char c = text[j];
          if (std::isspace(static_cast<unsigned char>(c)) || c == ',') {
            ++j;
          } else if (c == '"') {
            const size_t end = text.find('"', j + 1);
            path += "/" + text.substr(j + 1, end - j - 1);
            j = end + 1;
          } else {
            literals_only = false;
          }
        }
        if (literals_only && !path.empty()) {
          out.insert({method, path});
        }
      }
    }
  }
  return out;
}

/// The endpoints docs/admin.md's endpoint table lists (its first column), where families that
/// dispatch by hand (`seg.size() == 3 && …`) document theirs: "`GET/PUT /apps/{id}/quota`",
/// "`POST /apis/{id}/publish` · `/deprecate`" (the same parent and methods), "`POST
/// …/{kid}/revoke`" (the previous path's parent).
std::set<Endpoint> endpointsInDocs() {
  std::ifstream in(fs::path(SWITCHYARD_SOURCE_DIR) / "docs" / "admin.md");
  std::set<Endpoint> out;
  std::string line;
  bool in_table = false;
  while (std::getline(in, line)) {
    if (line.rfind("## ", 0) == 0) {
      in_table = line == "## Endpoints";
      continue;
    }
    if (!in_table || line.rfind("| `", 0) != 0) {
      continue;
    }
    const std::string cell = line.substr(1, line.find('|', 1) - 1);
    std::vector<std::string> methods;
    std::string previous;
    for (size_t open = cell.find('`'); open != std::string::npos;
         open = cell.find('`', cell.find('`', open + 1) + 1)) {
      const size_t close = cell.find('`', open + 1);
      if (close == std::string::npos) {
        break;
      }
      std::string chunk = cell.substr(open + 1, close - open - 1);
      const size_t space = chunk.find(' ');
      if (space != std::string::npos && std::isupper(static_cast<unsigned char>(chunk[0]))) {
        methods.clear();
        std::stringstream ms(chunk.substr(0, space));
        for (std::string m; std::getline(ms, m, '/');) {
          methods.push_back(m);
        }
        chunk = chunk.substr(space + 1);
      } else if (chunk.rfind("/", 0) == 0 && !previous.empty()) {
        chunk = previous.substr(0, previous.rfind('/')) + chunk;
      }
      const std::string ellipsis = "\u2026";
      if (chunk.rfind(ellipsis, 0) == 0 && !previous.empty()) {
        chunk = previous.substr(0, previous.rfind('/')) + chunk.substr(ellipsis.size());
      }
      if (chunk.empty() || chunk[0] != '/' || methods.empty()) {
        continue;  // a body, e.g. `{email,password}`
      }
      chunk = chunk.substr(0, chunk.find('?'));
      for (const auto& m : methods) {
        out.insert({m, pathShape(chunk)});
      }
      previous = chunk;
    }
  }
  return out;
}

TEST_F(ManagementTest, TheAdminDocumentIsServedAndDescribesEveryEndpoint) {
  start();
  // Documentation: no session needed.
  HttpResult r = httpRequest(gateway_->adminPort(), "GET", "/admin/v1/openapi.json");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.headers["content-type"].find("application/json"), std::string::npos);
  const json doc = json::parse(r.body);
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_EQ(problems(doc), "");
  EXPECT_EQ(doc["servers"][0]["url"], "/admin/v1");
  const std::set<Endpoint> described = openApiOperations(doc);

  // What the API really serves: the pattern-matched endpoints in the sources, plus the
  // lifecycle and decision actions, dispatched by name.
  std::set<Endpoint> real = endpointsInSources();
  ASSERT_GT(real.size(), 25u) << "the source scan found too little; did the pattern change?";
  for (const char* action : {"publish", "deprecate", "retire"}) {
    real.insert({"POST", std::string("/apis/*/") + action});
  }
  for (const char* action : {"approve", "reject", "revoke"}) {
    real.insert({"POST", std::string("/subscriptions/*/") + action});
  }
  real.insert({"GET", "/openapi.json"});
  const std::set<Endpoint> documented = endpointsInDocs();
  ASSERT_GT(documented.size(), 30u) << "docs/admin.md's endpoint table was not understood";
  real.insert(documented.begin(), documented.end());

  const std::string root = login(kRootEmail, kRootPassword);
  // "unknown_url" is the admin API's answer to an endpoint it does not have; with made-up ids
  // a real endpoint answers anything else (404 not_found, 400, 200).
  auto served = [&](const Endpoint& e) {
    std::string path = "/admin/v1";
    for (char c : e.second) {
      path += c == '*' ? std::string("zz_probe") : std::string(1, c);
    }
    HttpResult answer = call(e.first, path, nullptr, root);
    const json body = json::parse(answer.body, nullptr, false);
    return !(answer.status == 404 && body.is_object() && body.contains("error") &&
             body["error"].value("code", "") == "unknown_url");
  };
  for (const auto& e : real) {
    EXPECT_TRUE(described.count(e))
        << e.first << " " << e.second
        << " is served but not in core/src/management/admin_openapi.json";
    EXPECT_TRUE(served(e)) << e.first << " " << e.second
                           << " was found in the sources or docs/admin.md but is not served";
  }
  for (const auto& e : described) {
    EXPECT_TRUE(served(e)) << e.first << " " << e.second << " is described but not served";
  }
  // A made-up endpoint is told apart.
  EXPECT_FALSE(served({"GET", "/nothing/*"}));
}

TEST_F(ManagementTest, EveryCatalogEntryHasADocumentItsCallersCanUse) {
  start();
  World w = world();
  json catalog = expect(200, "GET", "/admin/v1/catalog", nullptr, w.b_member);
  ASSERT_EQ(catalog["data"].size(), 1u);
  const std::string url = catalog["data"][0]["openapi_url"];
  EXPECT_EQ(url, "/admin/v1/catalog/" + w.api + "/openapi");
  EXPECT_EQ(expect(200, "GET", "/admin/v1/catalog/" + w.api, nullptr, w.b_member)["openapi_url"],
            url);

  // Another tenant's member reads it as the catalog shows it.
  const json doc = expect(200, "GET", url, nullptr, w.b_member);
  EXPECT_EQ(problems(doc), "");
  EXPECT_EQ(doc["info"]["title"], "support");
  EXPECT_EQ(doc["info"]["description"], "Support assistant");
  EXPECT_EQ(doc["components"]["schemas"]["ChatCompletionRequest"]["properties"]["model"]["enum"],
            json({"gpt-test"}));
  const std::string base = doc["servers"][0]["url"];
  const std::string gateway = "http://127.0.0.1:" + std::to_string(gateway_->port());
  ASSERT_EQ(base, gateway + "/apis/support/v1/v1");

  // The document's server and path are where a subscribed app's call goes through.
  const std::string sub = expect(201, "POST", "/admin/v1/subscriptions",
                                 {{"app_id", w.app}, {"api_id", w.api}}, w.b_member)["id"];
  expect(200, "POST", "/admin/v1/subscriptions/" + sub + "/approve", nullptr, w.a_admin);
  const std::string chat_path =
      base.substr(gateway.size()) + doc["paths"].find("/chat/completions").key();
  ASSERT_TRUE(within([&] {
    return post(chat_path,
                json{{"model", "gpt-test"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}}
                    .dump(),
                {{"Authorization", "Bearer " + w.key}})
               .status == 200;
  }));

  // Without a session nothing; unknown, draft and other tenants' private APIs answer 404.
  expect(401, "GET", url, nullptr, "");
  expect(404, "GET", "/admin/v1/catalog/api_nothing/openapi", nullptr, w.b_member);
  const std::string draft = expect(201, "POST", "/admin/v1/apis",
                                   {{"name", "internal"},
                                    {"path", "/apis/internal"},
                                    {"service_id", w.service},
                                    {"visibility", "private"}},
                                   w.a_admin)["id"];
  expect(404, "GET", "/admin/v1/catalog/" + draft + "/openapi", nullptr, w.a_admin);
  // Its owner previews a draft's document; nobody else reaches it.
  EXPECT_EQ(expect(200, "GET", "/admin/v1/apis/" + draft + "/openapi", nullptr,
                   w.a_admin)["info"]["title"],
            "internal");
  expect(404, "GET", "/admin/v1/apis/" + draft + "/openapi", nullptr, w.b_admin);
  expect(200, "POST", "/admin/v1/apis/" + draft + "/publish", nullptr, w.a_admin);
  expect(200, "GET", "/admin/v1/catalog/" + draft + "/openapi", nullptr, w.a_admin);
  expect(404, "GET", "/admin/v1/catalog/" + draft + "/openapi", nullptr, w.b_member);
}

TEST_F(ManagementTest, RestApisServeTheirOwnersDocumentOrAGenericOne) {
  start();
  World w = world(/*publish=*/false);
  const std::string svc = expect(
      201, "POST", "/admin/v1/services",
      {{"name", "orders"}, {"kind", "rest"}, {"base_url", upstream_.baseUrl()}}, w.a_admin)["id"];
  const json owners = {{"openapi", "3.1.0"},
                       {"info", {{"title", "Orders"}, {"version", "7"}}},
                       {"paths",
                        {{"/orders",
                          {{"get",
                            {{"operationId", "listOrders"},
                             {"responses", {{"200", {{"description", "orders"}}}}}}}}}}}};
  json api = expect(201, "POST", "/admin/v1/apis",
                    {{"name", "orders"},
                     {"path", "/apis/orders"},
                     {"service_id", svc},
                     {"methods", {"GET"}},
                     {"openapi", owners}},
                    w.a_admin);
  EXPECT_EQ(api["has_openapi"], true);
  EXPECT_FALSE(api.contains("openapi"));  // lists and audit entries stay small
  const std::string id = api["id"];
  expect(200, "POST", "/admin/v1/apis/" + id + "/publish", nullptr, w.a_admin);
  const std::string gateway = "http://127.0.0.1:" + std::to_string(gateway_->port());

  json doc = expect(200, "GET", "/admin/v1/catalog/" + id + "/openapi", nullptr, w.b_member);
  EXPECT_EQ(problems(doc), "");
  EXPECT_EQ(doc["info"]["title"], "Orders");
  EXPECT_EQ(doc["paths"]["/orders"]["get"]["operationId"], "listOrders");
  EXPECT_EQ(doc["servers"][0]["url"], gateway + "/apis/orders/v1");
  EXPECT_EQ(doc["security"][0].begin().key(), "appKey");
  EXPECT_EQ(doc.dump().find(upstream_.baseUrl()), std::string::npos);

  // Removed: the generic document, with the API's one method.
  api = expect(200, "PATCH", "/admin/v1/apis/" + id, {{"openapi", nullptr}}, w.a_admin);
  EXPECT_EQ(api["has_openapi"], false);
  doc = expect(200, "GET", "/admin/v1/catalog/" + id + "/openapi", nullptr, w.b_member);
  EXPECT_EQ(problems(doc), "");
  EXPECT_EQ(openApiOperations(doc), (std::set<Endpoint>{{"GET", "/"}, {"GET", "/*"}}));
  EXPECT_EQ(doc["servers"][0]["url"], gateway + "/apis/orders/v1");
  // A PATCH without the field keeps what is attached.
  expect(200, "PATCH", "/admin/v1/apis/" + id, {{"openapi", owners}}, w.a_admin);
  EXPECT_EQ(expect(200, "PATCH", "/admin/v1/apis/" + id, {{"description", "Orders of the shop"}},
                   w.a_admin)["has_openapi"],
            true);

  // Not a document, an old Swagger one, or one for an AI API: 400.
  for (const json& bad :
       {json("openapi: 3.1.0"), json({{"swagger", "2.0"}, {"paths", json::object()}}),
        json({{"openapi", "3.1.0"}, {"info", json::object()}})}) {
    json e = expect(400, "PATCH", "/admin/v1/apis/" + id, {{"openapi", bad}}, w.a_admin);
    EXPECT_EQ(e["error"]["code"], "invalid_openapi") << bad.dump();
  }
  json e = expect(400, "PATCH", "/admin/v1/apis/" + w.api, {{"openapi", owners}}, w.a_admin);
  EXPECT_EQ(e["error"]["code"], "invalid_openapi");
  // The audit log records that a document was attached, not the document.
  const json audit = expect(200, "GET", "/admin/v1/audit?limit=20", nullptr, w.a_admin);
  for (const auto& entry : audit["data"]) {
    EXPECT_EQ(entry.dump().find("listOrders"), std::string::npos) << entry.dump();
  }
}

TEST_F(ManagementTest, APromptApisCatalogDocumentPointsAtTheDataPort) {
  start();
  World w = world(/*publish=*/false);
  const std::string svc =
      expect(201, "POST", "/admin/v1/services",
             {{"name", "sentiment"},
              {"kind", "prompt"},
              {"model", "gpt-test"},
              {"messages", {{{"role", "user"}, {"content", "Classify {{text}}"}}}},
              {"variables", {{"text", {{"type", "string"}}}}}},
             w.a_admin)["id"];
  const std::string id = expect(201, "POST", "/admin/v1/apis",
                                {{"name", "sentiment"},
                                 {"path", "/apis/sentiment"},
                                 {"service_id", svc},
                                 {"approval_required", false}},
                                w.a_admin)["id"];
  expect(200, "POST", "/admin/v1/apis/" + id + "/publish", nullptr, w.a_admin);
  const json doc = expect(200, "GET", "/admin/v1/catalog/" + id + "/openapi", nullptr, w.b_member);
  EXPECT_EQ(problems(doc), "");
  const std::string gateway = "http://127.0.0.1:" + std::to_string(gateway_->port());
  EXPECT_EQ(doc["servers"][0]["url"], gateway);
  ASSERT_TRUE(doc["paths"].contains("/apis/sentiment/v1"));
  EXPECT_TRUE(doc["components"]["schemas"]["Variables"]["properties"].contains("text"));
  // The same run operation the data port describes, and a subscribed app's call goes through.
  expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", id}}, w.b_member);
  ASSERT_TRUE(within([&] {
    return post("/apis/sentiment/v1", json{{"variables", {{"text", "great"}}}}.dump(),
                {{"Authorization", "Bearer " + w.key}})
               .status == 200;
  }));
}

}  // namespace
}  // namespace switchyard::testing
