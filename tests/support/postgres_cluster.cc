/// @file tests/support/postgres_cluster.cc
/// @brief initdb/pg_ctl driver behind PostgresCluster, and a libpq query helper.
#include "postgres_cluster.h"

#include <libpq-fe.h>
#include <netinet/in.h>
#include <pwd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <random>
#include <sstream>
#include <stdexcept>

namespace switchyard::testing {
namespace fs = std::filesystem;

namespace {

fs::path findServerBin() {
  const fs::path root = "/usr/lib/postgresql";
  std::vector<fs::path> candidates;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(root, ec)) {
    if (fs::exists(entry.path() / "bin" / "initdb") &&
        fs::exists(entry.path() / "bin" / "pg_ctl")) {
      candidates.push_back(entry.path() / "bin");
    }
  }
  if (candidates.empty()) {
    throw std::runtime_error(
        "PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin/initdb and pg_ctl): "
        "install the `postgresql` package (packaging/install-deps.sh does)");
  }
  // The newest major version wins; directory names are the version numbers.
  std::sort(candidates.begin(), candidates.end(), [](const fs::path& a, const fs::path& b) {
    return std::atoi(a.parent_path().filename().c_str()) <
           std::atoi(b.parent_path().filename().c_str());
  });
  return candidates.back();
}

uint16_t freePort() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) {
    throw std::runtime_error("socket() failed");
  }
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot find a free port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(addr.sin_port);
}

std::string tail(const fs::path& file, size_t max_chars = 2000) {
  std::ifstream in(file);
  std::stringstream ss;
  ss << in.rdbuf();
  std::string text = ss.str();
  return text.size() > max_chars ? text.substr(text.size() - max_chars) : text;
}

}  // namespace

PostgresCluster::PostgresCluster(std::string password) : password_(std::move(password)) {
  bin_ = findServerBin();
  char tmpl[] = "/tmp/sy-pg-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) {
    throw std::runtime_error("mkdtemp failed");
  }
  dir_ = tmpl;
  {
    std::ofstream pw(dir_ / "pwfile");
    pw << password_ << "\n";
  }
  if (::geteuid() == 0) {
    const passwd* user = ::getpwnam("postgres");
    if (user == nullptr) {
      user = ::getpwnam("nobody");
    }
    if (user == nullptr) {
      throw std::runtime_error("running as root and neither `postgres` nor `nobody` exists");
    }
    for (const fs::path& p : {dir_, dir_ / "pwfile"}) {
      if (::chown(p.c_str(), user->pw_uid, user->pw_gid) != 0) {
        throw std::runtime_error("cannot hand " + p.string() + " to user " + user->pw_name);
      }
    }
    run_as_ = std::string("runuser -u ") + user->pw_name + " -- ";
  }
  run("'" + (bin_ / "initdb").string() + "' -D '" + (dir_ / "data").string() + "' -U " + kUser +
          " --pwfile='" + (dir_ / "pwfile").string() +
          "' -A scram-sha-256 -E UTF8 --locale=C --no-sync",
      "initdb");
  port_ = freePort();
  start();
  query(std::string("CREATE DATABASE ") + kDatabase);
}

PostgresCluster::~PostgresCluster() {
  try {
    stop();
  } catch (const std::exception&) {
    // Best effort: the directory goes away below either way.
  }
  std::error_code ec;
  fs::remove_all(dir_, ec);
}

std::string PostgresCluster::run(const std::string& args, const std::string& what) const {
  const fs::path log = dir_ / (what + ".out");
  const std::string command = run_as_ + args + " >'" + log.string() + "' 2>&1";
  const int rc = std::system(command.c_str());
  if (rc != 0) {
    throw std::runtime_error(what + " failed (" + command + "), exit " + std::to_string(rc) +
                             ":\n" + tail(log) + "\nserver log:\n" + tail(dir_ / "server.log"));
  }
  return tail(log);
}

void PostgresCluster::start() {
  if (running_) {
    return;
  }
  // TCP on 127.0.0.1 only; the Unix socket lives in the private directory, not /run.
  run("'" + (bin_ / "pg_ctl").string() + "' -D '" + (dir_ / "data").string() + "' -l '" +
          (dir_ / "server.log").string() + "' -w -t 120 -o \"-p " + std::to_string(port_) +
          " -c listen_addresses=127.0.0.1 -c unix_socket_directories='" + dir_.string() +
          "' -c fsync=off\" start",
      "pg_ctl-start");
  running_ = true;
}

void PostgresCluster::stop() {
  if (!running_) {
    return;
  }
  run("'" + (bin_ / "pg_ctl").string() + "' -D '" + (dir_ / "data").string() +
          "' -m fast -w -t 120 stop",
      "pg_ctl-stop");
  running_ = false;
}

std::string PostgresCluster::conninfo(const std::string& database) const {
  return "host=127.0.0.1 port=" + std::to_string(port_) + " dbname=" + database + " user=" + kUser;
}

std::string PostgresCluster::createDatabase() const {
  std::random_device random;
  std::string name = "sy_test_";
  for (int i = 0; i < 4; ++i) {
    char hex[9];
    std::snprintf(hex, sizeof hex, "%08x", random());
    name += hex;
  }
  query("CREATE DATABASE " + name);
  return name;
}

std::vector<std::vector<std::string>> PostgresCluster::query(const std::string& sql,
                                                             const std::string& database) const {
  // CREATE DATABASE runs before the database exists, so it goes to the maintenance database.
  const bool maintenance = sql.rfind("CREATE DATABASE", 0) == 0;
  const std::string info = conninfo(maintenance ? "postgres" : database) +
                           " password=" + password_ + " connect_timeout=10";
  std::unique_ptr<PGconn, decltype(&PQfinish)> conn(PQconnectdb(info.c_str()), &PQfinish);
  if (PQstatus(conn.get()) != CONNECTION_OK) {
    throw std::runtime_error(std::string("cannot connect to the test server: ") +
                             PQerrorMessage(conn.get()));
  }
  PQsetNoticeProcessor(
      conn.get(), [](void*, const char*) {}, nullptr);
  std::unique_ptr<PGresult, decltype(&PQclear)> result(PQexec(conn.get(), sql.c_str()), &PQclear);
  const ExecStatusType status = PQresultStatus(result.get());
  if (status != PGRES_TUPLES_OK && status != PGRES_COMMAND_OK) {
    throw std::runtime_error("query failed: " + sql + ": " + PQerrorMessage(conn.get()));
  }
  std::vector<std::vector<std::string>> rows;
  for (int r = 0; r < PQntuples(result.get()); ++r) {
    std::vector<std::string> row;
    for (int c = 0; c < PQnfields(result.get()); ++c) {
      row.push_back(PQgetisnull(result.get(), r, c) ? "<null>" : PQgetvalue(result.get(), r, c));
    }
    rows.push_back(std::move(row));
  }
  return rows;
}

PostgresCluster& sharedPostgresCluster() {
  static PostgresCluster cluster;
  return cluster;
}

}  // namespace switchyard::testing
