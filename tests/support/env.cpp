#include "tests/support/env.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <random>

namespace sluice::test {
namespace {
std::string required(const char* name) {
  const char* v = std::getenv(name);
  if (!v || !*v) {
    ADD_FAILURE()
        << name
        << " is not set: run the tests through scripts/test, which starts the real services";
    return "127.0.0.1:1";
  }
  return v;
}
}  // namespace

std::string kafka_bootstrap() {
  return required("SLUICE_TEST_KAFKA");
}
std::string pg_dsn() {
  return required("SLUICE_TEST_PG_DSN");
}

std::string unique_name(const std::string& stem) {
  static std::atomic<int> counter{0};
  std::random_device rd;
  auto t = std::chrono::system_clock::now().time_since_epoch().count();
  return stem + "_" + std::to_string(getpid()) + "_" + std::to_string(t % 1000000007) + "_" +
         std::to_string(rd() % 100000) + "_" + std::to_string(counter++);
}

std::string sluice_binary() {
  return std::string(SLUICE_BINARY_DIR) + "/app/sluice";
}

}  // namespace sluice::test
