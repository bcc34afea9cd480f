/// @file switchyard/catalog/model_catalog.h
/// @brief The model catalog (schema "switchyard.catalog.v1") and the cost of a call by its usage.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "switchyard/log/call_record.h"

namespace switchyard {

/// USD per 1,000,000 tokens.
struct ModelPrice {
  double input = 0;
  double output = 0;
  std::optional<double> cached_input; ///< unknown: cached tokens are charged at `input`
  std::optional<double> cache_write;  ///< unknown: cache-write tokens are charged at `input`
};

/// One catalog entry: the fields the gateway uses (the file may carry more, for people).
struct CatalogModel {
  std::string id;
  std::string provider; ///< a provider plugin type or an openai preset name
  std::string upstream_model;
  std::vector<std::string> aliases;
  int64_t context_window = 0;
  int64_t max_output_tokens = 0;
  ModelPrice price;
  std::string prices_as_of; ///< YYYY-MM-DD; may be empty in an operator's own catalog
  /// tools, vision, streaming, embeddings, reasoning: what clients may rely on (from the file).
  std::vector<std::pair<std::string, bool>> capabilities;
};

class ModelCatalog;
using ModelCatalogSharedPtr = std::shared_ptr<const ModelCatalog>;

/// An immutable, validated catalog. Loading throws; lookups never do.
class ModelCatalog {
public:
  /**
   * Parses and validates a catalog document.
   * @param origin names the document in error messages (a path, or "built-in catalog").
   * @throw ConfigError naming the offending entry and field.
   */
  static ModelCatalogSharedPtr parse(std::string_view text, const std::string& origin);
  /// Reads and parses a catalog file. @throw ConfigError.
  static ModelCatalogSharedPtr load(const std::filesystem::path& file);
  /// The catalog shipped with this build (config/catalog/models.json, compiled in). @throw ConfigError.
  static ModelCatalogSharedPtr builtIn();

  /**
   * The entry pricing `model` on a provider of catalog name `provider`: the entry whose
   * upstream_model is `model`, else the one whose id or an alias is `model`; null when none.
   */
  const CatalogModel* find(std::string_view provider, std::string_view model) const;

  const std::vector<CatalogModel>& models() const { return models_; }
  const std::string& origin() const { return origin_; }

private:
  ModelCatalog() = default;

  std::string origin_;
  std::vector<CatalogModel> models_;
  std::unordered_map<std::string, size_t> by_upstream_; ///< "provider\nupstream_model" → index
  std::unordered_map<std::string, size_t> by_name_;     ///< "provider\nid or alias" → index
};

/**
 * The cost of a call from the usage the provider reported (docs/catalog.md, "How prices are
 * used"): uncached prompt tokens at `input`, cached at `cached_input`, cache writes at
 * `cache_write`, completion tokens (reasoning included) at `output`.
 */
CallCost priceUsage(const CatalogModel& model, const TokenUsage& usage);

} // namespace switchyard
