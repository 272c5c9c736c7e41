#pragma once
// Child processes for tests that run the real binaries: start, wait for
// readiness, signal, and always reap (no test may leak a process).
#include <sys/types.h>

#include <chrono>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace sluice::test {

class Process {
 public:
  // stdout and stderr go to log_path. Extra environment entries are added.
  static std::unique_ptr<Process> start(const std::vector<std::string>& argv,
                                        const std::string& log_path,
                                        const std::map<std::string, std::string>& env = {});
  ~Process();
  pid_t pid() const { return pid_; }
  bool alive();
  // Sends sig and waits up to timeout; SIGKILL after that. Returns the exit
  // status (or 128+signal).
  int stop(int sig, std::chrono::milliseconds timeout = std::chrono::seconds(30));
  int wait(std::chrono::milliseconds timeout);
  std::string log() const;
  const std::string& log_path() const { return log_path_; }

 private:
  pid_t pid_ = -1;
  bool reaped_ = false;
  int status_ = -1;
  std::string log_path_;
};

struct RunResult {
  int status = -1;
  std::string output;
};
// Runs a shell command, capturing stdout and stderr together.
RunResult run(const std::string& command);
// Like run(), but with stdin fed from `input`.
RunResult run_with_input(const std::string& command, const std::string& input);

uint16_t free_port();
// GET http://127.0.0.1:port/path -> status code (0 when unreachable) and body.
int http_get(uint16_t port, const std::string& path, std::string* body = nullptr);
bool wait_http_ok(uint16_t port, const std::string& path, std::chrono::milliseconds timeout);
// A value of a metric line "name{labels} value" in Prometheus text, or -1.
double metric_value(const std::string& text, const std::string& name_with_labels);
std::string temp_dir(const std::string& stem);
std::string python();  // the interop venv's python
// A process's resident memory in KiB (VmRSS), or -1 when it is gone.
long rss_kib(pid_t pid);

}  // namespace sluice::test
