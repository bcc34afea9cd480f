// The SDK promise end to end: a plugin built out of tree against the installed SDK alone
// (by the sdk_out_of_tree test) loads into a running gateway and serves a request.
#include "gateway_fixture.h"

namespace switchyard::testing {
namespace {

using nlohmann::json;

TEST_F(GatewayTest, OutOfTreeExamplePluginServesThroughTheGateway) {
  installFirstPartyPlugins();
  installPlugin(SDK_EXAMPLE_PATH, "libhello_provider.so");
  json config = baseConfig();
  config["providers"]["hello"] = {{"type", "hello"}, {"base_url", upstream_.baseUrl()}};
  config["models"]["hello-model"] = {{"provider", "hello"}, {"upstream_model", "upstream-hello"}};
  startGateway(config);
  HttpResult r = chat({{"model", "hello-model"}, {"messages", {{{"role", "user"}, {"content", "hi"}}}}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(json::parse(r.body)["choices"][0]["message"]["content"], "echo: hi");
  EXPECT_EQ(json::parse(upstream_.lastRequest().body)["model"], "upstream-hello");
}

} // namespace
} // namespace switchyard::testing
