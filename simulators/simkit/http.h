// A small HTTP/1.1 endpoint for the simulators' control plane (/stats,
// /reset, POST /mode, ...). common/http_server.h serves only fixed GET pages,
// and tests here need query parameters and POST.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <functional>
#include <map>
#include <memory>
#include <string>

namespace sluice::sim {

struct HttpRequest {
  std::string method;  // "GET", "POST", ...
  std::string path;    // without the query
  // Query parameters, and for POST also an application/x-www-form-urlencoded
  // body; percent-decoded.
  std::map<std::string, std::string> params;
};

struct HttpResponse {
  int status = 200;
  std::string content_type = "application/json";
  std::string body;
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

class HttpEndpoint {
 public:
  HttpEndpoint(boost::asio::io_context& io, HttpHandler handler);
  // Throws std::runtime_error when the address cannot be bound. Port 0 picks one.
  void start(const std::string& host, uint16_t port);
  void stop();
  uint16_t port() const { return port_; }

 private:
  boost::asio::io_context& io_;
  std::shared_ptr<HttpHandler> handler_;
  std::unique_ptr<boost::asio::ip::tcp::acceptor> acceptor_;
  uint16_t port_ = 0;
};

// "a=1&b=x%20y" -> params (appended to out).
void parse_query(std::string_view q, std::map<std::string, std::string>& out);

}  // namespace sluice::sim
