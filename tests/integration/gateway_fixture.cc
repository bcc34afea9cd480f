#include "gateway_fixture.h"

#include <stdlib.h>

#include <fstream>
#include <thread>

namespace switchyard::testing {
namespace fs = std::filesystem;
using nlohmann::json;

void GatewayTest::SetUp() {
  char tmpl[] = "/tmp/sy-itest-XXXXXX";
  ASSERT_NE(::mkdtemp(tmpl), nullptr);
  dir_ = tmpl;
  plugin_dir_ = dir_ / "plugins";
  fs::create_directories(plugin_dir_);
  ::setenv(kProviderKeyEnv, kProviderKey, 1);
}

void GatewayTest::TearDown() {
  if (gateway_) {
    gateway_->shutdown();
    gateway_.reset();
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

void GatewayTest::installPlugin(const fs::path& library, const std::string& as) {
  const fs::path target = plugin_dir_ / (as.empty() ? library.filename().string() : as);
  const fs::path tmp = dir_ / (target.filename().string() + ".partial");
  fs::copy_file(library, tmp, fs::copy_options::overwrite_existing);
  fs::rename(tmp, target);
}

void GatewayTest::installFirstPartyPlugins() {
  for (const char* name : {"openai", "apikey", "jsonl", "stats"}) {
    installPlugin(fs::path(SY_PLUGIN_BUILD_DIR) / ("libswitchyard_" + std::string(name) + ".so"));
  }
}

void GatewayTest::removePlugin(const std::string& name) { fs::remove(plugin_dir_ / name); }

json GatewayTest::baseConfig() const {
  // sha256("sk-gateway-test-7f3a")
  return json{
      {"server", {{"listen", "127.0.0.1:0"}, {"max_connections", 256}, {"drain_timeout_s", 10}}},
      {"admin", {{"listen", "127.0.0.1:0"}}},
      {"plugins", {{"dirs", {plugin_dir_.string()}}, {"cache_dir", (dir_ / "cache").string()}, {"poll_interval_ms", 100}}},
      {"providers",
       {{"mock",
         {{"type", "openai"},
          {"base_url", upstream_.baseUrl()},
          {"api_key_env", kProviderKeyEnv},
          {"timeouts", {{"connect_ms", 2000}, {"first_byte_ms", 10000}, {"idle_ms", 10000}, {"total_ms", 30000}}}}}}},
      {"models", {{"gpt-test", {{"provider", "mock"}, {"upstream_model", "upstream-gpt"}}},
                  {"embed-test", {{"provider", "mock"}, {"upstream_model", "upstream-embed"}}}}},
      {"auth",
       {{{"type", "apikey"},
         {"config",
          {{"keys",
            {{{"id", "team-a-key"},
              {"sha256", "862ee600273ad6b77d96adae47c49d5f1526a0ef70c2f72e1fdf7fa4495e4ac9"},
              {"tenant", "team-a"},
              {"app", "checkout"}}}}}}}}},
      {"log_sinks", {{{"name", "calls"}, {"type", "jsonl"}, {"config", {{"path", recordsPath().string()}}}}}},
      {"analytics", {{{"name", "stats"}, {"type", "stats"}}}},
      {"logging", {{"level", "warn"}}},
      {"data_dir", (dir_ / "data").string()}};
}

void GatewayTest::writeConfig(const json& config) {
  const fs::path tmp = dir_ / "config.json.partial";
  std::ofstream(tmp) << config.dump(2);
  fs::rename(tmp, dir_ / "config.json");
}

void GatewayTest::startGateway(const json& config) {
  writeConfig(config);
  gateway_ = std::make_unique<Gateway>(dir_ / "config.json");
  gateway_->start();
}

bool GatewayTest::pollUntil(const std::function<bool()>& done, int max_passes) {
  for (int i = 0; i < max_passes; ++i) {
    gateway_->pollNowForTest();
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return false;
}

Headers GatewayTest::authHeaders() { return {{"Authorization", std::string("Bearer ") + kGatewayKey}}; }

HttpResult GatewayTest::post(const std::string& path, const std::string& body, Headers headers) {
  headers.emplace("Content-Type", "application/json");
  return httpRequest(gateway_->port(), "POST", path, body, headers);
}

HttpResult GatewayTest::chat(const json& body, Headers headers) {
  if (headers.empty()) {
    headers = authHeaders();
  }
  return post("/v1/chat/completions", body.dump(), headers);
}

json GatewayTest::admin(const std::string& path) {
  HttpResult r = httpRequest(gateway_->adminPort(), "GET", path);
  return json::parse(r.body, nullptr, false);
}

std::vector<json> GatewayTest::records() {
  std::vector<json> out;
  // Records are delivered off the request path, and a handler may still be finishing its
  // record after the client has the whole answer: wait until no request is running and then
  // until the consumers hold no record. /admin/runtime reads the consumers' counts before the
  // active requests, so one snapshot can show a handler's record not yet queued and, a moment
  // later, that handler gone: only a snapshot taken after one that saw no active request can
  // vouch for the queues (a handler queues its record before it stops counting as active).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  bool none_active_before = false;
  bool settled = false;
  json rt;
  while (!settled && std::chrono::steady_clock::now() < deadline) {
    rt = admin("/admin/runtime");
    if (!rt.is_object() || !rt.contains("connections") || !rt.contains("record_consumers")) {
      none_active_before = false;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      continue;
    }
    const bool none_active = rt["connections"]["active"] == 0;
    bool queues_empty = true;
    for (const auto& c : rt["record_consumers"]) {
      queues_empty = queues_empty && c["queued"] == 0;
    }
    settled = none_active_before && none_active && queues_empty;
    none_active_before = none_active;
    if (!settled && !(none_active && queues_empty)) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
  }
  if (!settled) {
    ADD_FAILURE() << "call records did not settle within 60 s: " << rt.dump();
  }
  std::ifstream in(recordsPath());
  for (std::string line; std::getline(in, line);) {
    out.push_back(json::parse(line));
  }
  return out;
}

json GatewayTest::recordFor(const std::vector<json>& recs, const HttpResult& r) {
  auto id = r.headers.find("x-request-id");
  if (id == r.headers.end()) {
    ADD_FAILURE() << "the answer has no x-request-id (status " << r.status << ")";
    return json();
  }
  for (const json& rec : recs) {
    if (rec.value("request_id", "") == id->second) {
      return rec;
    }
  }
  ADD_FAILURE() << "no record for " << id->second;
  return json();
}

} // namespace switchyard::testing
