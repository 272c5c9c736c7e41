#include "tests/support/cluster.h"

#include <gtest/gtest.h>

#include <pqxx/pqxx>
#include <sstream>

#include "tests/support/env.h"

namespace sluice::test {

namespace {
std::string replace_dbname(const std::string& dsn, const std::string& db) {
  std::string out;
  std::istringstream in(dsn);
  std::string part;
  bool replaced = false;
  while (in >> part) {
    if (part.rfind("dbname=", 0) == 0) {
      part = "dbname=" + db;
      replaced = true;
    }
    out += (out.empty() ? "" : " ") + part;
  }
  if (!replaced) out += " dbname=" + db;
  return out;
}
}  // namespace

std::vector<std::string> esme_load_argv(uint16_t port, const std::string& system_id,
                                        const std::string& password,
                                        const std::vector<std::string>& flags) {
  std::vector<std::string> argv = {std::string(SLUICE_BINARY_DIR) + "/simulators/esme-load",
                                   "--port",
                                   std::to_string(port),
                                   "--system-id",
                                   system_id,
                                   "--password",
                                   password};
  argv.insert(argv.end(), flags.begin(), flags.end());
  argv.push_back("--json");
  return argv;
}

TestCluster::TestCluster(const std::string& kafka, int partitions) {
  admin_dsn_ = pg_dsn();
  kafka_ = kafka.empty() ? kafka_bootstrap() : kafka;
  db_ = unique_name("sluice_t");
  for (auto& c : db_) c = static_cast<char>(std::tolower(c));
  {
    pqxx::connection c(admin_dsn_);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + db_);
  }
  dsn_ = replace_dbname(admin_dsn_, db_);
  prefix_ = unique_name("t") + ".";
  dir_ = temp_dir("cluster");
  auto r = run(sluice_binary() + " db migrate --pg '" + dsn_ + "'");
  EXPECT_EQ(r.status, 0) << r.output;
  r = run(sluice_binary() + " topics --create --kafka " + kafka_ + " --topic-prefix " + prefix_ +
          (partitions > 0 ? " --partitions " + std::to_string(partitions) : std::string()));
  EXPECT_EQ(r.status, 0) << r.output;
}

TestCluster::~TestCluster() {
  try {
    pqxx::connection c(admin_dsn_);
    pqxx::nontransaction tx(c);
    tx.exec("DROP DATABASE IF EXISTS " + db_ + " WITH (FORCE)");
  } catch (...) {
  }
}

void TestCluster::add_customer(const std::string& system_id, const std::string& password,
                               const std::string& flags) {
  auto r = run_with_input(sluice_binary() + " customer add " + system_id +
                              " --password-stdin --pg '" + dsn_ + "' " + flags,
                          password + "\n");
  ASSERT_EQ(r.status, 0) << r.output;
}

void TestCluster::sql(const std::string& statement) {
  pqxx::connection c(dsn_);
  pqxx::work tx(c);
  tx.exec(statement);
  tx.commit();
}

void TestCluster::create_provider_topics(const std::vector<std::string>& names) {
  std::string list;
  for (const auto& n : names) list += (list.empty() ? "" : ",") + n;
  auto r = run(sluice_binary() + " topics --create --kafka " + kafka_ + " --topic-prefix " +
               prefix_ + " --provider " + list);
  EXPECT_EQ(r.status, 0) << r.output;
}

void TestCluster::add_provider(const std::string& name, uint16_t port, const std::string& password,
                               const std::string& flags, const std::string& route_prefix) {
  auto r = run_with_input(sluice_binary() + " provider add " + name + " --host 127.0.0.1 --port " +
                              std::to_string(port) + " --system-id sluice --password-stdin " +
                              flags + " --pg '" + dsn_ + "'",
                          password + "\n");
  ASSERT_EQ(r.status, 0) << r.output;
  sql("INSERT INTO sluice.routes (prefix, provider_id) SELECT '" + route_prefix +
      "', id FROM sluice.providers WHERE name = '" + name + "'");
  create_provider_topics({name});
}

std::unique_ptr<Process> TestCluster::start_smsc_sim(uint16_t port, uint16_t http,
                                                     const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {std::string(SLUICE_BINARY_DIR) + "/simulators/smsc-sim",
                                   "--listen",
                                   "127.0.0.1:" + std::to_string(port),
                                   "--http",
                                   "127.0.0.1:" + std::to_string(http),
                                   "--system-id",
                                   "sluice",
                                   "--password",
                                   "simpw",
                                   "--log-level",
                                   "warn"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return Process::start(argv, dir_ + "/sim-" + std::to_string(port) + ".log");
}

TestCluster::Stage TestCluster::start(const std::string& command, const std::string& node,
                                      const std::vector<std::string>& extra) {
  Stage s;
  s.http = free_port();
  s.smpp = free_port();
  std::vector<std::string> argv = {sluice_binary(),  command,
                                   "--kafka",        kafka_,
                                   "--pg",           dsn_,
                                   "--topic-prefix", prefix_,
                                   "--http",         "127.0.0.1:" + std::to_string(s.http),
                                   "--smpp",         "127.0.0.1:" + std::to_string(s.smpp),
                                   "--node",         node,
                                   "--state-dir",    dir_ + "/state-" + node};
  argv.insert(argv.end(), extra.begin(), extra.end());
  s.proc = Process::start(argv, dir_ + "/" + command + "-" + node + ".log");
  bool ready = wait_http_ok(s.http, "/readyz", std::chrono::seconds(60));
  EXPECT_TRUE(ready) << "sluice " << command << " not ready; log:\n" << s.proc->log();
  return s;
}

}  // namespace sluice::test
