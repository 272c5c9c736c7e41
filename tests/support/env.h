#pragma once
// What tests need from their surroundings: the real services that
// scripts/test starts. A test that needs one fails (never skips) without it,
// so that CI cannot pass by not running it.
#include <string>

namespace sluice::test {

// SLUICE_TEST_KAFKA (host:port of the real broker).
std::string kafka_bootstrap();
// SLUICE_TEST_PG_DSN.
std::string pg_dsn();
// A name unique to this test run, for topic prefixes, groups and databases.
std::string unique_name(const std::string& stem);
// Path of the built `sluice` binary.
std::string sluice_binary();

}  // namespace sluice::test
