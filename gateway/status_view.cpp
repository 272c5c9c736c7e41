#include "gateway/status_view.h"

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

void StatusView::apply_raw(std::string_view key, std::string_view value) {
  if (value.empty()) {
    std::lock_guard lock(mu_);
    by_id_.erase(std::string(key));
    return;
  }
  records::v1::Status s;
  if (!s.ParseFromArray(value.data(), static_cast<int>(value.size())) || s.schema_version() != 1 ||
      s.id().empty())
    return;
  apply(s);
}

void StatusView::apply(const records::v1::Status& s) {
  Entry e;
  e.customer_id = s.customer_id();
  e.final_at_ms = s.final_at_ms();
  e.source_hash = s.source_addr().empty() ? 0 : address_hash(s.source_addr());
  e.dest_hash = s.dest_addr().empty() ? 0 : address_hash(s.dest_addr());
  e.updated_at_ms = s.updated_at_ms();
  e.error_code = s.error_code();
  e.message_state = static_cast<uint8_t>(s.message_state());
  e.rank = static_cast<uint8_t>(schema::status_rank(s.where()));
  std::lock_guard lock(mu_);
  auto it = by_id_.find(s.id());
  if (it == by_id_.end()) {
    by_id_.emplace(s.id(), e);
    order_.push_back(s.id());
    while (by_id_.size() > max_entries_ && !order_.empty()) {
      by_id_.erase(order_.front());
      order_.pop_front();
    }
    return;
  }
  Entry& held = it->second;
  if (e.rank < held.rank || (e.rank == held.rank && e.updated_at_ms < held.updated_at_ms)) return;
  // The first writers know the addresses; later ones may not.
  if (!e.source_hash) e.source_hash = held.source_hash;
  if (!e.dest_hash) e.dest_hash = held.dest_hash;
  if (!e.customer_id) e.customer_id = held.customer_id;
  held = e;
}

std::optional<StatusView::Entry> StatusView::find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = by_id_.find(id);
  if (it == by_id_.end()) return std::nullopt;
  return it->second;
}

std::vector<std::string> StatusView::waiting(int64_t customer_id, std::string_view source,
                                             std::string_view dest) const {
  uint64_t sh = address_hash(source), dh = dest.empty() ? 0 : address_hash(dest);
  std::vector<std::string> out;
  std::lock_guard lock(mu_);
  for (const auto& [id, e] : by_id_)
    if (e.customer_id == customer_id && e.waiting() && e.source_hash == sh &&
        (!dh || e.dest_hash == dh))
      out.push_back(id);
  return out;
}

size_t StatusView::size() const {
  std::lock_guard lock(mu_);
  return by_id_.size();
}

}  // namespace sluice::gateway
