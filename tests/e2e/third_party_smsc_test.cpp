// The sender against an SMSC this project did not write (npm `smpp`): every
// message reaches it once, and its receipts (hex ids) come back as DLRs.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <thread>

#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

// tests/interop/node_smsc.js (npm `smpp`) taking system_id "sluice" with
// `password`; with a certificate and key, over TLS only.
std::unique_ptr<Process> start_node_smsc(const TestCluster& cluster, uint16_t port, uint16_t http,
                                         const std::string& password,
                                         const std::vector<std::string>& tls = {}) {
  std::vector<std::string> argv{"node",
                                std::string(SLUICE_SOURCE_DIR) + "/tests/interop/node_smsc.js",
                                std::to_string(port),
                                std::to_string(http),
                                "sluice",
                                password};
  argv.insert(argv.end(), tls.begin(), tls.end());
  return Process::start(argv, cluster.dir() + "/node-smsc.log");
}

TEST(ThirdPartySmsc, SenderDeliversToANodeSmppServerAndItsReceiptsComeBack) {
  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 100000 --max-binds 50");
  uint16_t port = free_port(), http = free_port();
  auto smsc = start_node_smsc(cluster, port, http, "nodepw");
  cluster.add_provider("nodesmsc", port, "nodepw", "--binds 1 --window 20 --mps 500");
  auto all = cluster.start("all", "n1");
  auto load = run(
      std::string(SLUICE_BINARY_DIR) + "/simulators/esme-load --port " + std::to_string(all.smpp) +
      " --system-id acme --password s3cret --count 300 --mix gsm7=100 --dlr-timeout 60 --json");
  auto j = nlohmann::json::parse(load.output.substr(load.output.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << load.output;
  std::string body;
  ASSERT_EQ(http_get(http, "/stats", &body), 200);
  auto s = nlohmann::json::parse(body);
  std::cout << "[ figure ] acknowledged=" << j["acknowledged"] << " smsc_submits=" << s["submits"]
            << " smsc_unique=" << s["unique"] << " dlr_matched=" << j["dlr"]["matched"] << "\n";
  EXPECT_EQ(j["acknowledged"], 300);
  EXPECT_EQ(s["unique"], 300) << "every message reached the SMSC\n--- n1\n" << all.proc->log();
  EXPECT_EQ(s["submits"], 300) << "and once";
  EXPECT_EQ(j["dlr"]["matched"], 300) << load.output;
  EXPECT_EQ(all.proc->stop(SIGTERM), 0) << all.proc->log();
  smsc->stop(SIGTERM);
}

// A provider with tls = true is reached over TLS, and its certificate must
// verify: against the CA given with --provider-ca, and for the provider's
// address. Before, the flag was stored and ignored, and the sender spoke
// plain SMPP (credentials included) to a TLS port.
std::string make_certificate(const std::string& dir, const std::string& san) {
  std::string cert = dir + "/smsc-cert.pem", key = dir + "/smsc-key.pem";
  auto gen =
      run("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=smsc -addext "
          "subjectAltName=" +
          san + " -keyout " + key + " -out " + cert + " 2>&1");
  EXPECT_EQ(gen.status, 0) << gen.output;
  return cert;
}

TEST(ThirdPartySmsc, SenderReachesATlsSmscWhoseCertificateVerifies) {
  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 100000 --max-binds 50");
  std::string cert = make_certificate(cluster.dir(), "IP:127.0.0.1");
  uint16_t port = free_port(), http = free_port();
  auto smsc =
      start_node_smsc(cluster, port, http, "nodepw", {cert, cluster.dir() + "/smsc-key.pem"});
  cluster.add_provider("tlssmsc", port, "nodepw", "--tls --binds 1 --window 20 --mps 500");
  auto all = cluster.start("all", "n1", {"--provider-ca", cert});
  auto load = run(
      std::string(SLUICE_BINARY_DIR) + "/simulators/esme-load --port " + std::to_string(all.smpp) +
      " --system-id acme --password s3cret --count 100 --mix gsm7=100 --dlr-timeout 60 --json");
  auto j = nlohmann::json::parse(load.output.substr(load.output.find('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << load.output;
  std::string body;
  ASSERT_EQ(http_get(http, "/stats", &body), 200);
  auto s = nlohmann::json::parse(body);
  EXPECT_EQ(j["acknowledged"], 100);
  EXPECT_GE(s["binds"], 1) << all.proc->log();
  EXPECT_EQ(s["unique"], 100) << "every message reached the SMSC over TLS\n--- n1\n"
                              << all.proc->log();
  EXPECT_EQ(j["dlr"]["matched"], 100) << load.output;
  EXPECT_EQ(all.proc->stop(SIGTERM), 0) << all.proc->log();
  smsc->stop(SIGTERM);
}

TEST(ThirdPartySmsc, SenderRefusesATlsSmscWhoseCertificateDoesNotVerify) {
  TestCluster cluster;
  // Trusted, but issued for another address; and, in the second run, not trusted.
  std::string wrong_host = make_certificate(cluster.dir(), "IP:10.9.9.9");
  uint16_t port = free_port(), http = free_port();
  auto smsc =
      start_node_smsc(cluster, port, http, "nodepw", {wrong_host, cluster.dir() + "/smsc-key.pem"});
  cluster.add_provider("tlssmsc", port, "nodepw", "--tls --binds 1");
  for (bool trusted : {true, false}) {
    std::vector<std::string> flags;
    if (trusted) flags = {"--provider-ca", wrong_host};
    auto all = cluster.start("all", trusted ? "n1" : "n2", flags);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
    while (all.proc->log().find("provider not bound") == std::string::npos &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::string log = all.proc->log();
    EXPECT_NE(log.find("provider not bound"), std::string::npos) << log;
    EXPECT_NE(log.find("certificate verify failed"), std::string::npos) << log;
    std::string body;
    ASSERT_EQ(http_get(http, "/stats", &body), 200);
    EXPECT_EQ(nlohmann::json::parse(body)["binds"], 0) << "no bind (and no password) sent";
    EXPECT_EQ(all.proc->stop(SIGTERM), 0) << log;
  }
  smsc->stop(SIGTERM);
}

}  // namespace
}  // namespace sluice::test
