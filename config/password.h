#pragma once
// Customer passwords. The database stores only slow salted hashes, in one of
// two formats (the CHECK on sluice.customers.password_hash accepts both):
//   $argon2id$v=19$m=...,t=...,p=...$salt$hash  written by `sluice customer add|passwd`
//   $2a$NN$... / $2b$NN$...                     bcrypt, so an operator with only psql can
//                                               write crypt('secret', gen_salt('bf', 10))
//
// Verifying is deliberately slow (tens of milliseconds and, for argon2id,
// about 19 MiB of memory per call): call it from a worker thread, never from
// an I/O thread, and bound how many run at once.
#include <cstddef>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace sluice::config {

// True when password matches stored_hash. Unknown formats and embedded NUL
// bytes never match. Slow; see above.
bool verify_password(std::string_view stored_hash, std::string_view password);

// A new argon2id hash of password (random salt). Slow.
std::string hash_password(std::string_view password);

// Empty when stored_hash is a well-formed hash whose cost this process is
// willing to pay on every bind; otherwise the reason, which never quotes the
// hash itself.
std::string check_password_hash(std::string_view stored_hash);

// verify_password with a memory of recent successes, so that a customer that
// rebinds with the right password does not pay the slow hash every time. Only
// successes are remembered: a wrong password always costs the full hash, so the
// cache never speeds up guessing. An entry is tied to the stored hash, so a
// password change invalidates it. Thread-safe.
class PasswordVerifier {
 public:
  explicit PasswordVerifier(std::size_t capacity = 10000);
  ~PasswordVerifier();
  PasswordVerifier(const PasswordVerifier&) = delete;
  PasswordVerifier& operator=(const PasswordVerifier&) = delete;

  bool verify(std::string_view system_id, std::string_view stored_hash, std::string_view password);
  // Only the memory of successes, never the slow hash: fast enough for an I/O
  // thread. False means "not known good", not "wrong".
  bool verify_cached(std::string_view system_id, std::string_view stored_hash,
                     std::string_view password);
  void clear();
  std::size_t size() const;
  std::size_t hits() const;

 private:
  std::string mac(std::string_view password) const;

  std::size_t capacity_;
  unsigned char key_[32];
  mutable std::mutex mu_;
  std::list<std::string> lru_;  // keys, most recent first
  std::unordered_map<std::string, std::pair<std::string, std::list<std::string>::iterator>>
      entries_;
  std::size_t hits_ = 0;
};

}  // namespace sluice::config
