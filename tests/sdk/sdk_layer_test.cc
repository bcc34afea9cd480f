/// @file tests/sdk/sdk_layer_test.cc
/// @brief The C++ layer (sdk.hpp) seen from the host side: SY_PLUGIN's entry and tables, and
/// the panic barrier that turns exceptions into error results.
#include <gtest/gtest.h>

#include <map>
#include <stdexcept>
#include <string>
#include <switchyard/sdk.hpp>
#include <switchyard/sse_parser.hpp>
#include <vector>

// The host defines the output channel; abi.h only declares it. This test is the host here.
struct sy_out_host {
  uint32_t status = 0;
  std::string type, code, message;
  std::string method, path, body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::vector<std::pair<sy_event, std::string>> events;
  std::string tenant, app, key_id;
  std::map<std::string, std::string> metadata;
  std::vector<std::string> logs;
  std::vector<std::string> dropped;
};

namespace {

namespace sdk = switchyard::sdk;

std::string s(sy_str v) {
  return std::string(sdk::view(v));
}
sy_str lit(const char* c) {
  return sdk::str(c);
}

std::vector<std::string> g_logs;

sy_host_api makeHost() {
  sy_host_api h{};
  h.struct_size = sizeof(sy_host_api);
  h.abi_major = SY_ABI_MAJOR;
  h.abi_minor = SY_ABI_MINOR;
  h.log = [](uint32_t, sy_str source, sy_str message) {
    g_logs.push_back(s(source) + ": " + s(message));
  };
  h.log_enabled = [](uint32_t level) { return level >= SY_LOG_INFO; };
  h.now_unix_ms = [] { return int64_t{1732600000000}; };
  h.monotonic_ns = [] { return uint64_t{42}; };
  h.set_error = [](sy_out_host_t* o, uint32_t st, sy_str t, sy_str c, sy_str m) {
    o->status = st;
    o->type = s(t);
    o->code = s(c);
    o->message = s(m);
  };
  h.request_set_method = [](sy_out_host_t* o, sy_str v) { o->method = s(v); };
  h.request_set_path = [](sy_out_host_t* o, sy_str v) { o->path = s(v); };
  h.request_add_header = [](sy_out_host_t* o, sy_str n, sy_str v) {
    o->headers.emplace_back(s(n), s(v));
  };
  h.request_append_body = [](sy_out_host_t* o, sy_str v) { o->body += s(v); };
  h.emit = [](sy_out_host_t* o, sy_event e, sy_str p) -> sy_status {
    if (e == SY_EVENT_QUERY_RESULT + 100) return SY_ERR_INVALID_ARG;
    o->events.emplace_back(e, s(p));
    return SY_OK;
  };
  h.principal_set = [](sy_out_host_t* o, sy_str t, sy_str a, sy_str k) {
    o->tenant = s(t);
    o->app = s(a);
    o->key_id = s(k);
  };
  h.principal_add_metadata = [](sy_out_host_t* o, sy_str k, sy_str v) { o->metadata[s(k)] = s(v); };
  h.note_dropped_param = [](sy_out_host_t* o, sy_str n) { o->dropped.push_back(s(n)); };
  return h;
}

// --- A plugin under test, declared with SY_PLUGIN like a real one -------------------------

class EchoStream : public sdk::ProviderStream {
 public:
  sy_status onData(std::string_view bytes, const sdk::Output& out) override {
    if (bytes == "boom") throw std::runtime_error("stream exploded");
    out.emit(SY_EVENT_CHUNK, bytes);
    return SY_OK;
  }
  sy_status onEnd(const sdk::Output& out) override {
    out.emit(SY_EVENT_DONE);
    return SY_OK;
  }
};

class TestProvider : public sdk::Provider {
 public:
  explicit TestProvider(std::string_view config) {
    if (config == "refuse") throw sdk::invalidRequest("bad config", "invalid_config");
    if (config == "crash") throw std::logic_error("constructor crashed");
  }
  sy_status buildRequest(const sdk::ProviderRequest& r, const sdk::Output& out) override {
    if (r.body == "throw-error") throw sdk::Error(422, "invalid_request_error", "nope", "no");
    if (r.body == "throw-std") throw std::runtime_error("kaboom");
    if (r.body == "throw-int") throw 7;
    out.setMethod("POST");
    out.setPath("/chat/completions");
    out.addHeader("Authorization", "Bearer " + std::string(r.api_key));
    out.appendBody(r.upstream_model);
    out.appendBody("|");
    out.appendBody(r.body);
    return SY_OK;
  }
  sy_status parseResponse(const sdk::ProviderRequest&, const sdk::UpstreamResponse& resp,
                          const sdk::Output& out) override {
    out.emit(SY_EVENT_RESPONSE,
             std::string(resp.headers.get("X-TEST")) + ":" + std::string(resp.body));
    return SY_OK;
  }
  std::unique_ptr<sdk::ProviderStream> openStream(const sdk::ProviderRequest& r,
                                                  const sdk::UpstreamResponse&) override {
    if (r.body == "no-stream") return nullptr;
    if (r.body == "throw-open") throw std::runtime_error("cannot open");
    return std::make_unique<EchoStream>();
  }
};

class TestAuth : public sdk::AuthScheme {
 public:
  explicit TestAuth(std::string_view) {}
  sy_status authenticate(const sdk::HttpRequest& r, const sdk::Output& out) override {
    auto v = r.headers.get("x-key");
    if (v.empty()) return SY_DECLINED;
    if (v != "good") throw sdk::Error(401, "authentication_error", "invalid_api_key", "bad key");
    out.setPrincipal("t", "a", "k");
    out.addMetadata("peer", r.peer_address);
    return SY_OK;
  }
};

class TestSink : public sdk::LogSink {
 public:
  explicit TestSink(std::string_view) {}
  sy_status writeBatch(const std::vector<std::string_view>& records, const sdk::Output&) override {
    if (records.size() == 2) throw std::runtime_error("disk full");
    count_ += records.size();
    return SY_OK;
  }
  size_t count_ = 0;
};

class TestAnalytics : public sdk::AnalyticsModule {
 public:
  explicit TestAnalytics(std::string_view) {}
  void observe(const std::vector<std::string_view>& records) override {
    if (!records.empty() && records[0] == "bad") throw std::runtime_error("bad record");
    seen_ += records.size();
  }
  sy_status query(std::string_view, const sdk::Output& out) override {
    out.emit(SY_EVENT_QUERY_RESULT, "{\"seen\":" + std::to_string(seen_) + "}");
    return SY_OK;
  }
  size_t seen_ = 0;
};

}  // namespace

SY_PLUGIN("sdk_layer_test", "0.0.1", "tests", "exercises sdk.hpp",
          switchyard::sdk::provider<TestProvider>("test-provider", "p"),
          switchyard::sdk::authScheme<TestAuth>("test-auth", "a"),
          switchyard::sdk::logSink<TestSink>("test-sink", "s"),
          switchyard::sdk::analytics<TestAnalytics>("test-analytics", "q"))

namespace {

class SdkLayer : public ::testing::Test {
 protected:
  void SetUp() override {
    g_logs.clear();
    info_ = sy_plugin_entry(SY_ABI_MAJOR, SY_ABI_MINOR);
    ASSERT_NE(info_, nullptr);
    host_ = makeHost();
    ASSERT_EQ(info_->init(&host_, &state_), SY_OK);
  }
  void TearDown() override { info_->shutdown(state_); }

  template <class V>
  const V* table(sy_kind kind) const {
    for (size_t i = 0; i < info_->component_count; ++i) {
      if (info_->components[i].kind == kind)
        return static_cast<const V*>(info_->components[i].vtable);
    }
    return nullptr;
  }
  void* create(sy_kind kind, const char* config, sy_out_host_t& out, sy_status* status) {
    void* instance = reinterpret_cast<void*>(1);
    auto fn = [&](auto* t) { *status = t->create(state_, lit(config), &out, &instance); };
    switch (kind) {
      case SY_KIND_PROVIDER:
        fn(table<sy_provider_vtable>(kind));
        break;
      case SY_KIND_AUTH:
        fn(table<sy_auth_vtable>(kind));
        break;
      case SY_KIND_LOG_SINK:
        fn(table<sy_log_sink_vtable>(kind));
        break;
      default:
        fn(table<sy_analytics_vtable>(kind));
        break;
    }
    return instance;
  }
  sy_provider_request request(const char* body) const {
    sy_provider_request r{};
    r.struct_size = sizeof r;
    r.operation = SY_OP_CHAT_COMPLETIONS;
    r.body = lit(body);
    r.upstream_model = lit("up-model");
    r.api_key = lit("sk-1");
    return r;
  }

  const sy_plugin_info* info_ = nullptr;
  sy_host_api host_{};
  void* state_ = nullptr;
};

TEST(SdkEntry, HandshakeAndInfo) {
  const sy_plugin_info* info = sy_plugin_entry(SY_ABI_MAJOR, SY_ABI_MINOR);
  ASSERT_NE(info, nullptr);
  EXPECT_EQ(info->struct_size, sizeof(sy_plugin_info));
  EXPECT_EQ(info->abi_major, uint32_t{SY_ABI_MAJOR});
  // The minor the plugin needs, not the one it was built with: 1.1's additions are optional.
  EXPECT_EQ(info->abi_minor, uint32_t{SY_PLUGIN_ABI_MINOR});
  EXPECT_EQ(info->abi_minor, 0u);
  EXPECT_EQ(s(info->name), "sdk_layer_test");
  EXPECT_EQ(s(info->version), "0.0.1");
  EXPECT_EQ(info->flags, 0u);
  ASSERT_EQ(info->component_count, 4u);
  const sy_kind kinds[] = {SY_KIND_PROVIDER, SY_KIND_AUTH, SY_KIND_LOG_SINK, SY_KIND_ANALYTICS};
  for (size_t i = 0; i < 4; ++i) {
    EXPECT_EQ(info->components[i].struct_size, sizeof(sy_component));
    EXPECT_EQ(info->components[i].kind, kinds[i]);
    EXPECT_EQ(*static_cast<const size_t*>(info->components[i].vtable) > 0, true);
  }
  EXPECT_EQ(static_cast<const sy_provider_vtable*>(info->components[0].vtable)->struct_size,
            sizeof(sy_provider_vtable));
  // A host of another major gets nothing.
  EXPECT_EQ(sy_plugin_entry(SY_ABI_MAJOR + 1, 0), nullptr);
  // An older or newer minor of the same major is answered; the host decides.
  EXPECT_EQ(sy_plugin_entry(SY_ABI_MAJOR, SY_ABI_MINOR + 5), info);
}

TEST_F(SdkLayer, ProviderBuildRequestGoesThroughOutput) {
  sy_out_host out;
  sy_status st;
  void* p = create(SY_KIND_PROVIDER, "{}", out, &st);
  ASSERT_EQ(st, SY_OK);
  auto* vt = table<sy_provider_vtable>(SY_KIND_PROVIDER);
  auto req = request("{\"x\":1}");
  ASSERT_EQ(vt->build_request(p, &req, &out), SY_OK);
  EXPECT_EQ(out.method, "POST");
  EXPECT_EQ(out.path, "/chat/completions");
  ASSERT_EQ(out.headers.size(), 1u);
  EXPECT_EQ(out.headers[0].second, "Bearer sk-1");
  EXPECT_EQ(out.body, "up-model|{\"x\":1}");
  vt->destroy(p);
}

TEST_F(SdkLayer, PanicBarrierTurnsExceptionsIntoErrors) {
  sy_out_host out;
  sy_status st;
  void* p = create(SY_KIND_PROVIDER, "{}", out, &st);
  auto* vt = table<sy_provider_vtable>(SY_KIND_PROVIDER);

  auto r1 = request("throw-std");
  EXPECT_EQ(vt->build_request(p, &r1, &out), SY_ERR_INTERNAL);
  EXPECT_EQ(out.status, 500u);
  EXPECT_EQ(out.type, "internal_error");
  EXPECT_EQ(out.code, "plugin_exception");
  EXPECT_EQ(out.message, "kaboom");
  ASSERT_FALSE(g_logs.empty());
  EXPECT_EQ(g_logs.back(), "build_request: kaboom");

  sy_out_host out2;
  auto r2 = request("throw-error");
  EXPECT_EQ(vt->build_request(p, &r2, &out2), SY_ERR_INVALID_ARG);
  EXPECT_EQ(out2.status, 422u);
  EXPECT_EQ(out2.type, "invalid_request_error");
  EXPECT_EQ(out2.code, "nope");

  sy_out_host out3;
  auto r3 = request("throw-int");
  EXPECT_EQ(vt->build_request(p, &r3, &out3), SY_ERR_INTERNAL);
  EXPECT_EQ(out3.status, 500u);
  EXPECT_EQ(out3.message, "unknown exception");
  vt->destroy(p);
}

TEST_F(SdkLayer, CreateRefusalsLeaveNoInstance) {
  sy_out_host out;
  sy_status st;
  EXPECT_EQ(create(SY_KIND_PROVIDER, "refuse", out, &st), nullptr);
  EXPECT_EQ(st, SY_ERR_INVALID_ARG);
  EXPECT_EQ(out.status, 400u);
  EXPECT_EQ(out.code, "invalid_config");
  sy_out_host out2;
  EXPECT_EQ(create(SY_KIND_PROVIDER, "crash", out2, &st), nullptr);
  EXPECT_EQ(st, SY_ERR_INTERNAL);
  EXPECT_EQ(out2.message, "constructor crashed");
}

TEST_F(SdkLayer, ParseResponseAndStreams) {
  sy_out_host out;
  sy_status st;
  void* p = create(SY_KIND_PROVIDER, "{}", out, &st);
  auto* vt = table<sy_provider_vtable>(SY_KIND_PROVIDER);
  auto req = request("{}");
  sy_header h{lit("x-test"), lit("yes")};
  sy_upstream_response resp{sizeof(sy_upstream_response), 200, &h, 1, lit("body")};
  ASSERT_EQ(vt->parse_response(p, &req, &resp, &out), SY_OK);
  ASSERT_EQ(out.events.size(), 1u);
  EXPECT_EQ(out.events[0].first, SY_EVENT_RESPONSE);
  EXPECT_EQ(out.events[0].second, "yes:body");

  void* stream = reinterpret_cast<void*>(1);
  sy_upstream_response head{sizeof(sy_upstream_response), 200, nullptr, 0, {}};
  ASSERT_EQ(vt->stream_open(p, &req, &head, &stream), SY_OK);
  ASSERT_NE(stream, nullptr);
  sy_out_host sout;
  EXPECT_EQ(vt->stream_data(stream, lit("{\"a\":1}"), &sout), SY_OK);
  EXPECT_EQ(vt->stream_data(stream, lit("boom"), &sout), SY_ERR_INTERNAL);
  EXPECT_EQ(sout.status, 500u);
  EXPECT_EQ(vt->stream_end(stream, &sout), SY_OK);
  ASSERT_EQ(sout.events.size(), 2u);
  EXPECT_EQ(sout.events[1].first, SY_EVENT_DONE);
  vt->stream_destroy(stream);

  auto none = request("no-stream");
  EXPECT_EQ(vt->stream_open(p, &none, &head, &stream), SY_ERR_UNSUPPORTED);
  EXPECT_EQ(stream, nullptr);
  auto bad = request("throw-open");
  stream = reinterpret_cast<void*>(1);
  EXPECT_EQ(vt->stream_open(p, &bad, &head, &stream), SY_ERR_INTERNAL);
  EXPECT_EQ(stream, nullptr);
  vt->destroy(p);
}

TEST_F(SdkLayer, AuthScheme) {
  sy_out_host out;
  sy_status st;
  void* a = create(SY_KIND_AUTH, "{}", out, &st);
  auto* vt = table<sy_auth_vtable>(SY_KIND_AUTH);
  sy_http_request r{sizeof(sy_http_request), lit("POST"), lit("/v1/chat/completions"),
                    lit("127.0.0.1:5555"),   nullptr,     0};
  EXPECT_EQ(vt->authenticate(a, &r, &out), SY_DECLINED);
  sy_header good{lit("X-Key"), lit("good")};
  r.headers = &good;
  r.header_count = 1;
  EXPECT_EQ(vt->authenticate(a, &r, &out), SY_OK);
  EXPECT_EQ(out.tenant, "t");
  EXPECT_EQ(out.key_id, "k");
  EXPECT_EQ(out.metadata["peer"], "127.0.0.1:5555");
  sy_header bad{lit("x-key"), lit("bad")};
  r.headers = &bad;
  sy_out_host out2;
  // A thrown sdk::Error with 401 or 403 is a denial.
  EXPECT_EQ(vt->authenticate(a, &r, &out2), SY_ERR_DENIED);
  EXPECT_EQ(out2.status, 401u);
  vt->destroy(a);
}

TEST_F(SdkLayer, LogSinkAndAnalytics) {
  sy_out_host out;
  sy_status st;
  void* sink = create(SY_KIND_LOG_SINK, "{}", out, &st);
  auto* svt = table<sy_log_sink_vtable>(SY_KIND_LOG_SINK);
  sy_str records[] = {lit("{\"a\":1}"), lit("{\"b\":2}")};
  EXPECT_EQ(svt->write_batch(sink, records, 1, &out), SY_OK);
  EXPECT_EQ(svt->write_batch(sink, records, 2, &out), SY_ERR_INTERNAL);  // Host retries later.
  EXPECT_EQ(svt->flush(sink), SY_OK);
  svt->destroy(sink);

  void* an = create(SY_KIND_ANALYTICS, "{}", out, &st);
  auto* avt = table<sy_analytics_vtable>(SY_KIND_ANALYTICS);
  avt->observe(an, records, 2);
  sy_str bad[] = {lit("bad")};
  avt->observe(an, bad, 1);  // Must not throw into the host.
  sy_out_host q;
  EXPECT_EQ(avt->query(an, lit("{}"), &q), SY_OK);
  ASSERT_EQ(q.events.size(), 1u);
  EXPECT_EQ(q.events[0].first, SY_EVENT_QUERY_RESULT);
  EXPECT_EQ(q.events[0].second, "{\"seen\":2}");
  avt->destroy(an);
}

TEST_F(SdkLayer, HostServices) {
  EXPECT_EQ(sdk::Host::api(), &host_);
  EXPECT_TRUE(sdk::Host::logEnabled(SY_LOG_ERROR));
  EXPECT_FALSE(sdk::Host::logEnabled(SY_LOG_DEBUG));
  EXPECT_EQ(sdk::Host::nowUnixMs(), 1732600000000);
  EXPECT_EQ(sdk::Host::monotonicNs(), 42u);
}

TEST(SdkHelpers, ViewsAndHeaders) {
  EXPECT_TRUE(sdk::view(sy_str{nullptr, 0}).empty());
  EXPECT_EQ(sdk::view(sdk::str("abc")), "abc");
  sy_header hs[] = {{lit("Content-Type"), lit("a")}, {lit("content-type"), lit("b")}};
  sdk::Headers headers{hs, 2};
  EXPECT_EQ(headers.get("CONTENT-TYPE"), "a");
  EXPECT_EQ(headers.get("content-typ"), "");
  EXPECT_TRUE(headers.get("missing").empty());
}

}  // namespace

namespace {

// ABI 1.1: noteDroppedParam reaches a 1.1 host, and is skipped on a 1.0 host whose table ends
// before the field (its struct_size), even if the bytes there happen to be non-zero.
TEST(SdkOutput, NoteDroppedParamHonoursStructSize) {
  sy_host_api host = makeHost();
  sdk::Host::setApi(&host);
  sy_out_host out;
  sdk::Output(&out).noteDroppedParam("logprobs");
  EXPECT_EQ(out.dropped, std::vector<std::string>{"logprobs"});

  host.struct_size = offsetof(sy_host_api, note_dropped_param);  // what a 1.0 host hands out
  sy_out_host old;
  sdk::Output(&old).noteDroppedParam("logprobs");
  EXPECT_TRUE(old.dropped.empty());

  host.struct_size = sizeof(sy_host_api);
  host.note_dropped_param = nullptr;  // a 1.0 host's zeroed reserved slot
  sdk::Output(&old).noteDroppedParam("logprobs");
  EXPECT_TRUE(old.dropped.empty());
  sdk::Host::setApi(nullptr);
}

TEST(SseParser, FindsTheFirstLineBreakOfEitherKind) {
  EXPECT_EQ(sdk::findLineBreak("abc"), std::string_view::npos);
  EXPECT_EQ(sdk::findLineBreak(""), std::string_view::npos);
  EXPECT_EQ(sdk::findLineBreak("ab\ncd\re"), 2u);
  EXPECT_EQ(sdk::findLineBreak("ab\rcd\ne"), 2u);
  EXPECT_EQ(sdk::findLineBreak("ab\r\n"), 2u);
  EXPECT_EQ(sdk::findLineBreak("\nx"), 0u);
  EXPECT_EQ(sdk::findLineBreak("ab\ncd\re", 3), 5u);
  EXPECT_EQ(sdk::findLineBreak("ab\ncd", 3), std::string_view::npos);
  EXPECT_EQ(sdk::findLineBreak("ab", 7), std::string_view::npos);
}

TEST(SseParser, DispatchesEventsWhateverTheLineEndingsAndSplits) {
  const std::string text = "data: a\r\n\r\ndata: b\rdata: c\r\r: note\ndata: d\n\n";
  for (size_t split = 0; split <= text.size(); ++split) {
    sdk::SseParser parser;
    std::vector<std::string> events;
    const auto collect = [&](std::string_view data) {
      events.emplace_back(data);
      return true;
    };
    ASSERT_EQ(parser.feed(std::string_view(text).substr(0, split), collect),
              sdk::SseParser::Result::kOk);
    ASSERT_EQ(parser.feed(std::string_view(text).substr(split), collect),
              sdk::SseParser::Result::kOk);
    EXPECT_EQ(events, (std::vector<std::string>{"a", "b\nc", "d"})) << "split at " << split;
  }
}

}  // namespace
