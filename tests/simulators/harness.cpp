#include "tests/simulators/harness.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <stdexcept>

#include "smpp/frame.h"

namespace sluice::test::sim {

Subprocess::Subprocess(std::vector<std::string> argv) {
  int out_pipe[2], err_pipe[2];
  if (pipe2(out_pipe, O_CLOEXEC) != 0 || pipe2(err_pipe, O_CLOEXEC) != 0) {
    throw std::runtime_error("pipe failed");
  }
  std::vector<char*> args;
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  pid_ = fork();
  if (pid_ < 0) throw std::runtime_error("fork failed");
  if (pid_ == 0) {
    dup2(out_pipe[1], 1);
    dup2(err_pipe[1], 2);
    execv(args[0], args.data());
    _exit(127);
  }
  close(out_pipe[1]);
  close(err_pipe[1]);
  out_thread_ = std::thread([this, fd = out_pipe[0]] { drain(fd, out_); });
  err_thread_ = std::thread([this, fd = err_pipe[0]] { drain(fd, err_); });
}

Subprocess::~Subprocess() {
  if (!status_) {
    ::kill(pid_, SIGKILL);
    wait(5s);
  }
  if (out_thread_.joinable()) out_thread_.join();
  if (err_thread_.joinable()) err_thread_.join();
}

void Subprocess::drain(int fd, std::string& into) {
  char buf[4096];
  for (;;) {
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    std::lock_guard lock(mu_);
    into.append(buf, static_cast<size_t>(n));
    cv_.notify_all();
  }
  close(fd);
}

void Subprocess::signal(int sig) {
  if (!status_) ::kill(pid_, sig);
}

std::optional<int> Subprocess::wait(std::chrono::milliseconds timeout) {
  if (status_) return status_;
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    int st = 0;
    pid_t r = waitpid(pid_, &st, WNOHANG);
    if (r == pid_) {
      status_ = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
      // The pipes close with the process; let the readers finish.
      if (out_thread_.joinable()) out_thread_.join();
      if (err_thread_.joinable()) err_thread_.join();
      return status_;
    }
    if (std::chrono::steady_clock::now() >= deadline) return std::nullopt;
    std::this_thread::sleep_for(5ms);
  }
}

std::string Subprocess::out() const {
  std::lock_guard lock(mu_);
  return out_;
}

std::string Subprocess::err() const {
  std::lock_guard lock(mu_);
  return err_;
}

std::optional<std::string> Subprocess::wait_for_err(const std::string& needle,
                                                    std::chrono::milliseconds timeout) {
  std::unique_lock lock(mu_);
  const bool found =
      cv_.wait_for(lock, timeout, [&] { return err_.find(needle) != std::string::npos; });
  if (!found) return std::nullopt;
  return err_;
}

RunResult run(std::vector<std::string> argv, std::chrono::milliseconds timeout) {
  Subprocess p(std::move(argv));
  RunResult r;
  auto code = p.wait(timeout);
  if (!code) {
    p.signal(SIGKILL);
    code = p.wait(5s);
    r.code = -1;
  } else {
    r.code = *code;
  }
  r.out = p.out();
  r.err = p.err();
  r.json = nlohmann::json::parse(r.out, nullptr, false);
  return r;
}

std::string smsc_sim_path() {
  return SLUICE_SMSC_SIM;
}
std::string esme_load_path() {
  return SLUICE_ESME_LOAD;
}

SimProcess::SimProcess(std::vector<std::string> extra) {
  std::vector<std::string> argv{smsc_sim_path(), "--listen", "127.0.0.1:0", "--http",
                                "127.0.0.1:0"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  proc_ = std::make_unique<Subprocess>(std::move(argv));
  std::optional<std::string> err;
  size_t pos = std::string::npos;
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (std::chrono::steady_clock::now() < deadline) {
    err = proc_->wait_for_err("listening port=", 100ms);
    if (err && err->find('\n', pos = err->find("listening port=")) != std::string::npos) break;
    pos = std::string::npos;
  }
  if (pos == std::string::npos) throw std::runtime_error("smsc-sim did not start: " + proc_->err());
  unsigned port = 0, http_port = 0;
  if (std::sscanf(err->c_str() + pos, "listening port=%u http_port=%u", &port, &http_port) != 2) {
    throw std::runtime_error("unexpected smsc-sim banner: " + *err);
  }
  port_ = static_cast<uint16_t>(port);
  http_port_ = static_cast<uint16_t>(http_port);
}

nlohmann::json SimProcess::stats() {
  return nlohmann::json::parse(http("GET", "/stats"), nullptr, false);
}

std::string SimProcess::http(const std::string& method, const std::string& target, int* code) {
  return http_request(http_port_, method, target, code);
}

RunResult SimProcess::load(std::vector<std::string> args, std::chrono::milliseconds timeout) {
  std::vector<std::string> argv{esme_load_path(), "--port", std::to_string(port_), "--json"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(std::move(argv), timeout);
}

namespace {
int connect_local(uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  int one = 1;
  setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

bool write_all(int fd, const void* data, size_t n) {
  const auto* p = static_cast<const char*>(data);
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}
}  // namespace

std::string http_request(uint16_t port, const std::string& method, const std::string& target,
                         int* code) {
  int fd = connect_local(port);
  if (fd < 0) return {};
  std::string req =
      method + " " + target +
      " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Length: 0\r\n\r\n";
  write_all(fd, req.data(), req.size());
  std::string resp;
  char buf[8192];
  for (;;) {
    pollfd pfd{fd, POLLIN, 0};
    if (poll(&pfd, 1, 5000) <= 0) break;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    resp.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  if (code) *code = resp.size() > 12 ? std::atoi(resp.c_str() + 9) : 0;
  auto body = resp.find("\r\n\r\n");
  return body == std::string::npos ? std::string() : resp.substr(body + 4);
}

RawClient::RawClient(uint16_t port) : fd_(connect_local(port)) {}

RawClient::~RawClient() {
  if (fd_ >= 0) ::close(fd_);
}

bool RawClient::send(const smpp::Pdu& pdu) {
  auto bytes = smpp::encode(pdu);
  return send_bytes(bytes);
}

bool RawClient::send_bytes(std::span<const uint8_t> bytes) {
  return fd_ >= 0 && write_all(fd_, bytes.data(), bytes.size());
}

int RawClient::read_some(std::chrono::milliseconds timeout) {
  pollfd pfd{fd_, POLLIN, 0};
  int r = poll(&pfd, 1, static_cast<int>(timeout.count()));
  if (r <= 0) return -1;
  uint8_t buf[8192];
  ssize_t n = ::read(fd_, buf, sizeof buf);
  if (n <= 0) return 0;
  buf_.insert(buf_.end(), buf, buf + n);
  return static_cast<int>(n);
}

std::optional<smpp::Pdu> RawClient::recv(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto fc = smpp::check_frame(buf_);
    if (fc.state == smpp::FrameState::Complete) {
      auto r = smpp::decode(std::span<const uint8_t>(buf_).first(fc.length));
      buf_.erase(buf_.begin(), buf_.begin() + fc.length);
      if (!r.ok()) return std::nullopt;
      return std::move(r).value();
    }
    if (fc.state != smpp::FrameState::NeedMore) return std::nullopt;
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return std::nullopt;
    if (read_some(left) <= 0) return std::nullopt;
  }
}

bool RawClient::wait_closed(std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) return false;
    int n = read_some(left);
    if (n == 0) return true;
    if (n < 0) return false;
    buf_.clear();
  }
}

std::optional<uint32_t> RawClient::bind(const std::string& system_id, const std::string& password,
                                        smpp::CommandId cmd) {
  smpp::BindRequest b;
  b.command_id = smpp::to_u32(cmd);
  b.system_id = system_id;
  b.password = password;
  if (!send(smpp::make_pdu(b, ++seq_))) return std::nullopt;
  auto resp = recv();
  if (!resp || resp->header.command_id != smpp::response_id(b.command_id)) return std::nullopt;
  return resp->header.command_status;
}

smpp::SubmitSm make_submit(const std::string& dest, const std::string& text, uint8_t rd) {
  smpp::SubmitSm sm;
  sm.source = smpp::Address{1, 1, "447700900000"};
  sm.dest = smpp::Address{1, 1, dest};
  sm.registered_delivery = rd;
  sm.short_message.assign(text.begin(), text.end());
  return sm;
}

}  // namespace sluice::test::sim
