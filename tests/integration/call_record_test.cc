// The call record end to end: mixed calls through a real gateway into the jsonl sink, every
// field checked against what the client saw, the mock's usage and the catalog's prices; the
// overhead header; body logging with redaction and a cap; and no secret anywhere.
#include <cmath>
#include <fstream>
#include <map>
#include <sstream>

#include "gateway_fixture.h"
#include "switchyard/catalog/model_catalog.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

constexpr double kMillion = 1000000.0;

json userChat(const std::string& model, const std::string& content = "ping") {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", content}}}}};
}

int64_t nowMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
      .count();
}

class CallRecordTest : public GatewayTest {
protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
    mini_ = ModelCatalog::builtIn()->find("openai", "gpt-4o-mini");
    embed_ = ModelCatalog::builtIn()->find("openai", "text-embedding-3-small");
    ASSERT_NE(mini_, nullptr);
    ASSERT_NE(embed_, nullptr);
  }

  json config() const {
    json c = baseConfig();
    c["models"]["priced"] = {{"provider", "mock"}, {"upstream_model", "gpt-4o-mini"}};
    c["models"]["embed-priced"] = {{"provider", "mock"}, {"upstream_model", "text-embedding-3-small"}};
    return c;
  }

  HttpResult stream(const json& body, Headers headers = authHeaders()) {
    headers.emplace("Content-Type", "application/json");
    return httpStream(gateway_->port(), "/v1/chat/completions", body.dump(), headers, [](std::string_view) {});
  }

  std::string sinkText() const {
    std::ifstream in(recordsPath());
    return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  }

  std::map<std::string, json> recordsById() {
    std::map<std::string, json> out;
    for (auto& r : records()) {
      out[r["request_id"].get<std::string>()] = r;
    }
    return out;
  }

  static double overheadHeader(const HttpResult& r) {
    auto it = r.headers.find("x-switchyard-overhead-ms");
    return it == r.headers.end() ? -1.0 : std::stod(it->second);
  }

  double cost(const CatalogModel& m, int64_t prompt, int64_t cached, int64_t completion) const {
    return ((prompt - cached) * m.price.input + cached * m.price.cached_input.value_or(m.price.input) +
            completion * m.price.output) /
           kMillion;
  }

  const CatalogModel* mini_ = nullptr;
  const CatalogModel* embed_ = nullptr;
};

TEST_F(CallRecordTest, MixedCallsEachLeaveOneCompleteRecord) {
  startGateway(config());
  const int64_t before = nowMs();
  struct Call {
    std::string what;
    HttpResult result;
  };
  std::vector<Call> calls;
  calls.push_back({"chat", chat(userChat("priced"))});
  calls.push_back({"stream", stream({{"model", "priced"}, {"stream", true}, {"messages", userChat("x")["messages"]}})});
  calls.push_back({"stream+usage",
                   stream({{"model", "priced"},
                           {"stream", true},
                           {"stream_options", {{"include_usage", true}}},
                           {"messages", userChat("x")["messages"]}})});
  calls.push_back({"embeddings", post("/v1/embeddings", json{{"model", "embed-priced"}, {"input", "hi"}}.dump(),
                                      authHeaders())});
  upstream_.failNext(200, json{{"id", "c"},
                               {"object", "chat.completion"},
                               {"created", 1},
                               {"model", "gpt-4o-mini"},
                               {"choices", {{{"index", 0},
                                             {"message", {{"role", "assistant"}, {"content", "cached"}}},
                                             {"finish_reason", "stop"}}}},
                               {"usage",
                                {{"prompt_tokens", 1200},
                                 {"completion_tokens", 50},
                                 {"total_tokens", 1250},
                                 {"prompt_tokens_details", {{"cached_tokens", 1000}}},
                                 {"completion_tokens_details", {{"reasoning_tokens", 20}}}}}}
                              .dump());
  calls.push_back({"cached", chat(userChat("priced"))});
  upstream_.failNext(400, R"({"error":{"message":"bad value for top_p","type":"invalid_request_error","code":"bad"}})");
  calls.push_back({"provider-error", chat(userChat("priced"))});
  calls.push_back({"unknown-model", chat(userChat("no-such-model"))});
  calls.push_back({"bad-key", chat(userChat("priced"), {{"Authorization", "Bearer sk-wrong-key-123"}})});
  calls.push_back({"unpriced", chat(userChat("gpt-test"))});
  upstream_.failNext(200, R"({"id":"c","object":"chat.completion","created":1,"model":"gpt-4o-mini",
      "choices":[{"index":0,"message":{"role":"assistant","content":"hello world!"},"finish_reason":"stop"}]})");
  calls.push_back({"no-usage", chat(userChat("priced"))});
  const int64_t after = nowMs();

  const std::vector<int> expected_status = {200, 200, 200, 200, 200, 400, 404, 401, 200, 200};
  ASSERT_EQ(calls.size(), expected_status.size());
  for (size_t i = 0; i < calls.size(); ++i) {
    ASSERT_TRUE(calls[i].result.ok) << calls[i].what << ": " << calls[i].result.error;
    EXPECT_EQ(calls[i].result.status, expected_status[i]) << calls[i].what << ": " << calls[i].result.body;
  }
  // The client that did not ask for usage never sees the usage chunk the gateway asked for;
  // the one that asked does.
  EXPECT_EQ(calls[1].result.body.find("\"prompt_tokens\""), std::string::npos);
  EXPECT_NE(calls[2].result.body.find("\"prompt_tokens\""), std::string::npos);
  bool asked = false;
  for (const auto& req : upstream_.requests()) {
    json body = json::parse(req.body, nullptr, false);
    if (body.is_object() && body.value("stream", false) && body.contains("stream_options")) {
      asked = asked || body["stream_options"].value("include_usage", false);
    }
  }
  EXPECT_TRUE(asked);

  auto recs = recordsById();
  ASSERT_EQ(recs.size(), calls.size()); // one record per call, no more
  for (size_t i = 0; i < calls.size(); ++i) {
    const Call& call = calls[i];
    SCOPED_TRACE(call.what);
    const std::string id = call.result.headers.at("x-request-id");
    ASSERT_EQ(recs.count(id), 1u);
    const json& r = recs[id];
    EXPECT_EQ(r["schema"], "switchyard.call.v1");
    EXPECT_EQ(r["status"], expected_status[i]);
    EXPECT_GE(r["start_unix_ms"].get<int64_t>(), before);
    EXPECT_LE(r["end_unix_ms"].get<int64_t>(), after + 1);
    EXPECT_NEAR(double(r["end_unix_ms"].get<int64_t>() - r["start_unix_ms"].get<int64_t>()),
                r["latency_ms"].get<double>(), 1.0);
    const double latency = r["latency_ms"];
    const double overhead = r["gateway_overhead_ms"];
    EXPECT_GE(overhead, 0.0);
    EXPECT_NEAR(overhead + r.value("upstream_ms", 0.0), latency, 0.01);
    // The header is the overhead until the head was sent: never more than the whole call's.
    const double header = overheadHeader(call.result);
    EXPECT_GE(header, 0.0) << "x-switchyard-overhead-ms missing";
    EXPECT_LE(header, overhead + 0.01);
    const std::string endpoint = call.what == "embeddings" ? "/v1/embeddings" : "/v1/chat/completions";
    EXPECT_EQ(r["endpoint"], endpoint);
    EXPECT_EQ(r["api"], endpoint);
    EXPECT_EQ(r["operation"], call.what == "embeddings" ? "embeddings" : "chat.completions");
    EXPECT_EQ(r["client_address"].get<std::string>().rfind("127.0.0.1:", 0), 0u);
    EXPECT_EQ(r["stream"], call.what.rfind("stream", 0) == 0);
    EXPECT_FALSE(r.contains("request_body"));
    EXPECT_FALSE(r.contains("response_body"));
    if (call.what == "bad-key") {
      EXPECT_EQ(r["principal"]["key_id"], "");
      EXPECT_EQ(r["error"]["type"], "authentication_error");
    } else {
      EXPECT_EQ(r["principal"], json({{"tenant", "team-a"}, {"app", "checkout"}, {"key_id", "team-a-key"}}));
    }
    const bool upstream = call.what != "unknown-model" && call.what != "bad-key";
    EXPECT_EQ(r.contains("upstream_ms"), upstream);
    EXPECT_EQ(r.contains("ttfb_ms"), upstream);
    if (upstream) {
      EXPECT_EQ(r["provider"], "mock");
      EXPECT_EQ(r["provider_type"], "openai");
      const std::string upstream_model = call.what == "embeddings" ? "text-embedding-3-small"
                                         : call.what == "unpriced"  ? "upstream-gpt"
                                                                    : "gpt-4o-mini";
      EXPECT_EQ(r["upstream_model"], upstream_model);
      ASSERT_EQ(r["attempts"].size(), 1u);
      EXPECT_EQ(r["attempts"][0]["target"], "mock/" + upstream_model);
      EXPECT_EQ(r["upstream_status"], expected_status[i]);
      EXPECT_LE(r["upstream_ms"].get<double>(), latency);
    } else {
      EXPECT_EQ(r["provider"], "");
      EXPECT_FALSE(r.contains("attempts"));
    }
    EXPECT_EQ(r.contains("ttft_ms"), r["stream"].get<bool>());
    if (r.contains("ttft_ms")) {
      EXPECT_LE(r["ttft_ms"].get<double>(), latency);
      EXPECT_GE(r["ttft_ms"].get<double>(), r["ttfb_ms"].get<double>());
    }
  }

  auto rec = [&](size_t i) { return recs[calls[i].result.headers.at("x-request-id")]; };
  auto expectUsage = [](const json& r, int64_t p, int64_t c, int64_t cached, int64_t reasoning, bool estimated) {
    ASSERT_TRUE(r.contains("usage")) << r.dump();
    EXPECT_EQ(r["usage"]["prompt_tokens"], p);
    EXPECT_EQ(r["usage"]["completion_tokens"], c);
    EXPECT_EQ(r["usage"]["total_tokens"], p + c);
    EXPECT_EQ(r["usage"]["cached_tokens"], cached);
    EXPECT_EQ(r["usage"]["cache_creation_tokens"], 0);
    EXPECT_EQ(r["usage"]["reasoning_tokens"], reasoning);
    EXPECT_EQ(r["usage"]["estimated"], estimated);
  };
  auto expectCost = [](const json& r, const CatalogModel& m, double usd) {
    ASSERT_TRUE(r.contains("cost_usd")) << r.dump();
    EXPECT_NEAR(r["cost_usd"].get<double>(), usd, 1e-12);
    EXPECT_NEAR(r["cost"]["total_usd"].get<double>(), usd, 1e-12);
    EXPECT_NEAR(r["cost"]["input_usd"].get<double>() + r["cost"]["cached_usd"].get<double>() +
                    r["cost"]["cache_creation_usd"].get<double>() + r["cost"]["output_usd"].get<double>(),
                usd, 1e-12);
    EXPECT_EQ(r["cost"]["price_date"], m.prices_as_of);
    EXPECT_EQ(r["cost"]["catalog_id"], m.id);
  };
  expectUsage(rec(0), 11, 7, 0, 0, false);
  expectCost(rec(0), *mini_, cost(*mini_, 11, 0, 7));
  // Streams: the mock counts one token per content chunk (3), and the stream's cost counts
  // whether or not the client asked for usage.
  expectUsage(rec(1), 11, 3, 0, 0, false);
  expectCost(rec(1), *mini_, cost(*mini_, 11, 0, 3));
  expectUsage(rec(2), 11, 3, 0, 0, false);
  expectCost(rec(2), *mini_, cost(*mini_, 11, 0, 3));
  expectUsage(rec(3), 5, 0, 0, 0, false);
  expectCost(rec(3), *embed_, cost(*embed_, 5, 0, 0));
  // Cached prompt tokens at the cached rate; reasoning tokens are part of the completion.
  expectUsage(rec(4), 1200, 50, 1000, 20, false);
  expectCost(rec(4), *mini_, cost(*mini_, 1200, 1000, 50));
  EXPECT_NEAR(rec(4)["cost"]["cached_usd"].get<double>(), 1000 * *mini_->price.cached_input / kMillion, 1e-12);
  for (size_t i : {5, 6, 7}) {
    EXPECT_FALSE(rec(i).contains("usage")) << calls[i].what;
    EXPECT_FALSE(rec(i).contains("cost_usd")) << calls[i].what;
    EXPECT_TRUE(rec(i).contains("error")) << calls[i].what;
  }
  EXPECT_EQ(rec(5)["error"]["message"], "bad value for top_p");
  EXPECT_EQ(rec(6)["response_flags"], json({"NR"}));
  expectUsage(rec(8), 11, 7, 0, 0, false);
  EXPECT_FALSE(rec(8).contains("cost_usd")); // upstream-gpt has no catalog price
  EXPECT_FALSE(rec(8).contains("cost"));
  // No usage from the upstream: "ping" (4 characters) → 1 token, "hello world!" (12) → 3.
  expectUsage(rec(9), 1, 3, 0, 0, true);
  expectCost(rec(9), *mini_, cost(*mini_, 1, 0, 3));

  const std::string all = sinkText();
  EXPECT_EQ(all.find(kGatewayKey), std::string::npos);
  EXPECT_EQ(all.find(kProviderKey), std::string::npos);
  EXPECT_EQ(all.find("sk-wrong-key-123"), std::string::npos);
}

TEST_F(CallRecordTest, EveryResponseCarriesTheOverheadHeader) {
  startGateway(config());
  for (const HttpResult& r : {httpRequest(gateway_->port(), "GET", "/healthz"),
                              httpRequest(gateway_->port(), "GET", "/v1/models", "", authHeaders()),
                              httpRequest(gateway_->port(), "GET", "/v1/nothing"),
                              httpRequest(gateway_->port(), "GET", "/v1/chat/completions"),
                              post("/v1/chat/completions", "{not json", authHeaders())}) {
    EXPECT_GE(overheadHeader(r), 0.0) << r.status << " " << r.body;
  }
}

TEST_F(CallRecordTest, OverheadExcludesTheTimeTheUpstreamTakes) {
  upstream_.setChunkDelay(150); // two pauses between three chunks: at least 300 ms upstream
  startGateway(config());
  HttpResult r = stream({{"model", "priced"}, {"stream", true}, {"messages", userChat("x")["messages"]}});
  ASSERT_EQ(r.status, 200);
  auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  const json& rec = recs[0];
  const double upstream = rec["upstream_ms"];
  EXPECT_GE(upstream, 290.0);
  EXPECT_GE(rec["latency_ms"].get<double>(), upstream);
  // Generous bounds: the machine is shared; what matters is that upstream time is not counted.
  EXPECT_LT(rec["gateway_overhead_ms"].get<double>(), upstream / 2);
  EXPECT_LT(overheadHeader(r), upstream / 2);
  EXPECT_GE(overheadHeader(r), 0.0);
}

TEST_F(CallRecordTest, BodiesAreLoggedRedactedAndCapped) {
  json c = config();
  c["models"]["logged"] = {{"provider", "mock"},
                           {"upstream_model", "gpt-4o-mini"},
                           {"log_bodies",
                            {{"request", true},
                             {"response", true},
                             {"headers", true},
                             {"redact_json_paths", {"messages.*.content", "choices.*.message.content"}},
                             {"redact_patterns", {"card-[0-9]+"}}}}};
  c["models"]["logged-stream"] = {{"provider", "mock"},
                                  {"upstream_model", "gpt-4o-mini"},
                                  {"log_bodies", {{"response", true}}}};
  c["models"]["capped"] = {{"provider", "mock"},
                           {"upstream_model", "gpt-4o-mini"},
                           {"log_bodies", {{"request", true}, {"response", true}, {"max_bytes", 64}}}};
  startGateway(c);

  json body = userChat("logged", "what is my balance?");
  body["user"] = "card-4111";
  body["metadata"] = {{"pasted", kGatewayKey}, {"also", std::string("key=") + kProviderKey}};
  Headers headers = authHeaders();
  headers["X-Trace"] = "card-77";
  headers["X-Api-Key"] = kGatewayKey;
  HttpResult logged = chat(body, headers);
  ASSERT_EQ(logged.status, 200) << logged.body;
  HttpResult streamed = stream({{"model", "logged-stream"}, {"stream", true}, {"messages", userChat("x")["messages"]}});
  ASSERT_EQ(streamed.status, 200);
  const std::string capped_body = userChat("capped", std::string(1000, 'a')).dump();
  HttpResult capped = post("/v1/chat/completions", capped_body, authHeaders());
  ASSERT_EQ(capped.status, 200);
  upstream_.failNext(400, R"({"error":{"message":"no card-1234 here","type":"invalid_request_error","code":"x"}})");
  HttpResult failed = chat(userChat("logged"));
  ASSERT_EQ(failed.status, 400);
  HttpResult plain = chat(userChat("priced"));
  ASSERT_EQ(plain.status, 200);

  auto recs = recordsById();
  ASSERT_EQ(recs.size(), 5u);
  const json& l = recs[logged.headers.at("x-request-id")];
  json req = json::parse(l["request_body"].get<std::string>());
  EXPECT_EQ(req["model"], "logged");
  EXPECT_EQ(req["messages"][0]["role"], "user");
  EXPECT_EQ(req["messages"][0]["content"], "[REDACTED]"); // by JSON path
  EXPECT_EQ(req["user"], "[REDACTED]");                   // by pattern
  EXPECT_EQ(req["metadata"]["pasted"], "[REDACTED]");     // the caller's own key
  EXPECT_EQ(req["metadata"]["also"], "key=[REDACTED]");   // a provider key
  json resp = json::parse(l["response_body"].get<std::string>());
  EXPECT_EQ(resp["choices"][0]["message"]["content"], "[REDACTED]");
  EXPECT_EQ(resp["usage"]["total_tokens"], 18);
  EXPECT_FALSE(l.contains("request_body_truncated"));
  ASSERT_TRUE(l["request_headers"].is_object());
  EXPECT_EQ(l["request_headers"]["x-trace"], "[REDACTED]");
  EXPECT_EQ(l["request_headers"]["content-type"], "application/json");
  EXPECT_FALSE(l["request_headers"].contains("authorization"));
  EXPECT_FALSE(l["request_headers"].contains("x-api-key"));

  // A stream's response body is the assembled final message, not the raw events.
  const json& s = recs[streamed.headers.at("x-request-id")];
  EXPECT_FALSE(s.contains("request_body"));
  json assembled = json::parse(s["response_body"].get<std::string>());
  EXPECT_EQ(assembled["object"], "chat.completion");
  EXPECT_EQ(assembled["choices"][0]["message"]["content"], "tok0 tok1 tok2 ");
  EXPECT_EQ(assembled["choices"][0]["finish_reason"], "stop");
  EXPECT_EQ(assembled["usage"]["total_tokens"], 14);

  const json& k = recs[capped.headers.at("x-request-id")];
  EXPECT_EQ(k["request_body"], capped_body.substr(0, 64)); // the first max_bytes, as sent
  EXPECT_EQ(k["request_body_truncated"], true);
  EXPECT_LE(k["response_body"].get<std::string>().size(), 64u);
  EXPECT_EQ(k["response_body_truncated"], true);

  // An error: the body the client received, redacted too.
  const json& f = recs[failed.headers.at("x-request-id")];
  EXPECT_NE(f["response_body"].get<std::string>().find("no [REDACTED] here"), std::string::npos);

  const json& p = recs[plain.headers.at("x-request-id")];
  EXPECT_FALSE(p.contains("request_body"));
  EXPECT_FALSE(p.contains("request_headers"));

  const std::string all = sinkText();
  EXPECT_EQ(all.find(kGatewayKey), std::string::npos);
  EXPECT_EQ(all.find(kProviderKey), std::string::npos);
  EXPECT_EQ(all.find("card-4111"), std::string::npos);
  EXPECT_EQ(all.find("what is my balance"), std::string::npos);
}

TEST_F(CallRecordTest, ModelsListCarriesTheCatalogFactsOfEachRoute) {
  startGateway(config());
  HttpResult r = httpRequest(gateway_->port(), "GET", "/v1/models", "", authHeaders());
  ASSERT_EQ(r.status, 200) << r.body;
  std::map<std::string, json> by_id;
  const json list = json::parse(r.body);
  for (const auto& m : list["data"]) {
    by_id[m["id"].get<std::string>()] = m;
  }
  ASSERT_TRUE(by_id.count("priced")) << r.body;
  const json& priced = by_id.at("priced");
  ASSERT_TRUE(priced.contains("switchyard")) << priced;
  const json& meta = priced["switchyard"];
  EXPECT_EQ(meta["catalog_id"], mini_->id);
  EXPECT_EQ(meta["upstream_model"], "gpt-4o-mini");
  EXPECT_EQ(meta["context_window"], mini_->context_window);
  EXPECT_EQ(meta["max_output_tokens"], mini_->max_output_tokens);
  EXPECT_EQ(meta["price_per_million_usd"]["input"], mini_->price.input);
  EXPECT_EQ(meta["capabilities"]["tools"], true);
  EXPECT_EQ(meta["prices_as_of"], mini_->prices_as_of);
  // A route the catalog does not know is still listed, without invented facts.
  ASSERT_TRUE(by_id.count("gpt-test"));
  EXPECT_FALSE(by_id.at("gpt-test").contains("switchyard"));
}

} // namespace
} // namespace switchyard::testing
