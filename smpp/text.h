// data_coding: the character sets of short_message / message_payload.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::smpp {

enum class Charset { Gsm7, Latin1, Ucs2, Binary, Ascii };

// 0 = SMSC default alphabet, taken as GSM 03.38 unpacked (one septet per
// octet), the usual SMPP convention; 1 = IA5/ASCII; 3 = Latin-1; 8 = UCS-2;
// 2, 4 and the national sets = Binary; 0x10 and up follow the GSM 03.38
// coding groups (0xF0-0xF3 = GSM 7-bit with a message class).
Charset charset_of(uint8_t data_coding);

// nullopt when the octets are not valid text in that charset (or are binary).
std::optional<std::string> to_utf8(uint8_t data_coding, std::span<const uint8_t> octets);
std::optional<std::string> to_utf8(Charset cs, std::span<const uint8_t> octets);

// nullopt when the text is not valid UTF-8 or a character has no encoding in
// cs. Gsm7 gives unpacked septets (ESC 0x1B before extension characters);
// Ucs2 gives UTF-16BE with surrogate pairs; Binary gives the octets as they are.
std::optional<std::vector<uint8_t>> from_utf8(std::string_view utf8, Charset cs);

// The data_coding value for a charset (Gsm7 -> 0, Ascii -> 1, Binary -> 4, ...).
uint8_t data_coding_of(Charset cs);

// Packs septets (each < 0x80) into 7-bit GSM packing, LSB first.
std::vector<uint8_t> gsm7_pack(std::span<const uint8_t> septets, unsigned fill_bits = 0);
// Unpacks septet_count septets, skipping fill_bits leading padding bits (used
// after a UDH to reach a septet boundary). Stops early rather than read past
// packed.
std::vector<uint8_t> gsm7_unpack(std::span<const uint8_t> packed, size_t septet_count,
                                 unsigned fill_bits = 0);

inline constexpr size_t kNotGsm7 = std::numeric_limits<size_t>::max();
// Septets the text takes in GSM 7-bit (extension characters count 2);
// kNotGsm7 when the text is not valid UTF-8 or has a character outside GSM.
size_t gsm7_septet_length(std::string_view utf8);

}  // namespace sluice::smpp
