// A strict command-line parser for the simulators. Tests and scripts drive
// these tools with flags; a typo must fail loudly (exit 2) rather than run a
// different experiment than the one asked for.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::sim {

class ArgParser {
 public:
  // apply returns an error text, empty when the value is fine.
  using Apply = std::function<std::string(std::string_view)>;

  explicit ArgParser(std::string usage) : usage_(std::move(usage)) {}

  // "--name VALUE" or "--name=VALUE".
  void value(std::string name, Apply apply);
  // "--name", "--name=1|0|true|false|yes|no" and "--no-name".
  void flag(std::string name, std::function<void(bool)> apply);

  enum class Outcome { Run, Help, Error };
  // On Error, error() says why; the caller prints it with usage() and exits 2.
  Outcome parse(int argc, char** argv);
  const std::string& error() const { return error_; }
  const std::string& usage() const { return usage_; }

 private:
  struct Option {
    std::string name;
    bool takes_value;
    Apply apply;
    std::function<void(bool)> set;
  };
  std::string usage_;
  std::vector<Option> options_;
  std::string error_;
};

// Value parsers: false on anything but a complete, in-range number.
bool parse_u64(std::string_view s, uint64_t& out);
bool parse_u32(std::string_view s, uint32_t& out);
bool parse_double(std::string_view s, double& out);
bool parse_bool(std::string_view s, bool& out);
// A probability in [0, 1].
bool parse_fraction(std::string_view s, double& out);

// "a=1,b=2.5" -> pairs in order; false when an item has no '=' or a bad number.
bool parse_weights(std::string_view s, std::vector<std::pair<std::string, double>>& out);

std::vector<std::string> split(std::string_view s, char sep);

}  // namespace sluice::sim
