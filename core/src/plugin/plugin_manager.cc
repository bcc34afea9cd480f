#include "switchyard/plugin/plugin_manager.h"

#include <openssl/evp.h>
#include <spdlog/spdlog.h>
#include <unistd.h>

#include <boost/dll/shared_library.hpp>
#include <fstream>
#include <set>

#include "switchyard/plugin/plugin_types.h"

namespace switchyard {
namespace fs = std::filesystem;

namespace {

std::string view(sy_str s) { return s.len == 0 || s.ptr == nullptr ? std::string{} : std::string(s.ptr, s.len); }

// The prefix every component table shares: struct_size, create, destroy.
struct VtablePrefix {
  size_t struct_size;
  sy_status (*create)(void*, sy_str, sy_out_host_t*, void**);
  void (*destroy)(void*);
};

// The smallest table of each kind that has every hook the core calls.
size_t requiredTableSize(sy_kind kind) {
  switch (kind) {
  case SY_KIND_PROVIDER: return offsetof(sy_provider_vtable, stream_destroy) + sizeof(void*);
  case SY_KIND_AUTH: return offsetof(sy_auth_vtable, authenticate) + sizeof(void*);
  case SY_KIND_LOG_SINK: return offsetof(sy_log_sink_vtable, flush) + sizeof(void*);
  case SY_KIND_ANALYTICS: return offsetof(sy_analytics_vtable, query) + sizeof(void*);
  default: return 0;
  }
}

bool hooksPresent(sy_kind kind, const void* vtable) {
  switch (kind) {
  case SY_KIND_PROVIDER: {
    auto* t = static_cast<const sy_provider_vtable*>(vtable);
    return t->create && t->destroy && t->build_request && t->parse_response && t->stream_open &&
           t->stream_data && t->stream_end && t->stream_destroy;
  }
  case SY_KIND_AUTH: {
    auto* t = static_cast<const sy_auth_vtable*>(vtable);
    return t->create && t->destroy && t->authenticate;
  }
  case SY_KIND_LOG_SINK: {
    auto* t = static_cast<const sy_log_sink_vtable*>(vtable);
    return t->create && t->destroy && t->write_batch;
  }
  case SY_KIND_ANALYTICS: {
    auto* t = static_cast<const sy_analytics_vtable*>(vtable);
    return t->create && t->destroy && t->observe && t->query;
  }
  default: return false;
  }
}

std::string sha256File(const fs::path& file, std::string* error) {
  std::ifstream in(file, std::ios::binary);
  if (!in) {
    *error = "cannot read " + file.string();
    return {};
  }
  std::unique_ptr<EVP_MD_CTX, decltype(&EVP_MD_CTX_free)> ctx(EVP_MD_CTX_new(), &EVP_MD_CTX_free);
  EVP_DigestInit_ex(ctx.get(), EVP_sha256(), nullptr);
  char buf[65536];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    EVP_DigestUpdate(ctx.get(), buf, static_cast<size_t>(in.gcount()));
  }
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_DigestFinal_ex(ctx.get(), md, &len);
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (unsigned int i = 0; i < len; ++i) {
    out += kHex[md[i] >> 4];
    out += kHex[md[i] & 15];
  }
  return out;
}

// dlopen caches images by path, so every version gets its own path; copying also means
// overwriting the watched file never touches a mapped image.
fs::path privateCopy(const fs::path& file, const fs::path& cache_dir, const std::string& sha,
                     std::string* error) {
  std::error_code ec;
  fs::create_directories(cache_dir, ec);
  fs::permissions(cache_dir, fs::perms::owner_all, fs::perm_options::replace, ec);
  fs::path target = cache_dir / (file.stem().string() + "." + sha.substr(0, 16) + ".so");
  std::string ignored;
  if (fs::exists(target, ec) && sha256File(target, &ignored) == sha) {
    return target; // the same bytes are already cached
  }
  fs::path tmp = target;
  tmp += ".tmp." + std::to_string(::getpid());
  if (!fs::copy_file(file, tmp, fs::copy_options::overwrite_existing, ec)) {
    *error = "cannot copy to plugin cache " + cache_dir.string() + ": " + ec.message();
    return {};
  }
  fs::rename(tmp, target, ec);
  if (ec) {
    *error = "cannot rename into plugin cache: " + ec.message();
    fs::remove(tmp, ec);
    return {};
  }
  return target;
}

// Releases of the last owner, run later on the loader thread.
std::mutex g_reap_mutex;
std::vector<PluginGeneration*> g_reap_queue;
std::atomic<size_t> g_live{0};

} // namespace

const char* kindName(sy_kind kind) {
  switch (kind) {
  case SY_KIND_PROVIDER: return "provider";
  case SY_KIND_AUTH: return "auth";
  case SY_KIND_LOG_SINK: return "log_sink";
  case SY_KIND_ANALYTICS: return "analytics";
  default: return "unknown";
  }
}

PluginGeneration::~PluginGeneration() {
  if (shutdown_ != nullptr) {
    shutdown_(state_);
  }
  if (no_unload_) {
    // The plugin asked to stay mapped (thread-local destructors and the like): keep a
    // reference forever rather than unmap live code.
    new std::shared_ptr<void>(std::move(library_));
  }
  library_.reset();
  g_live--;
  spdlog::info("plugin {} {} (generation {}) unloaded", name_, version_, id_);
  std::error_code ec;
  fs::remove(loaded_path_, ec);
}

std::optional<ComponentRef> PluginSet::find(sy_kind kind, const std::string& name) const {
  for (const auto& gen : plugins) {
    for (const auto& c : gen->components()) {
      if (c.kind == kind && c.name == name) {
        return ComponentRef{gen, &c};
      }
    }
  }
  return std::nullopt;
}

PluginGenerationSharedPtr PluginLoader::load(const fs::path& file, const fs::path& cache_dir,
                                             uint64_t id, std::string* error) {
  const std::string sha = sha256File(file, error);
  if (sha.empty()) {
    return nullptr;
  }
  fs::path loaded = privateCopy(file, cache_dir, sha, error);
  if (loaded.empty()) {
    return nullptr;
  }
  auto library = std::make_shared<boost::dll::shared_library>();
  try {
    library->load(loaded.string(), boost::dll::load_mode::rtld_now | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    *error = std::string("cannot load library: ") + e.what();
    return nullptr;
  }
  if (!library->has(SY_PLUGIN_ENTRY_SYMBOL)) {
    *error = "not a Switchyard plugin: no exported " SY_PLUGIN_ENTRY_SYMBOL " symbol";
    return nullptr;
  }
  auto entry = library->get<const sy_plugin_info*(uint32_t, uint32_t)>(SY_PLUGIN_ENTRY_SYMBOL);
  const sy_plugin_info* info = entry(SY_ABI_MAJOR, SY_ABI_MINOR);
  if (info == nullptr) {
    *error = "plugin declined to serve host ABI " + std::to_string(SY_ABI_MAJOR) + "." +
             std::to_string(SY_ABI_MINOR);
    return nullptr;
  }
  if (info->struct_size < offsetof(sy_plugin_info, shutdown) + sizeof(void*)) {
    *error = "plugin info table is too small (" + std::to_string(info->struct_size) + " bytes)";
    return nullptr;
  }
  const std::string name = view(info->name);
  const std::string label = name.empty() ? file.filename().string() : name;
  if (info->abi_major != SY_ABI_MAJOR) {
    *error = "plugin " + label + " is built for ABI " + std::to_string(info->abi_major) + "." +
             std::to_string(info->abi_minor) + ", host speaks ABI " + std::to_string(SY_ABI_MAJOR) +
             "." + std::to_string(SY_ABI_MINOR) + " (major versions must match)";
    return nullptr;
  }
  if (info->abi_minor > SY_ABI_MINOR) {
    *error = "plugin " + label + " needs ABI " + std::to_string(info->abi_major) + "." +
             std::to_string(info->abi_minor) + ", host provides " + std::to_string(SY_ABI_MAJOR) + "." +
             std::to_string(SY_ABI_MINOR);
    return nullptr;
  }
  if (name.empty()) {
    *error = "plugin has no name";
    return nullptr;
  }
  std::unique_ptr<PluginGeneration> gen(new PluginGeneration());
  gen->name_ = name;
  gen->version_ = view(info->version);
  gen->vendor_ = view(info->vendor);
  gen->description_ = view(info->description);
  gen->sha256_ = sha;
  gen->source_path_ = file;
  gen->loaded_path_ = loaded;
  gen->id_ = id;
  gen->no_unload_ = (info->flags & SY_PLUGIN_FLAG_NO_UNLOAD) != 0;
  std::set<std::pair<sy_kind, std::string>> seen;
  for (size_t i = 0; i < info->component_count; ++i) {
    const sy_component& c = info->components[i];
    const std::string cname = view(c.name);
    if (c.struct_size < offsetof(sy_component, vtable) + sizeof(void*)) {
      *error = "component " + std::to_string(i) + " of " + label + " has a table too small";
      return nullptr;
    }
    const size_t need = requiredTableSize(c.kind);
    if (need == 0) {
      *error = "component \"" + cname + "\" of " + label + " has unknown kind " + std::to_string(c.kind);
      return nullptr;
    }
    if (cname.empty() || c.vtable == nullptr ||
        static_cast<const VtablePrefix*>(c.vtable)->struct_size < need || !hooksPresent(c.kind, c.vtable)) {
      *error = "component \"" + cname + "\" of " + label + " is incomplete (missing name or hooks)";
      return nullptr;
    }
    if (!seen.insert({c.kind, cname}).second) {
      *error = "plugin " + label + " registers " + kindName(c.kind) + " \"" + cname + "\" twice";
      return nullptr;
    }
    gen->components_.push_back(ComponentInfo{c.kind, cname, view(c.description), c.vtable});
  }
  if (gen->components_.empty()) {
    *error = "plugin " + label + " registers no components";
    return nullptr;
  }
  if (info->init != nullptr) {
    sy_status st = info->init(hostApi(), &gen->state_);
    if (st != SY_OK) {
      *error = "plugin " + label + " failed to initialise (status " + std::to_string(st) + ")";
      return nullptr;
    }
  }
  gen->shutdown_ = info->shutdown;
  gen->library_ = std::move(library);
  g_live++;
  return PluginGenerationSharedPtr(gen.release(), [](PluginGeneration* g) {
    std::lock_guard lock(g_reap_mutex);
    g_reap_queue.push_back(g);
  });
}

size_t PluginLoader::reapDeferred() {
  std::vector<PluginGeneration*> batch;
  {
    std::lock_guard lock(g_reap_mutex);
    batch.swap(g_reap_queue);
  }
  for (PluginGeneration* g : batch) {
    delete g;
  }
  return batch.size();
}

size_t PluginLoader::liveGenerations() { return g_live.load(); }

std::shared_ptr<ComponentInstance> ComponentInstance::create(const ComponentRef& ref,
                                                             const std::string& config_json,
                                                             std::string* error) {
  auto* prefix = static_cast<const VtablePrefix*>(ref.info->vtable);
  sy_out_host_t out;
  void* handle = nullptr;
  sy_status st = prefix->create(ref.generation->state(), sy_str{config_json.data(), config_json.size()},
                                &out, &handle);
  if (st != SY_OK || handle == nullptr) {
    *error = std::string(kindName(ref.info->kind)) + " \"" + ref.info->name + "\" refused its config";
    if (out.error) {
      *error += ": " + out.error->message;
    }
    if (handle != nullptr) {
      prefix->destroy(handle);
    }
    return nullptr;
  }
  return std::shared_ptr<ComponentInstance>(new ComponentInstance(ref, handle));
}

ComponentInstance::~ComponentInstance() {
  static_cast<const VtablePrefix*>(ref_.info->vtable)->destroy(handle_);
}

PluginManager::PluginManager(std::vector<fs::path> dirs, fs::path cache_dir)
    : dirs_(std::move(dirs)), cache_dir_(std::move(cache_dir)), current_(std::make_shared<PluginSet>()) {}

void PluginManager::setDirectories(std::vector<fs::path> dirs, fs::path cache_dir) {
  dirs_ = std::move(dirs);
  cache_dir_ = std::move(cache_dir);
}

bool PluginManager::scan(bool initial) {
  bool changed = false;
  std::set<fs::path> present;
  for (const auto& dir : dirs_) {
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      const fs::path& p = it->path();
      if (p.extension() != ".so" || !it->is_regular_file(ec)) {
        continue;
      }
      const uintmax_t size = it->file_size(ec);
      const auto mtime = it->last_write_time(ec);
      if (ec) {
        continue;
      }
      present.insert(p);
      FileState& f = files_[p];
      if (f.settled && f.size == size && f.mtime == mtime) {
        continue;
      }
      // A library still being written changes between scans; wait until it holds still.
      if (!initial && (f.seen_size != size || f.seen_mtime != mtime)) {
        f.seen_size = size;
        f.seen_mtime = mtime;
        continue;
      }
      f.size = f.seen_size = size;
      f.mtime = f.seen_mtime = mtime;
      f.settled = true;
      std::string error;
      std::string sha = sha256File(p, &error);
      if (!sha.empty() && f.generation && sha == f.sha256) {
        continue; // touched, not changed
      }
      PluginGenerationSharedPtr gen = sha.empty() ? nullptr : PluginLoader::load(p, cache_dir_, next_id_++, &error);
      if (gen) {
        // A component name may be offered by one library only.
        for (const auto& [other_path, other] : files_) {
          if (other_path == p || !other.generation) {
            continue;
          }
          for (const auto& c : gen->components()) {
            for (const auto& oc : other.generation->components()) {
              if (c.kind == oc.kind && c.name == oc.name && error.empty()) {
                error = std::string(kindName(c.kind)) + " \"" + c.name + "\" is already provided by " +
                        other_path.string();
              }
            }
          }
        }
        if (!error.empty()) {
          gen.reset();
        }
      }
      if (gen) {
        spdlog::info("plugin {} {} loaded from {} (sha256 {}, generation {}){}", gen->name(), gen->version(),
                     p.string(), gen->sha256().substr(0, 16), gen->id(),
                     f.generation ? ", replacing generation " + std::to_string(f.generation->id()) : "");
        f.generation = std::move(gen);
        f.sha256 = sha;
        f.error.clear();
      } else {
        spdlog::error("plugin {} refused: {}{}", p.string(), error,
                      f.generation ? " (the previous version keeps serving)" : "");
        f.error = error;
      }
      changed = true;
    }
  }
  for (auto it = files_.begin(); it != files_.end();) {
    if (present.count(it->first) == 0) {
      if (it->second.generation) {
        spdlog::info("plugin {} removed from {}; it drains and unloads", it->second.generation->name(),
                     it->first.string());
      }
      it = files_.erase(it);
      changed = true;
    } else {
      ++it;
    }
  }
  if (changed || initial) {
    publish();
  }
  return changed;
}

void PluginManager::publish() {
  auto set = std::make_shared<PluginSet>();
  for (const auto& [path, f] : files_) {
    if (f.generation) {
      set->plugins.push_back(f.generation);
    }
    if (!f.error.empty()) {
      set->errors.push_back(PluginLoadError{path.string(), f.error});
    }
  }
  std::lock_guard lock(mutex_);
  current_ = std::move(set);
}

PluginSetSharedPtr PluginManager::current() const {
  std::lock_guard lock(mutex_);
  return current_;
}

} // namespace switchyard
