// Azure OpenAI error documents → OpenAI-format client errors.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace switchyard::azure_openai {

/// An OpenAI-format error (status, type, code, message) ready for Output::setError.
struct ClientError {
  uint32_t status;
  std::string type;
  std::string code;
  std::string message;
};

/// Translates an Azure error document, as sent with HTTP `status`, e.g.
///   {"error":{"code":"content_filter","message":"...","status":400,
///             "innererror":{"code":"ResponsibleAIPolicyViolation",...}}}
///   {"error":{"code":"429","message":"Requests to the ChatCompletions_Create Operation ..."}}
/// Keeps Azure's status and message; fills the OpenAI `type` from the status when Azure sends
/// none, and gives numeric codes ("401", "429") a descriptive name.
ClientError translateError(const nlohmann::ordered_json& doc, uint32_t status);

/// True if the document carries a non-null "error" member (Azure sometimes answers 200 with
/// one inside a stream).
bool hasError(const nlohmann::ordered_json& doc);

/// The status an in-band error (inside a 2xx answer) maps to: its own "status"/"code" number
/// when that is an HTTP error status, else 502.
uint32_t inBandStatus(const nlohmann::ordered_json& doc);

/// Cuts upstream text to a bounded size without splitting a UTF-8 sequence.
std::string clip(std::string s);

}  // namespace switchyard::azure_openai
