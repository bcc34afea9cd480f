// Behaviour of the "http" log sink plugin, loaded from its built library and pointed at an
// HTTP receiver on 127.0.0.1.
#include <Poco/DigestEngine.h>
#include <Poco/SHA2Engine.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>
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

constexpr const char* kSecretEnv = "SY_TEST_WEBHOOK_TOKEN";
constexpr const char* kSecret = "whsec-test-3b9f0c";

std::string record(int i, const std::string& extra = "") {
  return R"({"schema":"switchyard.call.v1","request_id":"req-)" + std::to_string(1000 + i) +
         R"(","status":200,"model":"gpt-test")" + extra + "}";
}

std::vector<std::string> batch(int from, int count) {
  std::vector<std::string> out;
  for (int i = from; i < from + count; ++i) {
    out.push_back(record(i));
  }
  return out;
}

std::string sha256Hex(const std::string& bytes) {
  Poco::SHA2Engine engine(Poco::SHA2Engine::SHA_256);
  engine.update(bytes);
  return Poco::DigestEngine::digestToHex(engine.digest());
}

// Every request_id the receiver got, in order, over all requests.
std::vector<std::string> receivedIds(const HttpReceiver& receiver) {
  std::vector<std::string> ids;
  for (const auto& r : receiver.requests()) {
    const json body = json::parse(r.body, nullptr, false);
    if (body.is_array()) {
      for (const auto& rec : body) {
        ids.push_back(rec.value("request_id", ""));
      }
    }
  }
  return ids;
}

class HttpSinkTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::setenv(kSecretEnv, kSecret, 1);
    plugin_ = std::make_unique<LoadedPlugin>(SY_TEST_PLUGIN_PATH, host_);
  }
  void TearDown() override { plugin_.reset(); }

  std::unique_ptr<LogSinkInstance> create(const json& config) {
    auto created = plugin_->createLogSink("http", config.dump());
    EXPECT_TRUE(created.ok()) << created.output.error.message;
    return std::move(created.instance);
  }
  std::string createError(const json& config) {
    auto created = plugin_->createLogSink("http", config.dump());
    EXPECT_FALSE(created.ok());
    return created.output.error.message;
  }

  FakeHost host_;
  std::unique_ptr<LoadedPlugin> plugin_;
  HttpReceiver receiver_;
};

TEST_F(HttpSinkTest, PostsTheBatchAsOneJsonArrayWithAnIdempotencyKey) {
  auto sink = create({{"url", receiver_.url("/hooks/calls?source=gw")}});
  ASSERT_TRUE(sink);
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch(batch(0, 3), out), SY_OK) << out.error.message;

  ASSERT_EQ(receiver_.requestCount(), 1u);
  const auto request = receiver_.requests().front();
  EXPECT_EQ(request.method, "POST");
  EXPECT_EQ(request.path, "/hooks/calls?source=gw");
  EXPECT_EQ(request.headers.at("content-type"), "application/json");
  const json body = json::parse(request.body);
  ASSERT_TRUE(body.is_array());
  ASSERT_EQ(body.size(), 3u);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(body[i], json::parse(record(i)));
  }
  // The key a receiver dedupes batches by: SHA-256 of the request ids, one per line.
  EXPECT_EQ(request.headers.at("idempotency-key"), sha256Hex("req-1000\nreq-1001\nreq-1002\n"));
}

TEST_F(HttpSinkTest, ARedeliveredBatchCarriesTheSameIdempotencyKey) {
  auto sink = create({{"url", receiver_.url()}});
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch(batch(0, 2), out), SY_OK);
  ASSERT_EQ(sink->writeBatch(batch(0, 2), out), SY_OK);
  ASSERT_EQ(sink->writeBatch(batch(2, 2), out), SY_OK);
  const auto requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 3u);
  EXPECT_EQ(requests[0].headers.at("idempotency-key"), requests[1].headers.at("idempotency-key"));
  EXPECT_NE(requests[0].headers.at("idempotency-key"), requests[2].headers.at("idempotency-key"));
}

TEST_F(HttpSinkTest, NdjsonPutsOneRecordPerLine) {
  auto sink = create({{"url", receiver_.url()}, {"format", "ndjson"}, {"idempotency_header", ""}});
  FakeOutput out;
  std::vector<std::string> records = batch(0, 2);
  // A record with a pretty-printed layout still becomes exactly one line.
  records.push_back("{\n  \"request_id\": \"req-multi\",\n  \"status\": 500\n}");
  ASSERT_EQ(sink->writeBatch(records, out), SY_OK);
  const auto request = receiver_.requests().at(0);
  EXPECT_EQ(request.headers.at("content-type"), "application/x-ndjson");
  EXPECT_EQ(request.headers.count("idempotency-key"), 0u);
  std::istringstream lines(request.body);
  std::vector<json> parsed;
  for (std::string line; std::getline(lines, line);) {
    parsed.push_back(json::parse(line));
  }
  ASSERT_EQ(parsed.size(), 3u);
  EXPECT_EQ(parsed[2]["request_id"], "req-multi");
  EXPECT_EQ(request.body.back(), '\n');
}

TEST_F(HttpSinkTest, SecretHeaderComesFromTheEnvironmentAndIsNeverLogged) {
  auto sink = create(
      {{"url", receiver_.url()},
       {"headers", {{"Authorization", {{"value_env", kSecretEnv}}}, {"X-Source", "switchyard"}}}});
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch(batch(0, 1), out), SY_OK);
  auto request = receiver_.requests().at(0);
  EXPECT_EQ(request.headers.at("authorization"), kSecret);
  EXPECT_EQ(request.headers.at("x-source"), "switchyard");

  // A failing delivery logs and reports why, without the secret.
  receiver_.respondWith(401, R"({"error":"bad token"})");
  FakeOutput failed;
  EXPECT_NE(sink->writeBatch(batch(1, 1), failed), SY_OK);
  EXPECT_TRUE(failed.error.set);
  EXPECT_FALSE(failed.contains(kSecret));
  EXPECT_FALSE(host_.logsContain(kSecret));
  EXPECT_TRUE(host_.logsContain("401"));
}

TEST_F(HttpSinkTest, MissingSecretVariableFailsAtCreateNamingOnlyTheVariable) {
  ::unsetenv(kSecretEnv);
  const std::string error = createError(
      {{"url", receiver_.url()}, {"headers", {{"Authorization", {{"value_env", kSecretEnv}}}}}});
  EXPECT_NE(error.find(kSecretEnv), std::string::npos) << error;
}

TEST_F(HttpSinkTest, GzipCompressesTheBody) {
  auto sink = create({{"url", receiver_.url()}, {"gzip", true}});
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch(batch(0, 50), out), SY_OK);
  const auto request = receiver_.requests().at(0);
  EXPECT_EQ(request.headers.at("content-encoding"), "gzip");
  EXPECT_LT(request.wire_body.size(), request.body.size());
  EXPECT_EQ(json::parse(request.body).size(), 50u);
}

TEST_F(HttpSinkTest, OnlyTwoHundredsCountAsDelivered) {
  auto sink = create({{"url", receiver_.url()}});
  for (int status : {200, 201, 202, 204}) {
    receiver_.respondWith(status, status == 204 ? "" : "{}");
    FakeOutput out;
    EXPECT_EQ(sink->writeBatch(batch(0, 1), out), SY_OK) << status;
  }
  for (int status : {301, 400, 404, 413, 429, 500, 503, 529}) {
    receiver_.respondWith(status, R"({"error":"no"})");
    FakeOutput out;
    EXPECT_NE(sink->writeBatch(batch(0, 1), out), SY_OK) << status;
    EXPECT_NE(out.error.message.find(std::to_string(status)), std::string::npos)
        << out.error.message;
  }
}

TEST_F(HttpSinkTest, ReceiverDownIsAFailureAndTheRetryAfterRecoveryDeliversOnce) {
  auto sink = create({{"url", receiver_.url()}, {"timeout_ms", 2000}});
  receiver_.stop();
  const auto records = batch(0, 5);
  FakeOutput down;
  EXPECT_NE(sink->writeBatch(records, down), SY_OK);
  EXPECT_NE(down.error.message.find("cannot reach"), std::string::npos) << down.error.message;

  receiver_.start();
  FakeOutput up;
  ASSERT_EQ(sink->writeBatch(records, up), SY_OK) << up.error.message;
  const auto ids = receivedIds(receiver_);
  EXPECT_EQ(ids,
            (std::vector<std::string>{"req-1000", "req-1001", "req-1002", "req-1003", "req-1004"}));
}

TEST_F(HttpSinkTest, AReceiverThatNeverAnswersTimesOut) {
  // Listens but never accepts: the connection lands in the backlog and nothing answers.
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(fd, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr), 0);
  ASSERT_EQ(::listen(fd, 8), 0);
  ASSERT_EQ(::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len), 0);
  const std::string url = "http://127.0.0.1:" + std::to_string(ntohs(addr.sin_port)) + "/";

  auto sink = create({{"url", url}, {"timeout_ms", 300}});
  const auto started = std::chrono::steady_clock::now();
  FakeOutput out;
  EXPECT_NE(sink->writeBatch(batch(0, 1), out), SY_OK);
  // Generous: only proves the call is bounded, not how fast the machine is.
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(30));
  ::close(fd);
}

TEST_F(HttpSinkTest, HttpsToAPlainHttpReceiverFailsTheHandshakeAndSendsNothing) {
  const std::string url = "https://127.0.0.1:" + std::to_string(receiver_.port()) + "/";
  auto sink = create({{"url", url}, {"timeout_ms", 2000}});
  FakeOutput out;
  EXPECT_NE(sink->writeBatch(batch(0, 1), out), SY_OK);
  EXPECT_TRUE(out.error.set);
  for (const auto& r : receiver_.requests()) {
    EXPECT_EQ(r.body.find("req-1000"), std::string::npos) << "records went out unencrypted";
  }
}

TEST_F(HttpSinkTest, RecordsThatAreNotJsonObjectsAreSkippedNotRetriedForever) {
  auto sink = create({{"url", receiver_.url()}});
  FakeOutput out;
  ASSERT_EQ(sink->writeBatch({"not json", record(1)}, out), SY_OK);
  EXPECT_EQ(receivedIds(receiver_), std::vector<std::string>{"req-1001"});
  ASSERT_EQ(sink->writeBatch({"[1,2]"}, out), SY_OK);
  EXPECT_EQ(receiver_.requestCount(), 1u);  // nothing left to send, nothing sent
}

TEST_F(HttpSinkTest, RejectsBadConfig) {
  EXPECT_NE(createError(json::object()).find("url"), std::string::npos);
  EXPECT_NE(createError({{"url", "ftp://example.com/x"}}).find("http"), std::string::npos);
  EXPECT_NE(createError({{"url", "http://user:pw@127.0.0.1:9/"}}).find("credentials"),
            std::string::npos);
  EXPECT_NE(createError({{"url", receiver_.url()}, {"format", "xml"}}).find("format"),
            std::string::npos);
  EXPECT_NE(createError({{"url", receiver_.url()}, {"retries", 3}}).find("retries"),
            std::string::npos);
  EXPECT_NE(createError({{"url", receiver_.url()}, {"timeout_ms", 0}}).find("timeout_ms"),
            std::string::npos);
  EXPECT_NE(createError({{"url", receiver_.url()}, {"headers", {{"X-A", 5}}}}).find("X-A"),
            std::string::npos);
  EXPECT_FALSE(plugin_->createLogSink("http", "not json").ok());
}

}  // namespace
}  // namespace switchyard
