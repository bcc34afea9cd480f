/// @file switchyard/plugin/plugin_manager.h
/// @brief Discovers, loads, hot-reloads and drains plugin libraries.
#pragma once

#include <switchyard/abi.h>

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "switchyard/common/api_error.h"

namespace switchyard {

const char* kindName(sy_kind kind);

struct ComponentInfo {
  sy_kind kind = 0;
  std::string name;
  std::string description;
  const void* vtable = nullptr;
};

/**
 * One loaded copy of a plugin library. It stays mapped while anything made from it lives;
 * the last owner's release is handed to the loader thread, which calls the plugin's
 * shutdown and unmaps it (workers never run dlclose or a plugin's static destructors).
 */
class PluginGeneration {
public:
  ~PluginGeneration();

  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const std::string& vendor() const { return vendor_; }
  const std::string& description() const { return description_; }
  const std::filesystem::path& sourcePath() const { return source_path_; }
  const std::filesystem::path& loadedPath() const { return loaded_path_; }
  const std::string& sha256() const { return sha256_; }
  uint64_t id() const { return id_; }
  void* state() const { return state_; }
  const std::vector<ComponentInfo>& components() const { return components_; }

private:
  friend class PluginLoader;
  PluginGeneration() = default;

  std::string name_, version_, vendor_, description_, sha256_;
  std::filesystem::path source_path_, loaded_path_;
  uint64_t id_ = 0;
  void* state_ = nullptr;
  void (*shutdown_)(void*) = nullptr;
  bool no_unload_ = false;
  std::vector<ComponentInfo> components_;
  std::shared_ptr<void> library_; // the boost::dll::shared_library, type-erased
};
using PluginGenerationSharedPtr = std::shared_ptr<PluginGeneration>;

/// A component of a loaded generation, which it keeps alive.
struct ComponentRef {
  PluginGenerationSharedPtr generation;
  const ComponentInfo* info = nullptr;
};

/// An instance a component created from its config block; destroyed exactly once.
class ComponentInstance {
public:
  /// Creates an instance; on failure returns null and fills `error`.
  static std::shared_ptr<ComponentInstance> create(const ComponentRef& ref,
                                                   const std::string& config_json,
                                                   std::string* error);
  ~ComponentInstance();

  sy_kind kind() const { return ref_.info->kind; }
  const std::string& type() const { return ref_.info->name; }
  const PluginGeneration& generation() const { return *ref_.generation; }
  void* handle() const { return handle_; }
  template <class Table> const Table& table() const {
    return *static_cast<const Table*>(ref_.info->vtable);
  }

private:
  ComponentInstance(ComponentRef ref, void* handle) : ref_(std::move(ref)), handle_(handle) {}
  ComponentRef ref_;
  void* handle_;
};
using ComponentInstanceSharedPtr = std::shared_ptr<ComponentInstance>;

struct PluginLoadError {
  std::string path;
  std::string error;
};

/// What is loaded at one moment. Immutable once published.
struct PluginSet {
  std::vector<PluginGenerationSharedPtr> plugins;
  std::vector<PluginLoadError> errors;
  std::optional<ComponentRef> find(sy_kind kind, const std::string& name) const;
};
using PluginSetSharedPtr = std::shared_ptr<const PluginSet>;

/// Loads one library: copy to a private path, dlopen, handshake, validate, init.
class PluginLoader {
public:
  /// @return the generation, or null with `error` saying why it was refused.
  static PluginGenerationSharedPtr load(const std::filesystem::path& file,
                                        const std::filesystem::path& cache_dir, uint64_t id,
                                        std::string* error);
  /// Runs releases deferred to the loader thread (shutdown + unmap). Returns how many ran.
  static size_t reapDeferred();
  /// How many generations are still mapped (for tests and the admin view).
  static size_t liveGenerations();
};

/**
 * Watches plugin directories. scan() is called from one thread (the loader thread): new or
 * changed libraries load as new generations, removed ones are dropped from the set, and a
 * library that fails keeps the previous generation serving.
 */
class PluginManager {
public:
  PluginManager(std::vector<std::filesystem::path> dirs, std::filesystem::path cache_dir);

  /// @param initial load immediately, without waiting for a file to be stable across scans.
  /// @return true when the published set changed.
  bool scan(bool initial = false);
  PluginSetSharedPtr current() const;
  void setDirectories(std::vector<std::filesystem::path> dirs, std::filesystem::path cache_dir);

private:
  struct FileState {
    uintmax_t size = 0;
    std::filesystem::file_time_type mtime{};
    bool settled = false; // loaded or refused at this size/mtime
    uintmax_t seen_size = 0;
    std::filesystem::file_time_type seen_mtime{};
    std::string sha256;
    PluginGenerationSharedPtr generation;
    std::string error;
  };
  void publish();

  std::vector<std::filesystem::path> dirs_;
  std::filesystem::path cache_dir_;
  std::map<std::filesystem::path, FileState> files_;
  uint64_t next_id_ = 1;
  mutable std::mutex mutex_;
  PluginSetSharedPtr current_;
};

} // namespace switchyard
