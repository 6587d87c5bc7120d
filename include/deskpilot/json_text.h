// JSON to text without exceptions from content. nlohmann's plain dump() throws on a string
// that is not valid UTF-8, and such text comes from outside: a KB file in Latin-1, a help
// desk's error page. One uncaught throw took the whole server down and crash-looped it on
// the same job. Every dump of data that may hold outside text goes through here, which
// writes invalid bytes as U+FFFD instead.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace deskpilot {

inline std::string JsonText(const nlohmann::json& j, int indent = -1) {
  return j.dump(indent, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace deskpilot
