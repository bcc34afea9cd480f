#include "switchyard/config/config.h"

#include <gtest/gtest.h>

#include "parse_config.h"

namespace switchyard {
namespace {

using config_testing::errorOf;
using config_testing::parse;

TEST(Config, DefaultsAreUsable) {
  GatewayConfig c = parse("{}");
  EXPECT_EQ(c.server.listen.toString(), "127.0.0.1:8080");
  EXPECT_EQ(c.admin.listen.toString(), "127.0.0.1:8081");
  EXPECT_EQ(c.server.max_body_bytes, 32u * 1024 * 1024);
  ASSERT_EQ(c.plugins.dirs.size(), 2u);
  EXPECT_EQ(c.plugins.dirs[0], "/opt/sy/bin/plugins");
  EXPECT_TRUE(c.auth.empty());
}

TEST(Config, RoutesAndProvidersAreRead) {
  GatewayConfig c = parse(R"({
    "providers": {"p": {"type": "openai", "base_url": "http://127.0.0.1:9/v1/", "api_key_env": "K",
                        "timeouts": {"first_byte_ms": 1500}, "config": {"organization": "o"}}},
    "models": {"m": {"provider": "p"}, "n": {"provider": "p", "upstream_model": "up"}},
    "plugins": {"dirs": ["plugins", "/abs"]},
    "auth": [{"type": "apikey", "config": {}}]})");
  const ProviderConfig& p = c.providers.at("p");
  EXPECT_EQ(p.base_url, "http://127.0.0.1:9/v1"); // trailing slash dropped
  EXPECT_EQ(p.timeouts.first_byte.count(), 1500);
  EXPECT_EQ(p.timeouts.connect.count(), 5000);
  EXPECT_EQ(p.config_json, R"({"organization":"o"})");
  EXPECT_EQ(c.models.at("m").targets.at(0).upstream_model, "m");
  EXPECT_EQ(c.models.at("n").targets.at(0).upstream_model, "up");
  EXPECT_EQ(c.models.at("n").retry.attempts, 3u);
  EXPECT_EQ(c.plugins.dirs[0], "/etc/sy/plugins"); // relative to the config file
  EXPECT_EQ(c.plugins.dirs[1], "/abs");
  EXPECT_EQ(c.auth[0].name, "apikey");
}

TEST(Config, MistakesAreNamed) {
  EXPECT_NE(errorOf("not json").find("not valid JSON"), std::string::npos);
  EXPECT_NE(errorOf(R"({"sever": {}})").find("unknown field \"sever\""), std::string::npos);
  EXPECT_NE(errorOf(R"({"server": {"listen": "nohost"}})").find("server.listen"), std::string::npos);
  EXPECT_NE(errorOf(R"({"server": {"listen": "127.0.0.1:70000"}})").find("bad port"), std::string::npos);
  EXPECT_NE(errorOf(R"({"server": {"max_connections": 0}})").find("server.max_connections"), std::string::npos);
  EXPECT_NE(errorOf(R"({"providers": {"p": {"type": "openai", "base_url": "ftp://x"}}})").find("base_url"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"models": {"m": {"provider": "missing"}}})").find("unknown provider \"missing\""),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"logging": {"level": "loud"}})").find("logging.level"), std::string::npos);
  EXPECT_NE(errorOf(R"({"log_sinks": [{"type": "jsonl"}, {"type": "jsonl"}]})").find("duplicate name"),
            std::string::npos);
}

TEST(Config, RoutesWithPoolsAndFallbacks) {
  GatewayConfig c = parse(R"({
    "providers": {"a": {"type": "openai", "base_url": "http://a"}, "b": {"type": "openai", "base_url": "http://b"}},
    "models": {
      "big": {"targets": [{"provider": "a", "weight": 3}, {"provider": "b", "upstream_model": "b-big"}],
              "retry": {"attempts": 2, "retry_unsafe": true}, "outlier": {"consecutive_failures": 1},
              "fallbacks": ["small"], "panic_threshold_percent": 50},
      "small": {"provider": "b"}}})");
  const ModelRoute& big = c.models.at("big");
  ASSERT_EQ(big.targets.size(), 2u);
  EXPECT_EQ(big.targets[0].weight, 3u);
  EXPECT_EQ(big.targets[1].upstream_model, "b-big");
  EXPECT_EQ(big.retry.attempts, 2u);
  EXPECT_TRUE(big.retry.retry_unsafe);
  EXPECT_EQ(big.outlier.consecutive_failures, 1u);
  EXPECT_EQ(big.fallbacks, std::vector<std::string>{"small"});
  EXPECT_EQ(big.panic_threshold_percent, 50u);
  EXPECT_NE(errorOf(R"({"providers": {"a": {"type": "openai", "base_url": "http://a"}},
                        "models": {"m": {"provider": "a", "fallbacks": ["nope"]}}})")
                .find("unknown model \"nope\""),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"providers": {"a": {"type": "openai", "base_url": "http://a"}},
                        "models": {"m": {"provider": "a", "targets": [{"provider": "a"}]}}})")
                .find("not both"),
            std::string::npos);
}

TEST(Config, RouteTimeoutsOverrideTheProvidersFieldByField) {
  GatewayConfig c = parse(R"({
    "providers": {"a": {"type": "openai", "base_url": "http://a",
                        "timeouts": {"connect_ms": 700, "first_byte_ms": 9000, "idle_ms": 8000, "total_ms": 90000}}},
    "models": {"quick": {"provider": "a", "timeouts": {"first_byte_ms": 1500, "total_ms": 4000}},
               "plain": {"provider": "a"}}})");
  const UpstreamTimeouts& provider = c.providers.at("a").timeouts;
  const UpstreamTimeouts quick = c.models.at("quick").timeouts.over(provider);
  EXPECT_EQ(quick.connect.count(), 700);
  EXPECT_EQ(quick.first_byte.count(), 1500);
  EXPECT_EQ(quick.idle.count(), 8000);
  EXPECT_EQ(quick.total.count(), 4000);
  const UpstreamTimeouts plain = c.models.at("plain").timeouts.over(provider);
  EXPECT_EQ(plain.first_byte.count(), 9000);
  EXPECT_EQ(plain.total.count(), 90000);
  EXPECT_NE(errorOf(R"({"providers": {"a": {"type": "openai", "base_url": "http://a"}},
                        "models": {"m": {"provider": "a", "timeouts": {"first_token_ms": 5}}}})")
                .find("models.m.timeouts: unknown field \"first_token_ms\""),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"providers": {"a": {"type": "openai", "base_url": "http://a"}},
                        "models": {"m": {"provider": "a", "timeouts": {"idle_ms": 0}}}})")
                .find("models.m.timeouts.idle_ms"),
            std::string::npos);
}

TEST(Config, FallbackClassesAndFastFailover) {
  GatewayConfig c = parse(R"({
    "providers": {"a": {"type": "openai", "base_url": "http://a"}},
    "models": {"small": {"provider": "a", "fallbacks": ["big"], "failover_within_ms": 2000,
                         "fallback_on": ["context_length_exceeded", "content_filter", "timeout"]},
               "big": {"provider": "a"}}})");
  const ModelRoute& small = c.models.at("small");
  EXPECT_EQ(small.fallback_on, static_cast<uint32_t>(FallbackClass::kContextLengthExceeded) |
                                   static_cast<uint32_t>(FallbackClass::kContentFilter) |
                                   static_cast<uint32_t>(FallbackClass::kTimeout));
  EXPECT_EQ(small.failover_within.count(), 2000);
  EXPECT_EQ(c.models.at("big").fallback_on, 0u); // default: only an exhausted pool falls back
  EXPECT_EQ(c.models.at("big").failover_within.count(), 0);
  EXPECT_NE(errorOf(R"({"providers": {"a": {"type": "openai", "base_url": "http://a"}},
                        "models": {"m": {"provider": "a", "fallback_on": ["teapot"]}}})")
                .find("unknown error class \"teapot\""),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"providers": {"a": {"type": "openai", "base_url": "http://a"}},
                        "models": {"m": {"provider": "a", "fallback_on": ["rate_limited"]}}})")
                .find("always falls back"),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"providers": {"a": {"type": "openai", "base_url": "http://a"}},
                        "models": {"m": {"provider": "a", "fallback_on": "timeout"}}})")
                .find("must be an array"),
            std::string::npos);
}

TEST(Config, HealthChecksAreOffUnlessConfigured) {
  GatewayConfig c = parse(R"({"providers": {
    "quiet": {"type": "openai", "base_url": "http://a"},
    "probed": {"type": "openai", "base_url": "http://b",
               "health_check": {"path": "/health", "interval_ms": 500, "auth": "header:x-api-key"}}}})");
  EXPECT_FALSE(c.providers.at("quiet").health_check.enabled);
  const HealthCheckConfig& h = c.providers.at("probed").health_check;
  EXPECT_TRUE(h.enabled);
  EXPECT_EQ(h.path, "/health");
  EXPECT_EQ(h.interval.count(), 500);
  EXPECT_EQ(h.auth, "header:x-api-key");
  EXPECT_NE(errorOf(R"({"providers": {"p": {"type": "openai", "base_url": "http://b",
                                            "health_check": {"auth": "basic"}}}})")
                .find("health_check.auth"),
            std::string::npos);
}

TEST(Config, AnInlineProviderKeyIsRefused) {
  const std::string e = errorOf(R"({"providers": {"p": {"type": "openai", "base_url": "https://x",
                                                         "api_key": "sk-secret"}}})");
  EXPECT_NE(e.find("api_key_env"), std::string::npos);
  EXPECT_EQ(e.find("sk-secret"), std::string::npos); // the refusal does not echo the secret
}

TEST(Config, MinThreadsDefaultFollowsASmallCap) {
  EXPECT_EQ(parse(R"({"server": {"max_connections": 4}})").server.min_threads, 4);
  EXPECT_NE(errorOf(R"({"server": {"max_connections": 4, "min_threads": 8}})").find("min_threads"),
            std::string::npos);
}

TEST(Config, WorkerNiceDefaultsToFiveAndStaysInRange) {
  EXPECT_EQ(parse("{}").server.worker_nice, 5);
  EXPECT_EQ(parse(R"({"server": {"worker_nice": 0}})").server.worker_nice, 0);
  EXPECT_NE(errorOf(R"({"server": {"worker_nice": 20}})").find("server.worker_nice"), std::string::npos);
  EXPECT_NE(errorOf(R"({"server": {"worker_nice": -1}})").find("server.worker_nice"), std::string::npos);
}

TEST(Config, ReusePortIsOffUnlessAskedForAndMustBeABoolean) {
  EXPECT_FALSE(parse("{}").server.reuse_port);
  EXPECT_TRUE(parse(R"({"server": {"reuse_port": true}})").server.reuse_port);
  EXPECT_NE(errorOf(R"({"server": {"reuse_port": "yes"}})").find("server.reuse_port"),
            std::string::npos);
}

TEST(Config, DataDirAndDeliveryDefaultsKeepASpoolUnderTheDataDir) {
  GatewayConfig c = parse("{}");
  EXPECT_FALSE(c.data_dir.empty());
  EXPECT_TRUE(c.delivery.spool);
  EXPECT_EQ(c.delivery.spool_dir, c.data_dir / "spool");
  EXPECT_EQ(c.delivery.spool_max_bytes, 1ull << 30);
  EXPECT_EQ(c.delivery.batch_size, 256u);
}

TEST(Config, DataDirIsSubstitutedIntoPluginConfigs) {
  GatewayConfig c = parse(R"({"data_dir": "state",
    "log_sinks": [{"type": "sqlite", "config": {"path": "${data_dir}/calls.db", "n": 1,
                                                "list": ["${data_dir}/a", "x${data_dir}y"]}}],
    "delivery": {"batch_size": 10, "stop_deadline_ms": 0,
                 "spool": {"enabled": false, "dir": "/spool", "max_bytes": 2097152, "high_water": 5}}})");
  EXPECT_EQ(c.data_dir, "/etc/sy/state");  // relative to the config file
  EXPECT_EQ(
      c.log_sinks.at(0).config_json,
      R"({"list":["/etc/sy/state/a","x/etc/sy/statey"],"n":1,"path":"/etc/sy/state/calls.db"})");
  EXPECT_EQ(c.delivery.batch_size, 10u);
  EXPECT_EQ(c.delivery.stop_deadline.count(), 0);
  EXPECT_FALSE(c.delivery.spool);
  EXPECT_EQ(c.delivery.spool_dir, "/spool");
  EXPECT_EQ(c.delivery.spool_max_bytes, 2097152u);
  EXPECT_EQ(c.delivery.spool_high_water, 5u);
}

TEST(Config, DeliveryMistakesAreNamed) {
  EXPECT_NE(
      errorOf(R"({"delivery": {"spool": {"max_bytes": 10}}})").find("delivery.spool.max_bytes"),
      std::string::npos);
  EXPECT_NE(
      errorOf(R"({"delivery": {"spool": {"enabled": "yes"}}})").find("delivery.spool.enabled"),
      std::string::npos);
  EXPECT_NE(errorOf(R"({"delivery": {"queue": 1}})").find("unknown field \"queue\""),
            std::string::npos);
  EXPECT_NE(errorOf(R"({"data_dir": 5})").find("data_dir"), std::string::npos);
}

} // namespace
} // namespace switchyard
