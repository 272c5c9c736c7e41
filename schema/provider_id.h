#pragma once
// Provider message ids made comparable, and the Kafka keys built from them.
//
// A provider names a message twice: in submit_sm_resp (recorded by the sender
// as Sent.provider_message_id) and in its receipts (receipted_message_id TLV or
// the "id:" of the receipt text). The two spellings often differ: upper or
// lower case, with or without leading zeros, and some SMSCs answer submit_sm in
// hex and report receipts in decimal ("0000A1B2" then "41394"). The providers
// table says nothing about a provider's habit, so the join must work without it.
//
// Header-only and free of project dependencies so that the sender (which must
// compute the same keys) can share it; see dlr/README.md for the rules and for
// the ambiguity they leave.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace sluice::schema::pid {

enum class Kind {
  empty,
  decimal,  // digits only: read as decimal, or as hex without letters
  hex,      // hex digits with at least one letter a-f, or a 0x prefix
  opaque,   // anything else: compared as text, case-insensitively
};

struct Parsed {
  Kind kind = Kind::empty;
  std::string
      digits;  // decimal/hex: the digits, lower case, no 0x, no leading zeros ("0" for zero)
  std::string spelling;  // how the provider wrote it, minus case, 0x and leading zeros
};

// How a receipt's id relates to a Sent's id under the same key.
enum class Relation {
  none,
  same,        // same spelling (same digits, or same text)
  hex_to_dec,  // submit_sm_resp in hex, receipt in decimal
  dec_to_hex,  // submit_sm_resp in decimal, receipt in hex
};

inline const char* relation_name(Relation r) {
  switch (r) {
    case Relation::same:
      return "same";
    case Relation::hex_to_dec:
      return "hex_to_dec";
    case Relation::dec_to_hex:
      return "dec_to_hex";
    default:
      return "none";
  }
}

namespace detail {
inline bool is_dec(char c) {
  return c >= '0' && c <= '9';
}
inline bool is_hex_letter(char c) {
  return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}
inline char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}
inline unsigned hex_value(char c) {
  if (is_dec(c)) return static_cast<unsigned>(c - '0');
  return static_cast<unsigned>(lower(c) - 'a' + 10);
}
inline std::string_view trim(std::string_view s) {
  // SMSCs pad C-octet strings and TLVs with NULs and blanks.
  auto blank = [](char c) { return c == '\0' || c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  return s;
}
inline std::string strip_zeros(std::string_view digits) {
  size_t i = 0;
  while (i + 1 < digits.size() && digits[i] == '0') ++i;
  std::string out(digits.substr(i));
  for (char& c : out) c = lower(c);
  return out.empty() ? std::string("0") : out;
}
// Longer than any SMPP id (65 octets) with room to spare; beyond it a string
// is not treated as a number, which keeps the arithmetic below trivially cheap.
inline constexpr size_t kMaxNumberLength = 128;
}  // namespace detail

// The decimal digits of a hex number of any length (ids longer than 64 bits exist).
inline std::string hex_to_dec(std::string_view hex) {
  std::vector<uint32_t> limbs;  // base 1e9, least significant first
  for (char c : hex) {
    uint64_t carry = detail::hex_value(c);
    for (auto& l : limbs) {
      uint64_t v = uint64_t{l} * 16 + carry;
      l = static_cast<uint32_t>(v % 1000000000);
      carry = v / 1000000000;
    }
    if (carry) limbs.push_back(static_cast<uint32_t>(carry));
  }
  if (limbs.empty()) return "0";
  std::string out = std::to_string(limbs.back());
  for (size_t i = limbs.size() - 1; i-- > 0;) {
    std::string part = std::to_string(limbs[i]);
    out.append(9 - part.size(), '0');
    out += part;
  }
  return out;
}

inline Parsed parse(std::string_view raw) {
  Parsed p;
  std::string_view t = detail::trim(raw);
  if (t.empty()) return p;
  bool forced_hex = false;
  std::string_view body = t;
  if (t.size() > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X')) {
    body = t.substr(2);
    forced_hex = true;
  }
  bool all_dec = true, all_hex = true, letter = false;
  for (char c : body) {
    bool d = detail::is_dec(c), h = detail::is_hex_letter(c);
    all_dec = all_dec && d;
    all_hex = all_hex && (d || h);
    letter = letter || h;
  }
  if (t.size() <= detail::kMaxNumberLength && all_hex && (forced_hex || letter)) {
    p.kind = Kind::hex;
  } else if (t.size() <= detail::kMaxNumberLength && all_dec && !forced_hex) {
    p.kind = Kind::decimal;
  } else {
    p.kind = Kind::opaque;
    p.spelling.reserve(t.size());
    for (char c : t) p.spelling += detail::lower(c);
    return p;
  }
  p.digits = detail::strip_zeros(body);
  p.spelling = p.digits;
  return p;
}

// The canonical forms one id may stand for, most literal first: a number
// becomes its decimal value, other text "~" + lower case (so that text never
// equals a number's form).
inline std::vector<std::string> forms(const Parsed& p) {
  switch (p.kind) {
    case Kind::decimal: {
      std::vector<std::string> f{p.digits};
      std::string as_hex = hex_to_dec(p.digits);
      if (as_hex != p.digits) f.push_back(std::move(as_hex));  // "1".."9" read the same both ways
      return f;
    }
    case Kind::hex:
      return {hex_to_dec(p.digits)};
    case Kind::opaque:
      return {"~" + p.spelling};
    default:
      return {"~"};
  }
}

inline std::string join_key(int64_t provider_id, std::string_view form) {
  std::string k = std::to_string(provider_id);
  k += '|';
  k += form;
  return k;
}

// The keys a Sent is written under (one record per key), the first being its
// "primary" key: digits-only ids get a second key, their value read as hex.
inline std::vector<std::string> sent_keys(int64_t provider_id,
                                          std::string_view provider_message_id) {
  std::vector<std::string> keys;
  for (const auto& f : forms(parse(provider_message_id))) keys.push_back(join_key(provider_id, f));
  return keys;
}

// The one key a receipt is written under: digits are read as decimal.
inline std::string receipt_key(int64_t provider_id, std::string_view provider_message_id) {
  return join_key(provider_id, forms(parse(provider_message_id)).front());
}

inline Relation relation(const Parsed& sent, const Parsed& receipt) {
  bool sent_num = sent.kind == Kind::decimal || sent.kind == Kind::hex;
  bool rcpt_num = receipt.kind == Kind::decimal || receipt.kind == Kind::hex;
  if (sent_num != rcpt_num) return Relation::none;
  if (!sent_num)
    return sent.kind == receipt.kind && sent.spelling == receipt.spelling ? Relation::same
                                                                          : Relation::none;
  if (sent.spelling == receipt.spelling) return Relation::same;
  if (receipt.kind == Kind::decimal && hex_to_dec(sent.digits) == receipt.digits)
    return Relation::hex_to_dec;
  if (sent.kind == Kind::decimal && hex_to_dec(receipt.digits) == sent.digits)
    return Relation::dec_to_hex;
  return Relation::none;
}

inline Relation relation(std::string_view sent_id, std::string_view receipt_id) {
  return relation(parse(sent_id), parse(receipt_id));
}

}  // namespace sluice::schema::pid
