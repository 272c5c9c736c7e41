// ConfigStore: one thread per store that connects, LISTENs, reloads and swaps.
//
// The thread waits with poll() on the connection's socket and on a pipe that
// stop() writes to, so it reacts to a notification at once and to stop()
// without delay. Readers only ever load an atomic shared_ptr.
#include <poll.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "common/log.h"
#include "config/internal.h"

namespace sluice::config {
namespace {

constexpr const char* kChannel = "sluice_config";
constexpr std::chrono::milliseconds kFirstBackoff{250};

class Listener final : public pqxx::notification_receiver {
 public:
  Listener(pqxx::connection_base& c, bool& flag)
      : pqxx::notification_receiver(c, kChannel), flag_(flag) {}
  void operator()(const std::string&, int) override { flag_ = true; }

 private:
  bool& flag_;
};

// Owns one connection and its LISTEN. Disconnecting before the receiver goes
// keeps its destructor from sending UNLISTEN over a connection that may hang.
struct Session {
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<Listener> listener;
  bool notified = false;
  ~Session() {
    if (conn) conn->disconnect();
    listener.reset();
    conn.reset();
  }
};

// libpq's messages span lines ("...failed: Connection refused\n\tIs the server
// running...?"); the first line says it in a log line.
std::string first_line(const char* what) {
  std::string s(what);
  s = s.substr(0, s.find('\n'));
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.pop_back();
  return s;
}

std::string host_name() {
  char buf[256] = {};
  if (::gethostname(buf, sizeof buf - 1) != 0 || !buf[0]) return "unknown";
  return buf;
}

}  // namespace

struct ConfigStore::Impl {
  StoreOptions opt;
  std::atomic<std::shared_ptr<const Snapshot>> snap{std::make_shared<const Snapshot>()};
  std::atomic<State> state{State::empty};

  std::vector<std::function<void(std::shared_ptr<const Snapshot>)>> change_cbs;
  std::vector<std::function<void(State)>> state_cbs;
  std::mutex publish_mu;  // serialises swaps and callbacks

  std::mutex start_mu;
  std::condition_variable start_cv;
  bool first_attempt_done = false;

  std::mutex cache_mu;
  bool cache_tried = false;
  int64_t cache_saved_version = -1;

  std::thread thread;
  int wake[2] = {-1, -1};
  std::atomic<bool> stopping{false};
  bool started = false;
  bool db_snapshot = false;  // current snapshot came from the database (thread only)
  std::minstd_rand rng{std::random_device{}()};

  explicit Impl(StoreOptions o) : opt(std::move(o)) {
    if (opt.instance.empty()) opt.instance = host_name();
    if (::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) throw std::runtime_error("pipe2 failed");
  }
  ~Impl() {
    for (int fd : wake)
      if (fd >= 0) ::close(fd);
  }

  void set_state_locked(State s) {
    if (state.exchange(s) == s) return;
    for (auto& cb : state_cbs) cb(s);
  }

  void publish(std::shared_ptr<const Snapshot> s, State st) {
    std::lock_guard lock(publish_mu);
    snap.store(s);
    set_state_locked(st);
    for (auto& cb : change_cbs) cb(s);
  }

  void set_state(State s) {
    std::lock_guard lock(publish_mu);
    set_state_locked(s);
  }

  // Serves the copy on disk, but only while nothing better has been loaded.
  void use_cache_once() {
    {
      std::lock_guard lock(cache_mu);
      if (cache_tried || opt.cache_path.empty()) return;
      cache_tried = true;
    }
    std::optional<Snapshot> cached;
    try {
      cached = load_cache(opt.cache_path);
    } catch (const std::exception& e) {
      log::warn("config cache unusable", {{"path", opt.cache_path}, {"error", e.what()}});
      return;
    }
    if (!cached) {
      log::warn("no config cache to start from", {{"path", opt.cache_path}});
      return;
    }
    auto s = std::make_shared<const Snapshot>(std::move(*cached));
    std::lock_guard lock(publish_mu);
    if (state.load() != State::empty) return;
    snap.store(s);
    set_state_locked(State::from_cache);
    for (auto& cb : change_cbs) cb(s);
    log::info("config loaded from cache", {{"path", opt.cache_path},
                                           {"version", std::to_string(s->version)},
                                           {"customers", std::to_string(s->customers.size())},
                                           {"providers", std::to_string(s->providers.size())},
                                           {"routes", std::to_string(s->routes.size())}});
  }

  void first_attempt_finished() {
    std::lock_guard lock(start_mu);
    if (!first_attempt_done) {
      first_attempt_done = true;
      start_cv.notify_all();
    }
  }

  // Sleeps for d unless stop() is called first. Returns false when stopping.
  bool sleep_for(std::chrono::milliseconds d) {
    pollfd p{wake[0], POLLIN, 0};
    auto until = std::chrono::steady_clock::now() + d;
    while (!stopping.load()) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          until - std::chrono::steady_clock::now());
      if (left.count() <= 0) return true;
      ::poll(&p, 1, static_cast<int>(left.count()));
    }
    return false;
  }

  std::chrono::milliseconds jitter(std::chrono::milliseconds d) {
    std::uniform_real_distribution<double> f(0.8, 1.2);
    return std::chrono::milliseconds(static_cast<int64_t>(static_cast<double>(d.count()) * f(rng)));
  }

  void report_applied(pqxx::connection& c, const Snapshot& s) {
    if (opt.stage.empty()) return;
    try {
      pqxx::work w(c, "config_applied");
      w.exec_params(
          "INSERT INTO sluice.config_applied (stage, instance, version, state, rejected, "
          "applied_at) "
          "VALUES ($1, $2, $3, $4, $5, now()) ON CONFLICT (stage, instance) DO UPDATE SET "
          "version = EXCLUDED.version, state = EXCLUDED.state, rejected = EXCLUDED.rejected, "
          "applied_at = now()",
          opt.stage, opt.instance, s.version, state_name(state.load()),
          static_cast<int>(s.rejected.size()));
      w.commit();
    } catch (const pqxx::broken_connection&) {
      throw;
    } catch (const std::exception& e) {
      // Reporting is for operators' eyes only; a read-only role must not stop
      // the stage from applying its configuration.
      log::debug("config_applied not written", {{"error", e.what()}});
    }
  }

  void save(const Snapshot& s) {
    if (opt.cache_path.empty() || s.version == cache_saved_version) return;
    try {
      save_cache(opt.cache_path, s);
      cache_saved_version = s.version;
    } catch (const std::exception& e) {
      log::warn("config cache not written", {{"path", opt.cache_path}, {"error", e.what()}});
    }
  }

  void reload(pqxx::connection& c) {
    Snapshot loaded = load_snapshot(c);
    auto cur = snap.load();
    if (db_snapshot && loaded.version == cur->version) {
      // A repeated notification, or a reconnect to an unchanged database.
      if (state.load() != State::live) {
        set_state(State::live);
        report_applied(c, *cur);
      }
      return;
    }
    auto s = std::make_shared<const Snapshot>(std::move(loaded));
    publish(s, State::live);
    db_snapshot = true;
    log::info("config applied", {{"version", std::to_string(s->version)},
                                 {"customers", std::to_string(s->customers.size())},
                                 {"providers", std::to_string(s->providers.size())},
                                 {"routes", std::to_string(s->routes.size())},
                                 {"mo_numbers", std::to_string(s->mo_numbers.size())},
                                 {"rejected", std::to_string(s->rejected.size())}});
    save(*s);
    report_applied(c, *s);
  }

  int64_t db_version(pqxx::connection& c) {
    pqxx::nontransaction tx(c, "config version");
    return tx.exec1("SELECT version FROM sluice.config_state")[0].as<int64_t>();
  }

  // Returns when stopping; throws when the connection fails.
  void listen(Session& s) {
    auto next_check = std::chrono::steady_clock::now() + opt.poll_interval;
    for (;;) {
      // Notifications may already sit in libpq's buffer, where poll() cannot
      // see them.
      s.conn->get_notifs();
      if (s.notified) {
        s.notified = false;
        reload(*s.conn);
        continue;
      }
      int fd = s.conn->sock();
      if (fd < 0) throw pqxx::broken_connection("connection closed");
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
          next_check - std::chrono::steady_clock::now());
      pollfd p[2] = {{fd, POLLIN, 0}, {wake[0], POLLIN, 0}};
      int n = ::poll(p, 2, static_cast<int>(std::max<int64_t>(0, left.count())));
      if (stopping.load()) return;
      if (n < 0 && errno != EINTR) throw std::runtime_error("poll failed");
      bool check = std::chrono::steady_clock::now() >= next_check;
      if (n > 0 && (p[0].revents & (POLLERR | POLLHUP | POLLNVAL)))
        throw pqxx::broken_connection("connection lost");
      if (n > 0 && (p[0].revents & POLLIN)) {
        // Readable but no notification (a notice, or end of stream): a query
        // tells a live connection from a dead one.
        if (s.conn->get_notifs() == 0 && !s.notified) check = true;
      }
      if (check) {
        // libpqxx 6.4 reports a query on a dead connection as "Could not
        // obtain client encoding", which hides what happened; say it plainly.
        if (!s.conn->is_open()) throw pqxx::broken_connection("the server closed the connection");
        if (db_version(*s.conn) != snap.load()->version) s.notified = true;
        next_check = std::chrono::steady_clock::now() + opt.poll_interval;
      }
    }
  }

  void run() {
    auto backoff = kFirstBackoff;
    bool down = false;  // an outage has been logged
    while (!stopping.load()) {
      try {
        Session s;
        s.conn = connect(opt.dsn);
        {
          // A lock wait must not hold the store's thread for long.
          pqxx::nontransaction tx(*s.conn, "session");
          tx.exec("SET statement_timeout = '15s'");
        }
        s.listener = std::make_unique<Listener>(*s.conn, s.notified);
        reload(*s.conn);
        s.notified = false;
        if (down)
          log::info("config database available again",
                    {{"version", std::to_string(snap.load()->version)}});
        down = false;
        backoff = kFirstBackoff;
        first_attempt_finished();
        listen(s);
      } catch (const std::exception& e) {
        if (stopping.load()) break;
        State st = state.load();
        if (!down) {
          log::warn("config database unavailable; serving the last configuration loaded",
                    {{"error", first_line(e.what())},
                     {"state", st == State::live ? "stale" : state_name(st)},
                     {"version", std::to_string(snap.load()->version)}});
          down = true;
        } else {
          log::debug("config database still unavailable", {{"error", first_line(e.what())}});
        }
        if (st == State::live) set_state(State::stale);
        if (st == State::empty) use_cache_once();
        first_attempt_finished();
        if (!sleep_for(jitter(backoff))) break;
        backoff = std::min<std::chrono::milliseconds>(backoff * 2, opt.max_backoff);
      }
    }
  }
};

ConfigStore::ConfigStore(StoreOptions o) : impl_(std::make_unique<Impl>(std::move(o))) {}

ConfigStore::~ConfigStore() {
  stop();
}

void ConfigStore::start() {
  if (impl_->started) return;
  impl_->started = true;
  impl_->thread = std::thread([this] { impl_->run(); });
  {
    std::unique_lock lock(impl_->start_mu);
    impl_->start_cv.wait_for(lock, impl_->opt.start_wait,
                             [&] { return impl_->first_attempt_done; });
  }
  // The database did not answer in time (a host that drops packets): serve
  // the copy on disk now rather than nothing.
  if (impl_->state.load() == State::empty) impl_->use_cache_once();
}

void ConfigStore::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->stopping.store(true);
  char b = 1;
  [[maybe_unused]] auto n = ::write(impl_->wake[1], &b, 1);
  impl_->thread.join();
}

std::shared_ptr<const Snapshot> ConfigStore::current() const {
  return impl_->snap.load();
}
State ConfigStore::state() const {
  return impl_->state.load();
}
int64_t ConfigStore::version() const {
  return impl_->snap.load()->version;
}

void ConfigStore::on_change(std::function<void(std::shared_ptr<const Snapshot>)> cb) {
  std::lock_guard lock(impl_->publish_mu);
  impl_->change_cbs.push_back(std::move(cb));
}

void ConfigStore::on_state_change(std::function<void(State)> cb) {
  std::lock_guard lock(impl_->publish_mu);
  impl_->state_cbs.push_back(std::move(cb));
}

}  // namespace sluice::config
