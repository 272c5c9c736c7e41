// The DLR join without Kafka: records go in as the sender would key them
// (schema::pid), outputs are collected, and sms.dlr-state is modelled as a map
// (a compacted topic) from which a restart restores.
#include "dlr/correlator.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>

#include <map>

#include "schema/receipts.h"
#include "tests/dlr/fixtures.h"

namespace sluice::dlr {
namespace {

using namespace test;
constexpr int32_t kPartitions = 12;

int32_t partition_of(const std::string& key) {
  uint32_t h = 2166136261u;
  for (unsigned char c : key) h = (h ^ c) * 16777619u;
  return static_cast<int32_t>(h % kPartitions);
}

struct Harness {
  explicit Harness(CorrelatorOptions o = {}) : opts(o) { reset(); }

  void reset() {
    c = std::make_unique<DlrCorrelator>(
        opts, [this]() -> std::shared_ptr<const config::Snapshot> { return snap; }, &metrics);
  }
  void take(Output o) {
    for (auto& d : o.delivers) delivers.push_back(std::move(d));
    for (auto& p : o.parts) parts.push_back(std::move(p));
    for (auto& s : o.statuses) statuses.push_back(std::move(s));
    for (auto& w : o.state) {
      if (w.value)
        log.insert_or_assign({w.partition, w.key}, *w.value);
      else
        log.erase({w.partition, w.key});
    }
  }
  // As the sender writes it: one record per key, a refused submit once.
  void send(const rec::Sent& s) {
    auto keys = pid::sent_keys(s.provider_id(), s.provider_message_id());
    if (s.command_status() != 0) keys.resize(1);
    for (const auto& k : keys) take(c->on_sent(partition_of(k), k, s, now));
  }
  void report(const rec::ProviderDeliver& pd) {
    auto k = pid::receipt_key(pd.provider_id(), pd.provider_message_id());
    take(c->on_receipt(partition_of(k), k, pd, now));
  }
  // sms.dlr-parts round trip.
  void pump_parts() {
    auto pending = std::move(parts);
    parts.clear();
    for (auto& [gk, st] : pending) take(c->on_part(partition_of(gk), gk, st, now));
  }
  void advance(std::chrono::milliseconds d) {
    now += d.count();
    take(c->tick(now));
  }
  // A new instance that reads sms.dlr-state back.
  void restart() {
    reset();
    for (const auto& [pk, st] : log) {
      auto domain = DlrCorrelator::is_join_key(pk.second) ? DlrCorrelator::Domain::join
                                                          : DlrCorrelator::Domain::parts;
      EXPECT_TRUE(c->restore(domain, pk.first, pk.second, st, now)) << pk.second;
    }
  }
  double value(const std::string& name, const std::map<std::string, std::string>& labels = {}) {
    for (const auto& fam : registry.Collect()) {
      if (fam.name != name) continue;
      for (const auto& m : fam.metric) {
        std::map<std::string, std::string> have;
        for (const auto& l : m.label) have[l.name] = l.value;
        bool ok = true;
        for (const auto& [k, v] : labels) ok = ok && have[k] == v;
        if (ok) return m.counter.value + m.gauge.value;
      }
    }
    return 0;
  }
  std::vector<rec::Deliver> receipts_for(const std::string& id) const {
    std::vector<rec::Deliver> out;
    for (const auto& d : delivers)
      if (d.is_receipt() && d.id() == id) out.push_back(d);
    return out;
  }

  CorrelatorOptions opts;
  prometheus::Registry registry;
  DlrMetrics metrics{registry};
  std::shared_ptr<config::Snapshot> snap = make_snapshot();
  std::unique_ptr<DlrCorrelator> c;
  std::map<std::pair<int32_t, std::string>, rec::DlrState> log;
  std::vector<rec::Deliver> delivers;
  std::vector<std::pair<std::string, rec::DlrState>> parts;
  std::vector<rec::Status> statuses;
  int64_t now = kT0;
};

TEST(Correlator, SentThenReceiptGivesOneReceiptToTheCustomer) {
  Harness h;
  h.send(make_sent("m1", "ABC123"));
  EXPECT_TRUE(h.delivers.empty());
  EXPECT_EQ(h.c->entries(), 1u);
  h.now += 2000;
  h.report(make_receipt("abc123", "DELIVRD", kProvider, h.now));
  auto got = h.receipts_for("m1");
  ASSERT_EQ(got.size(), 1u);
  const auto& d = got[0];
  EXPECT_EQ(d.customer_id(), 1);
  EXPECT_EQ(d.message_state(), schema::kStateDelivered);
  EXPECT_EQ(d.stat(), "DELIVRD");
  EXPECT_EQ(d.err(), "000");
  EXPECT_EQ(d.esm_class(), 0x04u);
  EXPECT_EQ(d.source().addr(), "447700900123");  // from the destination back to the source
  EXPECT_EQ(d.source().ton(), 1u);
  EXPECT_EQ(d.dest().addr(), "ACME");
  EXPECT_EQ(d.submitted_at_ms(), kT0 - 5000);
  EXPECT_EQ(d.done_at_ms(), kT0 + 2000);
  EXPECT_EQ(d.text_head(), "hello world");
  EXPECT_GT(d.expire_at_ms(), h.now);
  // query_sm learns that the message went to the provider, then its end.
  ASSERT_EQ(h.statuses.size(), 2u);
  EXPECT_EQ(h.statuses[0].id(), "m1");
  EXPECT_EQ(h.statuses[0].where(), "sent");
  EXPECT_EQ(h.statuses[0].message_state(), schema::kStateEnroute);
  EXPECT_EQ(h.statuses[1].id(), "m1");
  EXPECT_EQ(h.statuses[1].where(), "final");
  EXPECT_EQ(h.statuses[1].message_state(), schema::kStateDelivered);
  EXPECT_EQ(h.statuses[1].final_at_ms(), kT0 + 2000);
  EXPECT_EQ(h.statuses[1].error_code(), 0u);  // err:000
  EXPECT_EQ(h.value("sluice_dlr_receipts_total", {{"stat", "DELIVRD"}}), 1);
  // The entry stays (done) for done_linger, then leaves memory and the topic.
  EXPECT_EQ(h.log.size(), 1u);
  EXPECT_TRUE(h.log.begin()->second.done());
  h.advance(h.opts.done_linger + std::chrono::seconds(1));
  EXPECT_EQ(h.c->entries(), 0u);
  EXPECT_TRUE(h.log.empty());
}

TEST(Correlator, FinalStatusCarriesTheReceiptsErrorCodeForQuerySm) {
  Harness h;
  h.send(make_sent("m9", "ABC999"));
  h.report(make_receipt("abc999", "UNDELIV", kProvider, h.now + 1000));  // err:034
  ASSERT_EQ(h.statuses.size(), 2u);
  EXPECT_EQ(h.statuses[1].where(), "final");
  EXPECT_EQ(h.statuses[1].message_state(), schema::kStateUndeliverable);
  EXPECT_EQ(h.statuses[1].error_code(), 34u);
}

TEST(Correlator, ReceiptBeforeSentIsHeldThenMatched) {
  Harness h;
  h.report(make_receipt("77001", "UNDELIV"));
  EXPECT_TRUE(h.delivers.empty());
  EXPECT_EQ(h.c->entries(), 1u);
  ASSERT_EQ(h.log.size(), 1u);
  EXPECT_TRUE(h.log.begin()->second.has_early_receipt());
  h.advance(std::chrono::seconds(3));
  h.send(make_sent("m2", "0077001"));
  auto got = h.receipts_for("m2");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].stat(), "UNDELIV");
  EXPECT_EQ(got[0].err(), "034");
  EXPECT_EQ(got[0].done_at_ms(), kT0);  // when the provider reported it, not when it matched
  EXPECT_EQ(h.value("sluice_dlr_unmatched_total"), 0);
  // The held receipt is gone from the topic; only the done Sent copies remain.
  for (const auto& [pk, st] : h.log) EXPECT_FALSE(st.has_early_receipt()) << pk.second;
}

TEST(Correlator, AnIntermediateWaitingGivesWayToTheFinal) {
  Harness h;
  h.report(make_receipt("8801", "ENROUTE"));
  h.advance(std::chrono::minutes(5));
  h.report(make_receipt("8801", "DELIVRD"));
  EXPECT_EQ(h.c->entries(), 1u);
  // The hold runs from the final's arrival: still waiting at the first one's deadline.
  h.advance(std::chrono::minutes(6));
  EXPECT_EQ(h.value("sluice_dlr_unmatched_total"), 0);
  h.send(make_sent("m10", "8801"));
  ASSERT_EQ(h.receipts_for("m10").size(), 1u);
  EXPECT_EQ(h.receipts_for("m10")[0].stat(), "DELIVRD");
}

TEST(Correlator, UnmatchedReceiptIsCountedAfterTheHold) {
  Harness h;
  h.report(make_receipt("999", "DELIVRD"));
  h.advance(h.opts.unmatched_hold - std::chrono::seconds(1));
  EXPECT_EQ(h.value("sluice_dlr_unmatched_total"), 0);
  EXPECT_EQ(h.c->entries(), 1u);
  h.advance(std::chrono::seconds(2));
  EXPECT_EQ(h.value("sluice_dlr_unmatched_total"), 1);
  EXPECT_EQ(h.c->entries(), 0u);
  EXPECT_TRUE(h.log.empty());
  // A Sent after that finds nothing waiting.
  h.send(make_sent("m3", "999"));
  EXPECT_TRUE(h.delivers.empty());
}

TEST(Correlator, HexAnswerDecimalReceiptWaitsUntilTheHabitIsLearnt) {
  Harness h;
  // Unknown habit: a differently spelt match waits cross_wait for a Sent with
  // the same spelling, which would be the better match.
  h.send(make_sent("m4", "0000A1B2"));
  h.report(make_receipt("41394", "DELIVRD"));
  EXPECT_TRUE(h.delivers.empty());
  h.advance(h.opts.cross_wait + std::chrono::seconds(1));
  ASSERT_EQ(h.receipts_for("m4").size(), 1u);

  // Digits-only hex answers are found through their second key.
  h.send(make_sent("m5", "00001234"));
  h.report(make_receipt("4660", "DELIVRD"));
  h.advance(h.opts.cross_wait + std::chrono::seconds(1));
  ASSERT_EQ(h.receipts_for("m5").size(), 1u);

  // Once learnt, no more waiting; and the useless copy of a digits-only answer is not kept.
  for (int i = 0; i < h.opts.learn_min; ++i) {
    h.send(make_sent("l" + std::to_string(i), "FFAA" + std::to_string(1000 + i)));
    h.report(make_receipt(pid::hex_to_dec("ffaa" + std::to_string(1000 + i)), "DELIVRD"));
    h.advance(h.opts.cross_wait + std::chrono::seconds(1));
  }
  ASSERT_EQ(h.c->convention(kProvider), pid::Relation::hex_to_dec);
  size_t before = h.c->entries();
  h.send(make_sent("m6", "00005678"));
  EXPECT_EQ(h.c->entries(), before + 1);
  h.report(make_receipt(pid::hex_to_dec("5678"), "DELIVRD"));
  ASSERT_EQ(h.receipts_for("m6").size(), 1u);
}

TEST(Correlator, SameSpellingWinsOverAnotherReading) {
  // Two messages of one provider that keeps its hex spelling: "1234"
  // (0x1234) and "04D2" (0x4D2 = 1234 decimal) share key "7|1234".
  Harness h;
  h.send(make_sent("x", "1234"));
  h.send(make_sent("w", "04D2"));
  h.report(make_receipt("04d2", "DELIVRD"));
  h.report(make_receipt("1234", "UNDELIV"));
  ASSERT_EQ(h.receipts_for("w").size(), 1u);
  EXPECT_EQ(h.receipts_for("w")[0].stat(), "DELIVRD");
  ASSERT_EQ(h.receipts_for("x").size(), 1u);
  EXPECT_EQ(h.receipts_for("x")[0].stat(), "UNDELIV");
}

TEST(Correlator, ExactlyOneFinalPerMessage) {
  Harness h;
  h.send(make_sent("m7", "5001"));
  h.report(make_receipt("5001", "DELIVRD"));
  h.report(make_receipt("5001", "UNDELIV"));
  h.report(make_receipt("5001", "DELIVRD"));
  EXPECT_EQ(h.receipts_for("m7").size(), 1u);
  EXPECT_EQ(h.value("sluice_stage_records_total", {{"stage", "dlr"}, {"result", "duplicate"}}), 2);

  // Two finals before the Sent: one is kept, one receipt goes out.
  h.report(make_receipt("5002", "DELIVRD"));
  h.report(make_receipt("5002", "DELIVRD"));
  h.send(make_sent("m8", "5002"));
  EXPECT_EQ(h.receipts_for("m8").size(), 1u);

  // A replayed Sent (restart) does not reopen a finished message.
  h.send(make_sent("m7", "5001"));
  h.report(make_receipt("5001", "DELIVRD"));
  EXPECT_EQ(h.receipts_for("m7").size(), 1u);
}

TEST(Correlator, RegisteredDeliveryAndDlrEnabled) {
  Harness h;
  h.send(make_sent("none", "1", 1, 0));
  h.send(make_sent("final-ok", "2", 1, 1));
  h.send(make_sent("final-bad", "3", 1, 1));
  h.send(make_sent("fail-ok", "4", 1, 2));
  h.send(make_sent("fail-bad", "5", 1, 2));
  h.send(make_sent("disabled", "6", 2, 1));
  h.report(make_receipt("1", "DELIVRD"));
  h.report(make_receipt("2", "DELIVRD"));
  h.report(make_receipt("3", "UNDELIV"));
  h.report(make_receipt("4", "DELIVRD"));
  h.report(make_receipt("5", "EXPIRED"));
  h.report(make_receipt("6", "DELIVRD"));
  EXPECT_EQ(h.receipts_for("none").size(), 0u);
  EXPECT_EQ(h.receipts_for("final-ok").size(), 1u);
  EXPECT_EQ(h.receipts_for("final-bad").size(), 1u);
  EXPECT_EQ(h.receipts_for("fail-ok").size(), 0u);
  EXPECT_EQ(h.receipts_for("fail-bad").size(), 1u);
  EXPECT_EQ(h.receipts_for("disabled").size(), 0u);
  EXPECT_EQ(h.statuses.size(), 12u);  // query_sm still learns "sent" and the end of each
}

TEST(Correlator, IntermediateOnlyWhenAskedFor) {
  Harness h;
  h.send(make_sent("plain", "11", 1, 0x01));
  h.send(make_sent("asks", "12", 1, 0x11));
  h.report(make_receipt("11", "ENROUTE"));
  h.report(make_receipt("12", "ACCEPTD"));
  EXPECT_TRUE(h.receipts_for("plain").empty());
  auto got = h.receipts_for("asks");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].esm_class(), 0x20u);
  EXPECT_EQ(got[0].stat(), "ACCEPTD");
  // Intermediates are not final: the final still comes through.
  h.report(make_receipt("11", "DELIVRD"));
  h.report(make_receipt("12", "DELIVRD"));
  EXPECT_EQ(h.receipts_for("plain").size(), 1u);
  EXPECT_EQ(h.receipts_for("asks").size(), 2u);
  EXPECT_EQ(h.receipts_for("asks")[1].esm_class(), 0x04u);
}

TEST(Correlator, MessageStateTlvWinsOverTheText) {
  Harness h;
  h.send(make_sent("m9", "321"));
  auto pd = make_receipt("321", "DELIVRD");
  auto* t = pd.add_tlvs();
  t->set_tag(0x0427);
  t->set_value(std::string(1, '\x05'));
  h.report(pd);
  ASSERT_EQ(h.receipts_for("m9").size(), 1u);
  EXPECT_EQ(h.receipts_for("m9")[0].stat(), "UNDELIV");
}

TEST(Correlator, RefusedSubmitBecomesARejectedReceipt) {
  Harness h;
  auto s = make_sent("r1", "", 1, 1);
  s.set_command_status(0x0B);
  h.send(s);
  auto got = h.receipts_for("r1");
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0].stat(), "REJECTD");
  EXPECT_EQ(got[0].err(), "00B");
  EXPECT_NE(got[0].reason().find("0x0000000B"), std::string::npos);
  EXPECT_EQ(h.c->entries(), 0u);
  // Written under both keys by mistake: still one receipt.
  auto twice = make_sent("r3", "1234", 1, 1);
  twice.set_command_status(0x45);
  for (const auto& k : pid::sent_keys(kProvider, "1234"))
    h.take(h.c->on_sent(partition_of(k), k, twice, h.now));
  EXPECT_EQ(h.receipts_for("r3").size(), 1u);
  auto quiet = make_sent("r2", "", 1, 0);
  quiet.set_command_status(0x58);
  h.send(quiet);
  EXPECT_TRUE(h.receipts_for("r2").empty());
}

rec::Sent part(const std::string& id, const std::string& pmid, uint32_t seq, uint32_t total) {
  auto s = make_sent(id, pmid, 3, 1);
  auto* c = s.mutable_concat();
  c->set_group_key("3|ACME|447700900123|42");
  c->set_ref(42);
  c->set_total(total);
  c->set_seq(seq);
  return s;
}

TEST(Correlator, OneReceiptPerMultipartMessage) {
  Harness h;
  h.send(part("p1", "100", 1, 3));
  h.send(part("p2", "205", 2, 3));
  h.send(part("p3", "307", 3, 3));
  h.report(make_receipt("307", "DELIVRD"));
  h.report(make_receipt("100", "DELIVRD"));
  EXPECT_TRUE(h.delivers.empty());  // parts go to sms.dlr-parts, not to the customer
  ASSERT_EQ(h.parts.size(), 2u);
  h.pump_parts();
  EXPECT_TRUE(h.delivers.empty());
  h.report(make_receipt("205", "UNDELIV"));
  auto replay = h.parts;
  h.pump_parts();
  ASSERT_EQ(h.delivers.size(), 1u);
  const auto& d = h.delivers[0];
  EXPECT_EQ(d.id(), "p1");  // the first part's id
  EXPECT_EQ(d.stat(), "UNDELIV");
  EXPECT_EQ(d.customer_id(), 3);
  EXPECT_EQ(d.concat().seq(), 0u);
  EXPECT_EQ(d.concat().total(), 3u);
  // A part outcome replayed after the message was answered changes nothing.
  h.parts = replay;
  h.pump_parts();
  EXPECT_EQ(h.delivers.size(), 1u);
  h.report(make_receipt("205", "DELIVRD"));  // a provider's second final: dropped at the join
  EXPECT_TRUE(h.parts.empty());
  EXPECT_EQ(h.delivers.size(), 1u);
  h.advance(h.opts.done_linger + std::chrono::seconds(1));
  h.advance(std::chrono::hours(3));
  EXPECT_EQ(h.c->entries(), 0u);
  EXPECT_TRUE(h.log.empty());
}

TEST(Correlator, MultipartMessageIsAnsweredWhenItsValidityEnds) {
  Harness h;
  h.send(part("q1", "400", 1, 3));
  h.send(part("q2", "401", 2, 3));
  h.send(part("q3", "402", 3, 3));
  h.report(make_receipt("400", "DELIVRD"));
  h.report(make_receipt("401", "DELIVRD"));
  h.pump_parts();
  EXPECT_TRUE(h.delivers.empty());
  h.advance(std::chrono::hours(1) + h.opts.late_grace + std::chrono::seconds(1));
  ASSERT_EQ(h.delivers.size(), 1u);
  EXPECT_EQ(h.delivers[0].id(), "q1");
  EXPECT_EQ(h.delivers[0].stat(), "UNKNOWN");
  EXPECT_NE(h.delivers[0].reason().find("1 of 3"), std::string::npos);
  EXPECT_EQ(h.value("sluice_dlr_no_final_receipt_total"), 1);
}

TEST(Correlator, MoGoesToTheLongestPrefixOwner) {
  Harness h;
  auto mo = [](const std::string& dest) {
    rec::ProviderDeliver pd;
    pd.set_schema_version(1);
    pd.set_provider_id(kProvider);
    pd.mutable_source()->set_addr("447700900555");
    pd.mutable_dest()->set_addr(dest);
    pd.set_data_coding(8);
    pd.set_short_message(std::string("\x00h\x00i", 4));
    auto* t = pd.add_tlvs();
    t->set_tag(0x0204);
    t->set_value("\x01\x02");
    pd.set_received_at_ms(kT0);
    return pd;
  };
  h.take(h.c->on_mo(mo("447000123"), h.now));
  h.take(h.c->on_mo(mo("+447099999"), h.now));
  h.take(h.c->on_mo(mo("15550001"), h.now));
  ASSERT_EQ(h.delivers.size(), 2u);
  EXPECT_EQ(h.delivers[0].customer_id(), 3);
  EXPECT_FALSE(h.delivers[0].is_receipt());
  EXPECT_EQ(h.delivers[0].source().addr(), "447700900555");
  EXPECT_EQ(h.delivers[0].dest().addr(), "447000123");
  EXPECT_EQ(h.delivers[0].data_coding(), 8u);
  EXPECT_EQ(h.delivers[0].short_message(), std::string("\x00h\x00i", 4));
  ASSERT_EQ(h.delivers[0].tlvs_size(), 1);
  EXPECT_EQ(h.delivers[1].customer_id(), 1);
  EXPECT_EQ(h.value("sluice_dlr_mo_total", {{"result", "routed"}}), 2);
  EXPECT_EQ(h.value("sluice_dlr_mo_total", {{"result", "no_owner"}}), 1);
}

TEST(Correlator, MemoryIsBounded) {
  CorrelatorOptions o;
  o.max_entries = 5;
  Harness h(o);
  for (int i = 0; i < 10; ++i) {
    auto s = make_sent("b" + std::to_string(i), "9" + std::to_string(100 + i));
    s.set_expire_at_ms(kT0 + (i + 1) * 60000);  // earlier expiry, earlier eviction
    h.send(s);
  }
  EXPECT_LE(h.c->entries(), 5u);
  EXPECT_GE(h.value("sluice_dlr_evicted_total"), 5);
  EXPECT_EQ(h.log.size(), h.c->entries());  // the evicted are deleted from the topic as well
  // The survivors are the ones that live longest.
  h.report(make_receipt("9109", "DELIVRD"));
  EXPECT_EQ(h.receipts_for("b9").size(), 1u);

  // Expiry without a cap: validity + late_grace, or max_window without validity.
  Harness e;
  auto s = make_sent("e1", "AA01");
  e.send(s);
  auto forever = make_sent("e2", "AA02");
  forever.set_expire_at_ms(0);
  e.send(forever);
  EXPECT_EQ(e.c->entries(), 2u);
  e.advance(std::chrono::hours(1) + e.opts.late_grace + std::chrono::seconds(1));
  EXPECT_EQ(e.c->entries(), 1u);
  e.advance(e.opts.max_window);
  EXPECT_EQ(e.c->entries(), 0u);
  EXPECT_TRUE(e.log.empty());
  EXPECT_EQ(e.value("sluice_dlr_no_final_receipt_total"), 2);
}

TEST(Correlator, DoneMessagesDropSecondFinalsAndStayWithinTheBound) {
  CorrelatorOptions o;
  o.max_entries = 5;
  Harness h(o);
  for (int i = 0; i < 10; ++i) {
    h.send(make_sent("d" + std::to_string(i), "D0" + std::to_string(100 + i)));
    h.report(make_receipt("d0" + std::to_string(100 + i), "DELIVRD"));
    h.now += 1000;
  }
  ASSERT_EQ(h.delivers.size(), 10u);
  // Done messages count against the bound; the oldest leave first, from the topic too.
  EXPECT_EQ(h.c->entries(), 5u);
  EXPECT_EQ(h.log.size(), 5u);
  EXPECT_EQ(h.log.count({partition_of(pid::sent_keys(kProvider, "D0100")[0]),
                         sent_state_key(pid::sent_keys(kProvider, "D0100")[0], "d0100")}),
            0u);
  double dup = h.value("sluice_stage_records_total", {{"result", "duplicate"}});
  // A second final of a done message is dropped, whatever its case.
  h.report(make_receipt("d0109", "UNDELIV"));
  h.report(make_receipt("D0108", "DELIVRD"));
  h.advance(h.opts.cross_wait + std::chrono::seconds(1));
  EXPECT_EQ(h.delivers.size(), 10u);
  EXPECT_EQ(h.value("sluice_stage_records_total", {{"result", "duplicate"}}), dup + 2);
  EXPECT_EQ(h.value("sluice_dlr_unmatched_total"), 0);
  // A replayed Sent of a done message is a duplicate too, not a new entry.
  h.send(make_sent("d9", "D0109"));
  EXPECT_EQ(h.value("sluice_stage_records_total", {{"result", "duplicate"}}), dup + 3);
  // After done_linger, memory and the topic are empty.
  h.advance(h.opts.done_linger + std::chrono::seconds(1));
  EXPECT_EQ(h.c->entries(), 0u);
  EXPECT_TRUE(h.log.empty());
}

TEST(Correlator, RestoredDoneMessagesLeaveAtTheirOwnTime) {
  // Three done messages on one partition whose keys sort against their
  // expiry: restored in key order, the first to expire comes last.
  std::vector<std::string> ids;
  int32_t want = -1;
  for (int i = 0; ids.size() < 3 && i < 1000; ++i) {
    std::string id = "E" + std::to_string(100 + i);
    int32_t p = partition_of(pid::sent_keys(kProvider, id)[0]);
    if (want < 0) want = p;
    if (p == want) ids.push_back(id);
  }
  ASSERT_EQ(ids.size(), 3u);
  Harness h;
  for (int i = 2; i >= 0; --i) {  // the largest key finishes first
    h.send(make_sent("r" + std::to_string(i), ids[i]));
    h.report(make_receipt(ids[i], "DELIVRD"));
    h.now += 60000;
  }
  ASSERT_EQ(h.delivers.size(), 3u);
  h.restart();
  EXPECT_EQ(h.c->entries(), 3u);
  // Past the first one's linger only: it goes, from the topic too; the others stay.
  h.now = kT0 + h.opts.done_linger.count() + 30000;
  h.take(h.c->tick(h.now));
  EXPECT_EQ(h.c->entries(), 2u);
  EXPECT_EQ(h.log.size(), 2u);
  h.report(make_receipt(ids[0], "DELIVRD"));  // still done: a duplicate
  EXPECT_EQ(h.delivers.size(), 3u);
}

TEST(Correlator, DoneMessagesLeaveOldestFirstAcrossARestart) {
  // Restored marks come in key order; marks made after the restart come in
  // time order. Both leave by their own expiry, for the bound and for time.
  CorrelatorOptions o;
  o.max_entries = 4;
  Harness h(o);
  auto key = [](const std::string& id) {
    auto k = pid::sent_keys(kProvider, id)[0];
    return std::make_pair(partition_of(k), sent_state_key(k, pid::parse(id).spelling));
  };
  auto finish = [&](const std::string& id) {
    h.send(make_sent("m" + id, id));
    h.report(make_receipt(id, "DELIVRD"));
  };
  std::vector<std::string> ids = {"F300", "F100", "F400", "F200"};  // key order is not time order
  for (const auto& id : ids) {
    finish(id);
    h.now += 60000;
  }
  ASSERT_EQ(h.delivers.size(), 4u);
  h.restart();
  EXPECT_EQ(h.c->entries(), 4u);

  finish("F500");  // over the bound: the oldest mark gives way
  EXPECT_EQ(h.c->entries(), 4u);
  EXPECT_EQ(h.log.count(key("F300")), 0u);
  EXPECT_EQ(h.log.count(key("F100")), 1u);

  ids.push_back("F500");
  for (size_t i = 1; i < ids.size(); ++i) {
    h.now = kT0 + static_cast<int64_t>(i) * 60000 + h.opts.done_linger.count();
    h.take(h.c->tick(h.now));
    EXPECT_EQ(h.c->entries(), ids.size() - 1 - i) << ids[i];
    EXPECT_EQ(h.log.count(key(ids[i])), 0u) << ids[i];
    if (i + 1 < ids.size()) {
      EXPECT_EQ(h.log.count(key(ids[i + 1])), 1u) << ids[i + 1];
    }
  }
  EXPECT_TRUE(h.log.empty());
}

TEST(Correlator, GivenAwayRecordsJoinAsCopiedOnes) {
  Harness copied, given;
  auto send = [](Harness& h, const rec::Sent& s, bool give) {
    for (const auto& k : pid::sent_keys(s.provider_id(), s.provider_message_id())) {
      rec::Sent mine = s;
      h.take(give ? h.c->on_sent(partition_of(k), k, std::move(mine), h.now)
                  : h.c->on_sent(partition_of(k), k, mine, h.now));
    }
  };
  auto report = [](Harness& h, const rec::ProviderDeliver& pd, bool give) {
    auto k = pid::receipt_key(pd.provider_id(), pd.provider_message_id());
    rec::ProviderDeliver mine = pd;
    h.take(give ? h.c->on_receipt(partition_of(k), k, std::move(mine), h.now)
                : h.c->on_receipt(partition_of(k), k, mine, h.now));
  };
  for (Harness* h : {&copied, &given}) {
    bool give = h == &given;
    send(*h, make_sent("g1", "A1B2C3"), give);  // Sent, then its receipt
    report(*h, make_receipt("a1b2c3", "DELIVRD"), give);
    auto early = make_receipt("77001", "UNDELIV");  // a receipt that waits
    early.set_received_at_ms(0);
    report(*h, early, give);
    h->now += 1000;
    send(*h, make_sent("g2", "77001"), give);             // two keys, one held receipt
    report(*h, make_receipt("a1b2c3", "DELIVRD"), give);  // a second final
  }
  ASSERT_EQ(given.delivers.size(), 2u);
  ASSERT_EQ(given.delivers.size(), copied.delivers.size());
  for (size_t i = 0; i < given.delivers.size(); ++i)
    EXPECT_EQ(given.delivers[i].SerializeAsString(), copied.delivers[i].SerializeAsString());
  ASSERT_EQ(given.statuses.size(), copied.statuses.size());
  for (size_t i = 0; i < given.statuses.size(); ++i)
    EXPECT_EQ(given.statuses[i].SerializeAsString(), copied.statuses[i].SerializeAsString());
  ASSERT_EQ(given.log.size(), copied.log.size());
  for (auto a = given.log.begin(), b = copied.log.begin(); a != given.log.end(); ++a, ++b) {
    EXPECT_EQ(a->first, b->first);
    EXPECT_EQ(a->second.SerializeAsString(), b->second.SerializeAsString());
  }
}

TEST(Correlator, ARestoredReceiptPastItsCrossWaitLooksForItsSentAtOnce) {
  Harness h;
  h.send(make_sent("x1", "0000A1B2"));
  h.report(make_receipt("41394", "DELIVRD"));  // A1B2 in decimal: waits cross_wait
  EXPECT_TRUE(h.delivers.empty());
  // The node dies before the tick that would have matched them.
  h.now += (h.opts.cross_wait + std::chrono::seconds(1)).count();
  h.restart();
  h.advance(std::chrono::seconds(1));
  // Not at the end of unmatched_hold, ten minutes later.
  ASSERT_EQ(h.receipts_for("x1").size(), 1u);
}

TEST(Correlator, StateSurvivesARestart) {
  Harness h;
  h.send(make_sent("s1", "CAFE01"));
  h.report(make_receipt("cafe02", "DELIVRD"));  // early, its Sent comes after the restart
  h.send(part("t1", "600", 1, 2));
  h.send(part("t2", "601", 2, 2));
  h.report(make_receipt("600", "DELIVRD"));
  h.pump_parts();
  h.send(make_sent("s3", "CAFE03"));
  h.report(make_receipt("cafe03", "DELIVRD"));
  ASSERT_EQ(h.delivers.size(), 1u);

  h.restart();
  h.report(make_receipt("CAFE01", "DELIVRD"));
  ASSERT_EQ(h.receipts_for("s1").size(), 1u);
  h.send(make_sent("s2", "CAFE02"));
  ASSERT_EQ(h.receipts_for("s2").size(), 1u);
  h.report(make_receipt("cafe03", "DELIVRD"));  // a replay: already done before the restart
  EXPECT_EQ(h.receipts_for("s3").size(), 1u);
  h.report(make_receipt("601", "DELIVRD"));
  h.pump_parts();
  ASSERT_EQ(h.receipts_for("t1").size(), 1u);
  EXPECT_EQ(h.receipts_for("t1")[0].stat(), "DELIVRD");
}

TEST(Correlator, RevokedPartitionsAreForgotten) {
  Harness h;
  h.send(make_sent("v1", "DEAD01"));
  ASSERT_EQ(h.c->entries(), 1u);
  h.c->drop(DlrCorrelator::Domain::join, partition_of(pid::sent_keys(kProvider, "DEAD01")[0]));
  EXPECT_EQ(h.c->entries(), 0u);
  h.advance(std::chrono::hours(100));  // nothing left to wake
  EXPECT_EQ(h.c->entries(), 0u);
}

}  // namespace
}  // namespace sluice::dlr
