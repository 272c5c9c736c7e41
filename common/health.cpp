#include "common/health.h"

#include <chrono>
#include <nlohmann/json.hpp>

namespace sluice {
namespace {
int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

void Health::add_check(std::string name, std::function<CheckResult()> check) {
  std::lock_guard lock(mu_);
  checks_.emplace_back(std::move(name), std::move(check));
}

bool Health::ready(std::string& body) const {
  nlohmann::json j;
  j["checks"] = nlohmann::json::object();
  bool all = true;
  std::lock_guard lock(mu_);
  for (const auto& [name, check] : checks_) {
    CheckResult r = check();
    all = all && r.ok;
    j["checks"][name] = {{"ok", r.ok}, {"detail", r.detail}};
  }
  j["ready"] = all;
  body = j.dump();
  return all;
}

void Health::beat() {
  last_beat_ms_.store(now_ms(), std::memory_order_relaxed);
}

bool Health::alive(std::string& body) const {
  int64_t last = last_beat_ms_.load(std::memory_order_relaxed);
  int64_t age = last == 0 ? -1 : now_ms() - last;
  // The heartbeat fires every second; five missed beats means the loop is stuck.
  bool ok = last != 0 && age < 5000;
  body = nlohmann::json{{"alive", ok}, {"loop_age_ms", age}}.dump();
  return ok;
}

}  // namespace sluice
