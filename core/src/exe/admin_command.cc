#include "admin_command.h"

#include <Poco/Exception.h>
#include <Poco/Net/Context.h>
#include <Poco/Net/HTTPClientSession.h>
#include <Poco/Net/HTTPRequest.h>
#include <Poco/Net/HTTPResponse.h>
#include <Poco/Net/HTTPSClientSession.h>
#include <Poco/StreamCopier.h>
#include <Poco/URI.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <termios.h>
#include <unistd.h>

#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace switchyard {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* kDefaultUrl = "http://127.0.0.1:8081";

const char* kUsage =
    "usage: switchyard admin [--url URL] [--session-file FILE] [-q] COMMAND …\n"
    "\n"
    "  login --email EMAIL [--password-stdin]     sign in; the session is kept in the session "
    "file\n"
    "  logout | whoami | openapi\n"
    "  tenants   list | show ID | create NAME | rename ID NAME\n"
    "  users     list | show ID | delete ID | set-role ID ROLE | set-password ID --password-stdin\n"
    "            create --email EMAIL --password-stdin [--role ROLE] [--tenant ID]\n"
    "  apps      list | show ID | delete ID | create NAME [--description D] [--tenant ID]\n"
    "            update ID [--name N] [--description D]\n"
    "  keys      list APP | show APP KEY | revoke APP KEY\n"
    "            create APP [--name N] [--expires-in 90d|12h|30m|SECONDS] [--expires-at UNIX]\n"
    "  services  list | show ID | delete ID\n"
    "            create NAME --kind ai --models a,b | --kind rest --base-url URL [--tenant ID]\n"
    "            update ID [--name N] [--models a,b] [--base-url URL]\n"
    "  apis      list | show ID | delete ID | publish ID | retire ID | openapi ID\n"
    "            deprecate ID [--sunset-at UNIX | --sunset-in DURATION]\n"
    "            create --name N --path /p --service ID [--version v1] [--methods GET,POST]\n"
    "                   [--visibility public|private] [--description D] [--tenant ID]\n"
    "                   [--approval-required | --no-approval-required] [--openapi FILE]\n"
    "            update ID [the same options; path, version and service only while draft]\n"
    "  catalog   list | show ID | openapi ID\n"
    "  subscriptions list | show ID | request --app ID --api ID\n"
    "                approve ID | reject ID | revoke ID [--reason TEXT]\n"
    "  audit     [--limit N]\n"
    "  request   METHOD PATH [--data JSON|@FILE|-]    any endpoint, e.g. GET /catalog\n"
    "\n"
    "Lists take --tenant ID (system admins). Output is the API's JSON; -q/--quiet prints only the\n"
    "id (ids of a list, one per line; the key of 'keys create'). Exit status: 0 ok, 1 the API\n"
    "refused (its message on stderr) or could not be reached, 2 usage.\n"
    "\n"
    "The URL is --url, else $SWITCHYARD_ADMIN_URL, else the one signed in to, else\n"
    "http://127.0.0.1:8081.\n"
    "The session is $SWITCHYARD_ADMIN_TOKEN, else the session file (--session-file, default\n"
    "$XDG_CONFIG_HOME/switchyard/admin-session, written 0600).\n";

/// A command-line mistake: exit 2 with the usage.
struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Flags take no value; every other --option takes one ("--name value" or "--name=value").
const std::set<std::string> kFlags = {"quiet", "password-stdin", "approval-required",
                                      "no-approval-required", "help"};

struct Args {
  std::vector<std::string> pos;
  std::map<std::string, std::string> opt;
  std::set<std::string> used;

  bool flag(const std::string& name) {
    used.insert(name);
    return opt.count(name) != 0;
  }
  std::optional<std::string> get(const std::string& name) {
    used.insert(name);
    auto it = opt.find(name);
    return it == opt.end() ? std::nullopt : std::optional<std::string>(it->second);
  }
  std::string need(const std::string& name) {
    auto v = get(name);
    if (!v || v->empty()) {
      throw UsageError("--" + name + " is required");
    }
    return *v;
  }
  /// The n-th positional argument after the command words.
  std::string arg(size_t n, const char* what) const {
    if (n >= pos.size()) {
      throw UsageError(std::string(what) + " is missing");
    }
    return pos[n];
  }
  void noMorePositional(size_t n) const {
    if (pos.size() > n) {
      throw UsageError("unexpected argument '" + pos[n] + "'");
    }
  }
  /// Options the command did not ask about are mistakes, found before anything is sent.
  void noUnusedOptions() const {
    for (const auto& [k, v] : opt) {
      if (used.count(k) == 0) {
        throw UsageError("unknown option --" + k + " for this command");
      }
    }
  }
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 0; i < argc; ++i) {
    std::string s = argv[i];
    if (s == "-q") {
      s = "--quiet";
    } else if (s == "-h") {
      s = "--help";
    }
    if (s.size() > 2 && s.rfind("--", 0) == 0) {
      std::string name = s.substr(2);
      std::string value;
      const size_t eq = name.find('=');
      if (eq != std::string::npos) {
        value = name.substr(eq + 1);
        name.resize(eq);
        if (kFlags.count(name) != 0) {
          throw UsageError("--" + name + " takes no value");
        }
      } else if (kFlags.count(name) == 0) {
        if (i + 1 >= argc) {
          throw UsageError("--" + name + " needs a value");
        }
        value = argv[++i];
      }
      if (a.opt.count(name) != 0) {
        throw UsageError("--" + name + " is given twice");
      }
      a.opt[name] = value;
    } else {
      a.pos.push_back(s);
    }
  }
  return a;
}

std::string encode(const std::string& segment) {
  std::string out;
  Poco::URI::encode(segment, "/?#%&=+ ", out);
  return out;
}

std::vector<std::string> splitList(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream in(s);
  std::string item;
  while (std::getline(in, item, ',')) {
    if (!item.empty()) {
      out.push_back(item);
    }
  }
  if (out.empty()) {
    throw UsageError("an empty list");
  }
  return out;
}

int64_t integer(const std::string& s, const std::string& what) {
  try {
    size_t used = 0;
    const long long v = std::stoll(s, &used);
    if (used == s.size()) {
      return v;
    }
  } catch (...) {
  }
  throw UsageError(what + " must be an integer, not '" + s + "'");
}

/// "90d", "12h", "30m", "45s" or plain seconds.
int64_t durationSeconds(const std::string& s, const std::string& what) {
  if (s.empty()) {
    throw UsageError(what + " is empty");
  }
  int64_t unit = 1;
  std::string digits = s;
  switch (s.back()) {
    case 'd':
      unit = 86400;
      break;
    case 'h':
      unit = 3600;
      break;
    case 'm':
      unit = 60;
      break;
    case 's':
      break;
    default:
      digits.push_back('s');
  }
  digits.pop_back();
  const int64_t n = integer(digits, what);
  if (n <= 0) {
    throw UsageError(what + " must be positive");
  }
  return n * unit;
}

std::string readFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    throw UsageError("cannot read " + path);
  }
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

json jsonArgument(const std::string& text, const std::string& what) {
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded()) {
    throw UsageError(what + " is not valid JSON");
  }
  return j;
}

/// The password: one line on stdin with --password-stdin, else typed at a terminal without echo.
/// Never an argument: those show in `ps` and in shell history.
std::string readPassword(Args& a) {
  std::string line;
  if (a.flag("password-stdin")) {
    std::getline(std::cin, line);
  } else if (::isatty(STDIN_FILENO) != 0) {
    std::cerr << "Password: " << std::flush;
    termios saved{};
    const bool tty = ::tcgetattr(STDIN_FILENO, &saved) == 0;
    if (tty) {
      termios quiet = saved;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      ::tcsetattr(STDIN_FILENO, TCSANOW, &quiet);
    }
    std::getline(std::cin, line);
    if (tty) {
      ::tcsetattr(STDIN_FILENO, TCSANOW, &saved);
    }
    std::cerr << "\n";
  } else {
    throw UsageError("give the password on stdin with --password-stdin");
  }
  if (!line.empty() && line.back() == '\r') {
    line.pop_back();
  }
  if (line.empty()) {
    throw UsageError("the password is empty");
  }
  return line;
}

struct Session {
  std::string url;
  std::string token;
  std::string email;
  int64_t expires_at = 0;
};

fs::path defaultSessionFile() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  const char* home = std::getenv("HOME");
  const fs::path base = xdg != nullptr && *xdg != '\0' ? fs::path(xdg)
                        : home != nullptr              ? fs::path(home) / ".config"
                                                       : fs::path(".");
  return base / "switchyard" / "admin-session";
}

std::optional<Session> loadSession(const fs::path& file) {
  std::ifstream in(file);
  if (!in) {
    return std::nullopt;
  }
  std::stringstream s;
  s << in.rdbuf();
  json j = json::parse(s.str(), nullptr, false);
  if (!j.is_object()) {
    return std::nullopt;
  }
  return Session{j.value("url", ""), j.value("token", ""), j.value("email", ""),
                 j.value("expires_at", int64_t{0})};
}

/// Owner-only from the first byte: the file holds a bearer token.
void saveSession(const fs::path& file, const Session& s) {
  std::error_code ec;
  if (!file.parent_path().empty() && !fs::exists(file.parent_path())) {
    fs::create_directories(file.parent_path(), ec);
    fs::permissions(file.parent_path(), fs::perms::owner_all, ec);
  }
  const std::string tmp = file.string() + ".tmp";
  ::unlink(tmp.c_str());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) {
    throw std::runtime_error("cannot write the session file " + file.string());
  }
  const std::string text =
      json{{"url", s.url}, {"token", s.token}, {"email", s.email}, {"expires_at", s.expires_at}}
          .dump() +
      "\n";
  const bool ok = ::fchmod(fd, 0600) == 0 &&
                  ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ::close(fd);
  if (!ok || ::rename(tmp.c_str(), file.c_str()) != 0) {
    ::unlink(tmp.c_str());
    throw std::runtime_error("cannot write the session file " + file.string());
  }
}

struct Answer {
  int status = 0;
  json body;  ///< the parsed answer; a string when it was not JSON
};

/// One request to the admin API. Throws std::runtime_error when the server cannot be reached.
Answer send(const std::string& base_url, const std::string& token, const std::string& method,
            const std::string& path, const json& body) {
  const Poco::URI uri(base_url);
  if (uri.getScheme() != "http" && uri.getScheme() != "https") {
    throw UsageError("--url must be http:// or https://, not '" + base_url + "'");
  }
  std::unique_ptr<Poco::Net::HTTPClientSession> session;
  if (uri.getScheme() == "https") {
    Poco::Net::Context::Params params;
    params.verificationMode = Poco::Net::Context::VERIFY_RELAXED;
    params.loadDefaultCAs = true;
    Poco::Net::Context::Ptr tls =
        new Poco::Net::Context(Poco::Net::Context::TLS_CLIENT_USE, params);
    session = std::make_unique<Poco::Net::HTTPSClientSession>(uri.getHost(), uri.getPort(), tls);
  } else {
    session = std::make_unique<Poco::Net::HTTPClientSession>(uri.getHost(), uri.getPort());
  }
  session->setTimeout(Poco::Timespan(30, 0));
  std::string prefix = uri.getPath();
  while (!prefix.empty() && prefix.back() == '/') {
    prefix.pop_back();
  }
  Poco::Net::HTTPRequest request(method, prefix + path, Poco::Net::HTTPMessage::HTTP_1_1);
  if (!token.empty()) {
    request.set("Authorization", "Bearer " + token);
  }
  const std::string text = body.is_null() ? "" : body.dump();
  if (!text.empty()) {
    request.setContentType("application/json");
  }
  request.setContentLength(static_cast<std::streamsize>(text.size()));
  session->sendRequest(request) << text;
  Poco::Net::HTTPResponse response;
  std::istream& in = session->receiveResponse(response);
  std::string answer;
  Poco::StreamCopier::copyToString(in, answer);
  Answer a;
  a.status = static_cast<int>(response.getStatus());
  a.body = json::parse(answer, nullptr, false);
  if (a.body.is_discarded()) {
    a.body = answer;
  }
  return a;
}

/// What a command asks of the API, decided before anything is sent.
struct Plan {
  std::string method = "GET";
  std::string path;          ///< under /admin/v1 unless it starts with /admin/
  json body;                 ///< null: none
  std::string quiet = "id";  ///< the field -q prints
};

std::string withQuery(std::string path, const std::vector<std::pair<std::string, std::string>>& q) {
  char sep = '?';
  for (const auto& [k, v] : q) {
    if (!v.empty()) {
      path += sep + k + "=" + encode(v);
      sep = '&';
    }
  }
  return path;
}

Plan listPlan(Args& a, const std::string& collection) {
  return Plan{"GET", withQuery("/" + collection, {{"tenant_id", a.get("tenant").value_or("")}}),
              nullptr};
}

/// The common shapes: list, show ID, delete ID, and POST /collection/ID/ACTION.
std::optional<Plan> commonPlan(Args& a, const std::string& collection, const std::string& verb,
                               const std::set<std::string>& actions) {
  if (verb == "list") {
    a.noMorePositional(2);
    return listPlan(a, collection);
  }
  if (verb == "show" || verb == "delete") {
    const std::string id = a.arg(2, "the id");
    a.noMorePositional(3);
    return Plan{verb == "show" ? "GET" : "DELETE", "/" + collection + "/" + encode(id), nullptr};
  }
  if (actions.count(verb) != 0) {
    const std::string id = a.arg(2, "the id");
    a.noMorePositional(3);
    json body = nullptr;
    if (auto reason = a.get("reason")) {
      body = {{"reason", *reason}};
    }
    return Plan{"POST", "/" + collection + "/" + encode(id) + "/" + verb, body};
  }
  return std::nullopt;
}

/// Fields of services and APIs, shared by create and update.
void serviceFields(Args& a, json& body) {
  if (auto v = a.get("name")) {
    body["name"] = *v;
  }
  if (auto v = a.get("models")) {
    body["models"] = splitList(*v);
  }
  if (auto v = a.get("base-url")) {
    body["base_url"] = *v;
  }
}

void apiFields(Args& a, json& body) {
  for (const auto& [opt, field] :
       std::vector<std::pair<const char*, const char*>>{{"name", "name"},
                                                        {"path", "path"},
                                                        {"version", "version"},
                                                        {"service", "service_id"},
                                                        {"visibility", "visibility"},
                                                        {"description", "description"}}) {
    if (auto v = a.get(opt)) {
      body[field] = *v;
    }
  }
  if (auto v = a.get("methods")) {
    body["methods"] = splitList(*v);
  }
  const bool yes = a.flag("approval-required");
  const bool no = a.flag("no-approval-required");
  if (yes && no) {
    throw UsageError("--approval-required and --no-approval-required contradict each other");
  }
  if (yes || no) {
    body["approval_required"] = yes;
  }
  if (auto v = a.get("openapi")) {
    // "none" removes an attached document.
    body["openapi"] = *v == "none" ? json() : jsonArgument(readFile(*v), "--openapi " + *v);
  }
}

void tenantField(Args& a, json& body) {
  if (auto v = a.get("tenant")) {
    body["tenant_id"] = *v;
  }
}

/// create: POST /collection, the name from --name or (when `named`) the one argument, the
/// tenant from --tenant; update: PATCH /collection/ID with the fields given.
Plan writePlan(Args& a, const std::string& collection, const std::string& verb, bool named,
               json body) {
  if (verb == "update") {
    const std::string id = a.arg(2, "the id");
    a.noMorePositional(3);
    return Plan{"PATCH", "/" + collection + "/" + encode(id), body};
  }
  if (named && a.pos.size() > 2) {
    if (body.contains("name")) {
      throw UsageError("give the name once");
    }
    body["name"] = a.pos[2];
  }
  a.noMorePositional(named ? 3 : 2);
  if (!body.contains("name")) {
    throw UsageError("the name is missing");
  }
  tenantField(a, body);
  return Plan{"POST", "/" + collection, body};
}

Plan resourcePlan(Args& a) {
  const std::string noun = a.arg(0, "the command");
  const std::string verb = a.pos.size() > 1 ? a.pos[1] : "";

  if (noun == "whoami" || noun == "openapi") {
    a.noMorePositional(1);
    return Plan{"GET", noun == "whoami" ? "/me" : "/openapi.json", nullptr};
  }
  if (noun == "audit") {
    a.noMorePositional(1);
    std::string limit;
    if (auto v = a.get("limit")) {
      limit = std::to_string(integer(*v, "--limit"));
    }
    return Plan{
        "GET", withQuery("/audit", {{"limit", limit}, {"tenant_id", a.get("tenant").value_or("")}}),
        nullptr};
  }
  if (noun == "request") {
    std::string method = a.arg(1, "the method");
    for (auto& c : method) {
      c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    }
    std::string path = a.arg(2, "the path");
    a.noMorePositional(3);
    if (path.empty() || path[0] != '/') {
      path = "/" + path;
    }
    json body = nullptr;
    if (auto data = a.get("data")) {
      const std::string text = *data == "-"
                                   ? std::string(std::istreambuf_iterator<char>(std::cin), {})
                               : !data->empty() && (*data)[0] == '@' ? readFile(data->substr(1))
                                                                     : *data;
      body = jsonArgument(text, "--data");
    }
    return Plan{method, path, body};
  }
  if (verb.empty()) {
    throw UsageError("'" + noun + "' needs a subcommand");
  }

  if (noun == "tenants") {
    if (auto p = commonPlan(a, "tenants", verb, {})) {
      if (verb == "delete") {
        throw UsageError("tenants cannot be deleted");
      }
      return *p;
    }
    if (verb == "create") {
      const std::string name = a.arg(2, "the name");
      a.noMorePositional(3);
      return Plan{"POST", "/tenants", {{"name", name}}};
    }
    if (verb == "rename") {
      const std::string id = a.arg(2, "the id");
      const std::string name = a.arg(3, "the new name");
      a.noMorePositional(4);
      return Plan{"PATCH", "/tenants/" + encode(id), {{"name", name}}};
    }
  } else if (noun == "users") {
    if (auto p = commonPlan(a, "users", verb, {})) {
      return *p;
    }
    if (verb == "create") {
      a.noMorePositional(2);
      json body = {{"email", a.need("email")}};
      if (auto v = a.get("role")) {
        body["role"] = *v;
      }
      tenantField(a, body);
      a.used.insert("password-stdin");
      a.noUnusedOptions();
      body["password"] = readPassword(a);
      return Plan{"POST", "/users", body};
    }
    if (verb == "set-role") {
      const std::string id = a.arg(2, "the id");
      const std::string role = a.arg(3, "the role");
      a.noMorePositional(4);
      return Plan{"PATCH", "/users/" + encode(id), {{"role", role}}};
    }
    if (verb == "set-password") {
      const std::string id = a.arg(2, "the id");
      a.noMorePositional(3);
      a.used.insert("password-stdin");
      a.noUnusedOptions();
      return Plan{"PATCH", "/users/" + encode(id), {{"password", readPassword(a)}}};
    }
  } else if (noun == "apps") {
    if (auto p = commonPlan(a, "apps", verb, {})) {
      return *p;
    }
    if (verb == "create" || verb == "update") {
      json body = json::object();
      for (const char* field : {"name", "description"}) {
        if (auto v = a.get(field)) {
          body[field] = *v;
        }
      }
      return writePlan(a, "apps", verb, true, body);
    }
  } else if (noun == "keys") {
    const std::string app = a.arg(2, "the app id");
    const std::string keys = "/apps/" + encode(app) + "/keys";
    if (verb == "list") {
      a.noMorePositional(3);
      return Plan{"GET", keys, nullptr};
    }
    if (verb == "show" || verb == "revoke") {
      const std::string key = a.arg(3, "the key id");
      a.noMorePositional(4);
      return Plan{verb == "show" ? "GET" : "POST",
                  keys + "/" + encode(key) + (verb == "revoke" ? "/revoke" : ""), nullptr};
    }
    if (verb == "create") {
      a.noMorePositional(3);
      json body = json::object();
      if (auto v = a.get("name")) {
        body["name"] = *v;
      }
      if (auto v = a.get("expires-in")) {
        body["expires_in_s"] = durationSeconds(*v, "--expires-in");
      }
      if (auto v = a.get("expires-at")) {
        body["expires_at"] = integer(*v, "--expires-at");
      }
      return Plan{"POST", keys, body, "key"};
    }
  } else if (noun == "services") {
    if (auto p = commonPlan(a, "services", verb, {})) {
      return *p;
    }
    if (verb == "create" || verb == "update") {
      json body = json::object();
      serviceFields(a, body);
      if (verb == "create") {
        body["kind"] = a.need("kind");  // fixed once created
      }
      return writePlan(a, "services", verb, true, body);
    }
  } else if (noun == "apis") {
    if (auto p = commonPlan(a, "apis", verb, {"publish", "retire"})) {
      return *p;
    }
    if (verb == "openapi") {
      const std::string id = a.arg(2, "the id");
      a.noMorePositional(3);
      return Plan{"GET", "/apis/" + encode(id) + "/openapi", nullptr};
    }
    if (verb == "deprecate") {
      const std::string id = a.arg(2, "the id");
      a.noMorePositional(3);
      json body = json::object();
      const auto at = a.get("sunset-at");
      const auto in = a.get("sunset-in");
      if (at && in) {
        throw UsageError("give --sunset-at or --sunset-in, not both");
      }
      if (at) {
        body["sunset_at"] = integer(*at, "--sunset-at");
      } else if (in) {
        body["sunset_at"] =
            static_cast<int64_t>(::time(nullptr)) + durationSeconds(*in, "--sunset-in");
      }
      return Plan{"POST", "/apis/" + encode(id) + "/deprecate", body};
    }
    if (verb == "create" || verb == "update") {
      json body = json::object();
      apiFields(a, body);
      return writePlan(a, "apis", verb, false, body);
    }
  } else if (noun == "catalog") {
    if (verb == "list") {
      a.noMorePositional(2);
      return Plan{"GET", "/catalog", nullptr};
    }
    if (verb == "show" || verb == "openapi") {
      const std::string id = a.arg(2, "the id");
      a.noMorePositional(3);
      return Plan{"GET", "/catalog/" + encode(id) + (verb == "openapi" ? "/openapi" : ""), nullptr};
    }
  } else if (noun == "subscriptions") {
    if (auto p = commonPlan(a, "subscriptions", verb, {"approve", "reject", "revoke"})) {
      if (verb == "delete") {
        throw UsageError("subscriptions are revoked, not deleted");
      }
      return *p;
    }
    if (verb == "request") {
      a.noMorePositional(2);
      return Plan{"POST", "/subscriptions", {{"app_id", a.need("app")}, {"api_id", a.need("api")}}};
    }
  } else {
    throw UsageError("unknown command '" + noun + "'");
  }
  throw UsageError("unknown subcommand '" + noun + " " + verb + "'");
}

/// -q: the id of an object, the ids of a list, or the field the command names.
void printQuiet(const json& body, const std::string& field) {
  if (body.is_object() && body.contains("data") && body["data"].is_array()) {
    for (const auto& item : body["data"]) {
      if (item.is_object() && item.contains(field) && item[field].is_string()) {
        std::cout << item[field].get<std::string>() << "\n";
      }
    }
    return;
  }
  if (body.is_object() && body.contains(field) && body[field].is_string()) {
    std::cout << body[field].get<std::string>() << "\n";
  }
}

int apiError(const Answer& answer) {
  std::string message;
  std::string code;
  if (answer.body.is_object() && answer.body.contains("error") &&
      answer.body["error"].is_object()) {
    message = answer.body["error"].value("message", "");
    code = answer.body["error"].value("code", "");
  }
  if (message.empty()) {
    message = answer.body.is_string() ? answer.body.get<std::string>() : answer.body.dump();
  }
  std::cerr << "switchyard admin: " << message << " (HTTP " << answer.status
            << (code.empty() ? "" : ", " + code) << ")\n";
  return 1;
}

}  // namespace

int runAdminCommand(int argc, char** argv) {
  Args a;
  try {
    a = parse(argc, argv);
  } catch (const UsageError& e) {
    std::cerr << "switchyard admin: " << e.what() << "\n" << kUsage;
    return 2;
  }
  if (a.flag("help") || a.pos.empty()) {
    (a.pos.empty() && !a.flag("help") ? std::cerr : std::cout) << kUsage;
    return a.flag("help") ? 0 : 2;
  }
  const bool quiet = a.flag("quiet");
  const fs::path session_file = a.get("session-file").value_or(defaultSessionFile().string());
  const std::optional<Session> saved = loadSession(session_file);
  std::string url;
  if (auto v = a.get("url")) {
    url = *v;
  } else if (const char* env = std::getenv("SWITCHYARD_ADMIN_URL"); env != nullptr && *env) {
    url = env;
  } else if (saved && !saved->url.empty()) {
    url = saved->url;
  } else {
    url = kDefaultUrl;
  }
  const auto apiPath = [](const std::string& path) {
    return path.rfind("/admin/", 0) == 0 ? path : "/admin/v1" + path;
  };

  try {
    const std::string command = a.pos[0];
    if (command == "logout") {
      a.noMorePositional(1);
      a.noUnusedOptions();
      std::error_code ec;
      fs::remove(session_file, ec);
      return 0;
    }
    if (command == "login") {
      a.noMorePositional(1);
      const std::string email = a.need("email");
      a.used.insert("password-stdin");
      a.noUnusedOptions();
      const json body = {{"email", email}, {"password", readPassword(a)}};
      const Answer answer = send(url, "", "POST", apiPath("/sessions"), body);
      if (answer.status != 201 || !answer.body.is_object() || !answer.body.contains("token")) {
        return apiError(answer);
      }
      saveSession(session_file, Session{url, answer.body["token"].get<std::string>(), email,
                                        answer.body.value("expires_at", int64_t{0})});
      // The token stays in the file: it is a credential.
      const json out = {{"url", url},
                        {"session_file", session_file.string()},
                        {"expires_at", answer.body["expires_at"]},
                        {"user", answer.body["user"]}};
      if (quiet) {
        printQuiet(out["user"], "id");
      } else {
        std::cout << out.dump(2) << "\n";
      }
      return 0;
    }

    Plan plan = resourcePlan(a);
    a.noUnusedOptions();
    std::string token;
    if (const char* env = std::getenv("SWITCHYARD_ADMIN_TOKEN"); env != nullptr && *env) {
      token = env;
    } else if (saved) {
      token = saved->token;
    }
    if (token.empty() && plan.path != "/openapi.json") {
      std::cerr << "switchyard admin: not signed in: run 'switchyard admin login --email …' or "
                   "set SWITCHYARD_ADMIN_TOKEN\n";
      return 1;
    }
    const Answer answer = send(url, token, plan.method, apiPath(plan.path), plan.body);
    if (answer.status >= 400) {
      return apiError(answer);
    }
    if (quiet) {
      printQuiet(answer.body, plan.quiet);
    } else if (answer.body.is_string()) {
      std::cout << answer.body.get<std::string>();
    } else {
      std::cout << answer.body.dump(2) << "\n";
    }
    return 0;
  } catch (const UsageError& e) {
    std::cerr << "switchyard admin: " << e.what() << "\n"
              << "Run 'switchyard admin --help' for the commands.\n";
    return 2;
  } catch (const Poco::Exception& e) {
    std::cerr << "switchyard admin: cannot reach " << url << ": " << e.displayText() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "switchyard admin: " << e.what() << "\n";
    return 1;
  }
}

}  // namespace switchyard
