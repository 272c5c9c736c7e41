#include "smpp/receipt.h"

#include <array>
#include <charconv>

namespace sluice::smpp {
namespace {

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (lower(a[i]) != lower(b[i])) return false;
  }
  return true;
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

std::string pad3(int v) {
  if (v < 0) v = 0;
  std::string s = std::to_string(v);
  if (s.size() < 3) s.insert(0, 3 - s.size(), '0');
  return s;
}

enum class Key { Id, Sub, Dlvrd, SubmitDate, DoneDate, Stat, Err, Text };

struct KeyName {
  std::string_view name;
  Key key;
};
// Longer names first where one is a prefix of another ("submit date" vs "sub").
constexpr std::array<KeyName, 10> kKeys = {{
    {"submit date", Key::SubmitDate},
    {"submit_date", Key::SubmitDate},
    {"done date", Key::DoneDate},
    {"done_date", Key::DoneDate},
    {"dlvrd", Key::Dlvrd},
    {"sub", Key::Sub},
    {"id", Key::Id},
    {"stat", Key::Stat},
    {"err", Key::Err},
    {"text", Key::Text},
}};

struct StateName {
  std::string_view name;
  uint8_t state;
};
constexpr std::array<StateName, 16> kStates = {{
    {"ENROUTE", 1},
    {"DELIVRD", 2},
    {"DELIVERED", 2},
    {"EXPIRED", 3},
    {"DELETED", 4},
    {"UNDELIV", 5},
    {"UNDELIVERABLE", 5},
    {"UNDELIVERED", 5},
    {"FAILED", 5},
    {"ACCEPTD", 6},
    {"ACCEPTED", 6},
    {"UNKNOWN", 7},
    {"REJECTD", 8},
    {"REJECTED", 8},
    {"REJECT", 8},
    {"EXPIRD", 3},
}};

}  // namespace

std::string format_receipt(const Receipt& r) {
  std::string err = r.err.empty() ? "000" : r.err;
  if (err.size() < 3) err.insert(0, 3 - err.size(), '0');
  std::string s;
  s.reserve(128);
  s += "id:" + r.id;
  s += " sub:" + pad3(r.sub);
  s += " dlvrd:" + pad3(r.dlvrd);
  s += " submit date:" + r.submit_date;
  s += " done date:" + r.done_date;
  s += " stat:" + r.stat;
  s += " err:" + err;
  s += " text:" + r.text.substr(0, 20);
  return s;
}

std::optional<Receipt> parse_receipt(std::string_view s) {
  Receipt r;
  bool have_id = false, have_stat = false;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && is_space(s[i])) ++i;
    if (i >= s.size()) break;
    const KeyName* match = nullptr;
    for (const KeyName& k : kKeys) {
      const size_t n = k.name.size();
      if (s.size() - i > n && s[i + n] == ':' && iequals(s.substr(i, n), k.name)) {
        match = &k;
        break;
      }
    }
    if (match == nullptr) {  // not a key we know: skip the word
      while (i < s.size() && !is_space(s[i])) ++i;
      continue;
    }
    i += match->name.size() + 1;
    if (match->key == Key::Text) {
      r.text = std::string(s.substr(i));
      break;
    }
    const size_t start = i;
    while (i < s.size() && !is_space(s[i])) ++i;
    const std::string_view v = s.substr(start, i - start);
    auto to_int = [&v](int& out) {
      int x = 0;
      auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), x);
      if (ec == std::errc() && p == v.data() + v.size()) out = x;
    };
    switch (match->key) {
      case Key::Id:
        r.id = v, have_id = true;
        break;
      case Key::Sub:
        to_int(r.sub);
        break;
      case Key::Dlvrd:
        to_int(r.dlvrd);
        break;
      case Key::SubmitDate:
        r.submit_date = v;
        break;
      case Key::DoneDate:
        r.done_date = v;
        break;
      case Key::Stat:
        r.stat = v, have_stat = true;
        break;
      case Key::Err:
        r.err = v;
        break;
      case Key::Text:
        break;
    }
  }
  if (!have_id && !have_stat) return std::nullopt;
  return r;
}

uint8_t message_state_of(std::string_view stat) {
  for (const StateName& s : kStates) {
    if (iequals(stat, s.name)) return s.state;
  }
  return message_state::UNKNOWN;
}

const char* stat_of(uint8_t state) {
  static constexpr const char* kNames[] = {"UNKNOWN", "ENROUTE", "DELIVRD", "EXPIRED", "DELETED",
                                           "UNDELIV", "ACCEPTD", "UNKNOWN", "REJECTD"};
  return state <= 8 ? kNames[state] : "UNKNOWN";
}

bool is_final_state(uint8_t state) {
  return state >= 2 && state <= 8;
}

}  // namespace sluice::smpp
