// The router on a live ConfigStore: an operator's SQL change reroutes the
// next message without a restart. Needs the real PostgreSQL and Kafka.
#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <chrono>
#include <future>
#include <pqxx/pqxx>
#include <random>
#include <thread>

#include "config/config.h"
#include "kafka/admin.h"
#include "kafka/consumer.h"
#include "kafka/producer.h"
#include "routing/router.h"
#include "schema/topics.h"
#include "tests/routing/support.h"
#include "tests/support/env.h"

namespace sluice::routing {
namespace {

using namespace std::chrono_literals;

// A database of the test's own (the role may CREATE DATABASE), dropped after.
class PrivateDatabase {
 public:
  explicit PrivateDatabase(std::string admin) : admin_(std::move(admin)) {
    std::random_device rd;
    name_ = "sluice_routing_" + std::to_string(rd() % 1000000000);
    pqxx::connection c(admin_);
    pqxx::nontransaction tx(c);
    tx.exec("CREATE DATABASE " + name_);
    dsn_ = admin_ + " dbname=" + name_;
  }
  ~PrivateDatabase() {
    try {
      pqxx::connection c(admin_);
      pqxx::nontransaction tx(c);
      tx.exec("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      std::fprintf(stderr, "could not drop %s: %s\n", name_.c_str(), e.what());
    }
  }
  const std::string& dsn() const { return dsn_; }
  void exec(const std::string& sql) {
    pqxx::connection c(dsn_);
    pqxx::work tx(c);
    tx.exec(sql);
    tx.commit();
  }

 private:
  std::string admin_, name_, dsn_;
};

TEST(RouterOnPostgres, AnOperatorsSqlChangeReroutesTheNextMessage) {
  PrivateDatabase db(sluice::test::pg_dsn());
  config::migrate(db.dsn());
  db.exec(
      "INSERT INTO sluice.providers (id, name, host, port, system_id) VALUES "
      "(1, 'alpha', '127.0.0.1', 2775, 'a'), (2, 'beta', '127.0.0.1', 2776, 'b');"
      "INSERT INTO sluice.routes (prefix, provider_id, failover_order) VALUES ('', 1, 0), ('', 2, "
      "1);");

  config::StoreOptions so;
  so.dsn = db.dsn();
  auto store = std::make_shared<config::ConfigStore>(so);
  store->start();
  ASSERT_EQ(store->state(), config::State::live);

  kafka::KafkaOptions ko;
  ko.bootstrap = sluice::test::kafka_bootstrap();
  std::string prefix = sluice::test::unique_name("rtpg") + ".";
  auto specs = schema::topics(prefix);
  specs.push_back(schema::provider_topic(prefix, "alpha"));
  specs.push_back(schema::provider_topic(prefix, "beta"));
  std::vector<std::string> names;
  for (const auto& s : specs) names.push_back(s.name);
  ASSERT_TRUE(kafka::create_topics(ko, specs).empty());
  auto producer = std::make_shared<kafka::Producer>(ko);
  prometheus::Registry registry;
  RouterOptions ro;
  ro.topic_prefix = prefix;
  ro.health_topic = false;
  auto router = std::make_unique<RouterStage>(ko, producer, store, ro, registry);
  router->start();

  auto accept = [&](const std::string& id) {
    auto m = test::message(id, "447911123456");
    std::promise<bool> done;
    producer->produce({prefix + "sms.accepted", id, m.SerializeAsString(), {}},
                      [&](const kafka::DeliveryResult& r) { done.set_value(r.ok()); });
    ASSERT_TRUE(done.get_future().get());
  };
  kafka::KafkaOptions rko = ko;
  rko.extra["fetch.error.backoff.ms"] = "10";
  kafka::ConsumerOptions co;
  co.group_id = sluice::test::unique_name("reader");
  co.topics = {prefix + "sms.out.alpha", prefix + "sms.out.beta"};
  auto reader = std::make_unique<kafka::Consumer>(rko, co);
  auto next_topic = [&]() -> std::string {
    auto deadline = std::chrono::steady_clock::now() + 20s;
    while (std::chrono::steady_clock::now() < deadline)
      if (auto m = reader->poll(100ms)) return kafka::topic_of(m.get());
    return "";
  };

  accept("before");
  EXPECT_EQ(next_topic(), prefix + "sms.out.alpha");

  int64_t version = store->version();
  db.exec("UPDATE sluice.providers SET enabled = false WHERE name = 'alpha'");
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (store->version() == version && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(20ms);
  ASSERT_GT(store->version(), version) << "the change did not reach the store";
  accept("after");
  EXPECT_EQ(next_topic(), prefix + "sms.out.beta");

  reader.reset();
  router.reset();
  store->stop();
  producer.reset();
  kafka::delete_topics(ko, names);
}

}  // namespace
}  // namespace sluice::routing
