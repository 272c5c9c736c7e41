// Whole PDUs written out by hand from the SMPP 3.4 layouts, with the fields
// they must decode to. Shared by the codec tests and the seed-corpus writer.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "smpp/pdu.h"

namespace sluice::smpp::testing {

// "00 0a FF" -> {0x00, 0x0A, 0xFF}; spaces and newlines are ignored.
inline std::vector<uint8_t> unhex(std::string_view s) {
  auto nib = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::vector<uint8_t> out;
  int hi = -1;
  for (char c : s) {
    const int v = nib(c);
    if (v < 0) continue;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  return out;
}

inline std::vector<uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

struct Vector {
  std::string name;
  std::vector<uint8_t> wire;
  Pdu pdu;  // header.command_length included
};

inline Header hdr(uint32_t len, CommandId id, uint32_t st, uint32_t seq) {
  return Header{len, static_cast<uint32_t>(id), st, seq};
}

inline std::vector<Vector> all_vectors() {
  std::vector<Vector> v;

  {
    BindRequest b;
    b.command_id = static_cast<uint32_t>(CommandId::BindTransceiver);
    b.system_id = "sluice";
    b.password = "secret";
    b.system_type = "SMPP";
    b.interface_version = 0x34;
    b.address_range = {1, 1, ""};
    v.push_back({"bind_transceiver",
                 unhex("00000027 00000009 00000000 00000001"  // header
                       "73 6C 75 69 63 65 00"                 // system_id "sluice"
                       "73 65 63 72 65 74 00"                 // password "secret"
                       "53 4D 50 50 00"                       // system_type "SMPP"
                       "34"                                   // interface_version 3.4
                       "01 01 00"),  // addr_ton, addr_npi, address_range ""
                 Pdu{hdr(0x27, CommandId::BindTransceiver, 0, 1), b}});
  }
  {
    SubmitSm m;
    m.source = {5, 0, "Sluice"};
    m.dest = {1, 1, "447700900123"};
    m.validity_period = "000001000000000R";
    m.registered_delivery = 1;
    m.short_message = bytes("hello");
    m.tlvs.items = {{tlv::sar_msg_ref_num, {0x12, 0x34}},
                    {tlv::sar_total_segments, {0x02}},
                    {tlv::sar_segment_seqnum, {0x01}},
                    {0x1400, bytes("abc")}};
    v.push_back(
        {"submit_sm",
         unhex("0000005F 00000004 00000000 00000002"
               "00"                                            // service_type ""
               "05 00 53 6C 75 69 63 65 00"                    // source 5/0 "Sluice"
               "01 01 34 34 37 37 30 30 39 30 30 31 32 33 00"  // dest 1/1 "447700900123"
               "00 00 00"                                      // esm_class, protocol_id, priority
               "00"                                            // schedule_delivery_time ""
               "30 30 30 30 30 31 30 30 30 30 30 30 30 30 30 52 00"  // validity 1 day, relative
               "01 00 00 00"            // registered_delivery .. sm_default
               "05 68 65 6C 6C 6F"      // sm_length 5 "hello"
               "02 0C 0002 12 34"       // sar_msg_ref_num 0x1234
               "02 0E 0001 02"          // sar_total_segments 2
               "02 0F 0001 01"          // sar_segment_seqnum 1
               "14 00 0003 61 62 63"),  // vendor TLV 0x1400 "abc"
         Pdu{hdr(0x5F, CommandId::SubmitSm, 0, 2), m}});
  }
  {
    DeliverSm m;
    m.source = {1, 1, "447700900123"};
    m.dest = {5, 0, "Sluice"};
    m.esm_class = 0x04;
    m.short_message = bytes(
        "id:abc123 sub:001 dlvrd:001 submit date:2401011200 done date:2401011201 stat:DELIVRD "
        "err:000 text:hello");
    m.tlvs.items = {{tlv::receipted_message_id, bytes(std::string_view("abc123\0", 7))},
                    {tlv::message_state, {0x02}},
                    {tlv::network_error_code, {0x03, 0x00, 0x00}}};
    v.push_back(
        {"deliver_sm_receipt",
         unhex("000000B1 00000005 00000000 00000003"
               "00"                                            // service_type
               "01 01 34 34 37 37 30 30 39 30 30 31 32 33 00"  // source 1/1 "447700900123"
               "05 00 53 6C 75 69 63 65 00"                    // dest 5/0 "Sluice"
               "04 00 00"                                      // esm_class: delivery receipt
               "00 00"                                         // schedule, validity
               "00 00 00 00"                                   // registered_delivery .. sm_default
               "67"                                            // sm_length 103
               "69 64 3A 61 62 63 31 32 33 20 73 75 62 3A 30 30 31 20 64 6C 76 72 64 3A 30 30 31 20"
               "73 75 62 6D 69 74 20 64 61 74 65 3A 32 34 30 31 30 31 31 32 30 30 20 64 6F 6E 65"
               "20 64 61 74 65 3A 32 34 30 31 30 31 31 32 30 31 20 73 74 61 74 3A 44 45 4C 49 56"
               "52 44 20 65 72 72 3A 30 30 30 20 74 65 78 74 3A 68 65 6C 6C 6F"
               "00 1E 0007 61 62 63 31 32 33 00"  // receipted_message_id "abc123"
               "04 27 0001 02"                    // message_state DELIVERED
               "04 23 0003 03 00 00"),            // network_error_code GSM 0
         Pdu{hdr(0xB1, CommandId::DeliverSm, 0, 3), m}});
  }
  v.push_back({"enquire_link", unhex("00000010 00000015 00000000 00000007"),
               Pdu{hdr(0x10, CommandId::EnquireLink, 0, 7), EnquireLink{}}});
  v.push_back({"generic_nack", unhex("00000010 80000000 00000003 00000008"),
               Pdu{hdr(0x10, CommandId::GenericNack, status::ESME_RINVCMDID, 8), GenericNack{}}});
  v.push_back({"query_sm_resp",
               unhex("0000002A 80000003 00000000 00000009"
                     "61 62 63 31 32 33 00"                                // message_id
                     "32 34 30 31 30 31 31 32 30 30 30 30 30 30 30 2B 00"  // final_date
                     "02 00"),  // message_state DELIVERED, error_code 0
               Pdu{hdr(0x2A, CommandId::QuerySmResp, 0, 9),
                   QuerySmResp{"abc123", "240101120000000+", 2, 0}}});
  {
    SubmitMulti m;
    m.source = {1, 1, "12345"};
    m.dests = {MultiDest{kDestFlagSme, {1, 1, "4477001"}, ""},
               MultiDest{kDestFlagDistributionList, {}, "friends"}};
    m.priority_flag = 1;
    m.data_coding = 8;
    m.short_message = {0x00, 'H', 0x00, 'i'};
    v.push_back({"submit_multi",
                 unhex("0000003C 00000021 00000000 0000000A"
                       "00"                                // service_type
                       "01 01 31 32 33 34 35 00"           // source 1/1 "12345"
                       "02"                                // number_of_dests
                       "01 01 01 34 34 37 37 30 30 31 00"  // SME 1/1 "4477001"
                       "02 66 72 69 65 6E 64 73 00"        // distribution list "friends"
                       "00 00 01"                          // esm_class, protocol_id, priority 1
                       "00 00"                             // schedule, validity
                       "00 00 08 00"                       // .., data_coding UCS-2, ..
                       "04 00 48 00 69"),                  // "Hi"
                 Pdu{hdr(0x3C, CommandId::SubmitMulti, 0, 10), m}});
  }
  {
    DataSm m;
    m.service_type = "WAP";
    m.source = {1, 1, "447700900123"};
    m.dest = {1, 1, "447700900999"};
    m.registered_delivery = 1;
    m.data_coding = 4;
    m.tlvs.items = {{tlv::source_port, {0x0B, 0x84}},
                    {tlv::dest_port, {0x23, 0xF0}},
                    {tlv::message_payload, {0xDE, 0xAD, 0xBE, 0xEF}}};
    v.push_back({"data_sm",
                 unhex("00000049 00000103 00000000 0000000B"
                       "57 41 50 00"                                   // service_type "WAP"
                       "01 01 34 34 37 37 30 30 39 30 30 31 32 33 00"  // source
                       "01 01 34 34 37 37 30 30 39 30 30 39 39 39 00"  // dest
                       "00 01 04"                  // esm_class, registered_delivery, data_coding
                       "02 0A 0002 0B 84"          // source_port 2948
                       "02 0B 0002 23 F0"          // destination_port 9200
                       "04 24 0004 DE AD BE EF"),  // message_payload
                 Pdu{hdr(0x49, CommandId::DataSm, 0, 11), m}});
  }
  return v;
}

}  // namespace sluice::smpp::testing
