/// @file openapi_parts.h
/// @brief Pieces every OpenAPI document the gateway generates uses (catalog entries, prompt
/// APIs): schema references and the OpenAI-shaped error answer.
#pragma once

#include <nlohmann/json.hpp>
#include <string>

namespace switchyard::openapi {

/// {"$ref": "#/components/schemas/<name>"}
inline nlohmann::json ref(const std::string& name) {
  return {{"$ref", "#/components/schemas/" + name}};
}

/// A response whose body is the document's "Error" schema.
inline nlohmann::json errorResponse(const std::string& description) {
  return {{"description", description},
          {"content", {{"application/json", {{"schema", ref("Error")}}}}}};
}

}  // namespace switchyard::openapi
