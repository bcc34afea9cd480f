// A sink outage under load through a real gateway: the webhook receiver, the OTLP collector
// and PostgreSQL go down while calls keep coming, come back, and then every call is in every
// destination exactly once. The outage never shows on the request path.
#include <stdlib.h>

#include <map>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "gateway_fixture.h"
#include "postgres_cluster.h"
#include "support/http_receiver.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kPasswordEnv = "SY_TEST_OUTAGE_PG_PASSWORD";
constexpr const char* kWebhookTokenEnv = "SY_TEST_OUTAGE_WEBHOOK_TOKEN";
constexpr const char* kWebhookToken = "whsec-outage-61aa";

json userChat(int i) {
  return {{"model", "gpt-test"},
          {"messages", {{{"role", "user"}, {"content", "call " + std::to_string(i)}}}}};
}

// request_id -> how many times the webhook received it.
std::map<std::string, int> webhookIds(const HttpReceiver& receiver) {
  std::map<std::string, int> ids;
  for (const auto& r : receiver.requests()) {
    const json body = json::parse(r.body, nullptr, false);
    for (const auto& rec : body.is_array() ? body : json::array()) {
      ids[rec.value("request_id", "")]++;
    }
  }
  return ids;
}

// switchyard.request_id -> how many spans the collector received for it.
std::map<std::string, int> spanIds(const HttpReceiver& receiver) {
  std::map<std::string, int> ids;
  for (const auto& r : receiver.requests()) {
    const json body = json::parse(r.body, nullptr, false);
    if (!body.is_object()) {
      continue;
    }
    for (const auto& rs : body.value("resourceSpans", json::array())) {
      for (const auto& ss : rs.value("scopeSpans", json::array())) {
        for (const auto& span : ss.value("spans", json::array())) {
          for (const auto& a : span.value("attributes", json::array())) {
            if (a.value("key", "") == "switchyard.request_id") {
              ids[a["value"].value("stringValue", "")]++;
            }
          }
        }
      }
    }
  }
  return ids;
}

class SinkOutageTest : public GatewayTest {
 protected:
  void SetUp() override {
    GatewayTest::SetUp();
    try {
      postgres_ = std::make_unique<PostgresCluster>();
    } catch (const std::exception& e) {
      FAIL() << "cannot run a PostgreSQL server for this test: " << e.what();
    }
    ::setenv(kPasswordEnv, postgres_->password().c_str(), 1);
    ::setenv(kWebhookTokenEnv, kWebhookToken, 1);
    installFirstPartyPlugins();
    for (const char* name : {"http_sink", "otlp", "postgres"}) {
      installPlugin(fs::path(SY_PLUGIN_BUILD_DIR) / ("libswitchyard_" + std::string(name) + ".so"));
    }
  }
  void TearDown() override {
    GatewayTest::TearDown();  // the gateway goes first: its sinks hold connections
    postgres_.reset();
  }

  json config() const {
    json c = baseConfig();
    c["log_sinks"].push_back(
        {{"name", "webhook"},
         {"type", "http"},
         {"config",
          {{"url", webhook_.url("/calls")},
           {"timeout_ms", 3000},
           {"headers", {{"Authorization", {{"value_env", kWebhookTokenEnv}}}}}}}});
    c["log_sinks"].push_back({{"name", "traces"},
                              {"type", "otlp"},
                              {"config", {{"url", collector_.url()}, {"timeout_ms", 3000}}}});
    c["log_sinks"].push_back({{"name", "warehouse"},
                              {"type", "postgres"},
                              {"config",
                               {{"conninfo", postgres_->conninfo()},
                                {"password_env", kPasswordEnv},
                                {"connect_timeout_s", 3}}}});
    return c;
  }

  std::map<std::string, int> postgresIds() {
    std::map<std::string, int> ids;
    try {
      for (const auto& row : postgres_->query("SELECT request_id FROM switchyard_calls")) {
        ids[row[0]]++;
      }
    } catch (const std::exception&) {
      // The table appears with the sink's first connection.
    }
    return ids;
  }

  json consumer(const std::string& name) {
    const json runtime = admin("/admin/runtime");
    for (const auto& c : runtime["record_consumers"]) {
      if (c["name"] == name) {
        return c;
      }
    }
    return json();
  }

  // Sends `n` chats; every one must succeed whatever the sinks are doing. Returns their ids.
  std::vector<std::string> sendCalls(int from, int n) {
    std::vector<std::string> ids;
    for (int i = from; i < from + n; ++i) {
      const HttpResult r = chat(userChat(i));
      EXPECT_EQ(r.status, 200) << r.body;
      ids.push_back(r.headers.count("x-request-id") ? r.headers.at("x-request-id") : "");
    }
    return ids;
  }

  // Waits until every destination holds `expected` ids (60 s: retries back off up to 5 s).
  bool waitForAll(const std::set<std::string>& expected) {
    const auto until = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < until) {
      const auto w = webhookIds(webhook_);
      const auto s = spanIds(collector_);
      const auto p = postgresIds();
      const auto covers = [&](const std::map<std::string, int>& got) {
        for (const auto& id : expected) {
          if (!got.count(id)) {
            return false;
          }
        }
        return true;
      };
      if (covers(w) && covers(s) && covers(p)) {
        return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  }

  HttpReceiver webhook_;
  HttpReceiver collector_;
  std::unique_ptr<PostgresCluster> postgres_;
};

TEST_F(SinkOutageTest, EveryRecordArrivesExactlyOnceAfterTheSinksRecover) {
  startGateway(config());
  std::set<std::string> expected;

  auto before = sendCalls(0, 20);
  expected.insert(before.begin(), before.end());
  ASSERT_EQ(expected.size(), 20u) << "every answer carries its own x-request-id";
  ASSERT_TRUE(waitForAll(expected)) << "the sinks never caught up before the outage";

  // Down while idle, so no batch is cut off half-delivered: any duplicate below would be the
  // sinks' own doing.
  webhook_.stop();
  collector_.stop();
  postgres_->stop();

  auto during = sendCalls(20, 30);
  expected.insert(during.begin(), during.end());
  ASSERT_EQ(expected.size(), 50u);
  // The sinks notice: batches fail and are kept, nothing is dropped.
  ASSERT_TRUE(pollUntil(
      [&] {
        return consumer("webhook")["failed_batches"] > 0 &&
               consumer("traces")["failed_batches"] > 0 &&
               consumer("warehouse")["failed_batches"] > 0;
      },
      1500))
      << admin("/admin/runtime")["record_consumers"].dump();

  webhook_.start();
  collector_.start();
  postgres_->start();
  ASSERT_TRUE(waitForAll(expected)) << "records still missing after the sinks came back";

  for (const auto& [name, ids] :
       {std::pair{"webhook", webhookIds(webhook_)}, std::pair{"otlp", spanIds(collector_)},
        std::pair{"postgres", postgresIds()}}) {
    EXPECT_EQ(ids.size(), expected.size()) << name;
    for (const auto& [id, count] : ids) {
      EXPECT_TRUE(expected.count(id)) << name << " got an unknown id " << id;
      EXPECT_EQ(count, 1) << name << " got " << id << " " << count << " times";
    }
  }
  for (const char* name : {"webhook", "traces", "warehouse"}) {
    EXPECT_EQ(consumer(name)["dropped"], 0) << name;
  }
  // The secret header reached the receiver and nowhere else.
  EXPECT_EQ(webhook_.requests().back().headers.at("authorization"), kWebhookToken);
  for (const auto& rec : records()) {
    EXPECT_EQ(rec.dump().find(kWebhookToken), std::string::npos);
  }
  // The jsonl sink saw the same calls: the three exporters lost nothing it has.
  std::set<std::string> jsonl;
  for (const auto& rec : records()) {
    jsonl.insert(rec.value("request_id", ""));
  }
  EXPECT_EQ(jsonl, expected);
}

}  // namespace
}  // namespace switchyard::testing
