#include "smpp/text.h"

#include <array>

namespace sluice::smpp {
namespace {

constexpr uint8_t kEsc = 0x1B;

// GSM 03.38 default alphabet, septet -> Unicode. 0x1B is the escape to the
// extension table and is handled separately.
constexpr std::array<char32_t, 128> kGsmBasic = {
    U'@',      U'\u00A3', U'$',      U'\u00A5', U'\u00E8', U'\u00E9', U'\u00F9', U'\u00EC',
    U'\u00F2', U'\u00C7', U'\n',     U'\u00D8', U'\u00F8', U'\r',     U'\u00C5', U'\u00E5',
    U'\u0394', U'_',      U'\u03A6', U'\u0393', U'\u039B', U'\u03A9', U'\u03A0', U'\u03A8',
    U'\u03A3', U'\u0398', U'\u039E', U'\u00A0', U'\u00C6', U'\u00E6', U'\u00DF', U'\u00C9',
    U' ',      U'!',      U'"',      U'#',      U'\u00A4', U'%',      U'&',      U'\'',
    U'(',      U')',      U'*',      U'+',      U',',      U'-',      U'.',      U'/',
    U'0',      U'1',      U'2',      U'3',      U'4',      U'5',      U'6',      U'7',
    U'8',      U'9',      U':',      U';',      U'<',      U'=',      U'>',      U'?',
    U'\u00A1', U'A',      U'B',      U'C',      U'D',      U'E',      U'F',      U'G',
    U'H',      U'I',      U'J',      U'K',      U'L',      U'M',      U'N',      U'O',
    U'P',      U'Q',      U'R',      U'S',      U'T',      U'U',      U'V',      U'W',
    U'X',      U'Y',      U'Z',      U'\u00C4', U'\u00D6', U'\u00D1', U'\u00DC', U'\u00A7',
    U'\u00BF', U'a',      U'b',      U'c',      U'd',      U'e',      U'f',      U'g',
    U'h',      U'i',      U'j',      U'k',      U'l',      U'm',      U'n',      U'o',
    U'p',      U'q',      U'r',      U's',      U't',      U'u',      U'v',      U'w',
    U'x',      U'y',      U'z',      U'\u00E4', U'\u00F6', U'\u00F1', U'\u00FC', U'\u00E0',
};

struct ExtEntry {
  uint8_t septet;
  char32_t cp;
};
constexpr ExtEntry kGsmExt[] = {
    {0x0A, U'\f'}, {0x14, U'^'}, {0x28, U'{'}, {0x29, U'}'}, {0x2F, U'\\'},
    {0x3C, U'['},  {0x3D, U'~'}, {0x3E, U']'}, {0x40, U'|'}, {0x65, U'\u20AC'},
};

// Septets for one code point: 1 or 2 (ESC + ext), 0 when not representable.
int gsm_encode(char32_t cp, uint8_t out[2]) {
  if (cp == U'\u00E7') cp = U'\u00C7';  // phones show 0x09 as either; accept both on input
  for (uint8_t i = 0; i < 128; ++i) {
    if (i != kEsc && kGsmBasic[i] == cp) {
      out[0] = i;
      return 1;
    }
  }
  for (const ExtEntry& e : kGsmExt) {
    if (e.cp == cp) {
      out[0] = kEsc;
      out[1] = e.septet;
      return 2;
    }
  }
  return 0;
}

void put_utf8(std::string& s, char32_t cp) {
  if (cp < 0x80) {
    s.push_back(static_cast<char>(cp));
  } else if (cp < 0x800) {
    s.push_back(static_cast<char>(0xC0 | (cp >> 6)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    s.push_back(static_cast<char>(0xE0 | (cp >> 12)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  } else {
    s.push_back(static_cast<char>(0xF0 | (cp >> 18)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3F)));
    s.push_back(static_cast<char>(0x80 | (cp & 0x3F)));
  }
}

// Strict UTF-8: rejects overlong forms, surrogates and values past U+10FFFF,
// so nothing that came in as invalid text leaves as a different character.
bool next_utf8(std::string_view s, size_t& i, char32_t& cp) {
  const auto b = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t c = b(i);
  size_t n;
  char32_t min;
  if (c < 0x80) {
    cp = c;
    ++i;
    return true;
  } else if ((c & 0xE0) == 0xC0) {
    n = 1, cp = c & 0x1F, min = 0x80;
  } else if ((c & 0xF0) == 0xE0) {
    n = 2, cp = c & 0x0F, min = 0x800;
  } else if ((c & 0xF8) == 0xF0) {
    n = 3, cp = c & 0x07, min = 0x10000;
  } else {
    return false;
  }
  if (s.size() - i <= n) return false;
  for (size_t k = 1; k <= n; ++k) {
    if ((b(i + k) & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (b(i + k) & 0x3F);
  }
  if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
  i += n + 1;
  return true;
}

}  // namespace

Charset charset_of(uint8_t dc) {
  switch (dc) {
    case 0x00:
      return Charset::Gsm7;
    case 0x01:
      return Charset::Ascii;
    case 0x03:
      return Charset::Latin1;
    case 0x08:
      return Charset::Ucs2;
    default:
      break;
  }
  if (dc < 0x10) return Charset::Binary;  // 8-bit data and national sets we do not map
  // GSM 03.38 coding groups.
  if (dc < 0x80) {                          // 00xx / 01xx general data coding
    if (dc & 0x20) return Charset::Binary;  // compressed
    switch ((dc >> 2) & 0x03) {
      case 0:
        return Charset::Gsm7;
      case 2:
        return Charset::Ucs2;
      default:
        return Charset::Binary;
    }
  }
  if (dc >= 0xC0 && dc <= 0xDF) return Charset::Gsm7;  // message waiting, GSM 7-bit
  if (dc >= 0xE0 && dc <= 0xEF) return Charset::Ucs2;  // message waiting, UCS-2
  if (dc >= 0xF0) return (dc & 0x04) ? Charset::Binary : Charset::Gsm7;
  return Charset::Binary;  // 0x80-0xBF reserved
}

uint8_t data_coding_of(Charset cs) {
  switch (cs) {
    case Charset::Gsm7:
      return 0x00;
    case Charset::Ascii:
      return 0x01;
    case Charset::Latin1:
      return 0x03;
    case Charset::Ucs2:
      return 0x08;
    case Charset::Binary:
      return 0x04;
  }
  return 0x04;
}

std::optional<std::string> to_utf8(uint8_t data_coding, std::span<const uint8_t> octets) {
  return to_utf8(charset_of(data_coding), octets);
}

std::optional<std::string> to_utf8(Charset cs, std::span<const uint8_t> in) {
  std::string out;
  out.reserve(in.size());
  switch (cs) {
    case Charset::Binary:
      return std::nullopt;
    case Charset::Ascii:
      for (uint8_t c : in) {
        if (c >= 0x80) return std::nullopt;
        out.push_back(static_cast<char>(c));
      }
      return out;
    case Charset::Latin1:
      for (uint8_t c : in) put_utf8(out, c);
      return out;
    case Charset::Gsm7:
      for (size_t i = 0; i < in.size(); ++i) {
        const uint8_t c = in[i];
        if (c >= 0x80) return std::nullopt;
        if (c != kEsc) {
          put_utf8(out, kGsmBasic[c]);
          continue;
        }
        // 03.38: a lone ESC shows as a space; an unknown extension shows the
        // basic character of the following septet.
        if (i + 1 == in.size()) {
          out.push_back(' ');
          continue;
        }
        const uint8_t e = in[++i];
        if (e >= 0x80) return std::nullopt;
        char32_t cp = kGsmBasic[e];
        for (const ExtEntry& x : kGsmExt) {
          if (x.septet == e) cp = x.cp;
        }
        if (e == kEsc) cp = U' ';
        put_utf8(out, cp);
      }
      return out;
    case Charset::Ucs2:
      if (in.size() % 2 != 0) return std::nullopt;
      for (size_t i = 0; i < in.size(); i += 2) {
        char32_t u = static_cast<char32_t>((in[i] << 8) | in[i + 1]);
        if (u >= 0xDC00 && u <= 0xDFFF) return std::nullopt;
        if (u >= 0xD800 && u <= 0xDBFF) {
          if (i + 3 >= in.size()) return std::nullopt;
          const char32_t lo = static_cast<char32_t>((in[i + 2] << 8) | in[i + 3]);
          if (lo < 0xDC00 || lo > 0xDFFF) return std::nullopt;
          u = 0x10000 + ((u - 0xD800) << 10) + (lo - 0xDC00);
          i += 2;
        }
        put_utf8(out, u);
      }
      return out;
  }
  return std::nullopt;
}

std::optional<std::vector<uint8_t>> from_utf8(std::string_view s, Charset cs) {
  std::vector<uint8_t> out;
  out.reserve(cs == Charset::Ucs2 ? s.size() * 2 : s.size());
  if (cs == Charset::Binary) {
    out.assign(s.begin(), s.end());
    return out;
  }
  size_t i = 0;
  while (i < s.size()) {
    char32_t cp;
    if (!next_utf8(s, i, cp)) return std::nullopt;
    switch (cs) {
      case Charset::Ascii:
        if (cp >= 0x80) return std::nullopt;
        out.push_back(static_cast<uint8_t>(cp));
        break;
      case Charset::Latin1:
        if (cp >= 0x100) return std::nullopt;
        out.push_back(static_cast<uint8_t>(cp));
        break;
      case Charset::Gsm7: {
        uint8_t sept[2];
        const int n = gsm_encode(cp, sept);
        if (n == 0) return std::nullopt;
        out.insert(out.end(), sept, sept + n);
        break;
      }
      case Charset::Ucs2: {
        auto put16 = [&out](char32_t u) {
          out.push_back(static_cast<uint8_t>(u >> 8));
          out.push_back(static_cast<uint8_t>(u & 0xFF));
        };
        if (cp >= 0x10000) {
          const char32_t v = cp - 0x10000;
          put16(0xD800 + (v >> 10));
          put16(0xDC00 + (v & 0x3FF));
        } else {
          put16(cp);
        }
        break;
      }
      case Charset::Binary:
        break;
    }
  }
  return out;
}

std::vector<uint8_t> gsm7_pack(std::span<const uint8_t> septets, unsigned fill_bits) {
  fill_bits %= 8;
  const size_t bits = fill_bits + septets.size() * 7;
  std::vector<uint8_t> out((bits + 7) / 8, 0);
  size_t pos = fill_bits;
  for (uint8_t s : septets) {
    const unsigned v = s & 0x7Fu;
    const size_t byte = pos / 8;
    const unsigned shift = pos % 8;
    out[byte] = static_cast<uint8_t>(out[byte] | ((v << shift) & 0xFF));
    if (shift > 1) out[byte + 1] = static_cast<uint8_t>(out[byte + 1] | (v >> (8 - shift)));
    pos += 7;
  }
  return out;
}

std::vector<uint8_t> gsm7_unpack(std::span<const uint8_t> packed, size_t septet_count,
                                 unsigned fill_bits) {
  fill_bits %= 8;
  const size_t avail = packed.size() * 8 > fill_bits ? (packed.size() * 8 - fill_bits) / 7 : 0;
  const size_t n = std::min(septet_count, avail);
  std::vector<uint8_t> out;
  out.reserve(n);
  size_t pos = fill_bits;
  for (size_t i = 0; i < n; ++i, pos += 7) {
    const size_t byte = pos / 8;
    const unsigned shift = pos % 8;
    unsigned v = packed[byte] >> shift;
    if (shift > 1) v |= static_cast<unsigned>(packed[byte + 1]) << (8 - shift);
    out.push_back(static_cast<uint8_t>(v & 0x7F));
  }
  return out;
}

size_t gsm7_septet_length(std::string_view s) {
  size_t n = 0, i = 0;
  while (i < s.size()) {
    char32_t cp;
    if (!next_utf8(s, i, cp)) return kNotGsm7;
    uint8_t sept[2];
    const int k = gsm_encode(cp, sept);
    if (k == 0) return kNotGsm7;
    n += static_cast<size_t>(k);
  }
  return n;
}

}  // namespace sluice::smpp
