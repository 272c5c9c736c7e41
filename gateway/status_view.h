#pragma once
// What this gateway node knows of each recent message's state, read whole
// from the compacted topic sms.status (every node reads every partition), so
// that query_sm, cancel_sm and replace_sm are answered on any node.
// Bounded: the oldest go first, and a message older than the bound is
// unknown here (its query is refused; see docs/operator.md, "query_sm,
// cancel_sm, replace_sm"). Entries sit in arrival order in one deque, found
// through a flat hash index: no allocation per message, and about half the
// memory and CPU of the node table it replaced (which was 9% of a gateway's
// CPU at 10,000 messages a second end to end).
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/hash_index.h"
#include "kafka/table_reader.h"
#include "schema/records.pb.h"

namespace sluice::gateway {

class StatusView {
 public:
  struct Entry {
    int64_t customer_id = 0;
    int64_t final_at_ms = 0;
    uint64_t source_hash = 0, dest_hash = 0;  // addresses, for the customer's checks
    int64_t updated_at_ms = 0;
    uint32_t error_code = 0;
    uint8_t message_state = 0;
    uint8_t rank = 0;  // schema::status_rank of `where`
    bool waiting() const { return rank == 1; }
  };
  static uint64_t address_hash(std::string_view addr);

  explicit StatusView(size_t max_entries = 1'000'000) : max_entries_(max_entries) {}
  ~StatusView();

  void start(const kafka::KafkaOptions& kopts, const std::string& topic_prefix,
             const std::string& node);
  void stop();
  bool caught_up() const { return !reader_ || reader_->caught_up(); }

  std::optional<Entry> find(const std::string& id) const;
  // Ids of a customer's messages from `source` (to `dest` unless empty) that
  // still wait: cancel_sm without a message_id.
  std::vector<std::string> waiting(int64_t customer_id, std::string_view source,
                                   std::string_view dest) const;
  // A record from the topic, or one this node just wrote.
  void apply(const records::v1::Status& s);
  void apply_raw(std::string_view key, std::string_view value);
  size_t size() const;

 private:
  // Message ids are at most 64 characters (SMPP's 65 octets with the NUL).
  static constexpr size_t kMaxId = 64;
  struct Item {
    Entry e;
    uint8_t id_len = 0;  // 0: dropped by a tombstone, waiting to reach the front
    char id[kMaxId];
    std::string_view key() const { return {id, id_len}; }
  };
  Item* lookup(std::string_view id, uint64_t h) const;
  static uint64_t id_hash(std::string_view id);

  size_t max_entries_;
  mutable std::mutex mu_;
  std::deque<Item> order_;  // oldest first; push_back and pop_front keep references
  HashIndex<Item> index_;   // hash of the id -> its item in order_
  size_t live_ = 0;
  std::unique_ptr<kafka::TableReader> reader_;
};

}  // namespace sluice::gateway
