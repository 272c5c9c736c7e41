// query_sm, cancel_sm and replace_sm decided from a node's StatusView, and
// the record merging that view relies on (schema/status.h).
#include "gateway/control.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "gateway/status_view.h"
#include "kafka/control_book.h"
#include "schema/receipts.h"
#include "schema/status.h"
#include "smpp/status.h"

namespace sluice::gateway {
namespace {

namespace st = smpp::status;
constexpr int64_t kT0 = 1'800'000'000'000;

records::v1::Message message(const std::string& id, int64_t customer = 7) {
  records::v1::Message m;
  m.set_schema_version(1);
  m.set_id(id);
  m.set_customer_id(customer);
  m.mutable_source()->set_addr("12345");
  m.mutable_dest()->set_addr("447700900001");
  m.set_short_message("old text");
  return m;
}

records::v1::Status status(const std::string& id, const char* where, uint32_t state,
                           int64_t at = kT0) {
  return schema::status_of(message(id), where, state, at);
}

smpp::Address source(const char* a) {
  smpp::Address s;
  s.addr = a;
  return s;
}

TEST(StatusView, AReceiptIsNeverHiddenByALateQueuedRecord) {
  StatusView v;
  v.apply(status("m1", "queued", schema::kStateEnroute, kT0));
  v.apply(status("m1", "final", schema::kStateDelivered, kT0 + 10));
  v.apply(status("m1", "queued", schema::kStateEnroute, kT0 + 20));
  auto e = v.find("m1");
  ASSERT_TRUE(e);
  EXPECT_EQ(e->message_state, schema::kStateDelivered);
  EXPECT_FALSE(e->waiting());
  EXPECT_EQ(e->final_at_ms, kT0 + 10);
}

TEST(StatusView, SentAfterACancelTellsTheTruth) {
  // The cancel came too late: the sender had already handed it over.
  StatusView v;
  v.apply(status("m1", "queued", schema::kStateEnroute));
  v.apply(cancelled_status("m1", 7, source("12345"), kT0 + 5));
  EXPECT_EQ(v.find("m1")->message_state, schema::kStateDeleted);
  records::v1::Status sent;
  sent.set_schema_version(1);
  sent.set_id("m1");
  sent.set_where("sent");
  sent.set_message_state(schema::kStateEnroute);
  sent.set_updated_at_ms(kT0 + 6);
  v.apply(sent);
  auto e = v.find("m1");
  EXPECT_EQ(e->message_state, schema::kStateEnroute);
  EXPECT_EQ(e->customer_id, 7) << "a later writer without the customer keeps the first one's";
  EXPECT_EQ(e->source_hash, StatusView::address_hash("12345"));
}

TEST(StatusView, TheOldestEntriesLeaveAtTheBound) {
  StatusView v(3);
  for (int i = 0; i < 5; ++i)
    v.apply(status("m" + std::to_string(i), "queued", schema::kStateEnroute));
  EXPECT_EQ(v.size(), 3u);
  EXPECT_FALSE(v.find("m0"));
  EXPECT_FALSE(v.find("m1"));
  EXPECT_TRUE(v.find("m4"));
}

TEST(StatusView, TombstoneAndGarbageRecords) {
  StatusView v;
  v.apply(status("m1", "queued", schema::kStateEnroute));
  v.apply_raw("m1", "");
  EXPECT_FALSE(v.find("m1"));
  v.apply_raw("m2", "\xff\xff not a protobuf");
  EXPECT_EQ(v.size(), 0u);
}

TEST(StatusView, ATombstonedIdComesBackAndDroppedEntriesCountTowardTheBound) {
  StatusView v(3);
  v.apply(status("m1", "queued", schema::kStateEnroute));
  v.apply(status("m2", "queued", schema::kStateEnroute));
  v.apply_raw("m1", "");
  EXPECT_EQ(v.size(), 1u);
  // The same id written again after its tombstone is a new entry.
  v.apply(status("m1", "final", schema::kStateDelivered, kT0 + 10));
  ASSERT_TRUE(v.find("m1"));
  EXPECT_EQ(v.find("m1")->message_state, schema::kStateDelivered);
  EXPECT_EQ(v.size(), 2u);
  // The dropped m1 still held a place: one more entry pushes it and m2 out.
  v.apply(status("m3", "queued", schema::kStateEnroute));
  v.apply(status("m4", "queued", schema::kStateEnroute));
  EXPECT_FALSE(v.find("m2"));
  EXPECT_TRUE(v.find("m1"));
  EXPECT_TRUE(v.find("m3"));
  EXPECT_TRUE(v.find("m4"));
  EXPECT_EQ(v.size(), 3u);
}

TEST(StatusView, ThousandsOfIdsAreFoundAndAnIdTooLongForSmppIsIgnored) {
  StatusView v(5000);
  for (int i = 0; i < 20000; ++i)
    v.apply(status("id-" + std::to_string(i), "queued", schema::kStateEnroute));
  EXPECT_EQ(v.size(), 5000u);
  for (int i = 0; i < 20000; ++i)
    ASSERT_EQ(v.find("id-" + std::to_string(i)).has_value(), i >= 15000) << i;
  std::string longest(64, 'x'), too_long(65, 'y');
  v.apply(status(longest, "queued", schema::kStateEnroute));
  v.apply(status(too_long, "queued", schema::kStateEnroute));
  EXPECT_TRUE(v.find(longest));
  EXPECT_FALSE(v.find(too_long));
}

TEST(StatusView, WaitingMessagesOfASourceAndDestination) {
  StatusView v;
  v.apply(status("a", "scheduled", schema::kStateEnroute));
  v.apply(status("b", "queued", schema::kStateEnroute));
  v.apply(status("c", "final", schema::kStateDelivered));
  auto other = message("d", 8);
  v.apply(schema::status_of(other, "queued", schema::kStateEnroute, kT0));
  auto ids = v.waiting(7, "12345", "");
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(ids, (std::vector<std::string>{"a", "b"}));
  EXPECT_TRUE(v.waiting(7, "12345", "447700900002").empty());
  EXPECT_TRUE(v.waiting(7, "99999", "").empty());
}

TEST(QuerySm, AnswersStateAndFinalDate) {
  StatusView v;
  v.apply(status("m1", "final", schema::kStateDelivered, kT0));
  smpp::QuerySm q{"m1", source("12345")};
  uint32_t s = 0;
  auto r = answer_query(q, 7, v.find("m1"), s);
  EXPECT_EQ(s, st::ESME_ROK);
  EXPECT_EQ(r.message_id, "m1");
  EXPECT_EQ(r.message_state, schema::kStateDelivered);
  EXPECT_EQ(r.final_date, "270115080000000+");  // kT0 in SMPP's UTC form
}

TEST(QuerySm, WaitingHasNoFinalDate) {
  StatusView v;
  v.apply(status("m1", "scheduled", schema::kStateEnroute));
  uint32_t s = 0;
  auto r = answer_query({"m1", source("12345")}, 7, v.find("m1"), s);
  EXPECT_EQ(s, st::ESME_ROK);
  EXPECT_EQ(r.message_state, schema::kStateEnroute);
  EXPECT_EQ(r.final_date, "");
}

TEST(QuerySm, AnotherCustomerOrSourceOrUnknownIdIsRefusedAlike) {
  StatusView v;
  v.apply(status("m1", "queued", schema::kStateEnroute));
  uint32_t s = 0;
  answer_query({"m1", source("12345")}, 8, v.find("m1"), s);
  EXPECT_EQ(s, st::ESME_RQUERYFAIL);
  answer_query({"m1", source("54321")}, 7, v.find("m1"), s);
  EXPECT_EQ(s, st::ESME_RQUERYFAIL);
  answer_query({"nope", source("12345")}, 7, v.find("nope"), s);
  EXPECT_EQ(s, st::ESME_RQUERYFAIL);
  answer_query({"m1", source("")}, 7, v.find("m1"), s);
  EXPECT_EQ(s, st::ESME_ROK) << "an empty source is any of the customer's";
}

TEST(CancelSm, OnlyAWaitingMessageOfTheCustomer) {
  StatusView v;
  v.apply(status("w", "scheduled", schema::kStateEnroute));
  v.apply(status("s", "sent", schema::kStateEnroute));
  v.apply(status("f", "final", schema::kStateDelivered));
  v.apply(cancelled_status("c", 7, source("12345"), kT0));
  EXPECT_EQ(check_waiting(v.find("w"), 7, source("12345"), st::ESME_RCANCELFAIL), st::ESME_ROK);
  EXPECT_EQ(check_waiting(v.find("w"), 8, source("12345"), st::ESME_RCANCELFAIL),
            st::ESME_RCANCELFAIL);
  EXPECT_EQ(check_waiting(v.find("s"), 7, source("12345"), st::ESME_RCANCELFAIL),
            st::ESME_RCANCELFAIL);
  EXPECT_EQ(check_waiting(v.find("f"), 7, source("12345"), st::ESME_RREPLACEFAIL),
            st::ESME_RREPLACEFAIL);
  EXPECT_EQ(check_waiting(v.find("c"), 7, source("12345"), st::ESME_RCANCELFAIL),
            st::ESME_RCANCELFAIL);
  EXPECT_EQ(check_waiting(std::nullopt, 7, source("12345"), st::ESME_RCANCELFAIL),
            st::ESME_RCANCELFAIL);
}

TEST(ReplaceSm, NewValuesApplyToTheHeldMessage) {
  smpp::ReplaceSm r;
  r.message_id = "m1";
  r.source = source("12345");
  r.schedule_delivery_time = "000000000100000R";  // in one minute
  r.registered_delivery = 1;
  r.short_message = {'n', 'e', 'w'};
  auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(kT0));
  records::v1::Control c;
  ASSERT_EQ(replace_control(r, 7, now, c), st::ESME_ROK);
  auto m = message("m1");
  m.set_registered_delivery(0);
  auto* payload = m.add_tlvs();
  payload->set_tag(0x0424);
  payload->set_value("old payload");
  ASSERT_TRUE(schema::apply_replacement(c, m));
  EXPECT_EQ(m.short_message(), "new");
  EXPECT_EQ(m.tlvs_size(), 0) << "an old message_payload would win over the new text";
  EXPECT_EQ(m.schedule_at_ms(), kT0 + 60000);
  EXPECT_EQ(m.registered_delivery(), 1u);
  EXPECT_FALSE(schema::apply_replacement(cancel_control("m1", 7, kT0), m));
}

TEST(ReplaceSm, BadTimesAreRefused) {
  auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(kT0));
  records::v1::Control c;
  smpp::ReplaceSm r;
  r.message_id = "m1";
  r.schedule_delivery_time = "not a time";
  EXPECT_EQ(replace_control(r, 7, now, c), st::ESME_RINVSCHED);
  r.schedule_delivery_time = "000000000200000R";
  r.validity_period = "000000000100000R";  // expires before it is due
  EXPECT_EQ(replace_control(r, 7, now, c), st::ESME_RINVEXPIRY);
  r.validity_period = "";
  r.registered_delivery = 3;
  EXPECT_EQ(replace_control(r, 7, now, c), st::ESME_RINVREGDLVFLG);
}

TEST(ControlBook, ACancelIsNeverUndoneByAReplace) {
  kafka::ControlBook book;
  auto now = std::chrono::system_clock::time_point(std::chrono::milliseconds(kT0));
  smpp::ReplaceSm r;
  r.message_id = "m1";
  r.short_message = {'x'};
  records::v1::Control replace;
  ASSERT_EQ(replace_control(r, 7, now, replace), st::ESME_ROK);
  book.apply("m1", replace.SerializeAsString());
  EXPECT_EQ(book.find("m1")->kind(), records::v1::Control::REPLACE);
  book.apply("m1", cancel_control("m1", 7, kT0).SerializeAsString());
  book.apply("m1", replace.SerializeAsString());  // accepted on a node that lagged
  EXPECT_EQ(book.find("m1")->kind(), records::v1::Control::CANCEL);
  book.apply("m1", "");  // tombstone
  EXPECT_FALSE(book.find("m1"));
  book.apply("m2", "not a protobuf \xff\xff");
  EXPECT_EQ(book.size(), 0u);
}

TEST(ControlBook, TheOldestLeaveAtTheBound) {
  kafka::ControlBook book(2);
  for (const char* id : {"a", "b", "c"})
    book.apply(id, cancel_control(id, 7, kT0).SerializeAsString());
  EXPECT_EQ(book.size(), 2u);
  EXPECT_FALSE(book.find("a"));
  EXPECT_TRUE(book.find("c"));
}

}  // namespace
}  // namespace sluice::gateway
