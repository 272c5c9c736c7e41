// The customer-facing gateway, driven by third-party SMPP clients.
#include <gtest/gtest.h>

#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "kafka/consumer.h"
#include "schema/records.pb.h"
#include "tests/support/cluster.h"
#include "tests/support/env.h"

namespace sluice::test {
namespace {

class GatewayInterop : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    cluster_ = new TestCluster();
    cluster_->add_customer("acme", "s3cret", "--mps 1000000 --max-binds 1000");
    cluster_->add_customer("slow", "slowpw", "--mps 5");
    gw_ = new TestCluster::Stage(cluster_->start("gateway", "gw1"));
  }
  static void TearDownTestSuite() {
    if (gw_ && gw_->proc) {
      EXPECT_EQ(gw_->proc->stop(SIGTERM), 0) << gw_->proc->log();
    }
    delete gw_;
    delete cluster_;
  }

  nlohmann::json client(const std::string& scenario, const std::string& args) {
    auto r = run(python() + " " + SLUICE_SOURCE_DIR + "/tests/interop/smpplib_client.py " +
                 scenario + " --port " + std::to_string(gw_->smpp) + " " + args);
    EXPECT_EQ(r.status, 0) << r.output;
    // The report is the last line that starts with '{'.
    size_t start = std::string::npos;
    for (size_t pos = 0; pos < r.output.size();) {
      size_t end = r.output.find('\n', pos);
      if (end == std::string::npos) end = r.output.size();
      if (r.output[pos] == '{') start = pos;
      pos = end + 1;
    }
    if (start == std::string::npos) return nlohmann::json::object();
    auto j = nlohmann::json::parse(r.output.substr(start, r.output.find('\n', start) - start),
                                   nullptr, false);
    EXPECT_FALSE(j.is_discarded()) << r.output;
    return j.is_discarded() ? nlohmann::json::object() : j;
  }

  // Every Message record on the submit topic: id -> count.
  std::map<std::string, int> submitted_ids(size_t expect_at_least) {
    kafka::KafkaOptions ko;
    ko.bootstrap = cluster_->kafka();
    kafka::ConsumerOptions co;
    co.group_id = unique_name("check");
    co.topics = {cluster_->prefix() + "sms.submit"};
    kafka::Consumer c(ko, co);
    std::map<std::string, int> ids;
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    auto quiet_until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (std::chrono::steady_clock::now() < deadline) {
      auto m = c.poll(std::chrono::milliseconds(200));
      if (!m) {
        if (ids.size() >= expect_at_least && std::chrono::steady_clock::now() > quiet_until) break;
        continue;
      }
      records::v1::Message msg;
      EXPECT_TRUE(msg.ParseFromArray(m->payload, static_cast<int>(m->len)));
      ids[msg.id()]++;
      quiet_until = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    }
    c.close();
    return ids;
  }

  static TestCluster* cluster_;
  static TestCluster::Stage* gw_;
};
TestCluster* GatewayInterop::cluster_ = nullptr;
TestCluster::Stage* GatewayInterop::gw_ = nullptr;

TEST_F(GatewayInterop, SmpplibBindsAsTransmitterReceiverAndTransceiver) {
  auto j = client("bind-kinds", "--system-id acme --password s3cret");
  EXPECT_EQ(j["transmitter"], 0);
  EXPECT_EQ(j["receiver"], 0);
  EXPECT_EQ(j["transceiver"], 0);
}

TEST_F(GatewayInterop, WrongPasswordIsRefusedWithBindFail) {
  auto j = client("bad-password", "--system-id acme --password s3cret");
  EXPECT_EQ(j["status"], 0x0D);
  auto k = client("bad-password", "--system-id nosuchcustomer --password x");
  EXPECT_EQ(k["status"], 0x0D);
}

TEST_F(GatewayInterop, IngressAboveTheCustomersRateIsAnsweredWithThrottled) {
  auto j = client("submit", "--system-id slow --password slowpw --count 40 --window 40");
  EXPECT_EQ(j["answered"], 40);
  EXPECT_GE(j["ok_ids"].size(), 5u);
  EXPECT_GT(j["errors"].value(std::to_string(0x58), 0), 0) << j.dump();
  for (auto& [k, v] : j["errors"].items())
    EXPECT_EQ(k, std::to_string(0x58)) << "unexpected status " << k;
}

TEST_F(GatewayInterop, EveryAcknowledgedMessageIsInKafkaExactlyOnce) {
  auto j =
      client("submit", "--system-id acme --password s3cret --count 1500 --window 100 --tag once");
  ASSERT_EQ(j["answered"], 1500);
  std::set<std::string> acked;
  for (auto& id : j["ok_ids"]) acked.insert(id.get<std::string>());
  EXPECT_EQ(acked.size(), 1500u) << "every id unique, every submit acknowledged";
  for (const auto& id : acked) EXPECT_LE(id.size(), 64u);
  auto in_kafka = submitted_ids(acked.size());
  int missing = 0, dup = 0;
  for (const auto& id : acked) {
    auto it = in_kafka.find(id);
    if (it == in_kafka.end())
      ++missing;
    else if (it->second > 1)
      ++dup;
  }
  EXPECT_EQ(missing, 0) << "acknowledged but not in Kafka";
  EXPECT_EQ(dup, 0);
}

TEST_F(GatewayInterop, GarbageBytesGetGenericNackAndHarmNoOtherSession) {
  // A session that stays bound across the garbage.
  auto before = client("submit", "--system-id acme --password s3cret --count 20 --tag before");
  auto j = client("garbage", "");
  ASSERT_TRUE(j["nack"].is_array()) << j.dump();
  EXPECT_EQ(j["nack"][1], 0x80000000u);  // generic_nack
  EXPECT_EQ(j["nack"][2], 0x02);         // ESME_RINVCMDLEN
  EXPECT_EQ(j["nack"][3], 7);            // the offending sequence number
  EXPECT_TRUE(j["closed"]);
  ASSERT_TRUE(j["nack_short"].is_array());
  EXPECT_EQ(j["nack_short"][2], 0x02);
  auto after = client("submit", "--system-id acme --password s3cret --count 20 --tag after");
  EXPECT_EQ(after["ok_ids"].size(), 20u);
  EXPECT_TRUE(gw_->proc->alive());
}

TEST_F(GatewayInterop, AThousandConcurrentBindsAreServed) {
  // The python client holds its binds until its stdin closes.
  std::string out = cluster_->dir() + "/many.json";
  auto holder =
      Process::start({python(), std::string(SLUICE_SOURCE_DIR) + "/tests/interop/smpplib_client.py",
                      "many-binds", "--port", std::to_string(gw_->smpp), "--system-id", "acme",
                      "--password", "s3cret", "--count", "1000"},
                     out);
  // Wait for its report line.
  nlohmann::json j;
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(240);
  while (std::chrono::steady_clock::now() < deadline) {
    auto text = holder->log();
    auto pos = text.find("{\"bound\"");
    if (pos != std::string::npos && text.find('\n', pos) != std::string::npos) {
      j = nlohmann::json::parse(text.substr(pos, text.find('\n', pos) - pos), nullptr, false);
      break;
    }
    ASSERT_TRUE(holder->alive()) << text;
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
  }
  ASSERT_TRUE(j.is_object()) << holder->log();
  EXPECT_EQ(j["bound"], 1000);
  EXPECT_EQ(j["failures"], 0);
  EXPECT_GT(j["sample_ok"], 0);
  std::string metrics;
  ASSERT_EQ(http_get(gw_->http, "/metrics", &metrics), 200);
  EXPECT_GE(metric_value(metrics, "sluice_gateway_binds{bind_type=\"transmitter\"}"), 1000);
  holder->stop(SIGKILL);
}

TEST_F(GatewayInterop, NodeSmppClientSubmitsAndGetsAnId) {
  auto r = run("node " + std::string(SLUICE_SOURCE_DIR) + "/tests/interop/node_client.js " +
               std::to_string(gw_->smpp) + " acme s3cret");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("submit_sm_resp status=0 id="), std::string::npos) << r.output;
}

// Debian's libnet-smpp-perl, a third client implementation, in its
// synchronous mode (it reads each response before sending the next request).
TEST_F(GatewayInterop, PerlNetSmppBindsSubmitsAndUnbinds) {
  auto r = run("perl " + std::string(SLUICE_SOURCE_DIR) + "/tests/interop/perl_client.pl " +
               std::to_string(gw_->smpp) + " acme s3cret 50");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.rfind('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.output;
  std::cout << "[ figure ] net-smpp: " << j.dump() << "\n";
  EXPECT_EQ(j["transmitter"], 0) << r.output;
  EXPECT_EQ(j["receiver"], 0) << r.output;
  EXPECT_EQ(j["transceiver"], 0) << r.output;
  EXPECT_EQ(j["bad_password"], 0x0D) << r.output;
  EXPECT_EQ(j["ok"], 50) << r.output;
  EXPECT_EQ(j["unique_ids"], 50) << r.output;
  EXPECT_LE(j["longest_id"], 64) << r.output;
  EXPECT_EQ(j["errors"], "") << r.output;
  EXPECT_EQ(j["enquire_link"], 0) << r.output;
  EXPECT_EQ(j["unbind"], 0) << r.output;
}

TEST(GatewayTls, BindsAndAnswersOverTlsWhenACertificateIsConfigured) {
  TestCluster cluster;
  cluster.add_customer("acme", "s3cret", "--mps 1000 --max-binds 10");
  std::string cert = cluster.dir() + "/cert.pem", key = cluster.dir() + "/key.pem";
  auto gen = run("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -keyout " +
                 key + " -out " + cert);
  ASSERT_EQ(gen.status, 0) << gen.output;
  uint16_t tls_port = free_port();
  auto gw = cluster.start("gateway", "tls1",
                          {"--tls-cert", cert, "--tls-key", key, "--smpp-tls",
                           "127.0.0.1:" + std::to_string(tls_port)});
  auto r =
      run(python() + " " + SLUICE_SOURCE_DIR + "/tests/interop/smpplib_client.py tls-bind --port " +
          std::to_string(tls_port) + " --system-id acme --password s3cret");
  ASSERT_EQ(r.status, 0) << r.output;
  auto j = nlohmann::json::parse(r.output.substr(r.output.rfind('{')), nullptr, false);
  ASSERT_FALSE(j.is_discarded()) << r.output;
  EXPECT_EQ(j["bind_cmd"], 0x80000009u);
  EXPECT_EQ(j["bind_status"], 0);
  EXPECT_EQ(j["enquire_cmd"], 0x80000015u);
  EXPECT_EQ(gw.proc->stop(SIGTERM), 0) << gw.proc->log();
}

}  // namespace
}  // namespace sluice::test
