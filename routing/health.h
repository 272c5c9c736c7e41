#pragma once
// Provider health as the router sees it. The router cannot observe providers
// itself; the sender stage can (binds failing, submit_sm timing out) and
// publishes a signal on the `sms.provider-health` topic:
//   key: provider id (decimal); value: JSON
//   {"provider_id": 7, "healthy": false, "at_ms": 1700000000000, "reason": "..."}
// An unhealthy provider keeps sending "healthy": false at least every
// open_for / 3 while it stays down; one "healthy": true closes the circuit.
//
// The circuit of a provider is open while its latest signal says unhealthy
// and is younger than open_for. After that it is half-open: traffic flows
// again, and a sender still failing reports again, which reopens it. So a
// sender that dies while its provider is down cannot hold a circuit open
// forever. Together with the providers table's `enabled` flag (read from the
// config snapshot per message) this decides who can take traffic.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>

#include "kafka/options.h"

namespace sluice::routing {

struct HealthSignal {
  int64_t provider_id = 0;
  bool healthy = true;
  int64_t at_ms = 0;
  std::string reason;
};

std::string encode_health(const HealthSignal& s);
std::optional<HealthSignal> decode_health(std::string_view json);

class CircuitBreaker {
 public:
  enum class State { closed, open, half_open };

  explicit CircuitBreaker(std::chrono::milliseconds open_for = std::chrono::seconds(30))
      : open_for_(open_for) {}

  // Signals may come late or twice: an older one than the latest known for the
  // provider is ignored.
  void on_signal(const HealthSignal& s);
  State state(int64_t provider_id, int64_t now_ms) const;
  bool allows(int64_t provider_id, int64_t now_ms) const {
    return state(provider_id, now_ms) != State::open;
  }

 private:
  std::chrono::milliseconds open_for_;
  mutable std::mutex mu_;
  std::unordered_map<int64_t, HealthSignal> last_;
};

// Where signals come from. The router owns one and feeds its breaker.
class HealthSource {
 public:
  using Sink = std::function<void(const HealthSignal&)>;
  virtual ~HealthSource() = default;
  virtual void start(Sink sink) = 0;
  virtual void stop() = 0;
};

// Reads the health topic from its beginning with a consumer group of its own
// (every router instance needs every signal) and never commits. The topic is
// matched by a regular expression, so that its absence is quiet rather than an
// error every few seconds: the router then runs on `enabled` alone.
class KafkaHealthSource final : public HealthSource {
 public:
  KafkaHealthSource(kafka::KafkaOptions kopts, std::string topic, std::string group_id);
  ~KafkaHealthSource() override;
  void start(Sink sink) override;
  void stop() override;

 private:
  void run(Sink sink);
  kafka::KafkaOptions kopts_;
  std::string topic_, group_id_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

// A regular expression matching exactly `s` (librdkafka's POSIX ERE).
std::string regex_exact(const std::string& s);

}  // namespace sluice::routing
