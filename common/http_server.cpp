#include "common/http_server.h"

#include <prometheus/text_serializer.h>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include "common/log.h"

namespace sluice {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

asio::awaitable<void> serve_connection(tcp::socket socket,
                                       std::shared_ptr<prometheus::Registry> registry,
                                       std::shared_ptr<Health> health) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  try {
    for (;;) {
      stream.expires_after(std::chrono::seconds(30));
      http::request_parser<http::empty_body> parser;
      parser.header_limit(8192);
      co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
      auto& req = parser.get();
      http::response<http::string_body> res;
      res.version(req.version());
      res.keep_alive(req.keep_alive());
      std::string target(req.target());
      if (auto q = target.find('?'); q != std::string::npos) target.resize(q);
      if (req.method() != http::verb::get && req.method() != http::verb::head) {
        res.result(http::status::method_not_allowed);
        res.set(http::field::content_type, "text/plain");
        res.body() = "method not allowed\n";
      } else if (target == "/metrics") {
        prometheus::TextSerializer serializer;
        res.result(http::status::ok);
        res.set(http::field::content_type, "text/plain; version=0.0.4");
        res.body() = serializer.Serialize(registry->Collect());
      } else if (target == "/livez") {
        std::string body;
        bool ok = health->alive(body);
        res.result(ok ? http::status::ok : http::status::service_unavailable);
        res.set(http::field::content_type, "application/json");
        res.body() = body + "\n";
      } else if (target == "/readyz") {
        std::string body;
        bool ok = health->ready(body);
        res.result(ok ? http::status::ok : http::status::service_unavailable);
        res.set(http::field::content_type, "application/json");
        res.body() = body + "\n";
      } else {
        res.result(http::status::not_found);
        res.set(http::field::content_type, "text/plain");
        res.body() = "not found: /metrics /livez /readyz\n";
      }
      res.prepare_payload();
      co_await http::async_write(stream, res, asio::use_awaitable);
      if (!res.keep_alive()) break;
    }
  } catch (const std::exception&) {
    // Peer went away or sent garbage: nothing to answer.
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor,
                                  std::shared_ptr<prometheus::Registry> registry,
                                  std::shared_ptr<Health> health) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // EMFILE and friends: back off instead of spinning.
      asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await t.async_wait(asio::use_awaitable);
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), serve_connection(std::move(socket), registry, health),
                   asio::detached);
  }
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, std::shared_ptr<prometheus::Registry> registry,
                       std::shared_ptr<Health> health)
    : io_(io), registry_(std::move(registry)), health_(std::move(health)) {}

void HttpServer::start(const std::string& host, uint16_t port) {
  tcp::endpoint ep(asio::ip::make_address(host), port);
  acceptor_ = std::make_unique<tcp::acceptor>(io_);
  acceptor_->open(ep.protocol());
  acceptor_->set_option(tcp::acceptor::reuse_address(true));
  boost::system::error_code ec;
  acceptor_->bind(ep, ec);
  if (ec)
    throw std::runtime_error("http: cannot bind " + host + ":" + std::to_string(port) + ": " +
                             ec.message());
  acceptor_->listen();
  port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(io_, accept_loop(*acceptor_, registry_, health_), asio::detached);
  log::info("http listening", {{"addr", host + ":" + std::to_string(port_)}});
}

void HttpServer::stop() {
  if (acceptor_) {
    boost::system::error_code ec;
    acceptor_->close(ec);
  }
}

bool parse_host_port(const std::string& s, std::string& host, uint16_t& port) {
  auto colon = s.rfind(':');
  if (colon == std::string::npos || colon == 0 || colon + 1 >= s.size()) return false;
  host = s.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);
  unsigned long p = 0;
  for (size_t i = colon + 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
    p = p * 10 + static_cast<unsigned>(s[i] - '0');
    if (p > 65535) return false;
  }
  boost::system::error_code ec;
  boost::asio::ip::make_address(host, ec);
  if (ec) return false;
  port = static_cast<uint16_t>(p);
  return true;
}

}  // namespace sluice
