#include "routing/health.h"

#include <nlohmann/json.hpp>

#include "common/log.h"
#include "kafka/consumer.h"

namespace sluice::routing {

std::string encode_health(const HealthSignal& s) {
  nlohmann::json j{{"provider_id", s.provider_id}, {"healthy", s.healthy}, {"at_ms", s.at_ms}};
  if (!s.reason.empty()) j["reason"] = s.reason;
  return j.dump();
}

std::optional<HealthSignal> decode_health(std::string_view text) {
  auto j = nlohmann::json::parse(text, nullptr, false);
  if (!j.is_object()) return std::nullopt;
  auto id = j.find("provider_id");
  auto healthy = j.find("healthy");
  auto at = j.find("at_ms");
  if (id == j.end() || !id->is_number_integer() || healthy == j.end() || !healthy->is_boolean() ||
      at == j.end() || !at->is_number_integer())
    return std::nullopt;
  HealthSignal s;
  s.provider_id = id->get<int64_t>();
  s.healthy = healthy->get<bool>();
  s.at_ms = at->get<int64_t>();
  if (auto r = j.find("reason"); r != j.end() && r->is_string()) s.reason = r->get<std::string>();
  return s;
}

void CircuitBreaker::on_signal(const HealthSignal& s) {
  std::lock_guard lock(mu_);
  auto [it, inserted] = last_.try_emplace(s.provider_id, s);
  if (!inserted && s.at_ms >= it->second.at_ms) it->second = s;
}

CircuitBreaker::State CircuitBreaker::state(int64_t provider_id, int64_t now_ms) const {
  std::lock_guard lock(mu_);
  auto it = last_.find(provider_id);
  if (it == last_.end() || it->second.healthy) return State::closed;
  return now_ms - it->second.at_ms < open_for_.count() ? State::open : State::half_open;
}

std::string regex_exact(const std::string& s) {
  std::string out = "^";
  for (char c : s) {
    if (std::string_view(".[]{}()\\*+?^$|").find(c) != std::string_view::npos) out += '\\';
    out += c;
  }
  return out + "$";
}

KafkaHealthSource::KafkaHealthSource(kafka::KafkaOptions kopts, std::string topic,
                                     std::string group_id)
    : kopts_(std::move(kopts)), topic_(std::move(topic)), group_id_(std::move(group_id)) {}

KafkaHealthSource::~KafkaHealthSource() {
  stop();
}

void KafkaHealthSource::start(Sink sink) {
  if (thread_.joinable()) return;
  stop_ = false;
  thread_ = std::thread([this, sink = std::move(sink)] { run(sink); });
}

void KafkaHealthSource::stop() {
  stop_ = true;
  if (thread_.joinable()) thread_.join();
}

void KafkaHealthSource::run(Sink sink) {
  try {
    kafka::ConsumerOptions co;
    co.group_id = group_id_;
    co.topics = {regex_exact(topic_)};
    co.auto_offset_reset = "earliest";
    kafka::Consumer consumer(kopts_, co);
    while (!stop_.load()) {
      auto m = consumer.poll(std::chrono::milliseconds(200));
      if (!m) continue;
      if (auto s = decode_health(kafka::value_of(m.get())))
        sink(*s);
      else
        log::warn("provider health record not understood; ignored", {{"topic", topic_}});
    }
    consumer.close();
  } catch (const std::exception& e) {
    log::error("provider health source stopped", {{"topic", topic_}, {"what", e.what()}});
  }
}

}  // namespace sluice::routing
