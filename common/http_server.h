#pragma once
// The per-process HTTP endpoint: /metrics (Prometheus text format from the
// process's registry), /livez and /readyz. Served by Boost.Beast on the
// process's own io_context instead of prometheus-cpp's civetweb Exposer, so
// that there is one event loop and no extra threads.
#include <prometheus/registry.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <memory>
#include <string>

#include "common/health.h"

namespace sluice {

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, std::shared_ptr<prometheus::Registry> registry,
             std::shared_ptr<Health> health);
  // Binds and starts accepting; throws std::runtime_error when the address is taken.
  void start(const std::string& host, uint16_t port);
  void stop();
  uint16_t port() const { return port_; }

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<Health> health_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
};

// "host:port" -> parts; false when malformed.
bool parse_host_port(const std::string& s, std::string& host, uint16_t& port);

}  // namespace sluice
