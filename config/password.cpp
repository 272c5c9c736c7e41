#include "config/password.h"

#include <crypt.h>
#include <sodium.h>

#include <cctype>
#include <charconv>
#include <cstring>
#include <stdexcept>

namespace sluice::config {
namespace {

// OWASP's minimum for argon2id (t=2, m=19 MiB, p=1). Every bind of a customer
// whose password is not in PasswordVerifier's cache costs one hash; a higher
// memory cost would let a flood of binds exhaust the gateway's memory long
// before its CPU.
constexpr unsigned long long kOpsLimit = 2;
constexpr std::size_t kMemLimit = 19u * 1024u * 1024u;

// What a stored hash may ask of us per verification. Hashes above these are
// rejected at load time rather than letting one row stall every bind.
constexpr unsigned long kMaxArgonMemKiB = 256u * 1024u;
constexpr unsigned long kMaxArgonTime = 10;
constexpr unsigned long kMaxArgonLanes = 4;
constexpr int kMinBcryptCost = 4;
constexpr int kMaxBcryptCost = 14;

void ensure_sodium() {
  static const int rc = sodium_init();
  if (rc < 0) throw std::runtime_error("libsodium failed to initialise");
}

bool is_b64(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/';
}
bool is_bcrypt64(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '/';
}

bool take(std::string_view& s, std::string_view lit) {
  if (s.substr(0, lit.size()) != lit) return false;
  s.remove_prefix(lit.size());
  return true;
}

bool take_number(std::string_view& s, unsigned long& out) {
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  if (ec != std::errc() || p == s.data()) return false;
  s.remove_prefix(static_cast<std::size_t>(p - s.data()));
  return true;
}

std::size_t take_run(std::string_view& s, bool (*ok)(char)) {
  std::size_t n = 0;
  while (n < s.size() && ok(s[n])) ++n;
  s.remove_prefix(n);
  return n;
}

bool is_argon2id(std::string_view h) {
  return h.substr(0, 10) == "$argon2id$";
}
bool is_bcrypt(std::string_view h) {
  return h.substr(0, 4) == "$2a$" || h.substr(0, 4) == "$2b$";
}

std::string check_argon2id(std::string_view s) {
  unsigned long m = 0, t = 0, p = 0;
  if (!take(s, "$argon2id$v=19$m=") || !take_number(s, m) || !take(s, ",t=") ||
      !take_number(s, t) || !take(s, ",p=") || !take_number(s, p) || !take(s, "$"))
    return "malformed argon2id hash";
  if (take_run(s, is_b64) < 11 || !take(s, "$") || take_run(s, is_b64) < 16 || !s.empty())
    return "malformed argon2id hash";
  if (m > kMaxArgonMemKiB)
    return "argon2id memory cost " + std::to_string(m) + " KiB is above the limit of " +
           std::to_string(kMaxArgonMemKiB) + " KiB";
  if (t < 1 || t > kMaxArgonTime)
    return "argon2id time cost " + std::to_string(t) + " is outside 1.." +
           std::to_string(kMaxArgonTime);
  if (p < 1 || p > kMaxArgonLanes)
    return "argon2id parallelism " + std::to_string(p) + " is outside 1.." +
           std::to_string(kMaxArgonLanes);
  if (m < 8 * p) return "argon2id memory cost is below 8 KiB per lane";
  return {};
}

std::string check_bcrypt(std::string_view s) {
  s.remove_prefix(4);
  if (s.size() != 2 + 1 + 53 || !std::isdigit(static_cast<unsigned char>(s[0])) ||
      !std::isdigit(static_cast<unsigned char>(s[1])) || s[2] != '$')
    return "malformed bcrypt hash";
  int cost = (s[0] - '0') * 10 + (s[1] - '0');
  s.remove_prefix(3);
  if (take_run(s, is_bcrypt64) != 53) return "malformed bcrypt hash";
  if (cost < kMinBcryptCost || cost > kMaxBcryptCost)
    return "bcrypt cost " + std::to_string(cost) + " is outside " + std::to_string(kMinBcryptCost) +
           ".." + std::to_string(kMaxBcryptCost);
  return {};
}

}  // namespace

std::string check_password_hash(std::string_view h) {
  if (is_argon2id(h)) return check_argon2id(h);
  if (is_bcrypt(h)) return check_bcrypt(h);
  return "password_hash is neither argon2id nor bcrypt";
}

bool verify_password(std::string_view stored_hash, std::string_view password) {
  ensure_sodium();
  // Both libraries take C strings: an embedded NUL would silently truncate.
  if (password.find('\0') != std::string_view::npos ||
      stored_hash.find('\0') != std::string_view::npos)
    return false;
  if (!check_password_hash(stored_hash).empty()) return false;
  const std::string pw(password);
  const std::string hash(stored_hash);
  if (is_argon2id(hash)) {
    if (hash.size() >= crypto_pwhash_argon2id_STRBYTES) return false;
    return crypto_pwhash_argon2id_str_verify(hash.c_str(), pw.data(), pw.size()) == 0;
  }
  // crypt_data is about 32 KiB: too big for a worker's stack to take lightly.
  auto data = std::make_unique<crypt_data>();
  const char* out = crypt_r(pw.c_str(), hash.c_str(), data.get());
  bool ok = out != nullptr && std::strlen(out) == hash.size() &&
            sodium_memcmp(out, hash.data(), hash.size()) == 0;
  sodium_memzero(data.get(), sizeof(crypt_data));
  return ok;
}

std::string hash_password(std::string_view password) {
  ensure_sodium();
  char out[crypto_pwhash_argon2id_STRBYTES];
  if (crypto_pwhash_argon2id_str(out, password.data(), password.size(), kOpsLimit, kMemLimit) != 0)
    throw std::runtime_error("argon2id hashing failed (out of memory?)");
  return out;
}

PasswordVerifier::PasswordVerifier(std::size_t capacity) : capacity_(capacity == 0 ? 1 : capacity) {
  ensure_sodium();
  crypto_auth_hmacsha256_keygen(key_);
}

PasswordVerifier::~PasswordVerifier() {
  sodium_memzero(key_, sizeof key_);
}

// A keyed MAC rather than a bare sha256, so that a memory dump of the cache
// does not hand out a fast, unsalted hash of every recent password.
std::string PasswordVerifier::mac(std::string_view password) const {
  unsigned char out[crypto_auth_hmacsha256_BYTES];
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key_, sizeof key_);
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(password.data()),
                                password.size());
  crypto_auth_hmacsha256_final(&st, out);
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

bool PasswordVerifier::verify_cached(std::string_view system_id, std::string_view stored_hash,
                                     std::string_view password) {
  std::string key;
  key.reserve(system_id.size() + 1 + stored_hash.size());
  key.append(system_id).push_back('\0');
  key.append(stored_hash);
  const std::string m = mac(password);
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it == entries_.end() || sodium_memcmp(it->second.first.data(), m.data(), m.size()) != 0)
    return false;
  lru_.splice(lru_.begin(), lru_, it->second.second);
  ++hits_;
  return true;
}

bool PasswordVerifier::verify(std::string_view system_id, std::string_view stored_hash,
                              std::string_view password) {
  std::string key;
  key.reserve(system_id.size() + 1 + stored_hash.size());
  key.append(system_id).push_back('\0');
  key.append(stored_hash);
  const std::string m = mac(password);
  {
    std::lock_guard lock(mu_);
    auto it = entries_.find(key);
    if (it != entries_.end() && sodium_memcmp(it->second.first.data(), m.data(), m.size()) == 0) {
      lru_.splice(lru_.begin(), lru_, it->second.second);
      ++hits_;
      return true;
    }
  }
  if (!verify_password(stored_hash, password)) return false;
  std::lock_guard lock(mu_);
  auto it = entries_.find(key);
  if (it != entries_.end()) {
    it->second.first = m;
    lru_.splice(lru_.begin(), lru_, it->second.second);
    return true;
  }
  while (entries_.size() >= capacity_) {
    entries_.erase(lru_.back());
    lru_.pop_back();
  }
  lru_.push_front(key);
  entries_.emplace(std::move(key), std::make_pair(m, lru_.begin()));
  return true;
}

void PasswordVerifier::clear() {
  std::lock_guard lock(mu_);
  entries_.clear();
  lru_.clear();
}

std::size_t PasswordVerifier::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

std::size_t PasswordVerifier::hits() const {
  std::lock_guard lock(mu_);
  return hits_;
}

}  // namespace sluice::config
