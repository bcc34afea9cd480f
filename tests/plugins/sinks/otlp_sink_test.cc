// Behaviour of the "otlp" log sink plugin: the OTLP/HTTP JSON it sends, checked field by
// field against the ExportTraceServiceRequest encoding and the GenAI semantic conventions,
// and how it treats the collector's answers.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <regex>
#include <string>
#include <switchyard/testing/fake_host.hpp>
#include <vector>

#include "support/http_receiver.h"

namespace switchyard {
namespace {

using nlohmann::json;
using testing::FakeHost;
using testing::FakeOutput;
using testing::HttpReceiver;
using testing::LoadedPlugin;
using testing::LogSinkInstance;

json successRecord() {
  return {{"schema", "switchyard.call.v1"},
          {"request_id", "req_0123456789abcdef0123456789abcdef"},
          {"start_unix_ms", 1764150000123},
          {"latency_ms", 250.5},
          {"ttft_ms", 80.25},
          {"principal", {{"tenant", "team-a"}, {"app", "checkout"}, {"key_id", "team-a-key"}}},
          {"endpoint", "/v1/chat/completions"},
          {"api", "/v1/chat/completions"},
          {"operation", "chat.completions"},
          {"model", "gpt-test"},
          {"provider", "mock"},
          {"provider_type", "openai"},
          {"upstream_model", "upstream-gpt"},
          {"stream", true},
          {"status", 200},
          {"usage", {{"prompt_tokens", 11}, {"completion_tokens", 7}, {"total_tokens", 18}}},
          {"cost_usd", 0.00042},
          {"attempts", json::array({{{"target", "mock/upstream-gpt"}, {"outcome", "ok"}}})}};
}

json errorRecord() {
  return {{"schema", "switchyard.call.v1"},
          {"request_id", "req_ffff"},
          {"start_unix_ms", 1764150001000},
          {"latency_ms", 12},
          {"principal", {{"tenant", "team-b"}, {"app", ""}, {"key_id", "k2"}}},
          {"endpoint", "/v1/embeddings"},
          {"operation", "embeddings"},
          {"model", "embed-test"},
          {"provider", "mock"},
          {"provider_type", "bedrock"},
          {"upstream_model", "upstream-embed"},
          {"stream", false},
          {"status", 429},
          {"response_flags", {"RL", "URX"}},
          {"error",
           {{"type", "rate_limit_error"}, {"code", "rate_limited"}, {"message", "slow down"}}}};
}

/// attributes as key -> AnyValue.
std::map<std::string, json> attributes(const json& list) {
  std::map<std::string, json> out;
  for (const auto& kv : list) {
    EXPECT_TRUE(kv.contains("key") && kv["key"].is_string()) << kv.dump();
    EXPECT_TRUE(kv.contains("value") && kv["value"].is_object() && kv["value"].size() == 1)
        << kv.dump();
    out[kv["key"].get<std::string>()] = kv["value"];
  }
  return out;
}

bool isHex(const json& v, size_t length) {
  return v.is_string() && v.get<std::string>().size() == length &&
         std::regex_match(v.get<std::string>(), std::regex("[0-9a-f]+")) &&
         v.get<std::string>() != std::string(length, '0');
}

bool isDecimalString(const json& v) {
  return v.is_string() && std::regex_match(v.get<std::string>(), std::regex("[0-9]+"));
}

class OtlpSinkTest : public ::testing::Test {
 protected:
  void SetUp() override { plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_); }
  void TearDown() override { plugin_.reset(); }

  std::unique_ptr<LogSinkInstance> create(json config) {
    if (!config.contains("url")) {
      config["url"] = receiver_.url();
    }
    auto created = plugin_->createLogSink("otlp", config.dump());
    EXPECT_TRUE(created.ok()) << created.output.error.message;
    return std::move(created.instance);
  }

  double metricTotal(const std::string& name) const {
    double total = 0;
    for (const auto& m : host_.metrics()) {
      total += m.name == name ? m.value : 0;
    }
    return total;
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  HttpReceiver receiver_;
};

TEST_F(OtlpSinkTest, ExportsOneGenAiSpanPerCallInOtlpJson) {
  auto sink = create({{"service_name", "gateway-eu"},
                      {"resource_attributes", {{"deployment.environment", "test"}}},
                      {"server_addresses", {{"mock", "api.example.com:8443"}}}});
  ASSERT_TRUE(sink);
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({successRecord().dump(), errorRecord().dump()}, out), SY_OK)
      << out.error.message;

  ASSERT_EQ(receiver_.requestCount(), 1u);
  const auto request = receiver_.requests().front();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/v1/traces");  // appended to a bare endpoint
  EXPECT_EQ(request.headers.at("content-type"), "application/json");

  const json body = json::parse(request.body);
  ASSERT_TRUE(body["resourceSpans"].is_array());
  ASSERT_EQ(body["resourceSpans"].size(), 1u);
  const json& rs = body["resourceSpans"][0];
  const auto resource = attributes(rs["resource"]["attributes"]);
  EXPECT_EQ(resource.at("service.name"), json({{"stringValue", "gateway-eu"}}));
  EXPECT_EQ(resource.at("deployment.environment"), json({{"stringValue", "test"}}));
  ASSERT_EQ(rs["scopeSpans"].size(), 1u);
  const json& ss = rs["scopeSpans"][0];
  EXPECT_TRUE(ss["scope"]["name"].is_string());
  EXPECT_FALSE(ss["scope"]["name"].get<std::string>().empty());
  ASSERT_EQ(ss["spans"].size(), 2u);

  for (const json& span : ss["spans"]) {
    EXPECT_TRUE(isHex(span["traceId"], 32)) << span["traceId"];
    EXPECT_TRUE(isHex(span["spanId"], 16)) << span["spanId"];
    EXPECT_EQ(span["kind"], 3);  // SPAN_KIND_CLIENT
    ASSERT_TRUE(isDecimalString(span["startTimeUnixNano"])) << span["startTimeUnixNano"];
    ASSERT_TRUE(isDecimalString(span["endTimeUnixNano"])) << span["endTimeUnixNano"];
    EXPECT_FALSE(span.contains("parentSpanId"));
  }

  const json& ok = ss["spans"][0];
  EXPECT_EQ(ok["name"], "chat gpt-test");
  EXPECT_EQ(ok["startTimeUnixNano"], "1764150000123000000");
  EXPECT_EQ(ok["endTimeUnixNano"], "1764150000373500000");  // + 250.5 ms
  EXPECT_FALSE(ok.contains("status"));  // unset on success, as the conventions ask
  const auto a = attributes(ok["attributes"]);
  EXPECT_EQ(a.at("gen_ai.operation.name"), json({{"stringValue", "chat"}}));
  EXPECT_EQ(a.at("gen_ai.provider.name"), json({{"stringValue", "openai"}}));
  EXPECT_EQ(a.at("gen_ai.system"), json({{"stringValue", "openai"}}));
  EXPECT_EQ(a.at("gen_ai.request.model"), json({{"stringValue", "gpt-test"}}));
  EXPECT_EQ(a.at("gen_ai.response.model"), json({{"stringValue", "upstream-gpt"}}));
  EXPECT_EQ(a.at("gen_ai.usage.input_tokens"), json({{"intValue", "11"}}));
  EXPECT_EQ(a.at("gen_ai.usage.output_tokens"), json({{"intValue", "7"}}));
  EXPECT_EQ(a.at("server.address"), json({{"stringValue", "api.example.com"}}));
  EXPECT_EQ(a.at("server.port"), json({{"intValue", "8443"}}));
  EXPECT_EQ(a.at("http.response.status_code"), json({{"intValue", "200"}}));
  EXPECT_EQ(a.count("error.type"), 0u);
  EXPECT_EQ(a.at("switchyard.request_id"),
            json({{"stringValue", "req_0123456789abcdef0123456789abcdef"}}));
  EXPECT_EQ(a.at("switchyard.tenant"), json({{"stringValue", "team-a"}}));
  EXPECT_EQ(a.at("switchyard.app"), json({{"stringValue", "checkout"}}));
  EXPECT_EQ(a.at("switchyard.api"), json({{"stringValue", "/v1/chat/completions"}}));
  EXPECT_EQ(a.at("switchyard.stream"), json({{"boolValue", true}}));
  EXPECT_EQ(a.at("switchyard.cost_usd"), json({{"doubleValue", 0.00042}}));
  EXPECT_EQ(a.at("switchyard.ttft_ms"), json({{"doubleValue", 80.25}}));
  EXPECT_EQ(a.at("switchyard.attempts"), json({{"intValue", "1"}}));

  const json& failed = ss["spans"][1];
  EXPECT_EQ(failed["name"], "embeddings embed-test");
  EXPECT_EQ(failed["status"]["code"], 2);  // STATUS_CODE_ERROR
  EXPECT_EQ(failed["status"]["message"], "slow down");
  const auto f = attributes(failed["attributes"]);
  EXPECT_EQ(f.at("gen_ai.operation.name"), json({{"stringValue", "embeddings"}}));
  EXPECT_EQ(f.at("gen_ai.provider.name"), json({{"stringValue", "aws.bedrock"}}));
  EXPECT_EQ(f.at("error.type"), json({{"stringValue", "rate_limit_error"}}));
  EXPECT_EQ(
      f.at("switchyard.response_flags"),
      json({{"arrayValue", {{"values", {{{"stringValue", "RL"}}, {{"stringValue", "URX"}}}}}}}));
  EXPECT_EQ(f.count("switchyard.app"), 0u);  // empty values are left out
  EXPECT_EQ(f.count("gen_ai.usage.input_tokens"), 0u);
}

TEST_F(OtlpSinkTest, IdsAreStablePerRequestSoRedeliveryCanBeDeduplicated) {
  auto sink = create({});
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({successRecord().dump()}, out), SY_OK);
  ASSERT_EQ(sink->writeBatch({successRecord().dump(), errorRecord().dump()}, out), SY_OK);
  const auto requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 2u);
  const json first = json::parse(requests[0].body)["resourceSpans"][0]["scopeSpans"][0]["spans"];
  const json second = json::parse(requests[1].body)["resourceSpans"][0]["scopeSpans"][0]["spans"];
  EXPECT_EQ(first[0]["traceId"], second[0]["traceId"]);
  EXPECT_EQ(first[0]["spanId"], second[0]["spanId"]);
  EXPECT_NE(second[0]["traceId"], second[1]["traceId"]);
}

TEST_F(OtlpSinkTest, PartialSuccessIsCountedAndNotRetried) {
  auto sink = create({});
  receiver_.respondWith(200,
                        R"({"partialSuccess":{"rejectedSpans":"1","errorMessage":"bad attr"}})");
  FakeOutput out;
  EXPECT_EQ(sink->writeBatch({successRecord().dump(), errorRecord().dump()}, out), SY_OK);
  EXPECT_EQ(metricTotal("otlp_rejected_spans"), 1);
  EXPECT_TRUE(host_.logsContain("bad attr"));

  // A partialSuccess that rejects nothing is only a message.
  receiver_.respondWith(200, R"({"partialSuccess":{}})");
  EXPECT_EQ(sink->writeBatch({successRecord().dump()}, out), SY_OK);
  EXPECT_EQ(metricTotal("otlp_rejected_spans"), 1);
}

TEST_F(OtlpSinkTest, RetryableAnswersAndOutagesAreFailures) {
  auto sink = create({{"timeout_ms", 2000}});
  for (int status : {429, 500, 502, 503, 504, 401}) {
    receiver_.respondWith(status, "{}");
    FakeOutput out;
    EXPECT_NE(sink->writeBatch({successRecord().dump()}, out), SY_OK) << status;
    EXPECT_TRUE(out.error.set);
  }
  receiver_.stop();
  FakeOutput down;
  EXPECT_NE(sink->writeBatch({successRecord().dump()}, down), SY_OK);
  receiver_.start();
  receiver_.respondWith(200, "{}");
  FakeOutput up;
  EXPECT_EQ(sink->writeBatch({successRecord().dump()}, up), SY_OK);
}

TEST_F(OtlpSinkTest, AMalformedPayloadAnswerIsCountedAsRejectedAndDropped) {
  auto sink = create({});
  receiver_.respondWith(400, R"({"code":3,"message":"invalid"})");
  FakeOutput out;
  EXPECT_EQ(sink->writeBatch({successRecord().dump(), errorRecord().dump()}, out), SY_OK);
  EXPECT_EQ(metricTotal("otlp_rejected_spans"), 2);
}

TEST_F(OtlpSinkTest, AUrlWithAPathIsUsedAsGivenAndGzipWorks) {
  auto sink = create({{"url", receiver_.url("/otlp/v1/traces")}, {"gzip", true}});
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({successRecord().dump()}, out), SY_OK);
  const auto request = receiver_.requests().at(0);
  EXPECT_EQ(request.path, "/otlp/v1/traces");
  EXPECT_EQ(request.headers.at("content-encoding"), "gzip");
  EXPECT_EQ(json::parse(request.body)["resourceSpans"][0]["scopeSpans"][0]["spans"].size(), 1u);
}

TEST_F(OtlpSinkTest, RejectsBadConfig) {
  EXPECT_FALSE(plugin_->createLogSink("otlp", "{}").ok());
  EXPECT_FALSE(
      plugin_->createLogSink("otlp", json({{"url", receiver_.url()}, {"service_name", ""}}).dump())
          .ok());
  EXPECT_FALSE(
      plugin_
          ->createLogSink(
              "otlp", json({{"url", receiver_.url()}, {"server_addresses", {{"m", "h:x"}}}}).dump())
          .ok());
  EXPECT_FALSE(
      plugin_->createLogSink("otlp", json({{"url", receiver_.url()}, {"protocol", "grpc"}}).dump())
          .ok());
}

}  // namespace
}  // namespace switchyard
