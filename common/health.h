#pragma once
// Readiness is the conjunction of named checks that parts of the process
// register (kafka, config, gateway listening, ...). /readyz reports each one so
// that an operator sees why a pod is not ready.
#include <atomic>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

namespace sluice {

struct CheckResult {
  bool ok = false;
  std::string detail;
};

class Health {
 public:
  void add_check(std::string name, std::function<CheckResult()> check);
  // JSON body {"ready":bool,"checks":{name:{"ok":bool,"detail":"..."}}}.
  bool ready(std::string& json_body) const;
  // Bumped by the main loop's heartbeat; /livez fails when it stops turning.
  void beat();
  bool alive(std::string& json_body) const;

 private:
  mutable std::mutex mu_;
  std::vector<std::pair<std::string, std::function<CheckResult()>>> checks_;
  std::atomic<int64_t> last_beat_ms_{0};
};

}  // namespace sluice
