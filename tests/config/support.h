#pragma once
// Test support for the configuration store: a private database per fixture, a
// private PostgreSQL server for outage tests, and child processes whose stdout
// lines the tests wait on.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <filesystem>
#include <fstream>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <pqxx/pqxx>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace sluice::test {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

inline std::string random_hex(std::size_t n) {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex mu;
  std::lock_guard lock(mu);
  const char* digits = "0123456789abcdef";
  std::string s;
  for (std::size_t i = 0; i < n; ++i) s += digits[rng() % 16];
  return s;
}

inline std::string slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream b;
  b << in.rdbuf();
  return b.str();
}

// A fresh directory under /tmp, readable by the postgres user (the private
// server's data lives below it), removed at the end.
class TempDir {
 public:
  TempDir() {
    path_ = "/tmp/sluice-config-test-" + random_hex(12);
    std::filesystem::create_directories(path_);
    ::chmod(path_.c_str(), 0755);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::string& path() const { return path_; }
  std::string operator/(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

struct RunResult {
  int rc = -1;
  std::string out, err;
};

// Runs argv to completion, feeding it `input` on stdin.
inline RunResult run(const std::vector<std::string>& argv, const std::string& input = "",
                     const std::vector<std::string>& env = {}) {
  int in[2], out[2], err[2];
  if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
    throw std::runtime_error("pipe");
  pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(in[0], 0);
    ::dup2(out[1], 1);
    ::dup2(err[1], 2);
    for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  ::close(in[0]);
  ::close(out[1]);
  ::close(err[1]);
  RunResult r;
  std::thread writer([&] {
    std::size_t off = 0;
    while (off < input.size()) {
      ssize_t n = ::write(in[1], input.data() + off, input.size() - off);
      if (n <= 0) break;
      off += static_cast<std::size_t>(n);
    }
    ::close(in[1]);
  });
  auto drain = [](int fd, std::string& into) {
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) into.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
  };
  std::thread e([&] { drain(err[0], r.err); });
  drain(out[0], r.out);
  e.join();
  writer.join();
  int status = 0;
  ::waitpid(pid, &status, 0);
  r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return r;
}

inline RunResult psql(const std::string& dsn, const std::string& sql) {
  return run({"psql", dsn, "-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1", "-c", sql});
}

// Env SLUICE_TEST_PG_DSN, failing the test when it is missing.
inline std::string test_dsn() {
  const char* d = std::getenv("SLUICE_TEST_PG_DSN");
  if (!d || !*d) {
    ADD_FAILURE()
        << "SLUICE_TEST_PG_DSN is not set: these tests need the real PostgreSQL "
           "(scripts/postgres start; export SLUICE_TEST_PG_DSN=\"$(scripts/postgres dsn)\")";
    return {};
  }
  return d;
}

// A database of its own, so that tests never see each other's rows. Needs a
// key=value DSN whose role may CREATE DATABASE.
class TempDatabase {
 public:
  explicit TempDatabase(std::string admin_dsn) : admin_(std::move(admin_dsn)) {
    name_ = "sluice_test_" + random_hex(12);
    pqxx::connection c(admin_);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + name_);
    // A later keyword overrides an earlier one in a libpq connection string.
    dsn_ = admin_ + " dbname=" + name_;
  }
  ~TempDatabase() {
    try {
      pqxx::connection c(admin_);
      pqxx::nontransaction tx(c);
      tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "could not drop %s: %s\n", name_.c_str(), e.what());
    }
  }
  const std::string& dsn() const { return dsn_; }
  const std::string& name() const { return name_; }

 private:
  std::string admin_, name_, dsn_;
};

inline bool port_free(int port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

// A PostgreSQL server of the test's own, started with the project's script on
// a port of 15500-15599 and a run directory of its own, so stopping it
// disturbs nobody else.
class PrivatePostgres {
 public:
  PrivatePostgres() {
    std::mt19937 rng{std::random_device{}()};
    for (int attempt = 0; attempt < 8; ++attempt) {
      int port = 15500 + static_cast<int>(rng() % 100);
      if (!port_free(port)) continue;
      port_ = port;
      auto r = script("start");
      if (r.rc == 0) {
        running_ = true;
        return;
      }
      last_error_ = r.err;
    }
    throw std::runtime_error("could not start a private PostgreSQL: " + last_error_);
  }
  ~PrivatePostgres() {
    if (running_) script("stop");
  }
  std::string dsn() const {
    return "host=127.0.0.1 port=" + std::to_string(port_) +
           " dbname=sluice user=sluice password=sluice";
  }
  void stop() {
    auto r = script("stop");
    if (r.rc != 0) throw std::runtime_error("postgres stop failed: " + r.err);
    running_ = false;
  }
  void start() {
    auto r = script("start");
    if (r.rc != 0) throw std::runtime_error("postgres start failed: " + r.err);
    running_ = true;
  }

 private:
  RunResult script(const std::string& cmd) {
    return run({std::string(SLUICE_SOURCE_DIR) + "/scripts/postgres", cmd}, "",
               {"SLUICE_RUN_DIR=" + dir_.path(), "SLUICE_PG_PORT=" + std::to_string(port_),
                "SLUICE_PG_DSN=" + dsn()});
  }
  TempDir dir_;
  int port_ = 0;
  bool running_ = false;
  std::string last_error_;
};

// A child process whose stdout lines are collected (parsed as JSON when they
// are) and whose stderr is kept whole.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int in[2], out[2], err[2];
    if (::pipe2(in, O_CLOEXEC) || ::pipe2(out, O_CLOEXEC) || ::pipe2(err, O_CLOEXEC))
      throw std::runtime_error("pipe");
    pid_ = ::fork();
    if (pid_ == 0) {
      ::dup2(in[0], 0);
      ::dup2(out[1], 1);
      ::dup2(err[1], 2);
      std::vector<char*> args;
      for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
      args.push_back(nullptr);
      ::execv(args[0], args.data());
      _exit(127);
    }
    ::close(in[0]);
    ::close(out[1]);
    ::close(err[1]);
    stdin_ = in[1];
    out_thread_ = std::thread([this, fd = out[0]] { read_lines(fd); });
    err_thread_ = std::thread([this, fd = err[0]] {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) {
        std::lock_guard lock(mu_);
        err_.append(buf, static_cast<std::size_t>(n));
      }
      ::close(fd);
    });
  }
  ~Child() {
    if (pid_ > 0 && !exited_) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
    }
    if (stdin_ >= 0) ::close(stdin_);
    if (out_thread_.joinable()) out_thread_.join();
    if (err_thread_.joinable()) err_thread_.join();
  }

  void send(const std::string& line) {
    std::string l = line + "\n";
    ASSERT_EQ(::write(stdin_, l.data(), l.size()), static_cast<ssize_t>(l.size()));
  }

  // Waits for a JSON line at or after the cursor that satisfies pred; the
  // cursor moves past it, so successive waits see successive lines.
  std::optional<nlohmann::json> wait_for(const std::function<bool(const nlohmann::json&)>& pred,
                                         std::chrono::milliseconds timeout) {
    std::unique_lock lock(mu_);
    auto deadline = Clock::now() + timeout;
    for (;;) {
      while (cursor_ < lines_.size()) {
        const auto& l = lines_[cursor_++];
        if (l.is_object() && pred(l)) return l;
      }
      if (cv_.wait_until(lock, deadline) == std::cv_status::timeout && cursor_ >= lines_.size())
        return std::nullopt;
    }
  }

  // Sends a command and returns its answer (a line whose "event" is event).
  std::optional<nlohmann::json> ask(const std::string& command, const std::string& event,
                                    std::chrono::milliseconds timeout = 5s) {
    send(command);
    return wait_for([&](const nlohmann::json& j) { return j.value("event", "") == event; },
                    timeout);
  }

  bool alive() {
    if (exited_) return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      exited_ = true;
      return false;
    }
    return true;
  }

  int terminate(std::chrono::milliseconds grace = 10s) {
    if (exited_) return 0;
    ::kill(pid_, SIGTERM);
    auto deadline = Clock::now() + grace;
    int status = 0;
    while (Clock::now() < deadline) {
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        exited_ = true;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      std::this_thread::sleep_for(20ms);
    }
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, &status, 0);
    exited_ = true;
    return -1;
  }

  std::string all_output() {
    std::lock_guard lock(mu_);
    return raw_out_ + err_;
  }
  std::string stderr_text() {
    std::lock_guard lock(mu_);
    return err_;
  }

 private:
  void read_lines(int fd) {
    std::string partial;
    char buf[4096];
    ssize_t n;
    while ((n = ::read(fd, buf, sizeof buf)) > 0) {
      std::lock_guard lock(mu_);
      raw_out_.append(buf, static_cast<std::size_t>(n));
      partial.append(buf, static_cast<std::size_t>(n));
      std::size_t nl;
      while ((nl = partial.find('\n')) != std::string::npos) {
        std::string line = partial.substr(0, nl);
        partial.erase(0, nl + 1);
        lines_.push_back(nlohmann::json::parse(line, nullptr, false));
      }
      cv_.notify_all();
    }
    ::close(fd);
  }

  pid_t pid_ = -1;
  bool exited_ = false;
  int stdin_ = -1;
  std::thread out_thread_, err_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<nlohmann::json> lines_;
  std::size_t cursor_ = 0;
  std::string raw_out_, err_;
};

inline std::function<bool(const nlohmann::json&)> is_event(const std::string& event) {
  return [event](const nlohmann::json& j) { return j.value("event", "") == event; };
}

inline std::function<bool(const nlohmann::json&)> is_state(const std::string& state) {
  return [state](const nlohmann::json& j) {
    return j.value("event", "") == "state" && j.value("state", "") == state;
  };
}

inline std::function<bool(const nlohmann::json&)> snapshot_after(int64_t version) {
  return [version](const nlohmann::json& j) {
    return j.value("event", "") == "snapshot" && j.value("version", int64_t{0}) > version;
  };
}

// `sluice config watch` on dsn with its cache file.
inline std::unique_ptr<Child> watch(const std::string& dsn, const std::string& cache) {
  return std::make_unique<Child>(
      std::vector<std::string>{SLUICE_BIN, "config", "watch", "--pg", dsn, "--cache", cache});
}

}  // namespace sluice::test
