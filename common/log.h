#pragma once
// Structured logging: one line per event, plain "ts level msg k=v" by default or
// one JSON object per line with --log-json. Never log passwords or message
// content at info level; callers pass only what an operator may read.
#include <initializer_list>
#include <string>
#include <string_view>
#include <utility>

namespace sluice::log {

enum class Level { debug = 0, info = 1, warn = 2, error = 3 };

using Field = std::pair<std::string_view, std::string>;

void set_level(Level level);
Level level();
void set_json(bool json);
bool parse_level(std::string_view name, Level& out);

bool enabled(Level level);
void write(Level level, std::string_view msg, std::initializer_list<Field> fields = {});

inline void debug(std::string_view msg, std::initializer_list<Field> f = {}) {
  if (enabled(Level::debug)) write(Level::debug, msg, f);
}
inline void info(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::info, msg, f);
}
inline void warn(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::warn, msg, f);
}
inline void error(std::string_view msg, std::initializer_list<Field> f = {}) {
  write(Level::error, msg, f);
}

}  // namespace sluice::log
