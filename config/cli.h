#pragma once
// Subcommands of the `sluice` binary that belong to the configuration store.
// Each takes the arguments after its own name, prints usage and returns 2 on a
// bad flag, and returns the process exit code.
#include <string>
#include <vector>

namespace sluice::config {

int run_db_command(const std::vector<std::string>& args);        // sluice db migrate|status
int run_config_command(const std::vector<std::string>& args);    // sluice config show|watch
int run_customer_command(const std::vector<std::string>& args);  // sluice customer add|passwd
int run_provider_command(const std::vector<std::string>& args);  // sluice provider add

}  // namespace sluice::config
