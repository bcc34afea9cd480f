/// @file admin_handler.h
/// @brief The admin port: loaded plugins, analytics queries, /metrics, runtime state.
#pragma once

#include <functional>

#include "switchyard/http/http_types.h"
#include "switchyard/log/record_dispatcher.h"
#include "switchyard/runtime/runtime.h"

namespace switchyard {

struct AdminState {
  std::function<RuntimeSharedPtr()> runtime;
  std::function<PluginSetSharedPtr()> plugins;
  std::function<std::string()> last_reload_error;
  std::function<int()> open_connections;
  std::function<int()> active_requests;
  std::function<uint64_t()> refused_connections;
  const RecordDispatcher* records = nullptr;
  const HealthRegistry* health = nullptr;
  /// Serves /admin/v1/... (API management) when a store is configured; false: not its path.
  std::function<bool(const HttpRequest&, HttpResponseWriter&)> management;
};

class AdminHandler : public HttpHandler {
public:
  explicit AdminHandler(AdminState state) : state_(std::move(state)) {}
  void handle(const HttpRequest& request, HttpResponseWriter& response) override;

private:
  AdminState state_;
};

} // namespace switchyard
