// smsc-sim and esme-load driven against each other as subprocesses, plus a
// raw client for what the load generator never sends.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>

#include "smpp/receipt.h"
#include "smpp/status.h"
#include "tests/simulators/harness.h"

namespace sluice::test::sim {
namespace {

using nlohmann::json;
namespace st = smpp::status;

uint64_t max_of(const json& arr) {
  uint64_t m = 0;
  for (const auto& v : arr) m = std::max(m, v.get<uint64_t>());
  return m;
}

TEST(SimulatorFlags, UnknownFlagIsAUsageError) {
  auto sim = run({smsc_sim_path(), "--no-such-flag"});
  EXPECT_EQ(sim.code, 2);
  EXPECT_NE(sim.err.find("usage: smsc-sim"), std::string::npos) << sim.err;
  auto bad_value = run({smsc_sim_path(), "--drop-rate", "1.5"});
  EXPECT_EQ(bad_value.code, 2);
  auto load = run({esme_load_path(), "--bogus"});
  EXPECT_EQ(load.code, 2);
  EXPECT_NE(load.err.find("usage: esme-load"), std::string::npos) << load.err;
  auto missing_value = run({esme_load_path(), "--count"});
  EXPECT_EQ(missing_value.code, 2);
  auto help = run({esme_load_path(), "--help"});
  EXPECT_EQ(help.code, 0);
  EXPECT_NE(help.out.find("--bind-mode"), std::string::npos);
}

TEST(SimulatorPair, CountsMatchEndToEnd) {
  SimProcess sim({"--dlr-delay", "10"});
  auto r = sim.load({"--count", "1500", "--binds", "2", "--window", "50", "--dlr-timeout", "10"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  const auto& rep = r.json;
  const uint64_t sent = rep["sent"];
  EXPECT_GE(sent, 1500u);  // multipart messages are three submits
  EXPECT_EQ(rep["acknowledged"], sent);
  EXPECT_EQ(rep["dlr"]["matched"], sent);
  EXPECT_EQ(rep["dlr"]["missing"], 0);
  EXPECT_EQ(rep["dlr"]["duplicated"], 0);
  EXPECT_EQ(rep["dlr"]["unknown"], 0);

  auto s = sim.stats();
  EXPECT_EQ(s["submits"]["received"], sent);
  EXPECT_EQ(s["submits"]["accepted"], sent);
  EXPECT_EQ(s["submits"]["unique"], sent);
  EXPECT_EQ(s["submits"]["duplicates"], 0);
  EXPECT_EQ(s["dlr"]["sent"], sent);
  EXPECT_EQ(s["dlr"]["deliver_sm_resp"], sent);
  EXPECT_EQ(s["binds"]["total"], 2);
  EXPECT_EQ(s["binds"]["by_type"]["transceiver"], 2);
  uint64_t by_state = 0;
  for (auto& [k, v] : s["dlr"]["by_state"].items()) by_state += v.get<uint64_t>();
  EXPECT_EQ(by_state, sent);
  EXPECT_EQ(rep["dlr"]["by_stat"], s["dlr"]["by_state"]);
}

TEST(SimulatorPair, SeparateBindsAndMultipart) {
  SimProcess sim({"--dlr-delay", "5", "--dlr-mix", "DELIVRD=1"});
  auto r = sim.load(
      {"--count", "100", "--bind-mode", "tx+rx", "--mix", "multipart=100", "--dlr-timeout", "10"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.json["sent"], 300);
  EXPECT_EQ(r.json["dlr"]["matched"], 300);
  EXPECT_EQ(r.json["dlr"]["by_stat"]["DELIVRD"], 300);
  auto s = sim.stats();
  EXPECT_EQ(s["binds"]["by_type"]["transmitter"], 1);
  EXPECT_EQ(s["binds"]["by_type"]["receiver"], 1);
  EXPECT_EQ(s["submits"]["unique"], 300);
}

class Throttle : public testing::TestWithParam<const char*> {};

TEST_P(Throttle, CapYieldsThrottledAndHistoryStaysUnderIt) {
  SimProcess sim({"--max-rate", "200", "--rate-window", GetParam(), "--dlr-delay", "1"});
  auto r = sim.load({"--count", "450", "--mix", "gsm7=100", "--window", "100", "--throttle-backoff",
                     "50", "--dlr-timeout", "10"},
                    30s);
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.json["acknowledged"], 450);
  EXPECT_GT(r.json["throttled"].get<uint64_t>(), 0u);
  auto s = sim.stats();
  EXPECT_EQ(s["submits"]["accepted"], 450);
  EXPECT_GT(s["submits"]["throttled"].get<uint64_t>(), 0u);
  EXPECT_EQ(s["submits"]["errors_by_code"]["0x58"], s["submits"]["throttled"]);
  EXPECT_LE(max_of(s["rate"]["per_second"]), 200u) << s["rate"].dump();
  EXPECT_EQ(s["rate"]["max_per_second"], max_of(s["rate"]["per_second"]));
  if (std::string(GetParam()) == "sliding") {
    EXPECT_LE(s["rate"]["max_sliding_1s"].get<uint64_t>(), 200u);
  }
}

INSTANTIATE_TEST_SUITE_P(Windows, Throttle, testing::Values("fixed", "sliding"));

TEST(SimulatorPair, DuplicateTextsAreCounted) {
  SimProcess sim({"--dlr-delay", "1"});
  // A full-length prefix leaves no random suffix: same destination, same text.
  auto r = sim.load(
      {"--count", "5", "--mix", "gsm7=100", "--no-unique-text", "--dest-prefix", "447900000001"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  auto s = sim.stats();
  EXPECT_EQ(s["submits"]["accepted"], 5);
  EXPECT_EQ(s["submits"]["duplicates"], 4);
  EXPECT_EQ(s["submits"]["unique"], 1);
  ASSERT_EQ(s["destinations"]["top"].size(), 1u);
  EXPECT_EQ(s["destinations"]["top"][0]["dest"], "447900000001");
  EXPECT_EQ(s["destinations"]["top"][0]["count"], 5);

  // Unique texts to the same number are not duplicates; /reset starts over.
  sim.http("GET", "/reset");
  r = sim.load({"--count", "5", "--mix", "gsm7=100", "--dest-prefix", "447900000001"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  s = sim.stats();
  EXPECT_EQ(s["submits"]["accepted"], 5);
  EXPECT_EQ(s["submits"]["duplicates"], 0);
}

TEST(SmscSim, Dec0IdsAreZeroPaddedInResponseAndReceipt) {
  SimProcess sim(
      {"--id-format", "dec0", "--id-start", "42", "--dlr-delay", "1", "--dlr-mix", "DELIVRD=1"});
  RawClient c(sim.port());
  ASSERT_EQ(c.bind("any", "any"), st::ESME_ROK);
  ASSERT_TRUE(c.send(smpp::make_pdu(make_submit("447900111222", "hello dec0"), 7)));
  auto resp = c.recv();
  ASSERT_TRUE(resp);
  EXPECT_EQ(resp->header.sequence_number, 7u);
  EXPECT_EQ(std::get<smpp::SubmitSmResp>(resp->body).message_id, "0000000042");

  auto dlr = c.recv();
  ASSERT_TRUE(dlr);
  const auto& dm = std::get<smpp::DeliverSm>(dlr->body);
  EXPECT_EQ(dm.esm_class, 0x04);
  EXPECT_EQ(dm.source.addr, "447900111222");
  EXPECT_EQ(dm.dest.addr, "447700900000");
  EXPECT_EQ(dm.tlvs.cstr(smpp::tlv::receipted_message_id), "0000000042");
  EXPECT_EQ(dm.tlvs.u8(smpp::tlv::message_state), smpp::message_state::DELIVERED);
  auto receipt = smpp::parse_receipt(std::string(dm.short_message.begin(), dm.short_message.end()));
  ASSERT_TRUE(receipt);
  EXPECT_EQ(receipt->id, "0000000042");
  EXPECT_EQ(receipt->stat, "DELIVRD");
  EXPECT_EQ(receipt->err, "000");
  EXPECT_EQ(receipt->text, "hello dec0");
  EXPECT_EQ(receipt->submit_date.size(), 10u);
  ASSERT_TRUE(c.send(smpp::make_pdu(smpp::DeliverSmResp{}, dlr->header.sequence_number)));

  // esme-load matches zero-padded ids too.
  auto r = sim.load({"--count", "20"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

TEST(SmscSim, DataSmIsAnsweredLikeSubmit) {
  SimProcess sim({"--id-format", "dec", "--id-start", "7", "--dlr-delay", "1"});
  RawClient c(sim.port());
  ASSERT_EQ(c.bind("a", "b"), st::ESME_ROK);
  smpp::DataSm ds;
  ds.source = smpp::Address{1, 1, "447700900000"};
  ds.dest = smpp::Address{1, 1, "447900555666"};
  ds.registered_delivery = 1;
  const std::string text(300, 'x');  // longer than short_message allows
  ds.tlvs.set_bytes(smpp::tlv::message_payload,
                    std::span(reinterpret_cast<const uint8_t*>(text.data()), text.size()));
  ASSERT_TRUE(c.send(smpp::make_pdu(ds, 4)));
  auto resp = c.recv();
  ASSERT_TRUE(resp);
  ASSERT_EQ(resp->header.command_id, smpp::to_u32(smpp::CommandId::DataSmResp));
  EXPECT_EQ(resp->header.command_status, st::ESME_ROK);
  EXPECT_EQ(std::get<smpp::DataSmResp>(resp->body).message_id, "7");
  auto dlr = c.recv();
  ASSERT_TRUE(dlr);
  EXPECT_EQ(std::get<smpp::DeliverSm>(dlr->body).tlvs.cstr(smpp::tlv::receipted_message_id), "7");
  auto s = sim.stats();
  EXPECT_EQ(s["submits"]["data_sm"], 1);
  EXPECT_EQ(s["submits"]["accepted"], 1);
}

TEST(SimulatorPair, ReceiptIdsInAnotherFormatStillMatch) {
  // hex in submit_sm_resp, decimal in the receipt: what DLR id normalisation is for.
  SimProcess sim({"--id-format", "hex", "--dlr-id-format", "dec", "--id-start", "1000000",
                  "--dlr-delay", "1"});
  auto r = sim.load({"--count", "50"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.json["dlr"]["matched"], r.json["sent"]);
  EXPECT_EQ(r.json["dlr"]["unknown"], 0);
}

TEST(SmscSim, WrongCredentialsAreRefused) {
  SimProcess sim(
      {"--system-id", "alice", "--password", "secret", "--system-id", "bob", "--password", "pw2"});
  {
    RawClient c(sim.port());
    EXPECT_EQ(c.bind("alice", "wrong"), st::ESME_RBINDFAIL);
    EXPECT_TRUE(c.wait_closed());
  }
  {
    RawClient c(sim.port());
    EXPECT_EQ(c.bind("mallory", "secret"), st::ESME_RBINDFAIL);
  }
  {
    RawClient c(sim.port());
    EXPECT_EQ(c.bind("bob", "pw2", smpp::CommandId::BindTransmitter), st::ESME_ROK);
    // A second bind on a bound session.
    EXPECT_EQ(c.bind("bob", "pw2"), st::ESME_RALYBND);
  }
  auto r = sim.load({"--system-id", "alice", "--password", "nope", "--count", "10"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.json["bind_status"], "ESME_RBINDFAIL");
  r = sim.load({"--system-id", "alice", "--password", "secret", "--count", "10"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(sim.stats()["binds"]["failed"], 3);
}

TEST(SmscSim, SurvivesGarbage) {
  SimProcess sim;
  {
    // A command_length far beyond any PDU: the stream is lost.
    RawClient c(sim.port());
    const uint8_t junk[] = {0x7f, 0xff, 0xff, 0xff, 0xde, 0xad, 0xbe, 0xef, 1, 2, 3, 4, 5, 6, 7, 8};
    ASSERT_TRUE(c.send_bytes(junk));
    auto nack = c.recv();
    ASSERT_TRUE(nack);
    EXPECT_EQ(nack->header.command_id, smpp::to_u32(smpp::CommandId::GenericNack));
    EXPECT_EQ(nack->header.command_status, st::ESME_RINVCMDLEN);
    EXPECT_TRUE(c.wait_closed());
  }
  {
    // Well framed but unknown command, then a truncated submit_sm body:
    // answered, and the session goes on.
    RawClient c(sim.port());
    ASSERT_EQ(c.bind("x", "y"), st::ESME_ROK);
    const uint8_t unknown[] = {0, 0, 0, 16, 0, 0, 0x09, 0x99, 0, 0, 0, 0, 0, 0, 0, 5};
    ASSERT_TRUE(c.send_bytes(unknown));
    auto nack = c.recv();
    ASSERT_TRUE(nack);
    EXPECT_EQ(nack->header.command_id, smpp::to_u32(smpp::CommandId::GenericNack));
    EXPECT_EQ(nack->header.command_status, st::ESME_RINVCMDID);
    EXPECT_EQ(nack->header.sequence_number, 5u);
    const uint8_t truncated[] = {0, 0, 0, 20, 0, 0, 0,   4,   0,   0,
                                 0, 0, 0, 0,  0, 6, 'a', 'b', 'c', 'd'};
    ASSERT_TRUE(c.send_bytes(truncated));
    auto resp = c.recv();
    ASSERT_TRUE(resp);
    EXPECT_NE(resp->header.command_status, 0u);
    EXPECT_EQ(resp->header.sequence_number, 6u);
    ASSERT_TRUE(c.send(smpp::make_pdu(smpp::EnquireLink{}, 8)));
    auto el = c.recv();
    ASSERT_TRUE(el);
    EXPECT_EQ(el->header.command_id, smpp::to_u32(smpp::CommandId::EnquireLinkResp));
  }
  {
    // Random bytes, then a clean close mid-PDU.
    RawClient c(sim.port());
    std::vector<uint8_t> noise(300);
    uint32_t x = 12345;
    for (auto& b : noise) b = static_cast<uint8_t>((x = x * 1103515245 + 12345) >> 16);
    c.send_bytes(noise);
  }
  {
    // Submit before bind.
    RawClient c(sim.port());
    ASSERT_TRUE(c.send(smpp::make_pdu(make_submit("4479", "x"), 3)));
    auto resp = c.recv();
    ASSERT_TRUE(resp);
    EXPECT_EQ(resp->header.command_status, st::ESME_RINVBNDSTS);
  }
  EXPECT_FALSE(sim.process().wait(100ms)) << "smsc-sim exited";
  auto s = sim.stats();
  EXPECT_GE(s["protocol"]["bad_frames"].get<uint64_t>(), 1u);
  EXPECT_GE(s["protocol"]["generic_nack_sent"].get<uint64_t>(), 2u);
  auto r = sim.load({"--count", "20"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
}

TEST(SmscSim, SigtermPrintsFinalStatsAndExitsZero) {
  SimProcess sim({"--dlr-delay", "1"});
  auto r = sim.load({"--count", "30", "--mix", "gsm7=100"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  sim.process().signal(SIGUSR1);
  ASSERT_TRUE(sim.process().wait_for_err("\"accepted\": 30", 5s)) << sim.process().err();
  sim.process().signal(SIGTERM);
  auto code = sim.process().wait(5s);
  ASSERT_TRUE(code);
  EXPECT_EQ(*code, 0);
  auto final_stats = json::parse(sim.process().out(), nullptr, false);
  ASSERT_FALSE(final_stats.is_discarded()) << sim.process().out();
  EXPECT_EQ(final_stats["submits"]["accepted"], 30);
}

TEST(SmscSim, SilentModeRevealsThePeerWindowAndCanBeSwitchedOff) {
  SimProcess sim({"--dlr-delay", "1"});
  int code = 0;
  sim.http("POST", "/mode?silent=1", &code);
  ASSERT_EQ(code, 200);
  Subprocess load({esme_load_path(), "--port", std::to_string(sim.port()), "--window", "7",
                   "--count", "50", "--json"});
  json s;
  for (int i = 0; i < 200; ++i) {
    s = sim.stats();
    if (s["submits"]["silent_ignored"] == 7) break;
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(s["submits"]["silent_ignored"], 7);
  EXPECT_EQ(s["window"]["max_outstanding"], 7);
  ASSERT_EQ(s["window"]["binds"].size(), 1u);
  EXPECT_EQ(s["window"]["binds"][0]["outstanding"], 7);
  load.signal(SIGTERM);
  auto rc = load.wait(10s);
  ASSERT_TRUE(rc);
  EXPECT_EQ(*rc, 1);  // nothing was acknowledged

  sim.http("POST", "/mode?silent=0&latency=40", &code);
  ASSERT_EQ(code, 200);
  auto r = sim.load({"--count", "10", "--window", "2"});
  ASSERT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_GE(r.json["latency_ms"]["submit"]["p50"].get<double>(), 35.0);

  sim.http("POST", "/mode?latency=abc", &code);
  EXPECT_EQ(code, 400);
  sim.http("POST", "/mode?nonsense=1", &code);
  EXPECT_EQ(code, 400);
}

TEST(SmscSim, ErrorRatesAnswerWithTheirStatus) {
  SimProcess sim({"--perm-error-rate", "1"});
  auto r = sim.load({"--count", "20", "--mix", "gsm7=100"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.json["rejected"]["ESME_RINVDSTADR"], 20);
  EXPECT_EQ(sim.stats()["dlr"]["scheduled"], 0);
  int code = 0;
  sim.http("POST", "/mode?perm_error_rate=0&temp_error_rate=1", &code);
  ASSERT_EQ(code, 200);
  r = sim.load({"--count", "20", "--mix", "gsm7=100"});
  EXPECT_EQ(r.code, 1);
  EXPECT_EQ(r.json["rejected"]["ESME_RMSGQFUL"], 20);
  auto s = sim.stats();
  EXPECT_EQ(s["submits"]["errors"]["ESME_RINVDSTADR"], 20);
  EXPECT_EQ(s["submits"]["errors"]["ESME_RMSGQFUL"], 20);
  EXPECT_EQ(s["submits"]["accepted"], 0);
}

TEST(SmscSim, DropRateClosesTheConnectionUnanswered) {
  SimProcess sim({"--drop-rate", "1"});
  RawClient c(sim.port());
  ASSERT_EQ(c.bind("a", "b"), st::ESME_ROK);
  ASSERT_TRUE(c.send(smpp::make_pdu(make_submit("447900000009", "bye"), 2)));
  EXPECT_TRUE(c.wait_closed());
  EXPECT_EQ(sim.stats()["connections"]["dropped_by_fault"], 1);
}

TEST(SmscSim, FailureOnlyReceiptsSkipDelivered) {
  SimProcess sim({"--dlr-mix", "DELIVRD=1", "--dlr-delay", "1"});
  auto r = sim.load({"--count", "20", "--registered-delivery", "2", "--dlr-timeout", "0"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.json["dlr"]["received"], 0);
  EXPECT_EQ(sim.stats()["dlr"]["scheduled"], 0);

  SimProcess failing({"--dlr-mix", "UNDELIV=1", "--dlr-delay", "1"});
  r = failing.load(
      {"--count", "20", "--mix", "gsm7=100", "--registered-delivery", "2", "--dlr-timeout", "1"});
  EXPECT_EQ(r.code, 0) << r.out << r.err;
  EXPECT_EQ(r.json["dlr"]["by_stat"]["UNDELIV"], 20);
}

TEST(SmscSim, MoFromHttpAndFromRate) {
  SimProcess sim({"--mo-rate", "50"});
  RawClient c(sim.port());
  ASSERT_EQ(c.bind("acct", "pw", smpp::CommandId::BindReceiver), st::ESME_ROK);
  int code = 0;
  sim.http("POST", "/mo?from=447700900555&to=12345&text=hello%20there&system_id=acct", &code);
  ASSERT_EQ(code, 200);
  bool got_http_mo = false, got_generated = false;
  for (int i = 0; i < 30 && !(got_http_mo && got_generated); ++i) {
    auto p = c.recv();
    ASSERT_TRUE(p);
    if (p->header.command_id == smpp::to_u32(smpp::CommandId::EnquireLink)) continue;
    const auto& dm = std::get<smpp::DeliverSm>(p->body);
    EXPECT_EQ(dm.esm_class, 0);
    const std::string text(dm.short_message.begin(), dm.short_message.end());
    if (text == "hello there") {
      got_http_mo = true;
      EXPECT_EQ(dm.source.addr, "447700900555");
      EXPECT_EQ(dm.dest.addr, "12345");
    } else if (text.rfind("MO ", 0) == 0) {
      got_generated = true;
    }
    c.send(smpp::make_pdu(smpp::DeliverSmResp{}, p->header.sequence_number));
  }
  EXPECT_TRUE(got_http_mo);
  EXPECT_TRUE(got_generated);
  EXPECT_GE(sim.stats()["mo"]["sent"].get<uint64_t>(), 2u);
}

TEST(SmscSim, UnansweredDeliveriesAreResentThenGivenUp) {
  SimProcess sim({"--dlr-delay", "1", "--dlr-resp-timeout", "1", "--dlr-retries", "1"});
  RawClient c(sim.port());
  ASSERT_EQ(c.bind("a", "b"), st::ESME_ROK);
  ASSERT_TRUE(c.send(smpp::make_pdu(make_submit("447900000003", "resend me"), 2)));
  ASSERT_TRUE(c.recv());  // submit_sm_resp
  auto first = c.recv();
  ASSERT_TRUE(first);
  auto second = c.recv(4s);  // not answered: sent again after the timeout
  ASSERT_TRUE(second);
  EXPECT_EQ(std::get<smpp::DeliverSm>(first->body), std::get<smpp::DeliverSm>(second->body));
  EXPECT_NE(first->header.sequence_number, second->header.sequence_number);
  json s;
  for (int i = 0; i < 60; ++i) {
    s = sim.stats();
    if (s["dlr"]["given_up"] == 1) break;
    std::this_thread::sleep_for(50ms);
  }
  EXPECT_EQ(s["dlr"]["given_up"], 1);
  EXPECT_EQ(s["dlr"]["resent"], 1);
}

TEST(SmscSim, SendsItsOwnEnquireLink) {
  SimProcess sim({"--enquire-link", "1"});
  RawClient c(sim.port());
  ASSERT_EQ(c.bind("a", "b"), st::ESME_ROK);
  auto p = c.recv(4s);
  ASSERT_TRUE(p);
  EXPECT_EQ(p->header.command_id, smpp::to_u32(smpp::CommandId::EnquireLink));
  ASSERT_TRUE(c.send(smpp::make_pdu(smpp::EnquireLinkResp{}, p->header.sequence_number)));
  ASSERT_TRUE(c.send(smpp::make_pdu(smpp::Unbind{}, 9)));
  auto u = c.recv();
  ASSERT_TRUE(u);
  EXPECT_EQ(u->header.command_id, smpp::to_u32(smpp::CommandId::UnbindResp));
  EXPECT_TRUE(c.wait_closed());
}

}  // namespace
}  // namespace sluice::test::sim
