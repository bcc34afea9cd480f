// OpenAI requests → Cohere v2 request bodies.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common.h"

namespace switchyard::cohere {

/// The body of POST /chat for an OpenAI chat completions body. Throws sdk::Error (400) for
/// bad input and for parameters Cohere cannot honour.
/// `dropped` (may be null) receives the client parameters the policy drops; see README.md.
Json translateChatRequest(const Json& openai, std::string_view model, bool stream,
                          std::vector<std::string>* dropped = nullptr);

/// The body of POST /embed for an OpenAI embeddings body.
Json translateEmbedRequest(const Json& openai, std::string_view model, const Settings& settings);

}  // namespace switchyard::cohere
