#pragma once
// The customers' cancel_sm and replace_sm requests (topic sms.control), read
// whole by every instance of a stage that holds messages (scheduler, sender)
// so that it can act on one whichever instance the message passes through.
// Requests are rare; the book keeps the latest per message id, up to a bound.
#include <chrono>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

#include "kafka/table_reader.h"
#include "schema/records.pb.h"

namespace sluice::kafka {

class ControlBook {
 public:
  explicit ControlBook(size_t max_entries = 1'000'000) : max_entries_(max_entries) {}
  ~ControlBook();

  // Reads `<prefix>sms.control` on a thread of its own.
  void start(const KafkaOptions& kopts, const std::string& topic_prefix, const std::string& name);
  void stop();
  // Waits until the topic has been read to its end (or the timeout passed).
  bool wait_caught_up(std::chrono::milliseconds timeout) const;

  std::optional<records::v1::Control> find(const std::string& id) const;
  // A record from the topic (value empty: tombstone).
  void apply(std::string_view key, std::string_view value);
  size_t size() const;

 private:
  size_t max_entries_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, records::v1::Control> book_;
  std::deque<std::string> order_;  // oldest first, for the bound
  std::unique_ptr<TableReader> reader_;
};

}  // namespace sluice::kafka
