/// @file tests/support/openapi_checker.h
/// @brief Structural checks of an OpenAPI 3.1 document that a client generator or Swagger UI
/// would trip over: dangling $refs, undeclared path parameters, duplicate operationIds,
/// operations without responses. No validator package is installable, so the tests use this.
#pragma once

#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

namespace switchyard::testing {

inline const std::set<std::string>& openApiMethods() {
  static const std::set<std::string> kMethods = {"get",  "put",     "post",  "delete",
                                                 "head", "options", "patch", "trace"};
  return kMethods;
}

/// "/apps/{app_id}/keys" → "/apps/*/keys": templates compare by shape, not parameter names.
inline std::string pathShape(const std::string& path) {
  std::string out;
  bool in_param = false;
  for (char c : path) {
    if (c == '{') {
      in_param = true;
      out += '*';
    } else if (c == '}') {
      in_param = false;
    } else if (!in_param) {
      out += c;
    }
  }
  return out;
}

/// Every (METHOD, path shape) the document describes, e.g. {"GET", "/apps/*"}.
inline std::set<std::pair<std::string, std::string>> openApiOperations(const nlohmann::json& doc) {
  std::set<std::pair<std::string, std::string>> out;
  if (!doc.contains("paths") || !doc["paths"].is_object()) {
    return out;
  }
  for (const auto& [path, item] : doc["paths"].items()) {
    for (const auto& [method, op] : item.items()) {
      if (openApiMethods().count(method) != 0) {
        std::string upper = method;
        for (auto& c : upper) {
          c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
        }
        out.insert({upper, pathShape(path)});
      }
    }
  }
  return out;
}

/// What is wrong with `doc`, one line per problem; empty when nothing is.
inline std::vector<std::string> openApiProblems(const nlohmann::json& doc) {
  using nlohmann::json;
  std::vector<std::string> problems;
  if (!doc.is_object()) {
    return {"the document is not an object"};
  }
  if (!doc.contains("openapi") || !doc["openapi"].is_string() ||
      doc["openapi"].get<std::string>().rfind("3.", 0) != 0) {
    problems.push_back("'openapi' is not a 3.x version string");
  }
  if (!doc.contains("info") || !doc["info"].contains("title") || !doc["info"].contains("version")) {
    problems.push_back("'info' needs a title and a version");
  }
  if (!doc.contains("paths") || !doc["paths"].is_object()) {
    problems.push_back("'paths' is not an object");
    return problems;
  }
  // Every $ref points into this document and resolves.
  std::vector<std::pair<std::string, const json*>> stack = {{"", &doc}};
  while (!stack.empty()) {
    auto [where, node] = stack.back();
    stack.pop_back();
    if (node->is_object()) {
      if (node->contains("$ref") && (*node)["$ref"].is_string()) {
        const std::string ref = (*node)["$ref"];
        if (ref.rfind("#/", 0) != 0 || !doc.contains(json::json_pointer(ref.substr(1)))) {
          problems.push_back(where + ": $ref " + ref + " does not resolve");
        }
      }
      for (const auto& [k, v] : node->items()) {
        stack.push_back({where + "/" + k, &v});
      }
    } else if (node->is_array()) {
      for (size_t i = 0; i < node->size(); ++i) {
        stack.push_back({where + "/" + std::to_string(i), &(*node)[i]});
      }
    }
  }
  std::set<std::string> operation_ids;
  std::set<std::string> schemes;
  if (doc.contains("components") && doc["components"].contains("securitySchemes")) {
    for (const auto& [name, scheme] : doc["components"]["securitySchemes"].items()) {
      schemes.insert(name);
    }
  }
  auto checkSecurity = [&](const json& security, const std::string& where) {
    for (const auto& requirement : security) {
      for (const auto& [name, scopes] : requirement.items()) {
        if (schemes.count(name) == 0) {
          problems.push_back(where + ": security scheme " + name + " is not declared");
        }
      }
    }
  };
  if (doc.contains("security")) {
    checkSecurity(doc["security"], "security");
  }
  for (const auto& [path, item] : doc["paths"].items()) {
    if (path.empty() || path[0] != '/') {
      problems.push_back(path + ": paths start with '/'");
    }
    std::set<std::string> templated;
    for (size_t open = path.find('{'); open != std::string::npos; open = path.find('{', open + 1)) {
      templated.insert(path.substr(open + 1, path.find('}', open) - open - 1));
    }
    auto declared = [](const json& params) {
      std::set<std::string> names;
      for (const auto& p : params) {
        if (p.value("in", "") == "path") {
          names.insert(p.value("name", ""));
        }
      }
      return names;
    };
    const std::set<std::string> item_params =
        item.contains("parameters") ? declared(item["parameters"]) : std::set<std::string>{};
    for (const auto& [method, op] : item.items()) {
      if (openApiMethods().count(method) == 0) {
        continue;
      }
      const std::string where = method + " " + path;
      std::set<std::string> params = item_params;
      if (op.contains("parameters")) {
        for (const auto& n : declared(op["parameters"])) {
          params.insert(n);
        }
      }
      if (params != templated) {
        problems.push_back(where + ": path parameters declared do not match the template");
      }
      if (!op.contains("responses") || !op["responses"].is_object() || op["responses"].empty()) {
        problems.push_back(where + ": no responses");
      } else {
        for (const auto& [status, response] : op["responses"].items()) {
          if (!response.contains("$ref") && !response.contains("description")) {
            problems.push_back(where + " " + status + ": a response needs a description");
          }
        }
      }
      if (op.contains("operationId") &&
          !operation_ids.insert(op["operationId"].get<std::string>()).second) {
        problems.push_back(where + ": operationId " + op["operationId"].get<std::string>() +
                           " is not unique");
      }
      if (op.contains("security")) {
        checkSecurity(op["security"], where);
      }
    }
  }
  return problems;
}

}  // namespace switchyard::testing
