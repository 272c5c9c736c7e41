#include "kafka/producer.h"

#include <fcntl.h>
#include <unistd.h>

#include <array>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <cerrno>
#include <mutex>
#include <stdexcept>
#include <system_error>

#include "common/log.h"

namespace sluice::kafka {

void set_conf(rd_kafka_conf_t* conf, const std::string& key, const std::string& value) {
  char err[512];
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), err, sizeof err) != RD_KAFKA_CONF_OK)
    throw std::runtime_error("kafka config " + key + ": " + err);
}

void apply_options(rd_kafka_conf_t* conf, const KafkaOptions& o) {
  set_conf(conf, "bootstrap.servers", o.bootstrap);
  set_conf(conf, "client.id", o.client_id);
  // A broker that is gone should be noticed in seconds, not minutes.
  set_conf(conf, "socket.keepalive.enable", "true");
  set_conf(conf, "reconnect.backoff.ms", "100");
  set_conf(conf, "reconnect.backoff.max.ms", "2000");
  // librdkafka leaves Nagle on by default: a small produce or fetch written
  // while the previous one is unacknowledged then waits for the peer's
  // delayed ACK, which shows up as tens of milliseconds in the tail.
  set_conf(conf, "socket.nagle.disable", "true");
  for (const auto& [k, v] : o.extra) set_conf(conf, k, v);
}

Producer::Producer(KafkaOptions kopts, ProducerOptions popts)
    : kopts_(std::move(kopts)), popts_(popts) {
  rk_ = make_handle();
  poller_ = std::thread([this] { poll_loop(); });
  prober_ = std::thread([this] { probe_loop(); });
}

// The io thread's end of serve_reports_on: the pipe's read end, and the
// producer it serves while that lives.
struct Producer::IoReports {
  IoReports(boost::asio::io_context& io, int fd) : in(io, fd) {}
  std::mutex mu;
  Producer* owner = nullptr;  // guarded by mu
  boost::asio::posix::stream_descriptor in;
};

Producer::~Producer() {
  flush(std::chrono::milliseconds(5000));
  // The io thread stops serving; whatever is left is served here.
  if (auto link = io_link_.lock()) {
    std::lock_guard lock(link->mu);
    link->owner = nullptr;
  }
  if (io_serves_.exchange(false)) {
    std::unique_lock lock(mu_);
    unwatch_reports(rk_);
  }
  stop_ = true;
  if (poller_.joinable()) poller_.join();
  if (prober_.joinable()) prober_.join();
  std::unique_lock lock(mu_);
  if (rk_) {
    // Whatever is still queued fails now, so that every callback runs once.
    rd_kafka_purge(rk_, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
    rd_kafka_poll(rk_, 0);
    rd_kafka_destroy(rk_);
    rk_ = nullptr;
  }
  if (report_pipe_[1] >= 0) ::close(report_pipe_[1]);
}

void Producer::serve_reports_on(boost::asio::io_context& io) {
  if (report_io_.load()) throw std::logic_error("serve_reports_on called twice");
  // librdkafka writes one byte per wake-up and needs a non-blocking fd; a
  // pipe rather than an eventfd, which takes only 8-byte writes.
  if (::pipe2(report_pipe_, O_NONBLOCK | O_CLOEXEC) != 0)
    throw std::system_error(errno, std::generic_category(), "pipe2");
  auto link = std::make_shared<IoReports>(io, report_pipe_[0]);
  link->owner = this;
  io_link_ = link;
  report_io_ = &io;
  {
    // Under the lock that the poll thread holds while it polls: once this is
    // done, it polls no more (it checks again under the lock).
    std::unique_lock lock(mu_);
    watch_reports(rk_);
    io_serves_ = true;
  }
  // Reports queued before the pipe was watched wrote nothing: look once.
  (void)!::write(report_pipe_[1], "1", 1);
  arm(std::move(link));
}

void Producer::watch_reports(rd_kafka_t* rk) {
  rd_kafka_queue_t* q = rd_kafka_queue_get_main(rk);
  rd_kafka_queue_io_event_enable(q, report_pipe_[1], "1", 1);
  rd_kafka_queue_destroy(q);
}

void Producer::unwatch_reports(rd_kafka_t* rk) {
  rd_kafka_queue_t* q = rd_kafka_queue_get_main(rk);
  rd_kafka_queue_io_event_enable(q, -1, nullptr, 0);
  rd_kafka_queue_destroy(q);
}

void Producer::arm(std::shared_ptr<IoReports> link) {
  auto& in = link->in;
  in.async_wait(boost::asio::posix::stream_descriptor::wait_read,
                [link = std::move(link)](const boost::system::error_code& ec) mutable {
                  if (ec) return;
                  // Emptied before serving: a report queued meanwhile writes
                  // again, so none waits for the next one.
                  char buf[256];
                  while (::read(link->in.native_handle(), buf, sizeof buf) > 0) {
                  }
                  {
                    std::lock_guard lock(link->mu);
                    if (!link->owner) return;
                    link->owner->serve_reports();
                  }
                  arm(std::move(link));
                });
}

void Producer::serve_reports() {
  std::shared_lock lock(mu_);
  if (rk_) rd_kafka_poll(rk_, 0);
}

rd_kafka_t* Producer::make_handle() {
  rd_kafka_conf_t* conf = rd_kafka_conf_new();
  try {
    apply_options(conf, kopts_);
    set_conf(conf, "enable.idempotence", "true");
    set_conf(conf, "acks", "all");
    set_conf(conf, "message.timeout.ms", std::to_string(popts_.delivery_timeout.count()));
    set_conf(conf, "linger.ms", std::to_string(popts_.linger.count()));
    set_conf(conf, "queue.buffering.max.messages", std::to_string(popts_.max_queue_messages));
    set_conf(conf, "compression.type", popts_.compression);
    set_conf(conf, "batch.num.messages", "10000");
  } catch (...) {
    rd_kafka_conf_destroy(conf);
    throw;
  }
  rd_kafka_conf_set_opaque(conf, this);
  // The topic-level settings above (acks, message.timeout.ms) live in the
  // default topic conf; a new one would replace them.
  rd_kafka_topic_conf_t* tconf = rd_kafka_conf_get_default_topic_conf(conf);
  if (!tconf) {
    tconf = rd_kafka_topic_conf_new();
    rd_kafka_conf_set_default_topic_conf(conf, tconf);
  }
  rd_kafka_topic_conf_set_partitioner_cb(tconf, &Producer::partition_of);
  rd_kafka_conf_set_dr_msg_cb(conf, &Producer::on_delivery);
  rd_kafka_conf_set_error_cb(conf, &Producer::on_error);
  char err[512];
  rd_kafka_t* rk = rd_kafka_new(RD_KAFKA_PRODUCER, conf, err, sizeof err);
  if (!rk) {
    rd_kafka_conf_destroy(conf);
    throw std::runtime_error(std::string("kafka producer: ") + err);
  }
  return rk;
}

// librdkafka calls this on the producing thread, or on its own when the
// topic's partition count is not known yet. Keyed records keep librdkafka's
// default mapping (consistent_random: CRC32 of the key), so a key lands
// where any Sluice version put it.
int32_t Producer::partition_of(const rd_kafka_topic_t* rkt, const void* key, size_t keylen,
                               int32_t partitions, void* rkt_opaque, void* msg_opaque) {
  auto* p = static_cast<const Pending*>(msg_opaque);
  if (p && p->any_partition) {
    auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                  std::chrono::steady_clock::now().time_since_epoch())
                  .count();
    return static_cast<int32_t>(static_cast<uint64_t>(ms) % static_cast<uint64_t>(partitions));
  }
  return rd_kafka_msg_partitioner_consistent_random(rkt, key, keylen, partitions, rkt_opaque,
                                                    msg_opaque);
}

void Producer::on_delivery(rd_kafka_t*, const rd_kafka_message_t* m, void*) {
  auto* p = static_cast<Pending*>(m->_private);
  if (!p) return;
  DeliveryResult r;
  r.err = m->err;
  r.partition = m->partition;
  r.offset = m->offset;
  r.possibly_persisted = m->err != RD_KAFKA_RESP_ERR_NO_ERROR &&
                         rd_kafka_message_status(m) == RD_KAFKA_MSG_STATUS_POSSIBLY_PERSISTED;
  try {
    p->deliver(r);
  } catch (const std::exception& e) {
    log::error("delivery callback threw", {{"what", e.what()}});
  }
  delete p;
}

void Producer::on_error(rd_kafka_t* rk, int err, const char* reason, void* opaque) {
  auto* self = static_cast<Producer*>(opaque);
  if (err == RD_KAFKA_RESP_ERR__FATAL) {
    char buf[512];
    rd_kafka_resp_err_t orig = rd_kafka_fatal_error(rk, buf, sizeof buf);
    log::error("kafka producer fatal error; recreating the producer",
               {{"error", rd_kafka_err2name(orig)}, {"reason", buf}});
    self->fatal_ = true;
    return;
  }
  if (err == RD_KAFKA_RESP_ERR__ALL_BROKERS_DOWN) self->connected_ = false;
  log::warn("kafka producer", {{"error", rd_kafka_err2name(static_cast<rd_kafka_resp_err_t>(err))},
                               {"reason", reason}});
}

void Producer::produce_pending(const RecordView& rec, Pending* pending) {
  // The gateway produces a record per submit_sm: the argument list lives on
  // the stack unless a record carries many headers.
  const size_t count = 6 + (rec.headers ? rec.headers->size() : 0);
  std::array<rd_kafka_vu_t, 16> small;
  std::vector<rd_kafka_vu_t> large;
  rd_kafka_vu_t* vus = small.data();
  if (count > small.size()) {
    large.resize(count);
    vus = large.data();
  }
  size_t n = 0;
  vus[n].vtype = RD_KAFKA_VTYPE_TOPIC;
  vus[n++].u.cstr = rec.topic.c_str();
  vus[n].vtype = RD_KAFKA_VTYPE_KEY;
  // librdkafka's vu type is not const-correct; with RD_KAFKA_MSG_F_COPY it
  // only reads (and copies) these bytes.
  vus[n].u.mem.ptr = const_cast<char*>(rec.key.data());
  vus[n++].u.mem.size = rec.key.size();
  vus[n].vtype = RD_KAFKA_VTYPE_VALUE;
  vus[n].u.mem.ptr = rec.tombstone ? nullptr : const_cast<char*>(rec.value.data());
  vus[n++].u.mem.size = rec.tombstone ? 0 : rec.value.size();
  vus[n].vtype = RD_KAFKA_VTYPE_MSGFLAGS;
  vus[n++].u.i = RD_KAFKA_MSG_F_COPY;
  vus[n].vtype = RD_KAFKA_VTYPE_OPAQUE;
  vus[n++].u.ptr = pending;
  if (rec.partition == kAnyPartition)
    pending->any_partition = true;
  else if (rec.partition != RD_KAFKA_PARTITION_UA) {
    vus[n].vtype = RD_KAFKA_VTYPE_PARTITION;
    vus[n++].u.i32 = rec.partition;
  }
  if (rec.headers) {
    for (const auto& [name, value] : *rec.headers) {
      vus[n].vtype = RD_KAFKA_VTYPE_HEADER;
      vus[n].u.header.name = name.c_str();
      vus[n].u.header.val = value.data();
      vus[n++].u.header.size = static_cast<ssize_t>(value.size());
    }
  }
  rd_kafka_error_t* error = nullptr;
  {
    std::shared_lock lock(mu_);
    error = rd_kafka_produceva(rk_, vus, n);
  }
  if (error) {
    DeliveryResult r;
    r.err = rd_kafka_error_code(error);
    rd_kafka_error_destroy(error);
    try {
      pending->deliver(r);
    } catch (...) {
    }
    delete pending;
  }
}

void Producer::recreate() {
  rd_kafka_t* old = nullptr;
  {
    std::unique_lock lock(mu_);
    old = rk_;
    rk_ = make_handle();
    if (io_serves_.load()) {
      // The old instance's failures are served below, on this thread.
      unwatch_reports(old);
      watch_reports(rk_);
    }
    fatal_ = false;
  }
  ++recreated_;
  // The old instance's records fail (their senders answer with an error they
  // can retry); none of them is reported as delivered.
  rd_kafka_purge(old, RD_KAFKA_PURGE_F_QUEUE | RD_KAFKA_PURGE_F_INFLIGHT);
  for (int i = 0; i < 100 && rd_kafka_outq_len(old) > 0; ++i) rd_kafka_poll(old, 50);
  rd_kafka_destroy(old);
}

void Producer::poll_loop() {
  while (!stop_.load()) {
    if (fatal_.load()) recreate();
    if (io_serves_.load()) {
      if (!report_io_.load()->stopped()) {
        // The io thread serves the reports; this one only watches for a
        // fatal error and for the io_context to stop.
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
        continue;
      }
      // Stopped (the process is draining to its exit): the reports come back
      // here for good, and librdkafka stops writing to a pipe nobody reads.
      io_serves_ = false;
      std::unique_lock lock(mu_);
      unwatch_reports(rk_);
    }
    std::shared_lock lock(mu_);
    if (io_serves_.load()) continue;  // the io thread took over meanwhile
    rd_kafka_poll(rk_, 50);
  }
}

void Producer::probe_loop() {
  // A cheap metadata round trip tells /readyz whether the brokers answer. It
  // blocks for a round trip, so it has a thread of its own: on the polling
  // thread it would hold back every delivery report (and so every
  // submit_sm_resp) behind it.
  while (!stop_.load()) {
    const rd_kafka_metadata_t* md = nullptr;
    rd_kafka_resp_err_t err;
    {
      std::shared_lock lock(mu_);
      err = rd_kafka_metadata(rk_, 0, nullptr, &md, 2000);
    }
    connected_ = err == RD_KAFKA_RESP_ERR_NO_ERROR;
    if (md) rd_kafka_metadata_destroy(md);
    for (int i = 0; i < 30 && !stop_.load(); ++i)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
}

bool Producer::flush(std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (outstanding() == 0) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return outstanding() == 0;
}

int Producer::outstanding() const {
  std::shared_lock lock(mu_);
  return rk_ ? rd_kafka_outq_len(rk_) : 0;
}

}  // namespace sluice::kafka
