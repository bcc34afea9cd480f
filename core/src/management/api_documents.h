/// @file api_documents.h
/// @brief OpenAPI documents: the admin API's own (GET /admin/v1/openapi.json) and one per API
/// in the catalog (GET /admin/v1/catalog/{id}/openapi), generated from what the API fronts.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string>

#include "admin_kit.h"
#include "switchyard/http/http_types.h"
#include "switchyard/store/store.h"

namespace switchyard {

/// The admin API's OpenAPI 3.1 document (core/src/management/admin_openapi.json, compiled in).
const nlohmann::json& adminOpenApi();

/**
 * The OpenAPI 3.1 document a caller of `api` needs: its servers point at `gateway_url` (the
 * data port, e.g. "http://127.0.0.1:8080") plus the API's mount, its security is an app key.
 *  - kind "ai": the OpenAI-compatible subset the mount serves (chat/completions with stream,
 *    embeddings, models) with the service's model routes as the `model` enum;
 *  - kind "rest": the owner's attached document (its servers and security replaced by the
 *    gateway's), else a generic one describing the mount and the API's methods;
 *  - kind "prompt": promptOpenApi()'s document (its run operation with the variables' schema),
 *    its server the data port;
 *  - any other kind: the generic one.
 * Operations the API's `methods` exclude are left out; a deprecated API's are marked so.
 */
nlohmann::json apiDocument(const Api& api, const Service& service, const std::string& gateway_url);

/// The owner's document of `api` after a POST/PATCH /apis `body`: unchanged without an `openapi`
/// field, removed by `"openapi": null`, else the field's text once it is an OpenAPI 3.x object
/// with `info` and `paths` and the API fronts a REST service (other kinds' documents are
/// generated). Throws admin::Refusal (400) otherwise.
std::string ownerDocumentOf(const admin::Body& body, const Api& api, Store& store);

/// The endpoint family serving the documents of APIs: GET /catalog/{id}/openapi (as the catalog
/// shows the API) and GET /apis/{id}/openapi (its own tenant, any state, to check a draft).
/// `gateway_url` gives the data port's URL as seen by the admin request's client.
admin::AdminFamily apiDocumentFamily(std::function<std::string(const HttpRequest&)> gateway_url);

}  // namespace switchyard
