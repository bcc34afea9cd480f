// switchyard: the gateway executable. Everything testable lives in the library; this file
// only parses the command line, sets process limits and waits for a termination signal.
#include <signal.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <iostream>

#include "admin_command.h"
#include "stats_command.h"
#include "switchyard/server/gateway.h"

#ifndef SWITCHYARD_VERSION
#define SWITCHYARD_VERSION "0.0.0"
#endif

namespace {

void usage() {
  std::cout << "usage: switchyard [--config FILE]      run the gateway (default config/switchyard.json)\n"
               "       switchyard --check-config FILE  validate a config file and the plugins it names\n"
               "       switchyard stats [--admin URL] [--by DIMS] [--last 1h] …   query analytics (stats --help)\n"
               "       switchyard admin COMMAND …      manage tenants, apps, keys, APIs (admin --help)\n"
               "       switchyard --version\n";
}

// Each connection holds a client socket and an upstream socket; the default soft limit
// would cap concurrent streams far below what the server is sized for.
void raiseFileLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
  }
}

// The handler only writes the signal number to a pipe (async-signal-safe); main() reads it.
// A handler works whichever thread the kernel picks, unlike a signal mask that every thread,
// including threads libraries start with masks of their own, would have to inherit.
int g_signal_pipe[2] = {-1, -1};

void onTerminationSignal(int sig) {
  const unsigned char byte = static_cast<unsigned char>(sig);
  [[maybe_unused]] ssize_t n = ::write(g_signal_pipe[1], &byte, 1);
}

int waitForTerminationSignal() {
  unsigned char byte = 0;
  while (::read(g_signal_pipe[0], &byte, 1) < 0 && errno == EINTR) {
  }
  return byte;
}

} // namespace

int main(int argc, char** argv) {
  if (argc >= 2 && std::string(argv[1]) == "stats") {
    return switchyard::runStatsCommand(argc - 2, argv + 2);
  }
  if (argc >= 2 && std::string(argv[1]) == "admin") {
    return switchyard::runAdminCommand(argc - 2, argv + 2);
  }
  std::filesystem::path config = "config/switchyard.json";
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--version") {
      std::cout << "switchyard " << SWITCHYARD_VERSION << "\n";
      return 0;
    }
    if (arg == "--help" || arg == "-h") {
      usage();
      return 0;
    }
    if ((arg == "--config" || arg == "--check-config") && i + 1 < argc) {
      config = argv[++i];
      if (arg == "--check-config") {
        spdlog::set_level(spdlog::level::warn);
        std::string error = switchyard::checkConfigFile(config);
        if (!error.empty()) {
          std::cerr << "config " << config.string() << " is invalid: " << error << "\n";
          return 1;
        }
        std::cout << "config " << config.string() << " is valid\n";
        return 0;
      }
      continue;
    }
    usage();
    return 2;
  }

  if (::pipe(g_signal_pipe) != 0) {
    std::cerr << "cannot create the signal pipe\n";
    return 1;
  }
  struct sigaction action {};
  action.sa_handler = &onTerminationSignal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGINT, &action, nullptr);
  signal(SIGPIPE, SIG_IGN);
  raiseFileLimit();

  try {
    switchyard::Gateway gateway(config);
    gateway.start();
    const int sig = waitForTerminationSignal();
    spdlog::info("{} received: draining", sig == SIGTERM ? "SIGTERM" : "SIGINT");
    gateway.shutdown();
    spdlog::info("stopped");
    return 0;
  } catch (const std::exception& e) {
    spdlog::critical("cannot start: {}", e.what());
    return 1;
  }
}
