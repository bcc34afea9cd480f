// The server's promises under pressure: no connection is dropped silently at the cap, and
// SIGTERM-style shutdown lets in-flight streams finish while refusing new connections.
#include <Poco/Net/StreamSocket.h>

#include <fstream>

#include <thread>

#include "gateway_fixture.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

class ServerLimitsTest : public GatewayTest {
protected:
  void SetUp() override {
    GatewayTest::SetUp();
    installFirstPartyPlugins();
  }
};

TEST_F(ServerLimitsTest, BeyondTheConnectionCapClientsGet503WithRetryAfter) {
  json config = baseConfig();
  config["server"]["max_connections"] = 2;
  startGateway(config);
  Poco::Net::SocketAddress address("127.0.0.1", gateway_->port());
  Poco::Net::StreamSocket held1(address);
  Poco::Net::StreamSocket held2(address);
  // Both held connections are admitted once the server has counted them.
  ASSERT_TRUE(pollUntil([&] { return admin("/admin/runtime")["connections"]["open"] == 2; }));

  HttpResult r = httpRequest(gateway_->port(), "GET", "/healthz");
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.status, 503);
  EXPECT_EQ(r.headers["retry-after"], "1");
  EXPECT_EQ(json::parse(r.body)["error"]["code"], "gateway_overloaded");
  EXPECT_GE(admin("/admin/runtime")["connections"]["refused"].get<int>(), 1);

  held1.close();
  held2.close();
  ASSERT_TRUE(pollUntil([&] { return admin("/admin/runtime")["connections"]["open"] == 0; }));
  EXPECT_EQ(httpRequest(gateway_->port(), "GET", "/healthz").status, 200);
}

TEST_F(ServerLimitsTest, ShutdownDrainsOpenStreamsAndRefusesNewConnections) {
  startGateway(baseConfig());
  upstream_.setStreamChunks(3);
  upstream_.holdStreams(true);
  json req = {{"model", "gpt-test"}, {"stream", true}, {"messages", {{{"role", "user"}, {"content", "x"}}}}};
  std::string received;
  HttpResult result;
  std::thread client([&] {
    result = httpStream(gateway_->port(), "/v1/chat/completions", req.dump(), authHeaders(),
                        [&](std::string_view b) { received.append(b); });
  });
  ASSERT_TRUE(upstream_.waitForOpenStreams(1));
  const uint16_t port = gateway_->port();
  std::thread stopper([&] { gateway_->shutdown(); });
  // Once shutdown has begun, new connections are refused...
  bool refused = false;
  for (int i = 0; i < 200 && !refused; ++i) {
    refused = !httpRequest(port, "GET", "/healthz").ok;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  EXPECT_TRUE(refused);
  // ...while the stream already in flight runs to its end.
  upstream_.releaseStreams();
  client.join();
  stopper.join();
  EXPECT_EQ(result.status, 200);
  EXPECT_NE(received.find("data: [DONE]"), std::string::npos);
  // The record of the drained stream was flushed to the sink before shutdown returned.
  std::ifstream in(recordsPath());
  std::string line;
  ASSERT_TRUE(std::getline(in, line));
  EXPECT_TRUE(json::parse(line)["stream"].get<bool>());
}

} // namespace
} // namespace switchyard::testing
