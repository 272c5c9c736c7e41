#pragma once
// What the simulator tests need: child processes with captured output, a
// blocking HTTP GET/POST, and a raw SMPP client for the cases esme-load does
// not cover (garbage, wrong passwords, exact ids).
#include <sys/types.h>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "smpp/pdu.h"

namespace sluice::test::sim {

using namespace std::chrono_literals;

class Subprocess {
 public:
  explicit Subprocess(std::vector<std::string> argv);
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  void signal(int sig);
  // Exit code, 128 + signal when killed, nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  std::string out() const;
  std::string err() const;
  // The text of stderr once it contains needle. (No std::regex: with the
  // sanitizers, gcc 12 warns inside <regex> and -Werror stops the build.)
  std::optional<std::string> wait_for_err(const std::string& needle,
                                          std::chrono::milliseconds timeout);

 private:
  void drain(int fd, std::string& into);
  pid_t pid_ = -1;
  std::optional<int> status_;
  mutable std::mutex mu_;
  std::condition_variable cv_;
  std::string out_, err_;
  std::thread out_thread_, err_thread_;
};

struct RunResult {
  int code = -1;
  std::string out, err;
  nlohmann::json json;  // stdout parsed when it is JSON
};

// Runs a tool to completion (killing it after timeout).
RunResult run(std::vector<std::string> argv, std::chrono::milliseconds timeout = 20s);

std::string smsc_sim_path();
std::string esme_load_path();

// smsc-sim on free ports.
class SimProcess {
 public:
  explicit SimProcess(std::vector<std::string> extra = {});
  uint16_t port() const { return port_; }
  uint16_t http_port() const { return http_port_; }
  Subprocess& process() { return *proc_; }
  nlohmann::json stats();
  // Returns the body; status in *code when given.
  std::string http(const std::string& method, const std::string& target, int* code = nullptr);
  // esme-load against this simulator with --json.
  RunResult load(std::vector<std::string> args, std::chrono::milliseconds timeout = 20s);

 private:
  std::unique_ptr<Subprocess> proc_;
  uint16_t port_ = 0, http_port_ = 0;
};

std::string http_request(uint16_t port, const std::string& method, const std::string& target,
                         int* code = nullptr);

class RawClient {
 public:
  explicit RawClient(uint16_t port);
  ~RawClient();
  bool connected() const { return fd_ >= 0; }
  bool send(const smpp::Pdu& pdu);
  bool send_bytes(std::span<const uint8_t> bytes);
  // The next PDU; nullopt on timeout, close or an undecodable frame.
  std::optional<smpp::Pdu> recv(std::chrono::milliseconds timeout = 3s);
  // True when the peer closes within timeout (PDUs before the close are skipped).
  bool wait_closed(std::chrono::milliseconds timeout = 3s);
  // bind_transceiver (or the given command) and the response status.
  std::optional<uint32_t> bind(const std::string& system_id, const std::string& password,
                               smpp::CommandId cmd = smpp::CommandId::BindTransceiver);

 private:
  int read_some(std::chrono::milliseconds timeout);  // >0 bytes, 0 closed, -1 timeout
  int fd_ = -1;
  uint32_t seq_ = 0;
  std::vector<uint8_t> buf_;
};

smpp::SubmitSm make_submit(const std::string& dest, const std::string& text, uint8_t rd = 1);

}  // namespace sluice::test::sim
