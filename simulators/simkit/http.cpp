#include "simulators/simkit/http.h"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

namespace sluice::sim {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::ip::tcp;

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string url_decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '+') {
      out += ' ';
    } else if (s[i] == '%' && i + 2 < s.size() && hex_value(s[i + 1]) >= 0 &&
               hex_value(s[i + 2]) >= 0) {
      out += static_cast<char>(hex_value(s[i + 1]) * 16 + hex_value(s[i + 2]));
      i += 2;
    } else {
      out += s[i];
    }
  }
  return out;
}

asio::awaitable<void> serve(tcp::socket socket, std::shared_ptr<HttpHandler> handler) {
  beast::tcp_stream stream(std::move(socket));
  beast::flat_buffer buffer;
  try {
    for (;;) {
      stream.expires_after(std::chrono::seconds(30));
      http::request_parser<http::string_body> parser;
      parser.header_limit(8192);
      parser.body_limit(64 * 1024);
      co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
      auto& req = parser.get();
      HttpRequest r;
      r.method = std::string(req.method_string());
      std::string_view target = req.target();
      auto q = target.find('?');
      r.path = std::string(target.substr(0, q));
      if (q != std::string_view::npos) parse_query(target.substr(q + 1), r.params);
      if (req.method() == http::verb::post &&
          req[http::field::content_type].starts_with("application/x-www-form-urlencoded")) {
        parse_query(req.body(), r.params);
      }
      HttpResponse out = (*handler)(r);
      http::response<http::string_body> res;
      res.version(req.version());
      res.keep_alive(req.keep_alive());
      res.result(static_cast<http::status>(out.status));
      res.set(http::field::content_type, out.content_type);
      res.body() = std::move(out.body);
      res.prepare_payload();
      co_await http::async_write(stream, res, asio::use_awaitable);
      if (!res.keep_alive()) break;
    }
  } catch (const std::exception&) {
    // The client went away or sent something that is not HTTP.
  }
  beast::error_code ec;
  stream.socket().shutdown(tcp::socket::shutdown_both, ec);
}

asio::awaitable<void> accept_loop(tcp::acceptor& acceptor, std::shared_ptr<HttpHandler> handler) {
  for (;;) {
    auto [ec, socket] = co_await acceptor.async_accept(asio::as_tuple(asio::use_awaitable));
    if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
    if (ec) {
      // Out of descriptors: wait instead of spinning on accept.
      asio::steady_timer t(acceptor.get_executor(), std::chrono::milliseconds(100));
      co_await t.async_wait(asio::as_tuple(asio::use_awaitable));
      continue;
    }
    asio::co_spawn(acceptor.get_executor(), serve(std::move(socket), handler), asio::detached);
  }
}

}  // namespace

void parse_query(std::string_view q, std::map<std::string, std::string>& out) {
  while (!q.empty()) {
    auto amp = q.find('&');
    std::string_view item = q.substr(0, amp);
    q = amp == std::string_view::npos ? std::string_view{} : q.substr(amp + 1);
    if (item.empty()) continue;
    auto eq = item.find('=');
    if (eq == std::string_view::npos) {
      out[url_decode(item)] = "";
    } else {
      out[url_decode(item.substr(0, eq))] = url_decode(item.substr(eq + 1));
    }
  }
}

HttpEndpoint::HttpEndpoint(asio::io_context& io, HttpHandler handler)
    : io_(io), handler_(std::make_shared<HttpHandler>(std::move(handler))) {}

void HttpEndpoint::start(const std::string& host, uint16_t port) {
  boost::system::error_code ec;
  auto addr = asio::ip::make_address(host, ec);
  if (ec) throw std::runtime_error("http: bad address " + host);
  tcp::endpoint ep(addr, port);
  acceptor_ = std::make_unique<tcp::acceptor>(io_);
  acceptor_->open(ep.protocol());
  acceptor_->set_option(tcp::acceptor::reuse_address(true));
  acceptor_->bind(ep, ec);
  if (ec) {
    throw std::runtime_error("http: cannot bind " + host + ":" + std::to_string(port) + ": " +
                             ec.message());
  }
  acceptor_->listen();
  port_ = acceptor_->local_endpoint().port();
  asio::co_spawn(io_, accept_loop(*acceptor_, handler_), asio::detached);
}

void HttpEndpoint::stop() {
  if (acceptor_) {
    boost::system::error_code ec;
    acceptor_->close(ec);
  }
}

}  // namespace sluice::sim
