// The broker's raw produce rate for records like Sluice's: the same producer
// settings as the gateway (acks=all, idempotent, no compression; bench/ingress/run
// passes the gateway's linger, 1 ms), measured from the first send to the last
// acknowledgement. With --values-from sms.submit the values are copies of the
// gateway's own records (the benches send some through it first); without,
// one hand-built Message, smaller than most real ones.
// With --rate R the records are paced at R per second instead, and each
// one's send-to-acknowledgement latency is reported (p50/p99/max): the floor
// under the gateway's submit_sm_resp latency at the same rate.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "kafka/admin.h"
#include "kafka/producer.h"
#include "kafka/table_reader.h"
#include "schema/records.pb.h"
#include "schema/topics.h"

namespace {
// As many partitions as the gateway's sms.submit, so that the two compare
// like for like (each partition costs the broker per batch).
int submit_partitions() {
  for (const auto& t : sluice::schema::topics(""))
    if (t.name == "sms.submit") return t.partitions;
  return 6;
}

// Up to `want` record values from the start of every partition of `topic`:
// the gateway's own records, so that raw produce writes exactly what the
// gateway writes. The broker's cost per record grows with its size (69 more
// bytes a record cost raw produce a quarter of its rate here), so a record
// built by hand would flatter whichever side had the smaller one.
std::vector<std::string> sample_values(const sluice::kafka::KafkaOptions& ko,
                                       const std::string& topic, size_t want) {
  std::mutex mu;
  std::vector<std::string> values;
  sluice::kafka::TableReader reader(ko, topic, "bench-raw-produce-sample",
                                    [&](std::string_view, std::string_view value) {
                                      std::lock_guard lock(mu);
                                      if (!value.empty() && values.size() < want)
                                        values.emplace_back(value);
                                    });
  reader.start();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  auto enough = [&] {
    std::lock_guard lock(mu);
    return values.size() >= want;
  };
  while (!enough() && !reader.caught_up() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  reader.stop();
  return values;
}
}  // namespace

int main(int argc, char** argv) {
  std::string kafka = "127.0.0.1:19092", topic = "bench.raw";
  long count = 200000;
  long rate = 0;
  int partitions = submit_partitions();
  long in_flight = 100000;
  long linger_ms = -1;  // -1: the Producer's default, which the gateway uses too
  std::string values_from;
  bool any_partition = false;  // as the gateway places single-part messages
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto next = [&](const char* name) -> std::string {
      if (i + 1 >= argc) {
        std::fprintf(
            stderr, "usage: bench-raw-produce --kafka ADDR --topic T --count N\n%s needs a value\n",
            name);
        std::exit(2);
      }
      return argv[++i];
    };
    if (a == "--kafka")
      kafka = next("--kafka");
    else if (a == "--topic")
      topic = next("--topic");
    else if (a == "--count")
      count = std::atol(next("--count").c_str());
    else if (a == "--rate")
      rate = std::atol(next("--rate").c_str());
    else if (a == "--partitions")
      partitions = std::atoi(next("--partitions").c_str());
    else if (a == "--linger-ms")
      linger_ms = std::max(0L, std::atol(next("--linger-ms").c_str()));
    else if (a == "--values-from")
      values_from = next("--values-from");
    else if (a == "--any-partition")
      any_partition = true;
    else if (a == "--in-flight")
      in_flight = std::max(1L, std::atol(next("--in-flight").c_str()));
    else {
      std::fprintf(
          stderr,
          "usage: bench-raw-produce --kafka ADDR --topic T --count N [--partitions P] "
          "[--rate R] [--in-flight N] [--linger-ms MS] [--values-from TOPIC] [--any-partition]\n");
      return 2;
    }
  }
  sluice::kafka::KafkaOptions ko;
  ko.bootstrap = kafka;
  sluice::kafka::create_topics(ko, {{topic, partitions, 3600000, "delete"}});
  // Without --values-from: a Message with a 20-character text.
  sluice::records::v1::Message m;
  m.set_schema_version(1);
  m.set_id("01a2211e2a1762d2c3f24cd1dcc718cb");
  m.set_customer_message_id(m.id());
  m.set_customer_id(1);
  m.set_system_id("bench");
  m.mutable_source()->set_addr("12345");
  m.mutable_dest()->set_addr("447900000001");
  m.set_registered_delivery(1);
  m.set_short_message("benchmark message 01");
  m.set_submitted_at_ms(1795851838827);
  m.set_gateway_node("node");
  m.set_source_command(4);
  std::vector<std::string> values;
  if (!values_from.empty()) {
    values = sample_values(ko, values_from, 1000);
    if (values.empty()) {
      std::fprintf(stderr, "bench-raw-produce: no records to copy in %s\n", values_from.c_str());
      return 1;
    }
  } else {
    values.push_back(m.SerializeAsString());
  }
  size_t value_bytes = 0;
  for (const auto& v : values) value_bytes += v.size();
  value_bytes /= values.size();
  sluice::kafka::ProducerOptions po;
  if (linger_ms >= 0) po.linger = std::chrono::milliseconds(linger_ms);
  sluice::kafka::Producer producer(ko, po);
  std::atomic<long> acked{0}, failed{0};
  std::mutex mu;
  std::vector<double> latencies_ms;
  if (rate > 0) latencies_ms.reserve(static_cast<size_t>(count));
  auto t0 = std::chrono::steady_clock::now();
  for (long i = 0; i < count; ++i) {
    if (rate > 0) {
      // Paced like esme-load --rate: the i-th record leaves at t0 + i/rate.
      auto due = t0 + std::chrono::nanoseconds(i * 1'000'000'000LL / rate);
      std::this_thread::sleep_until(due);
    }
    for (;;) {
      // At most N unacknowledged, like sessions' windows together (100k by
      // default; the customers' binds x window to compare like with like).
      if (i - acked.load() - failed.load() < in_flight) break;
      std::this_thread::sleep_for(std::chrono::microseconds(100));
    }
    char key[48];
    std::snprintf(key, sizeof key, "%032ld", i);
    auto sent = std::chrono::steady_clock::now();
    sluice::kafka::Record rec{topic, key, values[static_cast<size_t>(i) % values.size()], {}};
    if (any_partition) rec.partition = sluice::kafka::kAnyPartition;
    producer.produce(rec, [&, sent](const sluice::kafka::DeliveryResult& r) {
      if (rate > 0) {
        double ms =
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - sent)
                .count();
        std::lock_guard lock(mu);
        latencies_ms.push_back(ms);
      }
      if (r.ok())
        ++acked;
      else
        ++failed;
    });
  }
  while (acked.load() + failed.load() < count)
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::string latency;
  if (rate > 0 && !latencies_ms.empty()) {
    std::sort(latencies_ms.begin(), latencies_ms.end());
    auto at = [&](double q) {
      return latencies_ms[std::min(
          latencies_ms.size() - 1,
          static_cast<size_t>(q * static_cast<double>(latencies_ms.size())))];
    };
    char buf[160];
    std::snprintf(buf, sizeof buf,
                  ", \"rate\": %ld, \"latency_ms\": {\"p50\": %.3f, \"p99\": %.3f, \"max\": %.3f}",
                  rate, at(0.50), at(0.99), latencies_ms.back());
    latency = buf;
  }
  std::printf(
      "{\"records\": %ld, \"failed\": %ld, \"bytes_per_record\": %zu, \"seconds\": %.3f, "
      "\"per_second\": %.0f%s}\n",
      acked.load(), failed.load(), value_bytes + 32, secs, acked.load() / secs, latency.c_str());
  sluice::kafka::delete_topics(ko, {topic});
  return failed.load() == 0 ? 0 : 1;
}
