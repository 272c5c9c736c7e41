#include "gateway/status_view.h"

#include <cstring>
#include <functional>

#include "schema/status.h"
#include "schema/topics.h"

namespace sluice::gateway {

uint64_t StatusView::address_hash(std::string_view addr) {
  // FNV-1a: stable across processes, unlike std::hash.
  uint64_t h = 1469598103934665603ull;
  for (unsigned char c : addr) h = (h ^ c) * 1099511628211ull;
  return h;
}

StatusView::~StatusView() {
  stop();
}

void StatusView::start(const kafka::KafkaOptions& kopts, const std::string& topic_prefix,
                       const std::string& node) {
  reader_ = std::make_unique<kafka::TableReader>(
      kopts, schema::topic_name(topic_prefix, "sms.status"),
      topic_prefix + "sluice-status-reader-" + node,
      [this](std::string_view k, std::string_view v) { apply_raw(k, v); });
  reader_->start();
}

void StatusView::stop() {
  if (reader_) reader_->stop();
}

uint64_t StatusView::id_hash(std::string_view id) {
  return std::hash<std::string_view>{}(id);
}

StatusView::Item* StatusView::lookup(std::string_view id, uint64_t h) const {
  Item* found = nullptr;
  index_.each(h, [&](Item* it) {
    if (it->key() != id) return true;
    found = it;
    return false;
  });
  return found;
}

void StatusView::apply_raw(std::string_view key, std::string_view value) {
  if (value.empty()) {
    std::lock_guard lock(mu_);
    uint64_t h = id_hash(key);
    if (Item* it = lookup(key, h)) {
      index_.erase(h, it);
      it->id_len = 0;
      --live_;
    }
    return;
  }
  records::v1::Status s;
  if (!s.ParseFromArray(value.data(), static_cast<int>(value.size())) || s.schema_version() != 1 ||
      s.id().empty())
    return;
  apply(s);
}

void StatusView::apply(const records::v1::Status& s) {
  // Longer than any id a customer can send in query_sm or cancel_sm.
  if (s.id().size() > kMaxId) return;
  Entry e;
  e.customer_id = s.customer_id();
  e.final_at_ms = s.final_at_ms();
  e.source_hash = s.source_addr().empty() ? 0 : address_hash(s.source_addr());
  e.dest_hash = s.dest_addr().empty() ? 0 : address_hash(s.dest_addr());
  e.updated_at_ms = s.updated_at_ms();
  e.error_code = s.error_code();
  e.message_state = static_cast<uint8_t>(s.message_state());
  e.rank = static_cast<uint8_t>(schema::status_rank(s.where()));
  const std::string& id = s.id();
  uint64_t h = id_hash(id);
  std::lock_guard lock(mu_);
  Item* it = lookup(id, h);
  if (!it) {
    Item& added = order_.emplace_back();
    added.e = e;
    added.id_len = static_cast<uint8_t>(id.size());
    std::memcpy(added.id, id.data(), id.size());
    index_.insert(h, &added);
    ++live_;
    // Dropped items count too, so memory stays bounded whatever the topic holds.
    while (order_.size() > max_entries_) {
      Item& oldest = order_.front();
      if (oldest.id_len) {
        index_.erase(id_hash(oldest.key()), &oldest);
        --live_;
      }
      order_.pop_front();
    }
    return;
  }
  Entry& held = it->e;
  if (e.rank < held.rank || (e.rank == held.rank && e.updated_at_ms < held.updated_at_ms)) return;
  // The first writers know the addresses; later ones may not.
  if (!e.source_hash) e.source_hash = held.source_hash;
  if (!e.dest_hash) e.dest_hash = held.dest_hash;
  if (!e.customer_id) e.customer_id = held.customer_id;
  held = e;
}

std::optional<StatusView::Entry> StatusView::find(const std::string& id) const {
  std::lock_guard lock(mu_);
  if (id.size() > kMaxId) return std::nullopt;
  Item* it = lookup(id, id_hash(id));
  if (!it) return std::nullopt;
  return it->e;
}

std::vector<std::string> StatusView::waiting(int64_t customer_id, std::string_view source,
                                             std::string_view dest) const {
  uint64_t sh = address_hash(source), dh = dest.empty() ? 0 : address_hash(dest);
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  for (const Item& it : order_) {
    const Entry& e = it.e;
    if (it.id_len && e.customer_id == customer_id && e.waiting() && e.source_hash == sh &&
        (!dh || e.dest_hash == dh))
      out.emplace_back(it.key());
  }
  return out;
}

size_t StatusView::size() const {
  std::lock_guard lock(mu_);
  return live_;
}

}  // namespace sluice::gateway
