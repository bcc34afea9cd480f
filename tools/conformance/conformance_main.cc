/// @file tools/conformance/conformance_main.cc
/// @brief switchyard-conformance: runs one provider plugin library through the contract every
/// provider must keep, loading it the way the gateway does (PluginLoader, the real host table).
///
/// A crash, a hang or an exception escaping a hook fails the run: the checks feed each hook
/// malformed and hostile input on purpose, so a plugin whose panic barrier leaks terminates
/// here instead of in a gateway. See docs/sdk.md, "Conformance".
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <strings.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "switchyard/plugin/plugin_manager.h"
#include "switchyard/plugin/plugin_types.h"

namespace switchyard::conformance {
namespace {

using nlohmann::json;

constexpr std::string_view kDefaultKey = "sk-conformance-provider-canary-5f2c9a";

struct Options {
  std::filesystem::path plugin;
  std::string component;  // empty: every provider component of the library
  std::string config = "{}";
  std::string base_url = "https://upstream.invalid/v1";
  std::string model = "conformance-model";
  std::string api_key{kDefaultKey};
  std::string secret;      // must never leave the plugin except as the credential; default api_key
  std::string key_header;  // where the credential must be sent (empty: any header or the path)
  std::string key_public;  // what of the credential appears there; default secret
  std::optional<std::filesystem::path> response_file;  // a valid 200 answer in the wire format
  std::optional<std::filesystem::path> stream_file;    // a valid stream in the wire format
  std::string stream_content_type = "text/event-stream";
};

// --- reporting -------------------------------------------------------------------------------

int g_failures = 0;
int g_checks = 0;

void check(bool ok, const std::string& what, const std::string& detail = {}) {
  ++g_checks;
  if (ok) {
    std::cout << "  ok    " << what << "\n";
  } else {
    ++g_failures;
    std::cout << "  FAIL  " << what << (detail.empty() ? "" : ": " + detail) << "\n";
  }
}

/// A short, printable rendering of hostile input for a report line.
std::string clip(const std::string& s, size_t n = 200) {
  std::string out;
  for (size_t i = 0; i < s.size() && i < n; ++i) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\n') {
      out += "\\n";
    } else if (c < 0x20 || c >= 0x7f) {
      static const char* kHex = "0123456789abcdef";
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > n) out += "...";
  return out;
}

std::string readFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

sy_str sv(std::string_view s) {
  return sy_str{s.data(), s.size()};
}

// Everything the plugin logs through the host goes to spdlog; it is captured to look for secrets.
std::ostringstream g_log;

// --- one provider under test -------------------------------------------------------------------

struct Built {
  sy_status status = SY_OK;
  UpstreamRequestSpec spec;
  std::optional<ApiError> error;
  std::vector<std::string> dropped;
};

struct Parsed {
  sy_status status = SY_OK;
  std::vector<PluginEvent> events;
  std::optional<ApiError> error;
};

class ProviderUnderTest {
 public:
  ProviderUnderTest(const Options& o, ComponentInstanceSharedPtr instance)
      : o_(o), instance_(std::move(instance)), table_(instance_->table<sy_provider_vtable>()) {}

  sy_provider_request request(const std::string& body, bool stream,
                              std::optional<std::string_view> api_key = std::nullopt) {
    body_ = body;
    return sy_provider_request{sizeof(sy_provider_request),
                               SY_OP_CHAT_COMPLETIONS,
                               stream,
                               sv("conformance-req-1"),
                               sv(body_),
                               sv(o_.model),
                               sv(o_.model),
                               sv(o_.base_url),
                               sv(api_key.value_or(o_.api_key))};
  }

  Built build(const std::string& body, bool stream = false,
              std::optional<std::string_view> api_key = std::nullopt) {
    Built b;
    sy_provider_request r = request(body, stream, api_key);
    sy_out_host_t out;
    out.request = &b.spec;
    out.dropped_params = &b.dropped;
    b.status = table_.build_request(instance_->handle(), &r, &out);
    b.error = out.error;
    return b;
  }

  Parsed parse(const std::string& request_body, uint32_t status, const std::string& body) {
    Parsed p;
    sy_provider_request r = request(request_body, false);
    const std::vector<sy_header> headers = {{sv("content-type"), sv("application/json")}};
    sy_upstream_response resp{sizeof(sy_upstream_response), status, headers.data(), headers.size(),
                              sv(body)};
    sy_out_host_t out;
    out.events = &p.events;
    p.status = table_.parse_response(instance_->handle(), &r, &resp, &out);
    p.error = out.error;
    return p;
  }

  /// Opens a stream and feeds `bytes` in pieces of `piece` bytes (0: all at once), then ends it.
  Parsed stream(const std::string& request_body, const std::string& bytes, size_t piece,
                bool call_end = true) {
    Parsed p;
    sy_provider_request r = request(request_body, true);
    const std::vector<sy_header> headers = {{sv("content-type"), sv(o_.stream_content_type)}};
    sy_upstream_response resp{sizeof(sy_upstream_response), 200, headers.data(), headers.size(),
                              sy_str{}};
    void* handle = nullptr;
    p.status = table_.stream_open(instance_->handle(), &r, &resp, &handle);
    if (p.status != SY_OK || handle == nullptr) {
      return p;
    }
    const size_t step = piece == 0 ? std::max<size_t>(bytes.size(), 1) : piece;
    for (size_t at = 0; at < bytes.size() && p.status == SY_OK && !p.error; at += step) {
      sy_out_host_t out;
      out.events = &p.events;
      p.status = table_.stream_data(handle, sv(std::string_view(bytes).substr(at, step)), &out);
      p.error = out.error;
    }
    if (call_end && p.status == SY_OK && !p.error) {
      sy_out_host_t out;
      out.events = &p.events;
      p.status = table_.stream_end(handle, &out);
      p.error = out.error;
    }
    table_.stream_destroy(handle);
    return p;
  }

 private:
  const Options& o_;
  ComponentInstanceSharedPtr instance_;
  const sy_provider_vtable& table_;
  std::string body_;
};

const std::string kChat =
    R"({"model":"conformance-model","messages":[{"role":"system","content":"Be brief."},)"
    R"({"role":"user","content":"ping"}],"max_tokens":16})";

bool contains(const UpstreamRequestSpec& spec, std::string_view needle, bool body_too) {
  if (needle.empty()) return false;
  if (spec.path.find(needle) != std::string::npos) return true;
  for (const auto& [n, v] : spec.headers) {
    if (n.find(needle) != std::string::npos || v.find(needle) != std::string::npos) return true;
  }
  return body_too && spec.body.find(needle) != std::string::npos;
}

bool isClientOrServerError(const std::optional<ApiError>& e) {
  return e && e->status >= 400 && e->status <= 599 && !e->type.empty();
}

// --- the checks ----------------------------------------------------------------------------------

void checkBuild(ProviderUnderTest& p, const Options& o) {
  std::cout << "build_request\n";
  Built b = p.build(kChat);
  check(b.status == SY_OK && !b.error, "a minimal chat request builds",
        b.error ? b.error->message : "status " + std::to_string(b.status));
  if (b.status != SY_OK || b.error) return;
  check(!b.spec.method.empty(), "the upstream method is set");
  check(!b.spec.body.empty() || b.spec.method == "GET", "the upstream body is set");
  const std::string& secret = o.secret.empty() ? o.api_key : o.secret;
  const std::string& pub = o.key_public.empty() ? secret : o.key_public;
  check(b.spec.body.find(secret) == std::string::npos,
        "the provider credential is not in the body");
  if (!o.key_header.empty()) {
    bool in_declared = false;
    bool elsewhere = b.spec.path.find(secret) != std::string::npos;
    for (const auto& [n, v] : b.spec.headers) {
      const bool declared = strcasecmp(n.c_str(), o.key_header.c_str()) == 0;
      if (declared && v.find(pub) != std::string::npos) in_declared = true;
      if (!declared && v.find(secret) != std::string::npos) elsewhere = true;
    }
    check(in_declared, "the credential is sent in the declared header " + o.key_header);
    check(!elsewhere, "the credential appears nowhere but the declared header");
  } else {
    check(contains(b.spec, pub, false), "the credential is sent (in a header or the path)");
  }
  // The ABI never hands a provider the client's headers (where the gateway key lives), so a
  // provider can only leak credentials it was given or kept. A call made without a key must
  // carry no credential at all: nothing remembered from an earlier call.
  {
    Built anon = p.build(kChat, false, /*api_key=*/"");
    check(!contains(anon.spec, pub, true) && !contains(anon.spec, secret, true),
          "a call without a credential sends none (no key kept from an earlier call)");
  }
  // Hostile bodies: an error, never a crash or an escaped exception. A body that is not a
  // JSON object must be refused; an object of the wrong shape may be refused or, by a
  // pass-through provider, forwarded for the upstream to judge, but then as valid JSON.
  const std::vector<std::string> not_objects = {"",     "{",     "[]",
                                                "null", "\"x\"", std::string(1 << 16, '[')};
  for (const auto& body : not_objects) {
    Built e = p.build(body);
    const bool refused = e.status != SY_OK || e.error;
    check(refused && (!e.error || isClientOrServerError(e.error)),
          "a body that is not a JSON object is refused: " + clip(body, 24),
          refused ? "error status " + std::to_string(e.error ? e.error->status : 0) : "accepted");
  }
  const std::vector<std::string> wrong_shape = {
      "{\"messages\":5}", "{\"messages\":[{\"role\":7}]}",
      std::string("{\"messages\":[{\"role\":\"user\",\"content\":\"\xff\xfe\"}]}")};
  for (const auto& body : wrong_shape) {
    Built e = p.build(body);
    const bool refused = e.status != SY_OK || e.error;
    const bool forwarded_json = !refused && json::parse(e.spec.body, nullptr, false).is_object();
    check((refused && (!e.error || isClientOrServerError(e.error))) || forwarded_json,
          "a wrongly shaped request is refused, or forwarded as valid JSON: " + clip(body, 24));
  }
  // An unsupported parameter: either honoured, dropped (and reported), or a 400 naming it.
  Built n = p.build(R"({"model":"m","messages":[{"role":"user","content":"hi"}],"n":3})");
  if (n.status != SY_OK || n.error) {
    const std::string& m = n.error ? n.error->message : std::string();
    check(n.error && n.error->status == 400 &&
              (m.find("'n'") != std::string::npos || m.find("\"n\"") != std::string::npos ||
               m.find("`n`") != std::string::npos),
          "a refused parameter is a 400 naming it", n.error ? n.error->message : "no error set");
  } else {
    // Honoured (forwarded or mapped) shows as a different upstream request than without it.
    const Built without = p.build(R"({"model":"m","messages":[{"role":"user","content":"hi"}]})");
    const bool honoured = without.spec.body != n.spec.body || without.spec.path != n.spec.path;
    const bool reported = std::find(n.dropped.begin(), n.dropped.end(), "n") != n.dropped.end();
    check(honoured || reported,
          "an accepted parameter is forwarded, mapped or reported as dropped (n=3)");
  }
  for (const auto& name : n.dropped) {
    check(!name.empty() && name.size() <= 64, "dropped parameter names are short tokens: " + name);
  }
}

void checkEvents(const Parsed& p, const std::string& what) {
  bool done = false;
  bool after_done = false;
  for (const auto& e : p.events) {
    if (done) after_done = true;
    if (e.kind == SY_EVENT_CHUNK || e.kind == SY_EVENT_RESPONSE || e.kind == SY_EVENT_USAGE) {
      const json j = json::parse(e.payload, nullptr, false);
      if (!j.is_object()) {
        check(false, what + ": every chunk/response/usage payload is one JSON object",
              clip(e.payload));
        return;
      }
      if (e.kind == SY_EVENT_USAGE) {
        for (const char* k : {"prompt_tokens", "completion_tokens"}) {
          if (j.contains(k) && !(j[k].is_number_integer() && j[k].get<int64_t>() >= 0)) {
            check(false, what + ": usage counts are non-negative integers", clip(e.payload));
            return;
          }
        }
      }
      if (e.kind == SY_EVENT_CHUNK && !e.payload.empty() &&
          (e.payload.rfind("data:", 0) == 0 || e.payload.back() == '\n')) {
        check(false, what + ": chunks are bare JSON, not SSE-framed", clip(e.payload));
        return;
      }
    }
    if (e.kind == SY_EVENT_DONE) done = true;
    if (e.kind == SY_EVENT_QUERY_RESULT) {
      check(false, what + ": a provider emits no analytics events");
      return;
    }
  }
  check(!after_done, what + ": nothing is emitted after DONE");
}

void checkParse(ProviderUnderTest& p, const Options& o) {
  std::cout << "parse_response\n";
  // Not a JSON object at all: for a 2xx this must be an error, never an answer.
  const std::vector<std::string> garbage = {"",
                                            "{",
                                            "null",
                                            "[]",
                                            "<html>502</html>",
                                            std::string(1 << 16, '{'),
                                            std::string("\x00\x01\xff", 3)};
  // A JSON object of the wrong shape: only "no crash, well-framed output" is required, since a
  // pass-through provider may legitimately forward an object it does not interpret.
  const std::vector<std::string> odd = {"{\"choices\":\"x\"}", "{\"error\":5}", "{}"};
  for (uint32_t status : {200u, 400u, 401u, 429u, 500u, 503u}) {
    for (const auto& body : garbage) {
      Parsed r = p.parse(kChat, status, body);
      const bool answered = std::any_of(r.events.begin(), r.events.end(), [](const PluginEvent& e) {
        return e.kind == SY_EVENT_RESPONSE;
      });
      const std::string what = "HTTP " + std::to_string(status) + " with a malformed body";
      if (status >= 400) {
        check(isClientOrServerError(r.error) && !answered,
              what + " becomes an error: " + clip(body, 16),
              r.error ? "status " + std::to_string(r.error->status) : "no error set");
      } else {
        check((r.status != SY_OK || r.error) && !answered,
              what + " is an error, not an answer: " + clip(body, 16),
              answered ? "a response was emitted" : "no error set");
      }
      checkEvents(r, "parse " + std::to_string(status));
    }
    for (const auto& body : odd) {
      Parsed r = p.parse(kChat, status, body);
      if (status >= 400) {
        check(isClientOrServerError(r.error),
              "HTTP " + std::to_string(status) + " is an error: " + body,
              r.error ? "status " + std::to_string(r.error->status) : "no error set");
      }
      checkEvents(r, "parse " + std::to_string(status) + " " + body);
    }
  }
  if (o.response_file) {
    const std::string body = readFile(*o.response_file);
    Parsed r = p.parse(kChat, 200, body);
    check(r.status == SY_OK && !r.error, "the golden answer parses",
          r.error ? r.error->message : "");
    const PluginEvent* resp = nullptr;
    bool usage = false;
    for (const auto& e : r.events) {
      if (e.kind == SY_EVENT_RESPONSE) resp = &e;
      if (e.kind == SY_EVENT_USAGE) usage = true;
    }
    check(resp != nullptr, "the golden answer yields one unified response");
    if (resp) {
      const json j = json::parse(resp->payload, nullptr, false);
      check(j.is_object() && j.value("object", "") == "chat.completion" && j.contains("choices") &&
                j["choices"].is_array() && !j["choices"].empty(),
            "the response is an OpenAI chat.completion with choices");
      check(usage || (j.is_object() && j.contains("usage")), "usage is reported");
    }
    checkEvents(r, "golden answer");
  }
}

/// The text, tool calls and usage a stream's chunks add up to.
struct Assembled {
  std::string text;
  std::map<int64_t, json> tools;  // index -> {id, name, arguments}
  bool usage = false;
  bool done = false;
  std::string problem;
};

Assembled assemble(const Parsed& p) {
  Assembled a;
  for (const auto& e : p.events) {
    if (e.kind == SY_EVENT_USAGE) a.usage = true;
    if (e.kind == SY_EVENT_DONE) a.done = true;
    if (e.kind != SY_EVENT_CHUNK) continue;
    const json c = json::parse(e.payload, nullptr, false);
    if (!c.is_object()) continue;
    if (c.contains("usage") && c["usage"].is_object()) a.usage = true;
    if (!c.contains("choices") || !c["choices"].is_array()) continue;
    for (const auto& ch : c["choices"]) {
      const json d = ch.value("delta", json::object());
      if (d.contains("content") && d["content"].is_string())
        a.text += d["content"].get<std::string>();
      if (!d.contains("tool_calls") || !d["tool_calls"].is_array()) continue;
      for (const auto& t : d["tool_calls"]) {
        if (!t.contains("index") || !t["index"].is_number_integer()) {
          a.problem = "a tool_calls delta without an integer index";
          continue;
        }
        const int64_t i = t["index"];
        const json fn = t.value("function", json::object());
        auto it = a.tools.find(i);
        if (it == a.tools.end()) {
          if (!t.contains("id") || !fn.contains("name")) {
            a.problem =
                "the first delta of tool call " + std::to_string(i) + " lacks id or function.name";
          }
          a.tools[i] = {
              {"id", t.value("id", "")}, {"name", fn.value("name", "")}, {"arguments", ""}};
          it = a.tools.find(i);
        } else if (t.contains("id") && t["id"] != it->second["id"]) {
          a.problem = "tool call " + std::to_string(i) + " changed its id mid-stream";
        }
        if (fn.contains("arguments") && fn["arguments"].is_string()) {
          it->second["arguments"] =
              it->second["arguments"].get<std::string>() + fn["arguments"].get<std::string>();
        }
      }
    }
  }
  return a;
}

void checkStream(ProviderUnderTest& p, const Options& o) {
  std::cout << "stream_open / stream_data / stream_end\n";
  const std::vector<std::string> garbage = {
      "data: {not json\n\n", std::string("\x00\x00\x00\x10garbage", 11),
      "event: error\ndata: {\"error\":{\"message\":\"x\"}}\n\n", std::string(1 << 16, 'a'),
      "data: [DONE]\n\n"};
  for (const auto& bytes : garbage) {
    for (size_t piece : {size_t{0}, size_t{1}}) {
      Parsed r = p.stream(kChat, bytes, piece);
      check(r.status == SY_OK || r.error, "hostile stream bytes end in OK or an error (piece " +
                                              std::to_string(piece) + "): " + clip(bytes, 16));
      checkEvents(r, "hostile stream");
    }
  }
  // Opened and destroyed without data or end: must release cleanly.
  {
    Parsed r = p.stream(kChat, "", 0, false);
    check(true, "a stream destroyed without data or end is released");
    (void)r;
  }
  if (o.stream_file) {
    const std::string bytes = readFile(*o.stream_file);
    const Parsed whole = p.stream(kChat, bytes, 0);
    check(whole.status == SY_OK && !whole.error, "the golden stream translates",
          whole.error ? whole.error->message : "");
    checkEvents(whole, "golden stream");
    const Assembled a = assemble(whole);
    check(a.problem.empty(), "tool-call deltas follow the OpenAI contract", a.problem);
    for (const auto& [i, t] : a.tools) {
      const std::string args = t["arguments"];
      check(args.empty() || json::parse(args, nullptr, false).is_object(),
            "tool call " + std::to_string(i) + " arguments assemble to a JSON object", clip(args));
    }
    check(a.usage, "the stream reports usage");
    check(a.done, "the stream ends with DONE");
    // Framing must not depend on how the bytes were split.
    for (size_t piece : {size_t{1}, size_t{7}}) {
      const Assembled b = assemble(p.stream(kChat, bytes, piece));
      check(
          b.text == a.text && b.tools == a.tools && b.done == a.done,
          "the same stream split every " + std::to_string(piece) + " bytes gives the same result");
    }
    // Cut short: stream_end reports an error or ends without DONE, never claims completion.
    const Parsed cut = p.stream(kChat, bytes.substr(0, bytes.size() / 2), 0);
    const Assembled c = assemble(cut);
    check(cut.error.has_value() || !c.done || cut.status != SY_OK,
          "a stream cut in the middle is not reported as complete");
  }
}

bool secretLeaked(const std::string& secret, std::string* where) {
  if (secret.empty()) return false;
  if (g_log.str().find(secret) != std::string::npos) {
    *where = "the plugin's log output";
    return true;
  }
  return false;
}

int run(const Options& o) {
  spdlog::set_default_logger(std::make_shared<spdlog::logger>(
      "conformance", std::make_shared<spdlog::sinks::ostream_sink_mt>(g_log)));
  spdlog::set_level(spdlog::level::trace);

  std::cout << "switchyard-conformance " << o.plugin.string() << " (host ABI " << SY_ABI_MAJOR
            << "." << SY_ABI_MINOR << ")\n";
  const auto cache =
      std::filesystem::temp_directory_path() / ("sy-conformance-" + std::to_string(::getpid()));
  std::filesystem::create_directories(cache);
  // The loader runs a private copy of the library from here; declared before the plugin's
  // handles, so it is removed after they unload.
  struct RemoveOnReturn {
    std::filesystem::path dir;
    ~RemoveOnReturn() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } remove_cache{cache};
  std::string error;
  std::cout << "handshake\n";
  PluginGenerationSharedPtr gen = PluginLoader::load(o.plugin, cache, 1, &error);
  check(gen != nullptr, "the library loads through the gateway's loader (ABI handshake, tables)",
        error);
  if (!gen) return 1;
  check(!gen->name().empty() && !gen->version().empty(), "the plugin names itself and its version");

  std::vector<const ComponentInfo*> providers;
  for (const auto& c : gen->components()) {
    if (c.kind == SY_KIND_PROVIDER && (o.component.empty() || c.name == o.component))
      providers.push_back(&c);
  }
  check(!providers.empty(), "the library offers a provider component" +
                                (o.component.empty() ? std::string() : " named " + o.component));
  for (const ComponentInfo* c : providers) {
    std::cout << "component " << c->name << "\n";
    const auto* vt = static_cast<const sy_provider_vtable*>(c->vtable);
    check(vt->struct_size >= offsetof(sy_provider_vtable, stream_destroy) + sizeof(void*),
          "the provider vtable is at least the ABI 1.0 size", std::to_string(vt->struct_size));
    check(vt->struct_size <= 4096, "the provider vtable size is sane");
    // A bad config is refused with an error, not a crash.
    std::string cfg_error;
    auto bad = ComponentInstance::create(ComponentRef{gen, c}, "{not json", &cfg_error);
    check(bad == nullptr && !cfg_error.empty(), "an unparsable config is refused with a message");
    auto inst = ComponentInstance::create(ComponentRef{gen, c}, o.config, &cfg_error);
    check(inst != nullptr, "an instance is created from the given config", cfg_error);
    if (!inst) continue;
    ProviderUnderTest p(o, inst);
    checkBuild(p, o);
    checkParse(p, o);
    checkStream(p, o);
    std::string where;
    check(!secretLeaked(o.secret.empty() ? o.api_key : o.secret, &where),
          "the credential never appears in logs", where);
  }
  gen.reset();
  providers.clear();
  PluginLoader::reapDeferred();
  std::error_code ec;
  std::filesystem::remove_all(cache, ec);
  std::cout << (g_failures == 0 ? "PASS" : "FAIL") << ": " << g_checks - g_failures << "/"
            << g_checks << " checks passed\n";
  return g_failures == 0 ? 0 : 1;
}

void usage() {
  std::cerr
      << "usage: switchyard-conformance PLUGIN.so [--component NAME] [--config JSON]\n"
         "         [--base-url URL] [--model NAME] [--api-key KEY] [--secret S]\n"
         "         [--key-header NAME] [--key-public TEXT] [--response FILE] [--stream FILE]\n"
         "         [--stream-content-type TYPE]\n";
}

}  // namespace
}  // namespace switchyard::conformance

int main(int argc, char** argv) {
  using switchyard::conformance::Options;
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) {
        switchyard::conformance::usage();
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--component")
      o.component = next();
    else if (a == "--config")
      o.config = next();
    else if (a == "--base-url")
      o.base_url = next();
    else if (a == "--model")
      o.model = next();
    else if (a == "--api-key")
      o.api_key = next();
    else if (a == "--secret")
      o.secret = next();
    else if (a == "--key-header")
      o.key_header = next();
    else if (a == "--key-public")
      o.key_public = next();
    else if (a == "--response")
      o.response_file = next();
    else if (a == "--stream")
      o.stream_file = next();
    else if (a == "--stream-content-type")
      o.stream_content_type = next();
    else if (a == "-h" || a == "--help") {
      switchyard::conformance::usage();
      return 0;
    } else if (o.plugin.empty() && a.rfind("--", 0) != 0)
      o.plugin = a;
    else {
      switchyard::conformance::usage();
      return 2;
    }
  }
  if (o.plugin.empty()) {
    switchyard::conformance::usage();
    return 2;
  }
  return switchyard::conformance::run(o);
}
