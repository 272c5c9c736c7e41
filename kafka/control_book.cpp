#include "kafka/control_book.h"

#include <thread>

#include "schema/topics.h"

namespace sluice::kafka {

ControlBook::~ControlBook() {
  stop();
}

void ControlBook::start(const KafkaOptions& kopts, const std::string& topic_prefix,
                        const std::string& name) {
  reader_ = std::make_unique<TableReader>(
      kopts, schema::topic_name(topic_prefix, "sms.control"), topic_prefix + name,
      [this](std::string_view k, std::string_view v) { apply(k, v); });
  reader_->start();
}

void ControlBook::stop() {
  if (reader_) reader_->stop();
}

bool ControlBook::wait_caught_up(std::chrono::milliseconds timeout) const {
  auto until = std::chrono::steady_clock::now() + timeout;
  while (reader_ && !reader_->caught_up()) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return true;
}

void ControlBook::apply(std::string_view key, std::string_view value) {
  std::string id(key);
  std::lock_guard lock(mu_);
  if (value.empty()) {
    book_.erase(id);
    return;
  }
  records::v1::Control c;
  if (!c.ParseFromArray(value.data(), static_cast<int>(value.size())) || c.schema_version() != 1)
    return;
  auto held = book_.find(id);
  if (held != book_.end()) {
    // The customer was told ESME_ROK for the cancel: a replace that another
    // node accepted meanwhile must not bring the message back.
    if (held->second.kind() == records::v1::Control::CANCEL &&
        c.kind() != records::v1::Control::CANCEL)
      return;
    held->second = std::move(c);
    return;
  }
  book_.emplace(id, std::move(c));
  order_.push_back(id);
  while (book_.size() > max_entries_ && !order_.empty()) {
    book_.erase(order_.front());
    order_.pop_front();
  }
  // Ids erased by tombstones linger in order_; trim them when they pile up.
  if (order_.size() > 2 * max_entries_) {
    std::deque<std::string> kept;
    for (auto& k : order_)
      if (book_.count(k)) kept.push_back(std::move(k));
    order_.swap(kept);
  }
}

std::optional<records::v1::Control> ControlBook::find(const std::string& id) const {
  std::lock_guard lock(mu_);
  auto it = book_.find(id);
  if (it == book_.end()) return std::nullopt;
  return it->second;
}

size_t ControlBook::size() const {
  std::lock_guard lock(mu_);
  return book_.size();
}

}  // namespace sluice::kafka
