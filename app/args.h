#pragma once
// A small, strict flag parser: --name value, --name=value and boolean --flag.
// Unknown flags and missing values are errors, so that a typo never runs a
// process with a default the operator did not mean.
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace sluice::app {

class Args {
 public:
  // valued: flags that take a value; booleans: flags that do not.
  Args(std::set<std::string> valued, std::set<std::string> booleans)
      : valued_(std::move(valued)), booleans_(std::move(booleans)) {}

  // False with `error` set on an unknown flag or a missing value.
  bool parse(const std::vector<std::string>& argv, std::string& error) {
    for (size_t i = 0; i < argv.size(); ++i) {
      const std::string& a = argv[i];
      if (a.rfind("--", 0) != 0) {
        positional_.push_back(a);
        continue;
      }
      std::string name = a.substr(2), value;
      bool has_value = false;
      if (auto eq = name.find('='); eq != std::string::npos) {
        value = name.substr(eq + 1);
        name = name.substr(0, eq);
        has_value = true;
      }
      if (booleans_.count(name)) {
        if (has_value) {
          error = "--" + name + " takes no value";
          return false;
        }
        flags_.insert(name);
      } else if (valued_.count(name)) {
        if (!has_value) {
          if (i + 1 >= argv.size()) {
            error = "--" + name + " needs a value";
            return false;
          }
          value = argv[++i];
        }
        values_[name] = value;
      } else {
        error = "unknown flag --" + name;
        return false;
      }
    }
    return true;
  }

  bool flag(const std::string& name) const { return flags_.count(name) > 0; }
  std::optional<std::string> value(const std::string& name) const {
    auto it = values_.find(name);
    if (it == values_.end()) return std::nullopt;
    return it->second;
  }
  std::string value_or(const std::string& name, const std::string& dflt) const {
    auto v = value(name);
    return v ? *v : dflt;
  }
  const std::vector<std::string>& positional() const { return positional_; }

 private:
  std::set<std::string> valued_, booleans_, flags_;
  std::map<std::string, std::string> values_;
  std::vector<std::string> positional_;
};

}  // namespace sluice::app
