/// @file tests/support/ingress_turns.h
/// @brief Builds /v1/messages and /v1/responses requests from a unified chat request and reads
/// a streamed tool turn back from either API, so every provider's gateway test can check both.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <utility>
#include <vector>

#include "http_client.h"
#include "named_sse.h"

namespace switchyard::testing {

/// The user's text of a unified request (its last message), for the other APIs' shapes.
inline std::string lastUserText(const nlohmann::json& chat) {
  return chat["messages"].back()["content"].get<std::string>();
}

/// An Anthropic Messages request asking the same as a unified chat request with tools.
inline nlohmann::json toMessagesRequest(const nlohmann::json& chat) {
  nlohmann::json tools = nlohmann::json::array();
  for (const auto& t : chat.value("tools", nlohmann::json::array())) {
    tools.push_back({{"name", t["function"]["name"]}, {"input_schema", t["function"]["parameters"]}});
  }
  nlohmann::json req = {{"model", chat["model"]},
                        {"max_tokens", 256},
                        {"stream", true},
                        {"messages", {{{"role", "user"}, {"content", lastUserText(chat)}}}}};
  if (!tools.empty()) {
    req["tools"] = std::move(tools);
  }
  return req;
}

/// An OpenAI Responses request asking the same as a unified chat request with tools.
inline nlohmann::json toResponsesRequest(const nlohmann::json& chat) {
  nlohmann::json tools = nlohmann::json::array();
  for (const auto& t : chat.value("tools", nlohmann::json::array())) {
    tools.push_back({{"type", "function"}, {"name", t["function"]["name"]}, {"parameters", t["function"]["parameters"]}});
  }
  nlohmann::json req = {{"model", chat["model"]}, {"input", lastUserText(chat)}, {"stream", true}};
  if (!tools.empty()) {
    req["tools"] = std::move(tools);
  }
  return req;
}

/// What a client assembles from one streamed answer: text, tool calls (name, parsed
/// arguments) in order, and how it ended (stop_reason, or the response's status).
struct StreamedTurn {
  std::string text;
  std::vector<std::pair<std::string, nlohmann::json>> calls;
  std::string ended;
};

/// Reads an Anthropic Messages stream, checking that blocks nest and that it ends cleanly.
inline StreamedTurn readMessagesStream(const std::string& sse) {
  StreamedTurn turn;
  const auto events = namedEvents(sse);
  if (events.empty()) {
    ADD_FAILURE() << "no events: " << sse;
    return turn;
  }
  EXPECT_EQ(events.front().first, "message_start");
  EXPECT_EQ(events.back().first, "message_stop");
  int open = -1;
  std::string args;
  for (const auto& [name, data] : events) {
    if (name == "content_block_start") {
      EXPECT_EQ(open, -1) << "a block opened before the previous one closed";
      open = data["index"];
      if (data["content_block"]["type"] == "tool_use") {
        turn.calls.emplace_back(data["content_block"]["name"], nullptr);
        args.clear();
      }
    } else if (name == "content_block_delta") {
      EXPECT_EQ(data["index"], open);
      if (data["delta"]["type"] == "text_delta") {
        turn.text += data["delta"]["text"].get<std::string>();
      } else {
        args += data["delta"]["partial_json"].get<std::string>();
      }
    } else if (name == "content_block_stop") {
      EXPECT_EQ(data["index"], open);
      if (!turn.calls.empty() && turn.calls.back().second.is_null()) {
        turn.calls.back().second = nlohmann::json::parse(args.empty() ? "{}" : args, nullptr, false);
      }
      open = -1;
    } else if (name == "message_delta") {
      turn.ended = data["delta"].value("stop_reason", "");
    }
  }
  EXPECT_EQ(open, -1);
  return turn;
}

/// Reads an OpenAI Responses stream from its final `response.completed` event.
inline StreamedTurn readResponsesStream(const std::string& sse) {
  StreamedTurn turn;
  const auto events = namedEvents(sse);
  if (events.empty()) {
    ADD_FAILURE() << "no events: " << sse;
    return turn;
  }
  EXPECT_EQ(events.front().first, "response.created");
  EXPECT_EQ(events.back().first, "response.completed");
  const nlohmann::json& response = events.back().second["response"];
  turn.ended = response.value("status", "");
  for (const auto& item : response["output"]) {
    if (item["type"] == "message") {
      for (const auto& part : item["content"]) {
        turn.text += part.value("text", "");
      }
    } else if (item["type"] == "function_call") {
      turn.calls.emplace_back(item["name"], nlohmann::json::parse(item["arguments"].get<std::string>(), nullptr, false));
    }
  }
  return turn;
}

/// Streams a unified tool request through /v1/messages or /v1/responses and reads the turn
/// back, checking the answer was a 200 that ended as that API ends a tool turn.
inline StreamedTurn streamToolTurn(uint16_t port, bool messages, const nlohmann::json& chat,
                                   const Headers& headers) {
  const std::string path = messages ? "/v1/messages" : "/v1/responses";
  const nlohmann::json body = messages ? toMessagesRequest(chat) : toResponsesRequest(chat);
  HttpResult r = httpStream(port, path, body.dump(), headers, [](std::string_view) {});
  if (r.status != 200) {
    ADD_FAILURE() << path << " answered " << r.status << ": " << r.body;
    return {};
  }
  StreamedTurn turn = messages ? readMessagesStream(r.body) : readResponsesStream(r.body);
  EXPECT_EQ(turn.ended, messages ? "tool_use" : "completed") << path;
  return turn;
}

/// Streams the weather tool turn of the provider tests through both ingress APIs and checks
/// each: the text "Checking.", two get_weather calls, and call i's arguments equal to args[i]
/// (a null entry leaves that call's arguments unchecked).
inline void expectWeatherTurnThroughBothIngresses(uint16_t port, const nlohmann::json& chat,
                                                  const Headers& headers,
                                                  const std::vector<nlohmann::json>& args) {
  for (const bool messages : {true, false}) {
    const std::string path = messages ? "/v1/messages" : "/v1/responses";
    const StreamedTurn turn = streamToolTurn(port, messages, chat, headers);
    EXPECT_EQ(turn.text, "Checking.") << path;
    ASSERT_EQ(turn.calls.size(), 2u) << path;
    EXPECT_EQ(turn.calls[0].first, "get_weather");
    for (size_t i = args.size(); i-- > 0;) {
      if (!args[i].is_null()) {
        EXPECT_EQ(turn.calls[i].second, args[i]) << path;
      }
    }
  }
}

} // namespace switchyard::testing
