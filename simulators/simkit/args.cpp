#include "simulators/simkit/args.h"

#include <charconv>
#include <cmath>
#include <cstdlib>

namespace sluice::sim {

void ArgParser::value(std::string name, Apply apply) {
  options_.push_back(Option{std::move(name), true, std::move(apply), nullptr});
}

void ArgParser::flag(std::string name, std::function<void(bool)> apply) {
  options_.push_back(Option{std::move(name), false, nullptr, std::move(apply)});
}

ArgParser::Outcome ArgParser::parse(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") return Outcome::Help;
    if (arg.size() < 3 || arg.substr(0, 2) != "--") {
      error_ = "unexpected argument '" + std::string(arg) + "'";
      return Outcome::Error;
    }
    std::string_view name = arg;
    std::string_view inline_value;
    bool has_inline = false;
    if (auto eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
      has_inline = true;
    }
    const Option* found = nullptr;
    bool negated = false;
    for (const auto& o : options_) {
      if (o.name == name) {
        found = &o;
        break;
      }
      if (!o.takes_value && name.size() > 5 && name.substr(0, 5) == "--no-" &&
          o.name.substr(2) == name.substr(5)) {
        found = &o;
        negated = true;
        break;
      }
    }
    if (!found) {
      error_ = "unknown option '" + std::string(name) + "'";
      return Outcome::Error;
    }
    if (found->takes_value) {
      std::string_view v;
      if (has_inline) {
        v = inline_value;
      } else if (i + 1 < argc) {
        v = argv[++i];
      } else {
        error_ = std::string(name) + " needs a value";
        return Outcome::Error;
      }
      if (auto err = found->apply(v); !err.empty()) {
        error_ = std::string(name) + ": " + err;
        return Outcome::Error;
      }
    } else {
      bool on = true;
      if (has_inline && (negated || !parse_bool(inline_value, on))) {
        error_ = std::string(name) + " takes no value (or =0/1)";
        return Outcome::Error;
      }
      found->set(negated ? false : on);
    }
  }
  return Outcome::Run;
}

bool parse_u64(std::string_view s, uint64_t& out) {
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && p == s.data() + s.size();
}

bool parse_u32(std::string_view s, uint32_t& out) {
  uint64_t v = 0;
  if (!parse_u64(s, v) || v > UINT32_MAX) return false;
  out = static_cast<uint32_t>(v);
  return true;
}

bool parse_double(std::string_view s, double& out) {
  if (s.empty() || s.size() > 64) return false;
  // from_chars for double is in libstdc++ 11+, but strtod accepts the same
  // inputs users type ("0.5", "1e-3") and is simpler to trust here.
  std::string tmp(s);
  char* end = nullptr;
  double v = std::strtod(tmp.c_str(), &end);
  if (end != tmp.c_str() + tmp.size() || !std::isfinite(v)) return false;
  out = v;
  return true;
}

bool parse_bool(std::string_view s, bool& out) {
  if (s == "1" || s == "true" || s == "yes" || s == "on") {
    out = true;
  } else if (s == "0" || s == "false" || s == "no" || s == "off") {
    out = false;
  } else {
    return false;
  }
  return true;
}

bool parse_fraction(std::string_view s, double& out) {
  double v = 0;
  if (!parse_double(s, v) || v < 0 || v > 1) return false;
  out = v;
  return true;
}

std::vector<std::string> split(std::string_view s, char sep) {
  std::vector<std::string> parts;
  size_t start = 0;
  for (;;) {
    auto pos = s.find(sep, start);
    parts.emplace_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return parts;
}

bool parse_weights(std::string_view s, std::vector<std::pair<std::string, double>>& out) {
  out.clear();
  for (const auto& item : split(s, ',')) {
    auto eq = item.find('=');
    if (eq == std::string::npos || eq == 0) return false;
    double w = 0;
    if (!parse_double(std::string_view(item).substr(eq + 1), w) || w < 0) return false;
    out.emplace_back(item.substr(0, eq), w);
  }
  return !out.empty();
}

}  // namespace sluice::sim
