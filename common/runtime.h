#pragma once
// What every `sluice` process has: one io_context for all network I/O, the
// metrics registry, health checks served on the HTTP port, and an orderly stop
// on SIGTERM/SIGINT (stop taking work, drain, commit, exit within a bound).
#include <prometheus/registry.h>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "common/health.h"

namespace sluice {

class HttpServer;

struct RuntimeOptions {
  std::string http_listen = "127.0.0.1:8080";  // empty: no HTTP endpoint
  std::chrono::milliseconds drain_timeout{20000};
};

class Runtime {
 public:
  explicit Runtime(RuntimeOptions opts);
  ~Runtime();

  boost::asio::io_context& io() { return io_; }
  std::shared_ptr<prometheus::Registry> registry() { return registry_; }
  std::shared_ptr<Health> health() { return health_; }
  const RuntimeOptions& options() const { return opts_; }

  // Drain steps run in registration order on SIGTERM/SIGINT, each bounded by
  // what is left of drain_timeout. They run on the io thread.
  void on_drain(std::string name, std::function<boost::asio::awaitable<void>()> step);
  // Final synchronous steps after the loop stopped (join threads, commit).
  void on_exit(std::function<void()> step);

  // Serves HTTP, installs signal handling and runs the loop until stopped.
  // Returns the exit code.
  int run();
  void request_stop();
  bool stopping() const { return stopping_; }
  uint16_t http_port() const;

 private:
  boost::asio::awaitable<void> drain();
  RuntimeOptions opts_;
  boost::asio::io_context io_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Health> health_;
  std::unique_ptr<HttpServer> http_;
  std::vector<std::pair<std::string, std::function<boost::asio::awaitable<void>()>>> drains_;
  std::vector<std::function<void()>> exits_;
  bool stopping_ = false;
};

}  // namespace sluice
