/// @file request_body.h
/// @brief The body the openai provider forwards, written without an nlohmann DOM when the
/// client's body is plain enough to be sure of the result.
#pragma once

#include <string>
#include <string_view>

namespace switchyard {
namespace openai {

/**
 * Writes into `out` exactly what parsing `body` as nlohmann::ordered_json, setting the
 * top-level "model" to `model` (when not empty; appended when absent), setting an existing
 * top-level "stream" to false (when `stream_false`) and dumping it (no indent, invalid UTF-8
 * replaced) gives: compact, keys in the client's order, strings and numbers as nlohmann writes
 * them. Returns false, with `out` unspecified, for anything it is not sure of (not an object,
 * malformed, a repeated key, a \u escape, a non-ASCII model name, a very deep body): the caller
 * then takes the DOM path, which decides.
 */
bool rewriteRequestBody(std::string_view body, std::string_view model, bool stream_false,
                        std::string& out);

}  // namespace openai
}  // namespace switchyard
