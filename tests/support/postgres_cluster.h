/// @file tests/support/postgres_cluster.h
/// @brief A private PostgreSQL server for tests: initdb in a temp dir, pg_ctl start/stop on a
/// free 127.0.0.1 port, password authentication, removed again at the end.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace switchyard::testing {

/// Uses Debian's server binaries (/usr/lib/postgresql/<version>/bin, the `postgresql`
/// package). initdb refuses to run as root, so as root every server command runs as the
/// `postgres` system user (or `nobody` when that does not exist) through runuser, with the
/// cluster directory owned by that user.
///
/// Every failure throws std::runtime_error with what went wrong and the server's log tail:
/// a test that needs the server fails with that message rather than skipping.
class PostgresCluster {
 public:
  static constexpr const char* kUser = "switchyard";
  static constexpr const char* kDatabase = "switchyard";

  /// initdb + start + CREATE DATABASE. `password` is the password of kUser.
  explicit PostgresCluster(std::string password = "pg-test-secret-5d1e");
  /// Stops the server (if running) and removes the directory.
  ~PostgresCluster();
  PostgresCluster(const PostgresCluster&) = delete;
  PostgresCluster& operator=(const PostgresCluster&) = delete;

  void start();
  /// Fast shutdown: open connections are terminated, like a server going down.
  void stop();
  bool running() const { return running_; }

  uint16_t port() const { return port_; }
  const std::string& password() const { return password_; }
  /// libpq keywords for `database` (kDatabase by default) as kUser, without the password.
  std::string conninfo(const std::string& database = kDatabase) const;

  /// Creates an empty database with a fresh random name and returns the name, so tests
  /// sharing one server stay independent of each other.
  std::string createDatabase() const;

  /// Runs `sql` on a fresh connection to `database` and returns every row as text (NULL as
  /// "<null>"). Throws with the server's message on failure.
  std::vector<std::vector<std::string>> query(const std::string& sql,
                                              const std::string& database = kDatabase) const;

 private:
  std::string run(const std::string& args, const std::string& what) const;

  std::filesystem::path dir_;
  std::filesystem::path bin_;
  std::string run_as_;  // "runuser -u <user> -- " when root, else empty
  std::string password_;
  uint16_t port_ = 0;
  bool running_ = false;
};

/// The test process's one server, started on first use and stopped and removed at exit: tests
/// share it and each takes a database of its own (createDatabase()).
PostgresCluster& sharedPostgresCluster();

}  // namespace switchyard::testing
