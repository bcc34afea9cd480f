// OpenAI requests → Cohere v2 request bodies.
#pragma once

#include <string_view>

#include "common.h"

namespace switchyard::cohere {

/// The body of POST /chat for an OpenAI chat completions body. Throws sdk::Error (400) for
/// bad input and for parameters Cohere cannot honour.
Json translateChatRequest(const Json& openai, std::string_view model, bool stream);

/// The body of POST /embed for an OpenAI embeddings body.
Json translateEmbedRequest(const Json& openai, std::string_view model, const Settings& settings);

}  // namespace switchyard::cohere
