#include "common/log.h"

#include <atomic>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <mutex>

namespace sluice::log {
namespace {
std::atomic<int> g_level{static_cast<int>(Level::info)};
std::atomic<bool> g_json{false};
std::mutex g_mu;

const char* name_of(Level l) {
  switch (l) {
    case Level::debug:
      return "debug";
    case Level::info:
      return "info";
    case Level::warn:
      return "warn";
    case Level::error:
      return "error";
  }
  return "info";
}

void json_escape(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
}

// Plain values that contain spaces are quoted so that lines stay parseable.
void plain_value(std::string& out, std::string_view s) {
  bool quote = s.empty() || s.find_first_of(" \"=\t") != std::string_view::npos;
  if (!quote) {
    out += s;
    return;
  }
  out += '"';
  json_escape(out, s);
  out += '"';
}
}  // namespace

void set_level(Level level) {
  g_level = static_cast<int>(level);
}
Level level() {
  return static_cast<Level>(g_level.load());
}
void set_json(bool json) {
  g_json = json;
}
bool enabled(Level l) {
  return static_cast<int>(l) >= g_level.load(std::memory_order_relaxed);
}

bool parse_level(std::string_view name, Level& out) {
  if (name == "debug")
    out = Level::debug;
  else if (name == "info")
    out = Level::info;
  else if (name == "warn" || name == "warning")
    out = Level::warn;
  else if (name == "error")
    out = Level::error;
  else
    return false;
  return true;
}

void write(Level l, std::string_view msg, std::initializer_list<Field> fields) {
  if (!enabled(l)) return;
  auto now = std::chrono::system_clock::now();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char ts[96];
  std::snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                static_cast<int>(ms % 1000));
  std::string line;
  line.reserve(128);
  if (g_json.load(std::memory_order_relaxed)) {
    line += "{\"ts\":\"";
    line += ts;
    line += "\",\"level\":\"";
    line += name_of(l);
    line += "\",\"msg\":\"";
    json_escape(line, msg);
    line += '"';
    for (const auto& [k, v] : fields) {
      line += ",\"";
      json_escape(line, k);
      line += "\":\"";
      json_escape(line, v);
      line += '"';
    }
    line += "}\n";
  } else {
    line += ts;
    line += ' ';
    line += name_of(l);
    line += ' ';
    line += msg;
    for (const auto& [k, v] : fields) {
      line += ' ';
      line += k;
      line += '=';
      plain_value(line, v);
    }
    line += '\n';
  }
  std::lock_guard lock(g_mu);
  std::fwrite(line.data(), 1, line.size(), stderr);
}

}  // namespace sluice::log
