// Prompt APIs end to end: a prompt service and an API on it, created through /admin/v1, called
// through the data port with an app key; the mock upstream shows what the template became.
#include "management_fixture.h"
#include "support/named_sse.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

class PromptApiTest : public ManagementTest {
 protected:
  static json sentimentService() {
    return {
        {"name", "sentiment"},
        {"kind", "prompt"},
        {"model", "gpt-test"},
        {"messages",
         {{{"role", "system"},
           {"content", "Classify the sentiment as one of {{labels}}. Answer in {{language}}."}},
          {{"role", "user"}, {"content", "{{text}}"}}}},
        {"parameters", {{"temperature", 0}, {"max_tokens", 16}}},
        {"variables",
         {{"text", {{"type", "string"}, {"description", "The text to classify"}}},
          {"labels", {{"type", "array"}, {"default", {"positive", "negative", "neutral"}}}},
          {"language", {{"type", "string"}, {"enum", {"English", "French"}}, {"required", true}}},
          {"min_confidence", {{"type", "number"}, {"required", false}}}}}};
  }

  /// A's prompt service and an API on it (no approval needed), published or left in draft.
  std::string promptApi(const World& w, const std::string& path, bool publish,
                        const std::string& visibility = "public") {
    json service = sentimentService();
    service["name"] = "prompt" + path.substr(path.rfind('/'));  // unique per tenant
    const std::string svc = expect(201, "POST", "/admin/v1/services", service, w.a_admin)["id"];
    const std::string api = expect(201, "POST", "/admin/v1/apis",
                                   {{"name", "sentiment"},
                                    {"path", path},
                                    {"service_id", svc},
                                    {"visibility", visibility},
                                    {"approval_required", false},
                                    {"description", "Sentiment of a text"}},
                                   w.a_admin)["id"];
    if (publish) {
      expect(200, "POST", "/admin/v1/apis/" + api + "/publish", nullptr, w.a_admin);
    }
    return api;
  }

  HttpResult run(const std::string& mount, const std::string& key, const json& body) {
    return httpRequest(gateway_->port(), "POST", mount, body.dump(),
                       {{"Authorization", "Bearer " + key}});
  }

  /// Subscribes B's app and waits until a call goes through.
  void subscribe(const World& w, const std::string& api, const std::string& mount) {
    expect(201, "POST", "/admin/v1/subscriptions", {{"app_id", w.app}, {"api_id", api}},
           w.b_member);
    ASSERT_TRUE(within([&] {
      return run(mount, w.key, {{"variables", {{"text", "ok"}, {"language", "English"}}}}).status ==
             200;
    }));
  }
};

TEST_F(PromptApiTest, TheRenderedRequestReachesTheUpstreamExactlyAsTemplated) {
  start();
  World w = world(/*publish=*/false, /*approval=*/false);
  const std::string api = promptApi(w, "/apis/sentiment", /*publish=*/false);
  const std::string mount = "/apis/sentiment/v1";
  const json vars = {{"text", "I love it {{labels}}"}, {"language", "French"}};

  // Draft: not routable, like any API.
  std::this_thread::sleep_for(std::chrono::milliseconds(400));
  EXPECT_EQ(run(mount, w.key, {{"variables", vars}}).status, 404);
  // Published: a subscription is needed, like any API.
  expect(200, "POST", "/admin/v1/apis/" + api + "/publish", nullptr, w.a_admin);
  ASSERT_TRUE(within([&] {
    HttpResult r = run(mount, w.key, {{"variables", vars}});
    return r.status == 403 && r.body.find("subscription_required") != std::string::npos;
  }));
  EXPECT_EQ(upstream_.requestCount(), 0u);
  subscribe(w, api, mount);

  upstream_.clearRequests();
  HttpResult r = run(mount, w.key, {{"variables", vars}});
  ASSERT_EQ(r.status, 200) << r.body;
  // The template, with the default list as compact JSON and the caller's "{{labels}}" left as
  // text (values are never expanded again), the parameters and the route's upstream model.
  EXPECT_EQ(json::parse(upstream_.lastRequest().body),
            json({{"model", "upstream-gpt"},
                  {"temperature", 0},
                  {"max_tokens", 16},
                  {"messages",
                   {{{"role", "system"},
                     {"content",
                      "Classify the sentiment as one of [\"positive\",\"negative\",\"neutral\"]. "
                      "Answer in French."}},
                    {{"role", "user"}, {"content", "I love it {{labels}}"}}}}}))
      << upstream_.lastRequest().body;

  const json answer = json::parse(r.body);
  EXPECT_EQ(answer["object"], "prompt.result");
  EXPECT_EQ(answer["model"], "gpt-test");
  EXPECT_EQ(answer["output"], "echo: I love it {{labels}}");
  EXPECT_EQ(answer["finish_reason"], "stop");
  EXPECT_EQ(answer["usage"]["total_tokens"], 18);
  EXPECT_EQ(answer["id"].get<std::string>().rfind("prompt_", 0), 0u);

  // The ordinary data plane served it: the call record names the caller, model and usage.
  auto recs = records();
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs.back()["model"], "gpt-test");
  EXPECT_EQ(recs.back()["status"], 200);
  EXPECT_EQ(recs.back()["principal"]["app"], "crawler");
  EXPECT_EQ(recs.back()["usage"]["total_tokens"], 18);

  // Only the run and the document are served under the mount.
  EXPECT_EQ(httpRequest(gateway_->port(), "GET", mount, "", {{"Authorization", "Bearer " + w.key}})
                .status,
            405);
  EXPECT_EQ(run(mount + "/chat/completions", w.key, {{"variables", vars}}).status, 404);
  // Retired: 410 like any API.
  expect(200, "POST", "/admin/v1/apis/" + api + "/retire", nullptr, w.a_admin);
  ASSERT_TRUE(within([&] { return run(mount, w.key, {{"variables", vars}}).status == 410; }));
}

TEST_F(PromptApiTest, BadInputIs400NamingEveryVariable) {
  start();
  World w = world(/*publish=*/false, /*approval=*/false);
  const std::string api = promptApi(w, "/apis/sentiment", /*publish=*/true);
  const std::string mount = "/apis/sentiment/v1";
  subscribe(w, api, mount);
  const size_t before = upstream_.requestCount();

  HttpResult r =
      run(mount, w.key,
          {{"variables", {{"language", "German"}, {"min_confidence", "high"}, {"tone", "warm"}}}});
  ASSERT_EQ(r.status, 400) << r.body;
  const json e = json::parse(r.body)["error"];
  EXPECT_EQ(e["type"], "invalid_request_error");
  EXPECT_EQ(e["code"], "invalid_variables");
  const std::string message = e["message"];
  EXPECT_NE(message.find("'text' is missing"), std::string::npos) << message;
  EXPECT_NE(message.find("'language' must be one of"), std::string::npos) << message;
  EXPECT_NE(message.find("'min_confidence' must be a number"), std::string::npos) << message;
  EXPECT_NE(message.find("'tone' is not a variable"), std::string::npos) << message;

  r = run(mount, w.key, {{"variables", {{"text", 42}, {"language", "English"}}}});
  EXPECT_EQ(r.status, 400);
  EXPECT_NE(r.body.find("'text' must be a string"), std::string::npos) << r.body;
  r = run(mount, w.key, {{"text", "hi"}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "unknown_parameter");
  r = httpRequest(gateway_->port(), "POST", mount, "{not json",
                  {{"Authorization", "Bearer " + w.key}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "invalid_json");
  EXPECT_EQ(upstream_.requestCount(), before);  // nothing bad reached the provider
}

TEST_F(PromptApiTest, StreamingSendsDeltasThenTheResultWithUsage) {
  start();
  World w = world(/*publish=*/false, /*approval=*/false);
  const std::string api = promptApi(w, "/apis/sentiment", /*publish=*/true);
  const std::string mount = "/apis/sentiment/v1";
  subscribe(w, api, mount);
  upstream_.setStreamChunks(3);

  HttpResult r = httpStream(
      gateway_->port(), mount,
      json{{"variables", {{"text", "fine"}, {"language", "English"}}}, {"stream", true}}.dump(),
      {{"Authorization", "Bearer " + w.key}}, [](std::string_view) {});
  ASSERT_EQ(r.status, 200) << r.body;
  const json sent = json::parse(upstream_.lastRequest().body);
  EXPECT_EQ(sent["stream"], true);
  EXPECT_EQ(sent["messages"][1]["content"], "fine");

  const auto events = namedEvents(r.body);
  ASSERT_EQ(eventNames(events), (std::vector<std::string>{"prompt.delta", "prompt.delta",
                                                          "prompt.delta", "prompt.completed"}))
      << r.body;
  std::string text;
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(events[i].second["type"], "prompt.delta");
    text += events[i].second["delta"].get<std::string>();
  }
  EXPECT_EQ(text, "tok0 tok1 tok2 ");
  const json& result = events[3].second["result"];
  EXPECT_EQ(result["object"], "prompt.result");
  EXPECT_EQ(result["output"], text);
  EXPECT_EQ(result["usage"]["completion_tokens"], 3);
  EXPECT_EQ(result["usage"]["total_tokens"], 14);
  auto recs = records();
  ASSERT_FALSE(recs.empty());
  EXPECT_EQ(recs.back()["stream"], true);
  EXPECT_EQ(recs.back()["usage"]["total_tokens"], 14);
}

TEST_F(PromptApiTest, ProviderFailuresReachTheCallerOpenAiShaped) {
  start();
  World w = world(/*publish=*/false, /*approval=*/false);
  const std::string api = promptApi(w, "/apis/sentiment", /*publish=*/true);
  const std::string mount = "/apis/sentiment/v1";
  subscribe(w, api, mount);
  const json vars = {{"text", "long"}, {"language", "English"}};

  upstream_.failNext(400, json{{"error",
                                {{"message", "too long"},
                                 {"type", "invalid_request_error"},
                                 {"code", "context_length_exceeded"}}}}
                              .dump());
  HttpResult r = run(mount, w.key, {{"variables", vars}});
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "context_length_exceeded") << r.body;

  // A stream that breaks after it started ends with an error event, not a completed one.
  upstream_.injectFault(Fault::resetMidStream(2));
  r = httpStream(gateway_->port(), mount, json{{"variables", vars}, {"stream", true}}.dump(),
                 {{"Authorization", "Bearer " + w.key}}, [](std::string_view) {});
  EXPECT_EQ(r.status, 200);
  const auto events = namedEvents(r.body);
  ASSERT_FALSE(events.empty()) << r.body;
  EXPECT_EQ(events.back().first, "error") << r.body;
  EXPECT_EQ(events.back().second["error"]["type"], "upstream_error") << r.body;
}

TEST_F(PromptApiTest, EachPromptApiDescribesItselfInOpenApi) {
  start();
  World w = world(/*publish=*/false, /*approval=*/false);
  promptApi(w, "/apis/sentiment", /*publish=*/true);
  promptApi(w, "/apis/internal", /*publish=*/true, "private");
  HttpResult r;
  // A public API's description is open, like the catalog; a private one's needs a key.
  ASSERT_TRUE(within([&] {
    r = httpRequest(gateway_->port(), "GET", "/apis/sentiment/v1/openapi.json");
    return r.status == 200;
  }));
  const json doc = json::parse(r.body, nullptr, false);
  ASSERT_FALSE(doc.is_discarded()) << r.body;
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_EQ(doc["info"]["title"], "sentiment");
  const json& vars = doc["components"]["schemas"]["Variables"];
  EXPECT_EQ(vars["required"], json({"language", "text"}));
  EXPECT_EQ(vars["properties"]["text"]["description"], "The text to classify");
  EXPECT_EQ(vars["properties"]["language"]["enum"], json({"English", "French"}));
  EXPECT_EQ(vars["properties"]["min_confidence"]["type"], "number");
  EXPECT_TRUE(doc["paths"]["/apis/sentiment/v1"]["post"]["responses"].contains("400"));

  // The two APIs were published one after the other: the data plane may have taken the
  // first into its view and not yet the second.
  int internal_status = 0;
  EXPECT_TRUE(within([&] {
    internal_status = httpRequest(gateway_->port(), "GET", "/apis/internal/v1/openapi.json").status;
    return internal_status != 404;
  }));
  EXPECT_EQ(internal_status, 401);
}

TEST_F(PromptApiTest, TheAdminApiChecksPromptSpecs) {
  start();
  World w = world(/*publish=*/false, /*approval=*/false);
  json bad = sentimentService();
  bad["messages"][1]["content"] = "{{text}} for {{audience}}";
  json e = expect(400, "POST", "/admin/v1/services", bad, w.a_admin);
  EXPECT_EQ(e["error"]["code"], "invalid_prompt");
  EXPECT_NE(e["error"]["message"].get<std::string>().find("audience"), std::string::npos);
  bad = sentimentService();
  bad["model"] = "not-a-route";
  e = expect(400, "POST", "/admin/v1/services", bad, w.a_admin);
  EXPECT_NE(e["error"]["message"].get<std::string>().find("not-a-route"), std::string::npos);
  bad = sentimentService();
  bad["variables"]["text"]["type"] = "text";
  expect(400, "POST", "/admin/v1/services", bad, w.a_admin);
  // Members do not create services.
  expect(403, "POST", "/admin/v1/services", sentimentService(), w.b_member);

  json created = expect(201, "POST", "/admin/v1/services", sentimentService(), w.a_admin);
  EXPECT_EQ(created["kind"], "prompt");
  EXPECT_EQ(created["model"], "gpt-test");
  EXPECT_EQ(created["variables"]["text"]["required"], true);
  EXPECT_EQ(created["variables"]["labels"]["required"], false);
  const std::string id = created["id"];
  // A PATCH replaces what it names and keeps the rest; the result is checked as a whole.
  json patched = expect(200, "PATCH", "/admin/v1/services/" + id,
                        {{"parameters", {{"temperature", 0.5}}}}, w.a_admin);
  EXPECT_EQ(patched["parameters"], json({{"temperature", 0.5}}));
  EXPECT_EQ(patched["messages"], created["messages"]);
  expect(400, "PATCH", "/admin/v1/services/" + id, {{"variables", json::object()}}, w.a_admin);
  EXPECT_EQ(expect(200, "GET", "/admin/v1/services/" + id, nullptr, w.a_admin)["parameters"],
            json({{"temperature", 0.5}}));
  // Another tenant sees nothing of it.
  expect(404, "GET", "/admin/v1/services/" + id, nullptr, w.b_admin);
}

}  // namespace
}  // namespace switchyard::testing
