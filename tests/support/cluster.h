#pragma once
// A throwaway Sluice deployment for a test: a private PostgreSQL database
// (migrated), a private topic prefix on the real broker, and stage processes
// of the real `sluice` binary.
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "tests/support/process.h"

namespace sluice::test {

// The command line of simulators/esme-load binding to a gateway's SMPP port
// on 127.0.0.1 as `system_id`, followed by `flags` ("--count", "N", ...) and
// --json (its report on stdout).
std::vector<std::string> esme_load_argv(uint16_t port, const std::string& system_id,
                                        const std::string& password,
                                        const std::vector<std::string>& flags);

class TestCluster {
 public:
  // Creates database and topics; `kafka` overrides the shared test broker,
  // `partitions` (when not 0) the partitions of the topics that scale.
  explicit TestCluster(const std::string& kafka = "", int partitions = 0);
  ~TestCluster();

  const std::string& dsn() const { return dsn_; }
  const std::string& prefix() const { return prefix_; }
  const std::string& kafka() const { return kafka_; }
  const std::string& dir() const { return dir_; }

  // `sluice customer add` with extra flags; fails the test on error.
  void add_customer(const std::string& system_id, const std::string& password,
                    const std::string& flags = "");
  // Plain SQL through libpqxx.
  void sql(const std::string& statement);
  // Creates the provider topic(s) too.
  void create_provider_topics(const std::vector<std::string>& names);
  // `sluice provider add NAME` for an SMSC on 127.0.0.1:port that takes
  // system_id "sluice" with `password`, plus `flags`; then a route for
  // `route_prefix` ("" routes everything) and the provider's topic. Fails
  // the test on error.
  void add_provider(const std::string& name, uint16_t port, const std::string& password,
                    const std::string& flags, const std::string& route_prefix = "");
  // simulators/smsc-sim on 127.0.0.1:port (control endpoint on `http`),
  // taking system_id "sluice" / "simpw", with `extra` flags.
  std::unique_ptr<Process> start_smsc_sim(uint16_t port, uint16_t http,
                                          const std::vector<std::string>& extra = {});

  struct Stage {
    std::unique_ptr<Process> proc;
    uint16_t http = 0;
    uint16_t smpp = 0;
  };
  // Starts `sluice <command>` with this cluster's settings and waits for /readyz.
  Stage start(const std::string& command, const std::string& node,
              const std::vector<std::string>& extra = {});

 private:
  std::string admin_dsn_, db_, dsn_, prefix_, kafka_, dir_;
};

}  // namespace sluice::test
