#include "common/runtime.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/experimental/awaitable_operators.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <csignal>

#include "common/http_server.h"
#include "common/log.h"

namespace sluice {
namespace asio = boost::asio;
using namespace asio::experimental::awaitable_operators;

Runtime::Runtime(RuntimeOptions opts)
    : opts_(std::move(opts)),
      io_(1),
      registry_(std::make_shared<prometheus::Registry>()),
      health_(std::make_shared<Health>()) {
  // A peer that closes while we write must not kill the process.
  std::signal(SIGPIPE, SIG_IGN);
}

Runtime::~Runtime() = default;

void Runtime::on_drain(std::string name, std::function<asio::awaitable<void>()> step) {
  drains_.emplace_back(std::move(name), std::move(step));
}

void Runtime::on_exit(std::function<void()> step) {
  exits_.push_back(std::move(step));
}

uint16_t Runtime::http_port() const {
  return http_ ? http_->port() : 0;
}

void Runtime::request_stop() {
  if (stopping_) return;
  stopping_ = true;
  asio::co_spawn(io_, drain(), asio::detached);
}

asio::awaitable<void> Runtime::drain() {
  auto deadline = std::chrono::steady_clock::now() + opts_.drain_timeout;
  log::info("draining", {{"timeout_ms", std::to_string(opts_.drain_timeout.count())}});
  for (auto& [name, step] : drains_) {
    auto left = deadline - std::chrono::steady_clock::now();
    if (left <= std::chrono::milliseconds(0)) {
      log::warn("drain bound reached; skipping", {{"step", name}});
      continue;
    }
    asio::steady_timer timer(io_, left);
    try {
      auto r = co_await (step() || timer.async_wait(asio::use_awaitable));
      if (r.index() == 1) log::warn("drain step timed out", {{"step", name}});
    } catch (const std::exception& e) {
      log::error("drain step failed", {{"step", name}, {"what", e.what()}});
    }
  }
  if (http_) http_->stop();
  io_.stop();
}

int Runtime::run() {
  if (!opts_.http_listen.empty()) {
    std::string host;
    uint16_t port = 0;
    if (!parse_host_port(opts_.http_listen, host, port)) {
      log::error("bad --http address", {{"value", opts_.http_listen}});
      return 2;
    }
    http_ = std::make_unique<HttpServer>(io_, registry_, health_);
    try {
      http_->start(host, port);
    } catch (const std::exception& e) {
      log::error("cannot start HTTP endpoint", {{"what", e.what()}});
      return 1;
    }
  }
  asio::signal_set signals(io_, SIGINT, SIGTERM);
  std::function<void(const boost::system::error_code&, int)> on_signal;
  on_signal = [&](const boost::system::error_code& ec, int sig) {
    if (ec) return;
    if (stopping_) {
      // A second signal while draining: give up on the drain.
      log::warn("second signal; stopping now");
      io_.stop();
      return;
    }
    log::info("signal received; stopping", {{"signal", sig == SIGTERM ? "SIGTERM" : "SIGINT"}});
    request_stop();
    signals.async_wait(on_signal);
  };
  signals.async_wait(on_signal);

  // The heartbeat proves to /livez that the loop turns.
  asio::co_spawn(
      io_,
      [this]() -> asio::awaitable<void> {
        asio::steady_timer t(io_);
        for (;;) {
          health_->beat();
          t.expires_after(std::chrono::seconds(1));
          co_await t.async_wait(asio::use_awaitable);
        }
      },
      asio::detached);

  io_.run();
  for (auto& step : exits_) {
    try {
      step();
    } catch (const std::exception& e) {
      log::error("exit step failed", {{"what", e.what()}});
    }
  }
  log::info("stopped");
  return 0;
}

}  // namespace sluice
