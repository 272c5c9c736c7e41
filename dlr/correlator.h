#pragma once
// The DLR join, without Kafka: submit_sm_resp records (Sent) and provider
// receipts meet here in either order, MO messages find their customer, and
// the parts of a multipart message are folded into one receipt for customers
// who asked for one DLR per message.
//
// Everything is per input partition, because the stage owns partitions, not
// keys: a partition's entries are restored from sms.dlr-state when it is
// assigned and dropped when it is revoked. Every change to an entry comes back
// as a StateWrite for sms.dlr-state (same partition number), so that the
// compacted topic is the join's changelog. The stage makes a StateWrite
// durable only after the rest of the Output is, so that "done" is never on
// record for a receipt that was not delivered.
//
// Not thread-safe: the stage calls it from its polling thread only.
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "common/hash_index.h"
#include "config/config.h"
#include "dlr/metrics.h"
#include "dlr/wake_heap.h"
#include "schema/provider_id.h"
#include "schema/records.pb.h"

namespace sluice::dlr {

namespace rec = records::v1;
namespace pid = schema::pid;
using namespace std::chrono_literals;

struct CorrelatorOptions {
  // How long a receipt that matches nothing waits for its Sent.
  std::chrono::milliseconds unmatched_hold = 10min;
  // While a provider's id habit is not known yet, how long a receipt waits for
  // a Sent with the same spelling before a differently written one (hex vs
  // decimal) may claim it.
  std::chrono::milliseconds cross_wait = 30s;
  // The longest a Sent waits for its final receipt when it has no validity.
  std::chrono::milliseconds max_window = 72h;
  // After the validity ends, how long an EXPIRED receipt may still come.
  std::chrono::milliseconds late_grace = 1h;
  // How long a finished message is remembered, to drop a provider's second final.
  std::chrono::milliseconds done_linger = 10min;
  // Expiry of an MO (and of a receipt of a message without validity) on sms.deliver.
  std::chrono::milliseconds deliver_validity = 7 * 24h;
  // Bound on entries in memory across all partitions; the ones closest to
  // their deadline go first.
  size_t max_entries = 1000000;
  // Matches needed (and a 95 % share) before a provider's id habit counts as learnt.
  int learn_min = 20;
  bool publish_status = true;
};

struct StateWrite {
  StateWrite() = default;
  StateWrite(int32_t p, std::string k, std::nullopt_t) : partition(p), key(std::move(k)) {}
  StateWrite(int32_t p, std::string k, std::shared_ptr<const rec::DlrState> v)
      : partition(p), key(std::move(k)), value(std::move(v)) {}
  StateWrite(int32_t p, std::string k, rec::DlrState v)
      : partition(p),
        key(std::move(k)),
        value(std::make_shared<const rec::DlrState>(std::move(v))) {}

  int32_t partition = 0;
  std::string key;
  // Null: delete the key. Shared with the join's entry, which never changes
  // it: most of these writes are overwritten in the coalescer before they are
  // made, and a copy would be thrown away unread.
  std::shared_ptr<const rec::DlrState> value;
};

struct Output {
  std::vector<rec::Deliver> delivers;                        // sms.deliver, key customer id
  std::vector<std::pair<std::string, rec::DlrState>> parts;  // sms.dlr-parts, key group key
  std::vector<rec::Status> statuses;                         // sms.status, key message id
  std::vector<StateWrite> state;                             // sms.dlr-state, after the rest
  bool empty() const {
    return delivers.empty() && parts.empty() && statuses.empty() && state.empty();
  }
};

// What a provider's deliver_sm says, whichever way it says it.
struct ReceiptInfo {
  bool valid = false;
  std::string id;      // provider message id: the record's field, else the TLV, else the text
  uint32_t state = 0;  // SMPP message_state
  std::string err;
  std::string text;  // the text: field of the receipt
  bool final = false;
};
ReceiptInfo receipt_info(const rec::ProviderDeliver& pd);

// Null: no configuration loaded yet.
using SnapshotFn = std::function<std::shared_ptr<const config::Snapshot>()>;

class DlrCorrelator {
 public:
  enum class Domain { join, parts };

  DlrCorrelator(CorrelatorOptions opts, SnapshotFn snapshot, DlrMetrics* metrics = nullptr);

  // A record of sms.provider-events; `key` is the record's key (empty: computed).
  // The rvalue forms keep the record instead of copying it.
  Output on_sent(int32_t partition, std::string_view key, const rec::Sent& sent, int64_t now_ms);
  Output on_sent(int32_t partition, std::string_view key, rec::Sent&& sent, int64_t now_ms);
  Output on_receipt(int32_t partition, std::string_view key, const rec::ProviderDeliver& pd,
                    int64_t now_ms);
  Output on_receipt(int32_t partition, std::string_view key, rec::ProviderDeliver&& pd,
                    int64_t now_ms);
  // A record of sms.mo.
  Output on_mo(const rec::ProviderDeliver& pd, int64_t now_ms);
  // A record of sms.dlr-parts: one part's final outcome.
  Output on_part(int32_t partition, std::string_view group_key, const rec::DlrState& part,
                 int64_t now_ms);
  // Deadlines: held receipts, expired entries, multipart groups whose validity ended.
  Output tick(int64_t now_ms);

  // Loads one live entry of sms.dlr-state (the latest value of its key) into
  // the given domain; keys of the other domain are ignored. False: not ours or malformed.
  bool restore(Domain domain, int32_t partition, std::string_view key, const rec::DlrState& state,
               int64_t now_ms);
  // Forgets a revoked partition (its state stays in Kafka for the next owner).
  void drop(Domain domain, int32_t partition);

  size_t entries() const { return count_; }
  // The learnt id habit of a provider, if any.
  std::optional<pid::Relation> convention(int64_t provider_id) const;

  static bool is_join_key(std::string_view state_key);
  static bool is_parts_key(std::string_view state_key);

 private:
  enum class Kind { sent, held };
  struct Entry {
    Kind kind = Kind::sent;
    std::string join_key;
    pid::Parsed id;  // the provider id as this entry spells it
    // Never changed once the entry is in: the changelog write shares it.
    std::shared_ptr<const rec::DlrState> st;
    int64_t expire = 0;      // leaves memory (and the topic) then
    int64_t held_since = 0;  // held receipts
    bool primary = true;     // a Sent under its first key
    WakeHeap::Id wake = WakeHeap::kNone;
  };
  // A message that had its final receipt, remembered for done_linger only to
  // drop the provider's second final. Kept apart from the live entries: there
  // are hundreds of thousands of them at a few thousand messages a second,
  // and in the same tables they made every lookup of a live entry a cache miss.
  //
  // The join key and the id are parts of the state key ("s|<join key>|<spelling>"),
  // so a mark keeps that one string.
  struct DoneMark {
    int64_t expire = 0;
    uint64_t seq = 0;  // order of marking, among equal expiries
    std::string state_key;
    uint32_t join_len = 0;
    pid::Kind kind = pid::Kind::empty;
    std::string_view join_key() const { return std::string_view(state_key).substr(2, join_len); }
    std::string_view spelling() const { return std::string_view(state_key).substr(3 + join_len); }
  };
  struct JoinPartition {
    std::unordered_map<std::string, Entry> entries;  // by state key
    std::unordered_map<std::string, std::vector<std::string>> by_join;
    // By expiry, oldest first. New marks come in order (done_linger is one
    // constant) and go to the end of `done`, without a node of their own;
    // restored ones (or any that would break the order) go to `done_late`.
    // Elements of both stay put while they live: the index points at them.
    std::deque<DoneMark> done;
    std::multimap<int64_t, DoneMark> done_late;
    HashIndex<const DoneMark> done_by_join;  // hash of the join key
  };
  struct Choice {
    std::string state_key;
    pid::Relation rel = pid::Relation::none;
    bool done = false;  // the message already had its final: a duplicate
  };
  struct Group {
    std::map<uint32_t, rec::DlrState> parts;  // by seq
    uint32_t total = 0;
    int64_t deadline = 0;
    bool done = false;
    WakeHeap::Id wake = WakeHeap::kNone;
  };
  struct PartsPartition {
    std::unordered_map<std::string, Group> groups;
  };
  struct Evidence {
    std::map<pid::Relation, int64_t> counts;
  };

  struct Outcome {
    uint32_t state = 0;
    std::string err;
    int64_t done_at = 0;
    std::string text;
    std::string reason;
  };

  std::shared_ptr<const config::Snapshot> snapshot() const;
  void count(const char* result);

  // join
  // own: the record itself when the caller gave it away (then it is moved from).
  Output handle_sent(int32_t partition, std::string_view key, const rec::Sent& sent, rec::Sent* own,
                     int64_t now);
  Output handle_receipt(int32_t partition, std::string_view key, const rec::ProviderDeliver& pd,
                        rec::ProviderDeliver* own, int64_t now);
  Entry* find(JoinPartition& jp, const std::string& state_key);
  Entry& insert(int32_t partition, const std::string& state_key, Entry e, Output& out, int64_t now);
  void erase(int32_t partition, JoinPartition& jp, const std::string& state_key, Output& out,
             bool write);
  void persist(int32_t partition, const std::string& state_key, const Entry& e, Output& out);
  // `node_key` is the key in the group's own table node (the slot points at it).
  void reschedule_group(int32_t partition, const std::string& node_key, Group& g, int64_t when);
  bool acceptable(pid::Relation rel, std::optional<pid::Relation> conv, int64_t waited) const;
  // Sent entries (or done marks) under a join key with their relation to a receipt id.
  std::vector<Choice> candidates(JoinPartition& jp, const std::string& join_key,
                                 const pid::Parsed& receipt_id, bool done);
  std::optional<Choice> choose(JoinPartition& jp, const std::string& join_key,
                               const pid::Parsed& receipt_id, int64_t provider_id, int64_t waited);
  static const DoneMark* find_done(const JoinPartition& jp, std::string_view join_key,
                                   std::string_view state_key);
  // The partition's oldest mark, if any.
  static const DoneMark* first_done(const JoinPartition& jp);
  void mark_done(JoinPartition& jp, DoneMark m);
  // The oldest done mark of all partitions, if any: {partition, expire}.
  std::optional<std::pair<int32_t, int64_t>> oldest_done() const;
  void forget_done(int32_t partition, Output& out, bool evicting);
  // False: a duplicate (a second final, or a late intermediate).
  bool match(int32_t partition, JoinPartition& jp, const std::string& sent_key,
             const ReceiptInfo& ri, const rec::ProviderDeliver& pd, pid::Relation rel, Output& out,
             int64_t now);
  // own: the caller's record to keep rather than copy, if it may be taken.
  bool hold(int32_t partition, JoinPartition& jp, const std::string& join_key,
            const ReceiptInfo& ri, const rec::ProviderDeliver& pd, rec::ProviderDeliver* own,
            Output& out, int64_t now);
  void learn(int64_t provider_id, pid::Relation rel);
  void finish(const rec::Sent& sent, const Outcome& o, Output& out);
  rec::Deliver receipt_for(const rec::Sent& sent, const Outcome& o, uint32_t esm_class) const;
  void expire_join(int32_t partition, const std::string& state_key, Output& out, int64_t now,
                   bool evicting);

  // parts
  void persist_part(int32_t partition, const std::string& group_key, uint32_t seq,
                    const rec::DlrState& st, Output& out);
  void complete(int32_t partition, const std::string& group_key, Group& g, Output& out,
                int64_t now);
  void expire_group(int32_t partition, const std::string& group_key, Output& out, int64_t now);

  void make_room(Output& out, int64_t now);
  void wake(const WakeHeap::Due& w, Output& out, int64_t now, bool evicting);

  CorrelatorOptions opts_;
  SnapshotFn snapshot_;
  DlrMetrics* metrics_;
  std::map<int32_t, JoinPartition> join_;
  std::map<int32_t, PartsPartition> parts_;
  WakeHeap wakes_;
  uint64_t done_seq_ = 0;
  std::unordered_map<int64_t, Evidence> evidence_;
  size_t count_ = 0;
};

// State keys in sms.dlr-state. Join: "s|<join key>|<spelling>" for a Sent,
// "r|<join key>|<spelling>" for a receipt waiting for its Sent. Parts:
// "p|<group key>|<seq>" for a part's outcome, "g|<group key>" once the
// message's receipt went out.
std::string sent_state_key(std::string_view join_key, std::string_view spelling);
std::string held_state_key(std::string_view join_key, std::string_view spelling);

// Worst first: which of the parts' states the customer sees for the message.
int severity(uint32_t message_state);

}  // namespace sluice::dlr
