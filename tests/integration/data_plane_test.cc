// The unified API as a client sees it: chat, streaming, embeddings, models and every error
// the gateway itself produces, against a real gateway and the mock OpenAI upstream.
#include <Poco/Net/ServerSocket.h>

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <set>
#include <fstream>
#include <sstream>
#include <thread>

#include "gateway_fixture.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

json userChat(const std::string& model = "gpt-test") {
  return {{"model", model}, {"messages", {{{"role", "user"}, {"content", "ping"}}}}};
}

class DataPlaneTest : public GatewayTest {
protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
  }
};

TEST_F(DataPlaneTest, ChatIsTranslatedAndAnswered) {
  startGateway(baseConfig());
  HttpResult r = chat(userChat());
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 200);
  EXPECT_FALSE(r.headers["x-request-id"].empty());
  json body = json::parse(r.body);
  EXPECT_EQ(body["object"], "chat.completion");
  EXPECT_EQ(body["choices"][0]["message"]["content"], "echo: ping");

  RecordedRequest up = upstream_.lastRequest();
  EXPECT_EQ(up.path, "/v1/chat/completions");
  EXPECT_EQ(json::parse(up.body)["model"], "upstream-gpt");
  // The provider key goes upstream; the caller's gateway key never does.
  EXPECT_EQ(up.headers["authorization"], std::string("Bearer ") + kProviderKey);
  EXPECT_EQ(up.body.find(kGatewayKey), std::string::npos);
  for (const auto& [name, value] : up.headers) {
    EXPECT_EQ(value.find(kGatewayKey), std::string::npos) << name;
  }
}

TEST_F(DataPlaneTest, ToolCallsPassThrough) {
  startGateway(baseConfig());
  json req = userChat();
  req["tools"] = {{{"type", "function"},
                   {"function", {{"name", "get_weather"}, {"parameters", {{"type", "object"}}}}}}};
  HttpResult r = chat(req);
  ASSERT_EQ(r.status, 200) << r.body;
  json body = json::parse(r.body);
  EXPECT_EQ(body["choices"][0]["finish_reason"], "tool_calls");
  EXPECT_EQ(body["choices"][0]["message"]["tool_calls"][0]["function"]["name"], "get_weather");
  EXPECT_EQ(json::parse(upstream_.lastRequest().body)["tools"][0]["function"]["name"], "get_weather");
}

TEST_F(DataPlaneTest, StreamChunksArriveBeforeTheUpstreamFinishes) {
  startGateway(baseConfig());
  upstream_.setStreamChunks(3);
  upstream_.holdStreams(true);
  json req = userChat();
  req["stream"] = true;

  std::atomic<bool> saw_first_chunk{false};
  std::atomic<bool> upstream_was_open{false};
  std::string received;
  std::thread client([&] {
    HttpResult r = httpStream(gateway_->port(), "/v1/chat/completions", req.dump(), authHeaders(),
                              [&](std::string_view bytes) {
                                received.append(bytes);
                                if (!saw_first_chunk && received.find("tok0") != std::string::npos) {
                                  // The upstream is still holding the rest of its stream.
                                  upstream_was_open = upstream_.openStreams() == 1;
                                  saw_first_chunk = true;
                                  upstream_.releaseStreams();
                                }
                              });
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.headers["content-type"].rfind("text/event-stream", 0), 0u);
  });
  client.join();
  EXPECT_TRUE(saw_first_chunk);
  EXPECT_TRUE(upstream_was_open);
  EXPECT_NE(received.find("tok2"), std::string::npos);
  EXPECT_NE(received.find("data: [DONE]"), std::string::npos);
  // The client did not ask for usage, so the usage chunk the gateway asked for stays hidden.
  size_t chunks = 0;
  for (size_t at = received.find("data: {"); at != std::string::npos; at = received.find("data: {", at + 1)) {
    json chunk = json::parse(received.substr(at + 6, received.find("\n\n", at) - at - 6));
    EXPECT_TRUE(!chunk.contains("usage") || chunk["usage"].is_null()) << chunk.dump();
    EXPECT_FALSE(chunk["choices"].empty());
    ++chunks;
  }
  EXPECT_EQ(chunks, 5u); // role, three tokens, finish
  EXPECT_TRUE(json::parse(upstream_.lastRequest().body)["stream_options"]["include_usage"].get<bool>());

  auto recs = records();
  ASSERT_EQ(recs.size(), 1u);
  EXPECT_TRUE(recs[0]["stream"].get<bool>());
  EXPECT_EQ(recs[0]["usage"]["completion_tokens"], 3);
  EXPECT_EQ(recs[0]["usage"]["prompt_tokens"], 11);
}

TEST_F(DataPlaneTest, StreamUsageIsRelayedWhenTheClientAsks) {
  startGateway(baseConfig());
  json req = userChat();
  req["stream"] = true;
  req["stream_options"] = {{"include_usage", true}};
  std::string received;
  HttpResult r = httpStream(gateway_->port(), "/v1/chat/completions", req.dump(), authHeaders(),
                            [&](std::string_view b) { received.append(b); });
  EXPECT_EQ(r.status, 200);
  EXPECT_NE(received.find("\"usage\""), std::string::npos);
  EXPECT_NE(received.find("data: [DONE]"), std::string::npos);
}

TEST_F(DataPlaneTest, EmbeddingsAndModels) {
  startGateway(baseConfig());
  HttpResult e = post("/v1/embeddings", json{{"model", "embed-test"}, {"input", {"a", "b"}}}.dump(), authHeaders());
  ASSERT_EQ(e.status, 200) << e.body;
  json body = json::parse(e.body);
  EXPECT_EQ(body["data"].size(), 2u);
  EXPECT_EQ(upstream_.lastRequest().path, "/v1/embeddings");
  EXPECT_EQ(json::parse(upstream_.lastRequest().body)["model"], "upstream-embed");

  HttpResult m = httpRequest(gateway_->port(), "GET", "/v1/models", "", authHeaders());
  ASSERT_EQ(m.status, 200);
  json models = json::parse(m.body);
  EXPECT_EQ(models["object"], "list");
  std::set<std::string> ids;
  for (const auto& d : models["data"]) {
    ids.insert(d["id"]);
  }
  EXPECT_EQ(ids, (std::set<std::string>{"gpt-test", "embed-test"}));
}

void expectError(const HttpResult& r, int status, const std::string& code) {
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, status) << r.body;
  EXPECT_FALSE(r.headers.at("x-request-id").empty());
  json body = json::parse(r.body, nullptr, false);
  ASSERT_TRUE(body.is_object()) << r.body;
  EXPECT_EQ(body["error"]["code"], code) << r.body;
  EXPECT_TRUE(body["error"]["message"].is_string());
  EXPECT_TRUE(body["error"]["type"].is_string());
}

TEST_F(DataPlaneTest, GatewayErrorsAreOpenAiShaped) {
  json config = baseConfig();
  config["server"]["max_body_bytes"] = 4096;
  startGateway(config);
  expectError(post("/v1/chat/completions", "{not json", authHeaders()), 400, "invalid_json");
  expectError(post("/v1/chat/completions", R"({"messages":[]})", authHeaders()), 400, "missing_model");
  expectError(chat(userChat(), {{"Content-Type", "application/json"}}), 401, "missing_api_key");
  expectError(chat(userChat(), {{"Authorization", "Bearer sk-wrong"}}), 401, "invalid_api_key");
  expectError(chat(userChat("no-such-model")), 404, "model_not_found");
  expectError(post("/v1/chat/completions", std::string(8192, ' ') + userChat().dump(), authHeaders()), 413,
              "request_too_large");
  EXPECT_EQ(upstream_.requestCount(), 0u);
}

// Coding agents send tool catalogs of a megabyte and more; they must pass whole, under the
// configurable body limit, not a hidden 32 KiB one.
TEST_F(DataPlaneTest, AMegabyteOfToolDefinitionsPassesWhole) {
  json req = userChat();
  req["tools"] = json::array();
  // Counted tool by tool: dumping the whole request each time would be quadratic.
  for (size_t i = 0, bytes = 0; bytes < 1536 * 1024; ++i) {
    json tool = {{"type", "function"},
                 {"function",
                  {{"name", "tool_" + std::to_string(i)},
                   {"description", std::string(900, 'd')},
                   {"parameters", {{"type", "object"}, {"properties", json::object()}}}}}};
    bytes += tool.dump().size() + 1;
    req["tools"].push_back(std::move(tool));
  }
  startGateway(baseConfig());
  HttpResult r = chat(req);
  ASSERT_EQ(r.status, 200) << r.body;
  const json sent = json::parse(upstream_.lastRequest().body);
  EXPECT_EQ(sent["tools"], req["tools"]);
}

TEST_F(DataPlaneTest, UpstreamUnreachableIs502AndSilentUpstreamIs504) {
  // A listener that accepts but never answers, and a port with nothing behind it.
  Poco::Net::ServerSocket silent(Poco::Net::SocketAddress("127.0.0.1", 0));
  uint16_t closed_port = 0;
  {
    Poco::Net::ServerSocket s(Poco::Net::SocketAddress("127.0.0.1", 0));
    closed_port = s.address().port();
  }
  json config = baseConfig();
  config["providers"]["dead"] = {{"type", "openai"}, {"base_url", "http://127.0.0.1:" + std::to_string(closed_port) + "/v1"}};
  config["providers"]["silent"] = {{"type", "openai"},
                                   {"base_url", "http://127.0.0.1:" + std::to_string(silent.address().port()) + "/v1"},
                                   {"timeouts", {{"first_byte_ms", 300}}}};
  config["models"]["dead-model"] = {{"provider", "dead"}};
  config["models"]["silent-model"] = {{"provider", "silent"}};
  startGateway(config);
  expectError(chat(userChat("dead-model")), 502, "upstream_unreachable");
  expectError(chat(userChat("silent-model")), 504, "upstream_timeout");
}

TEST_F(DataPlaneTest, ProviderErrorsKeepTheirStatusAndMessage) {
  startGateway(baseConfig());
  upstream_.failNext(429, R"({"error":{"message":"Rate limit reached","type":"rate_limit_error","code":"rate_limit_exceeded"}})");
  HttpResult r = chat(userChat());
  EXPECT_EQ(r.status, 429);
  json body = json::parse(r.body);
  EXPECT_EQ(body["error"]["message"], "Rate limit reached");
  EXPECT_EQ(body["error"]["type"], "rate_limit_error");
}

TEST_F(DataPlaneTest, RecordsCarryTheCallAndNoSecret) {
  // Capture everything the gateway logs while it serves.
  std::ostringstream logs;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(logs);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  json config = baseConfig();
  config["logging"]["level"] = "trace";
  startGateway(config);
  const HttpResult answered = chat(userChat());
  ASSERT_EQ(answered.status, 200);
  const HttpResult unrouted = chat(userChat("no-such-model"));
  ASSERT_EQ(unrouted.status, 404);
  auto recs = records();
  gateway_->shutdown();
  spdlog::set_default_logger(previous);

  // The quick 404 may overtake the 200's record: each is found by its request id.
  ASSERT_EQ(recs.size(), 2u);
  const json ok = recordFor(recs, answered);
  const json missing = recordFor(recs, unrouted);
  EXPECT_EQ(ok["schema"], "switchyard.call.v1");
  EXPECT_EQ(ok["status"], 200);
  EXPECT_EQ(ok["model"], "gpt-test");
  EXPECT_EQ(ok["provider"], "mock");
  EXPECT_EQ(ok["upstream_model"], "upstream-gpt");
  EXPECT_EQ(ok["principal"]["tenant"], "team-a");
  EXPECT_EQ(ok["principal"]["key_id"], "team-a-key");
  EXPECT_EQ(ok["usage"]["total_tokens"], 18);
  EXPECT_TRUE(ok["latency_ms"].is_number());
  EXPECT_TRUE(ok["ttfb_ms"].is_number());
  EXPECT_EQ(missing["status"], 404);
  EXPECT_EQ(missing["error"]["code"], "model_not_found");

  std::ifstream in(recordsPath());
  std::string all((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  for (const std::string& text : {all, logs.str()}) {
    EXPECT_EQ(text.find(kGatewayKey), std::string::npos);
    EXPECT_EQ(text.find(kProviderKey), std::string::npos);
  }
}

TEST_F(DataPlaneTest, StatsAnalyticsAnswersOnTheAdminPort) {
  startGateway(baseConfig());
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(chat(userChat()).status, 200);
  }
  records();
  json stats = admin("/admin/analytics/stats?group_by=model");
  EXPECT_EQ(stats["models"]["gpt-test"]["requests"], 3);
  EXPECT_EQ(stats["models"]["gpt-test"]["total_tokens"], 54);
  EXPECT_EQ(admin("/admin/analytics/nope")["error"]["code"], "not_found");
}

TEST_F(DataPlaneTest, HealthAndReadiness) {
  startGateway(baseConfig());
  EXPECT_EQ(httpRequest(gateway_->port(), "GET", "/healthz").status, 200);
  EXPECT_EQ(httpRequest(gateway_->port(), "GET", "/readyz").status, 200);
  HttpResult unknown = httpRequest(gateway_->port(), "GET", "/v2/nothing");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["error"]["code"], "unknown_url");
  EXPECT_EQ(httpRequest(gateway_->port(), "GET", "/v1/chat/completions").status, 405);
}

} // namespace
} // namespace switchyard::testing
