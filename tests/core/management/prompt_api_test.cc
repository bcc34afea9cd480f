#include "switchyard/management/prompt_api.h"

#include <gtest/gtest.h>

namespace switchyard {
namespace {

using nlohmann::json;

json sentimentDoc() {
  return {{"model", "gpt-test"},
          {"messages",
           {{{"role", "system"}, {"content", "Classify the sentiment. Labels: {{labels}}."}},
            {{"role", "user"}, {"content", "Text: {{ text }}\nMax words: {{max_words}}"}}}},
          {"parameters", {{"temperature", 0}, {"max_tokens", 20}}},
          {"variables",
           {{"text", {{"type", "string"}, {"description", "What to classify"}}},
            {"labels", {{"type", "array"}, {"default", {"positive", "negative"}}}},
            {"max_words", {{"type", "integer"}, {"required", false}}}}}};
}

PromptSpec parsed(const json& doc) {
  PromptSpec spec;
  auto e = parsePromptSpec(doc, &spec);
  EXPECT_FALSE(e.has_value()) << *e;
  return spec;
}

std::string problemOf(const json& doc) {
  PromptSpec spec;
  return parsePromptSpec(doc, &spec).value_or("");
}

TEST(PromptSpecTest, ParsesAValidSpecWithDefaultsAndOptionalVariables) {
  PromptSpec spec = parsed(sentimentDoc());
  EXPECT_EQ(spec.model, "gpt-test");
  ASSERT_EQ(spec.variables.size(), 3u);
  ASSERT_NE(spec.variable("text"), nullptr);
  EXPECT_TRUE(spec.variable("text")->required);
  EXPECT_FALSE(spec.variable("labels")->required);  // it has a default
  EXPECT_FALSE(spec.variable("max_words")->required);
  EXPECT_EQ(spec.parameters["max_tokens"], 20);
}

TEST(PromptSpecTest, RefusesUndeclaredPlaceholdersNamingThem) {
  json doc = sentimentDoc();
  doc["messages"][1]["content"] = "{{text}} in {{language}} for {{audience}} {{language}}";
  const std::string e = problemOf(doc);
  EXPECT_NE(e.find("undeclared variables: language, audience"), std::string::npos) << e;
}

TEST(PromptSpecTest, RefusesBadShapes) {
  auto with = [](const char* key, json value) {
    json doc = sentimentDoc();
    doc[key] = std::move(value);
    return problemOf(doc);
  };
  EXPECT_NE(with("model", "").find("'model'"), std::string::npos);
  EXPECT_NE(with("messages", json::array()).find("'messages'"), std::string::npos);
  EXPECT_NE(with("messages", {{{"role", "robot"}, {"content", "x"}}}).find("'role'"),
            std::string::npos);
  EXPECT_NE(with("messages", {{{"role", "user"}, {"content", {1, 2}}}}).find("'content'"),
            std::string::npos);
  EXPECT_NE(with("parameters", {{"stream", true}}).find("'stream'"), std::string::npos);
  EXPECT_NE(with("parameters", {{"model", "other"}}).find("'model'"), std::string::npos);
  EXPECT_NE(with("parameters", {{"max_tokens", -1}}).find("max_tokens"), std::string::npos);
  EXPECT_NE(with("parameters", "hot").find("'parameters'"), std::string::npos);
  EXPECT_NE(with("variables", {{"text", {{"type", "str"}}}}).find("'type'"), std::string::npos);
  EXPECT_NE(with("variables", {{"9lives", {{"type", "string"}}}}).find("9lives"),
            std::string::npos);
  EXPECT_NE(with("variables", {{"text", {{"type", "integer"}, {"default", "x"}}}}).find("default"),
            std::string::npos);
  EXPECT_NE(
      with("variables", {{"text", {{"type", "string"}, {"required", true}, {"default", "x"}}}})
          .find("cannot be 'required'"),
      std::string::npos);
  EXPECT_NE(with("variables", {{"text", {{"type", "string"}, {"enum", {1}}}}}).find("'enum'"),
            std::string::npos);
  EXPECT_NE(with("extra", 1).find("'extra'"), std::string::npos);
  EXPECT_FALSE(problemOf(json::array()).empty());
}

TEST(PromptSpecTest, MergeKeepsWhatThePatchDoesNotChangeAndChecksTheModel) {
  auto routed = [](const std::string& m) { return m == "gpt-test" || m == "gpt-big"; };
  PromptSpecResult created = mergePromptSpec(nullptr, sentimentDoc(), routed);
  ASSERT_TRUE(created.error.empty()) << created.error;
  EXPECT_EQ(created.spec["variables"]["text"]["required"], true);  // made explicit

  PromptSpecResult patched = mergePromptSpec(created.spec, {{"model", "gpt-big"}}, routed);
  ASSERT_TRUE(patched.error.empty()) << patched.error;
  EXPECT_EQ(patched.spec["model"], "gpt-big");
  EXPECT_EQ(patched.spec["messages"], created.spec["messages"]);

  PromptSpecResult unrouted = mergePromptSpec(created.spec, {{"model", "nope"}}, routed);
  EXPECT_NE(unrouted.error.find("nope is not a model route"), std::string::npos);
}

TEST(PromptVariablesTest, NamesEveryMissingWrongTypedAndUnknownVariable) {
  PromptSpec spec = parsed(sentimentDoc());
  json resolved;
  auto e =
      checkPromptVariables(spec, {{"max_words", "ten"}, {"colour", "red"}, {"tone", 1}}, &resolved);
  ASSERT_TRUE(e.has_value());
  EXPECT_EQ(e->status, 400);
  EXPECT_EQ(e->type, "invalid_request_error");
  EXPECT_EQ(e->code, "invalid_variables");
  EXPECT_NE(e->message.find("'text' is missing"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("'max_words' must be an integer"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("'colour' is not a variable"), std::string::npos) << e->message;
  EXPECT_NE(e->message.find("'tone' is not a variable"), std::string::npos) << e->message;

  auto not_object = checkPromptVariables(spec, json::array({"x"}), &resolved);
  ASSERT_TRUE(not_object.has_value());
  EXPECT_EQ(not_object->code, "invalid_variables");
}

TEST(PromptVariablesTest, AppliesDefaultsEnumsAndJsonSchemaIntegers) {
  json doc = sentimentDoc();
  doc["variables"]["tone"] = {
      {"type", "string"}, {"enum", {"formal", "casual"}}, {"required", false}};
  PromptSpec spec = parsed(doc);
  json resolved;
  EXPECT_FALSE(checkPromptVariables(spec, {{"text", "great"}, {"max_words", 3.0}}, &resolved));
  EXPECT_EQ(resolved["labels"], json({"positive", "negative"}));
  EXPECT_TRUE(resolved["max_words"].is_number_integer());
  EXPECT_EQ(resolved.count("tone"), 0u);

  auto e =
      checkPromptVariables(spec, {{"text", "x"}, {"tone", "angry"}, {"max_words", 2.5}}, &resolved);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->message.find("'tone' must be one of [\"formal\",\"casual\"]"), std::string::npos)
      << e->message;
  EXPECT_NE(e->message.find("'max_words' must be an integer"), std::string::npos);
  // JSON null is "not given": a required variable is still missing.
  e = checkPromptVariables(spec, {{"text", nullptr}}, &resolved);
  ASSERT_TRUE(e.has_value());
  EXPECT_NE(e->message.find("'text' is missing"), std::string::npos);
}

TEST(PromptRenderTest, InsertsStringsAsTheyAreAndOtherValuesAsCompactJson) {
  const json resolved = {{"s", "a \"quoted\" line"}, {"n", 2.5},           {"i", 7}, {"b", false},
                         {"arr", {"x", 1}},          {"obj", {{"k", "v"}}}};
  EXPECT_EQ(renderPromptText("{{s}}|{{n}}|{{ i }}|{{b}}|{{arr}}|{{obj}}|{{absent}}", resolved),
            "a \"quoted\" line|2.5|7|false|[\"x\",1]|{\"k\":\"v\"}|");
}

TEST(PromptRenderTest, NeverExpandsPlaceholdersInsideValues) {
  const json resolved = {{"a", "{{b}}"}, {"b", "secret"}};
  EXPECT_EQ(renderPromptText("say {{a}} not {{b}}", resolved), "say {{b}} not secret");
}

TEST(PromptRenderTest, LeavesWhatIsNotAPlaceholderAlone) {
  const json resolved = {{"x", "X"}};
  EXPECT_EQ(renderPromptText("{{{x}}} {{ }} {{1x}} {x} {{x y}} {{x", resolved),
            "{X} {{ }} {{1x}} {x} {{x y}} {{x");
  EXPECT_EQ(promptPlaceholders("{{a}} {{ b }} {{a}} {{-}}"),
            (std::vector<std::string>{"a", "b", "a"}));
}

TEST(PromptRenderTest, TheRequestIsTheParametersModelAndRenderedMessages) {
  PromptSpec spec = parsed(sentimentDoc());
  json resolved;
  ASSERT_FALSE(checkPromptVariables(spec, {{"text", "I love it"}}, &resolved));
  const json request = renderPromptRequest(spec, resolved, false);
  EXPECT_EQ(request,
            json({{"model", "gpt-test"},
                  {"temperature", 0},
                  {"max_tokens", 20},
                  {"messages",
                   {{{"role", "system"},
                     {"content", "Classify the sentiment. Labels: [\"positive\",\"negative\"]."}},
                    {{"role", "user"}, {"content", "Text: I love it\nMax words: "}}}}}));
  const json streamed = renderPromptRequest(spec, resolved, true);
  EXPECT_EQ(streamed["stream"], true);
  EXPECT_EQ(streamed["stream_options"]["include_usage"], true);
}

TEST(PromptAdapterTest, TranslatesTheAnswerIntoAPromptResult) {
  json doc = sentimentDoc();
  doc["parameters"]["response_format"] = {{"type", "json_object"}};
  auto spec = std::make_shared<PromptSpec>(parsed(doc));
  auto adapter = makePromptAdapter(spec);
  std::string unified;
  ASSERT_FALSE(adapter->toUnified(R"({"variables":{"text":"ok"}})", unified));
  EXPECT_EQ(json::parse(unified)["model"], "gpt-test");

  auto bad = adapter->toUnified(R"({"text":"ok"})", unified);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->code, "unknown_parameter");
  bad = adapter->toUnified("[1]", unified);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->code, "invalid_json");
  bad = adapter->toUnified(R"({"variables":{"text":"ok"},"stream":"yes"})", unified);
  ASSERT_TRUE(bad.has_value());
  EXPECT_EQ(bad->code, "invalid_type");

  int status = 200;
  std::string body =
      json{{"id", "chatcmpl-abc"},
           {"created", 42},
           {"model", "upstream-model"},
           {"choices",
            {{{"index", 0},
              {"message", {{"role", "assistant"}, {"content", "{\"label\":\"positive\"}"}}},
              {"finish_reason", "stop"}}}},
           {"usage", {{"prompt_tokens", 5}, {"completion_tokens", 3}, {"total_tokens", 8}}}}
          .dump();
  adapter->answer(status, body);
  const json result = json::parse(body);
  EXPECT_EQ(status, 200);
  EXPECT_EQ(result["object"], "prompt.result");
  EXPECT_EQ(result["id"], "prompt_abc");
  EXPECT_EQ(result["model"], "gpt-test");
  EXPECT_EQ(result["output"], "{\"label\":\"positive\"}");
  EXPECT_EQ(result["data"]["label"], "positive");
  EXPECT_EQ(result["finish_reason"], "stop");
  EXPECT_EQ(result["usage"]["total_tokens"], 8);

  status = 429;
  body = R"({"error":{"message":"slow down","type":"rate_limit_error","code":"rate_limited"}})";
  adapter->answer(status, body);
  EXPECT_EQ(json::parse(body)["error"]["code"], "rate_limited");  // errors keep OpenAI's shape
}

TEST(PromptAdapterTest, StreamsDeltasThenTheWholeResultWithUsage) {
  auto spec = std::make_shared<PromptSpec>(parsed(sentimentDoc()));
  auto encoder = makePromptAdapter(spec)->streamEncoder();
  std::string out;
  out += encoder->chunk(json::parse(
      R"({"id":"chatcmpl-1","choices":[{"index":0,"delta":{"role":"assistant","content":"po"}}]})"));
  out += encoder->chunk(json::parse(
      R"({"id":"chatcmpl-1","choices":[{"index":0,"delta":{"content":"sitive"},"finish_reason":"stop"}]})"));
  out += encoder->chunk(json::parse(
      R"({"id":"chatcmpl-1","choices":[],"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}})"));
  out += encoder->done();
  EXPECT_EQ(encoder->done(), "");  // ends once
  const std::string expected_start =
      "event: prompt.delta\ndata: {\"type\":\"prompt.delta\",\"delta\":\"po\"}\n\n"
      "event: prompt.delta\ndata: {\"type\":\"prompt.delta\",\"delta\":\"sitive\"}\n\n"
      "event: prompt.completed\ndata: ";
  ASSERT_EQ(out.rfind(expected_start, 0), 0u) << out;
  const json completed = json::parse(out.substr(expected_start.size()));
  EXPECT_EQ(completed["type"], "prompt.completed");
  EXPECT_EQ(completed["result"]["output"], "positive");
  EXPECT_EQ(completed["result"]["usage"]["total_tokens"], 6);
  EXPECT_EQ(completed["result"]["finish_reason"], "stop");

  auto failing = makePromptAdapter(spec)->streamEncoder();
  const std::string err =
      failing->error(ApiError::upstream(502, "upstream_connection_reset", "broke"));
  EXPECT_EQ(err.rfind("event: error\ndata: ", 0), 0u);
  EXPECT_NE(err.find("\"code\":\"upstream_connection_reset\""), std::string::npos);
}

TEST(PromptOpenApiTest, DescribesTheVariablesAndTheAnswers) {
  Api api;
  api.name = "sentiment";
  api.version = "v2";
  api.path = "/apis/sentiment";
  api.visibility = "private";
  Service service;
  service.kind = "prompt";
  service.prompt = mergePromptSpec(nullptr, sentimentDoc(), nullptr).spec;
  const json doc = promptOpenApi(api, service);
  EXPECT_EQ(doc["openapi"], "3.1.0");
  EXPECT_EQ(doc["info"]["title"], "sentiment");
  EXPECT_EQ(doc["info"]["version"], "v2");
  const json& vars = doc["components"]["schemas"]["Variables"];
  EXPECT_EQ(vars["required"], json({"text"}));
  EXPECT_EQ(vars["properties"]["text"]["type"], "string");
  EXPECT_EQ(vars["properties"]["max_words"]["type"], "integer");
  EXPECT_EQ(vars["properties"]["labels"]["default"], json({"positive", "negative"}));
  EXPECT_EQ(vars["additionalProperties"], false);
  const json& run = doc["paths"]["/apis/sentiment/v2"]["post"];
  EXPECT_TRUE(run["responses"]["200"]["content"].contains("application/json"));
  EXPECT_TRUE(run["responses"]["200"]["content"].contains("text/event-stream"));
  EXPECT_TRUE(run["responses"].contains("400"));
  EXPECT_EQ(run["security"][0], json({{"appKey", json::array()}}));
  EXPECT_EQ(doc["components"]["securitySchemes"]["appKey"]["scheme"], "bearer");
  // A private API's document needs the same key as a call.
  EXPECT_EQ(doc["paths"]["/apis/sentiment/v2/openapi.json"]["get"]["security"], run["security"]);
  EXPECT_EQ(doc["components"]["schemas"]["RunRequest"]["required"], json({"variables"}));
}

}  // namespace
}  // namespace switchyard
