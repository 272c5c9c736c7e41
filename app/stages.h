#pragma once
// Wiring of the stages into one process: which stages a subcommand runs and
// the settings they share.
#include <cstddef>
#include <string>

namespace sluice::app {

struct StageSettings {
  std::string command;
  std::string kafka;  // bootstrap, or "mock"
  std::string pg_dsn;
  std::string http;
  std::string topic_prefix;
  std::string state_dir;
  std::string node;
  std::string smpp_listen;
  std::string smpp_tls_listen;
  std::string tls_cert;
  std::string tls_key;
  size_t status_entries = 1'000'000;  // messages whose state a gateway node remembers
  int kafka_linger_ms = -1;           // -1: the stage's own default
  int dlr_coalesce_ms = -1;           // -1: the DLR stage's default
  std::string provider_ca;            // extra CA file for providers' TLS certificates
};

bool is_stage(const std::string& command);
std::string stage_flags_help(const std::string& command);
int run_stages(const StageSettings& s);

}  // namespace sluice::app
