// Writes the fuzzers' seed corpus (fuzz/corpus/smpp/) from the hand-written
// test vectors plus a few PDUs the vectors do not cover, some streams of
// several PDUs and some malformed frames. Usage: smpp_write_seed_corpus DIR
#include <cstdio>
#include <string>
#include <vector>

#include "smpp/pdu.h"
#include "smpp/text.h"
#include "smpp/udh.h"
#include "tests/smpp/vectors.h"

using namespace sluice::smpp;
using sluice::smpp::testing::all_vectors;
using sluice::smpp::testing::bytes;

namespace {

bool write(const std::string& dir, const std::string& name, const std::vector<uint8_t>& data) {
  const std::string path = dir + "/" + name;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return false;
  const bool ok = std::fwrite(data.data(), 1, data.size(), f) == data.size();
  return std::fclose(f) == 0 && ok;
}

std::vector<std::pair<std::string, Pdu>> extra_pdus() {
  std::vector<std::pair<std::string, Pdu>> v;
  BindResp br{to_u32(CommandId::BindTransceiverResp), "smsc", {}};
  br.tlvs.set_u8(tlv::sc_interface_version, 0x34);
  v.emplace_back("bind_transceiver_resp", make_pdu(br, 1));
  v.emplace_back("bind_receiver_failed", make_pdu(BindResp{to_u32(CommandId::BindReceiverResp)}, 1,
                                                  status::ESME_RBINDFAIL));
  v.emplace_back("submit_sm_resp", make_pdu(SubmitSmResp{"0f3c5a77-1"}, 2));
  v.emplace_back("submit_sm_resp_throttled", make_pdu(SubmitSmResp{}, 2, status::ESME_RTHROTTLED));
  v.emplace_back("deliver_sm_resp", make_pdu(DeliverSmResp{}, 3));
  v.emplace_back("unbind", make_pdu(Unbind{}, 4));
  v.emplace_back("unbind_resp", make_pdu(UnbindResp{}, 4));
  v.emplace_back("enquire_link_resp", make_pdu(EnquireLinkResp{}, 7));
  v.emplace_back("outbind", make_pdu(Outbind{"smsc", "pw"}, 1));
  v.emplace_back("query_sm", make_pdu(QuerySm{"abc123", {1, 1, "447700900123"}}, 9));
  v.emplace_back("cancel_sm",
                 make_pdu(CancelSm{"", "abc123", {1, 1, "447700900123"}, {1, 1, "4477"}}, 12));
  v.emplace_back("replace_sm", make_pdu(ReplaceSm{"abc123",
                                                  {1, 1, "447700900123"},
                                                  "240101120000004+",
                                                  "000002000000000R",
                                                  1,
                                                  0,
                                                  bytes("new text")},
                                        13));
  AlertNotification an{{1, 1, "447700900123"}, {5, 0, "Sluice"}, {}};
  an.tlvs.set_u8(tlv::ms_availability_status, 0);
  v.emplace_back("alert_notification", make_pdu(an, 14));
  v.emplace_back("submit_multi_resp",
                 make_pdu(SubmitMultiResp{"m-1", {UnsuccessSme{{1, 1, "4477001"}, 0x0B}}}, 10));
  DataSmResp dr{"d-1", {}};
  dr.tlvs.set_u8(tlv::delivery_failure_reason, 1);
  v.emplace_back("data_sm_resp", make_pdu(dr, 11));

  // A concatenated part in GSM 7-bit with extension characters.
  SubmitSm part;
  part.source = {1, 1, "447700900123"};
  part.dest = {1, 1, "447700900124"};
  part.esm_class = kEsmUdhi;
  part.short_message = make_concat_udh({0x42, 2, 1, false});
  const auto text = *from_utf8("Price: 5€ [today] {only}", Charset::Gsm7);
  part.short_message.insert(part.short_message.end(), text.begin(), text.end());
  v.emplace_back("submit_sm_udh_gsm7", make_pdu(part, 20));

  // UCS-2 in message_payload with a 16-bit reference UDH, as a deliver_sm (MO).
  DeliverSm mo;
  mo.source = {1, 1, "447700900124"};
  mo.dest = {5, 0, "Sluice"};
  mo.esm_class = kEsmUdhi;
  mo.data_coding = 8;
  auto payload = make_concat_udh({0xBEEF, 3, 3, true});
  const auto ucs = *from_utf8("Привет 😀", Charset::Ucs2);
  payload.insert(payload.end(), ucs.begin(), ucs.end());
  mo.tlvs.set_bytes(tlv::message_payload, payload);
  v.emplace_back("deliver_sm_payload_ucs2", make_pdu(mo, 21));

  // sar_* TLVs and a schedule in absolute local time.
  SubmitSm sar = part;
  sar.esm_class = 0;
  sar.short_message = bytes("part two");
  sar.schedule_delivery_time = "300615080910104+";
  sar.tlvs.set_u16(tlv::sar_msg_ref_num, 0x0102);
  sar.tlvs.set_u8(tlv::sar_total_segments, 2);
  sar.tlvs.set_u8(tlv::sar_segment_seqnum, 2);
  v.emplace_back("submit_sm_sar", make_pdu(sar, 22));
  return v;
}

void set_length(std::vector<uint8_t>& w) {
  const auto n = static_cast<uint32_t>(w.size());
  for (int i = 0; i < 4; ++i) w[static_cast<size_t>(i)] = static_cast<uint8_t>(n >> (24 - 8 * i));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIR\n", argv[0]);
    return 2;
  }
  const std::string dir = argv[1];
  int n = 0;
  bool ok = true;
  auto put = [&](const std::string& name, const std::vector<uint8_t>& data) {
    ok = write(dir, name, data) && ok;
    ++n;
  };

  std::vector<uint8_t> stream;
  for (const auto& v : all_vectors()) {
    put("vec_" + v.name, v.wire);
    stream.insert(stream.end(), v.wire.begin(), v.wire.end());
  }
  for (const auto& [name, pdu] : extra_pdus()) {
    const auto w = encode(pdu);
    put("pdu_" + name, w);
    stream.insert(stream.end(), w.begin(), w.end());
  }
  put("stream_all", stream);
  put("stream_cut", std::vector<uint8_t>(stream.begin(), stream.begin() + 100));

  // Malformed frames.
  auto trailing = all_vectors()[1].wire;
  trailing.insert(trailing.end(), {0x12, 0x34, 0x56});
  set_length(trailing);
  put("bad_trailing_garbage", trailing);
  put("bad_too_long", testing::unhex("7FFFFFFF 00000004 00000000 00000001"));
  put("bad_too_short", testing::unhex("0000000C 00000015 00000000 00000001"));
  put("bad_unknown_command", testing::unhex("00000010 0000000A 00000000 00000001"));
  auto sm_len = all_vectors()[1].wire;
  sm_len[66] = 0xF0;  // sm_length past the end
  put("bad_sm_length", sm_len);

  std::fprintf(stderr, "wrote %d seeds to %s\n", n, dir.c_str());
  return ok ? 0 : 1;
}
