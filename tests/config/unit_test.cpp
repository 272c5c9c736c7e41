// Configuration store pieces that need no database: CIDR ranges, password
// hashes, validation, lookups and the copy on disk.
#include <crypt.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <filesystem>
#include <fstream>

#include "config/config.h"
#include "config/internal.h"
#include "config/password.h"
#include "support.h"

namespace sluice::config {
namespace {

using boost::asio::ip::make_address;

std::string bcrypt(const std::string& pw, int cost) {
  char salt[CRYPT_GENSALT_OUTPUT_SIZE];
  EXPECT_NE(
      crypt_gensalt_rn("$2b$", static_cast<unsigned long>(cost), nullptr, 0, salt, sizeof salt),
      nullptr);
  crypt_data data{};
  const char* h = crypt_r(pw.c_str(), salt, &data);
  return h ? h : "";
}

TEST(IpRange, ParsesV4V6AndHosts) {
  auto a = IpRange::parse("10.0.0.0/8");
  ASSERT_TRUE(a);
  EXPECT_EQ(a->text, "10.0.0.0/8");
  EXPECT_FALSE(a->v6);
  auto b = IpRange::parse("2001:db8::/32");
  ASSERT_TRUE(b);
  EXPECT_TRUE(b->v6);
  EXPECT_EQ(b->text, "2001:db8::/32");
  auto h = IpRange::parse("192.0.2.7");
  ASSERT_TRUE(h);
  EXPECT_EQ(h->text, "192.0.2.7/32");
  EXPECT_TRUE(IpRange::parse("0.0.0.0/0"));
  EXPECT_TRUE(IpRange::parse("::/0"));
}

TEST(IpRange, RejectsNonsense) {
  std::string why;
  EXPECT_FALSE(IpRange::parse("10.0.0.1/8", &why));
  EXPECT_NE(why.find("bits set"), std::string::npos);
  EXPECT_FALSE(IpRange::parse("10.0.0.0/33", &why));
  EXPECT_FALSE(IpRange::parse("10.0.0.0/", &why));
  EXPECT_FALSE(IpRange::parse("10.0.0.0/x", &why));
  EXPECT_FALSE(IpRange::parse("example.com/8", &why));
  EXPECT_FALSE(IpRange::parse("", &why));
  EXPECT_FALSE(IpRange::parse("fe80::1%eth0", &why));
}

TEST(IpRange, Contains) {
  auto r = *IpRange::parse("10.1.0.0/16");
  EXPECT_TRUE(r.contains(make_address("10.1.2.3")));
  EXPECT_FALSE(r.contains(make_address("10.2.0.1")));
  // A dual-stack listener reports IPv4 peers as v4-mapped v6 addresses.
  EXPECT_TRUE(r.contains(make_address("::ffff:10.1.9.9")));
  EXPECT_FALSE(r.contains(make_address("2001:db8::1")));
  auto odd = *IpRange::parse("192.0.2.128/25");
  EXPECT_TRUE(odd.contains(make_address("192.0.2.200")));
  EXPECT_FALSE(odd.contains(make_address("192.0.2.127")));
  auto v6 = *IpRange::parse("2001:db8::/32");
  EXPECT_TRUE(v6.contains(make_address("2001:db8:ffff::1")));
  EXPECT_FALSE(v6.contains(make_address("2001:db9::1")));
  EXPECT_FALSE(v6.contains(make_address("10.1.2.3")));
  EXPECT_TRUE(IpRange::parse("0.0.0.0/0")->contains(make_address("203.0.113.1")));

  Customer c;
  EXPECT_TRUE(c.allows(make_address("203.0.113.1")));  // no ranges: any address
  c.allowed_ranges = {r, v6};
  EXPECT_TRUE(c.allows(make_address("2001:db8::5")));
  EXPECT_FALSE(c.allows(make_address("203.0.113.1")));
}

TEST(Password, Argon2idRoundTrip) {
  std::string h = hash_password("s3cret");
  EXPECT_EQ(h.rfind("$argon2id$v=19$m=19456,t=2,p=1$", 0), 0u) << h;
  EXPECT_EQ(check_password_hash(h), "");
  EXPECT_TRUE(verify_password(h, "s3cret"));
  EXPECT_FALSE(verify_password(h, "s3cre"));
  EXPECT_FALSE(verify_password(h, "s3cret "));
  EXPECT_FALSE(verify_password(h, std::string("s3cret\0x", 8)));
  EXPECT_NE(hash_password("s3cret"), h);  // salted
}

TEST(Password, BcryptAsPgcryptoWritesIt) {
  std::string h = bcrypt("hunter2", 6);
  ASSERT_EQ(h.rfind("$2b$06$", 0), 0u) << h;
  EXPECT_EQ(check_password_hash(h), "");
  EXPECT_TRUE(verify_password(h, "hunter2"));
  EXPECT_FALSE(verify_password(h, "hunter3"));
  // pgcrypto's gen_salt('bf') writes $2a$.
  std::string a = "$2a$" + h.substr(4);
  EXPECT_EQ(check_password_hash(a), "");
  EXPECT_TRUE(verify_password(a, "hunter2"));
}

TEST(Password, RejectsPlainTextAndExpensiveHashes) {
  EXPECT_NE(check_password_hash("hunter2"), "");
  EXPECT_FALSE(verify_password("hunter2", "hunter2"));
  EXPECT_FALSE(verify_password("", ""));
  std::string h = hash_password("x");
  std::string greedy = h;
  greedy.replace(greedy.find("m=19456"), 7, "m=4194304");
  EXPECT_NE(check_password_hash(greedy).find("memory cost"), std::string::npos);
  EXPECT_FALSE(verify_password(greedy, "x"));
  std::string slow = bcrypt("x", 4);
  slow.replace(4, 2, "20");
  EXPECT_NE(check_password_hash(slow).find("bcrypt cost 20"), std::string::npos);
  EXPECT_NE(check_password_hash("$2b$10$short"), "");
  // Reasons never quote the hash.
  EXPECT_EQ(check_password_hash(greedy).find(greedy.substr(30)), std::string::npos);
}

TEST(PasswordVerifier, CachesOnlySuccesses) {
  PasswordVerifier v(100);
  std::string h = hash_password("pw1");
  EXPECT_TRUE(v.verify("acme", h, "pw1"));
  EXPECT_EQ(v.hits(), 0u);
  EXPECT_TRUE(v.verify("acme", h, "pw1"));
  EXPECT_EQ(v.hits(), 1u);
  EXPECT_FALSE(v.verify("acme", h, "pw2"));
  EXPECT_EQ(v.size(), 1u);
  // A new hash (password rotated) never matches the old cached success.
  std::string h2 = hash_password("pw2");
  EXPECT_FALSE(v.verify("acme", h2, "pw1"));
  EXPECT_TRUE(v.verify("acme", h2, "pw2"));
  EXPECT_EQ(v.hits(), 1u);
}

TEST(PasswordVerifier, IsBounded) {
  PasswordVerifier v(2);
  std::string h = bcrypt("pw", 4);
  for (std::string id : {"a", "b", "c", "d"}) EXPECT_TRUE(v.verify(id, h, "pw"));
  EXPECT_EQ(v.size(), 2u);
  EXPECT_TRUE(v.verify("d", h, "pw"));
  EXPECT_EQ(v.hits(), 1u);
  v.clear();
  EXPECT_EQ(v.size(), 0u);
}

Snapshot sample() {
  static const std::string hash = bcrypt("pw", 4);
  Snapshot s;
  s.version = 7;
  Customer c;
  c.id = 1;
  c.system_id = "acme";
  c.password_hash = hash;
  c.allowed_ranges = {*IpRange::parse("10.0.0.0/8")};
  c.max_binds = 4;
  c.ingress_mps = 50;
  c.default_validity = std::chrono::hours(48);
  s.customers.push_back(c);
  c.id = 2;
  c.system_id = "beta";
  c.allowed_ranges.clear();
  s.customers.push_back(c);
  Provider p;
  p.id = 10;
  p.name = "smsc-a";
  p.host = "smsc.example.net";
  p.port = 2775;
  p.system_id = "sluice";
  p.password = "pw";
  p.binds = 2;
  p.window = 10;
  p.mps = 100;
  s.providers.push_back(p);
  Route r;
  r.id = 100;
  r.prefix = "44";
  r.provider_id = 10;
  r.weight = 100;
  s.routes.push_back(r);
  r.id = 101;
  r.customer_id = 2;
  r.prefix = "4477";
  s.routes.push_back(r);
  s.mo_numbers.push_back({1000, "447700", 1});
  s.mo_numbers.push_back({1001, "44770012", 2});
  return s;
}

TEST(Validate, KeepsGoodRows) {
  Snapshot s = sample();
  validate(s);
  EXPECT_TRUE(s.rejected.empty());
  EXPECT_EQ(s.customers.size(), 2u);
  EXPECT_EQ(s.providers.size(), 1u);
  EXPECT_EQ(s.routes.size(), 2u);
  EXPECT_EQ(s.mo_numbers.size(), 2u);
}

TEST(Validate, RejectsBadRowsAndWhatPointsAtThem) {
  Snapshot s = sample();
  s.customers[1].password_hash = "plaintext";  // beta: rejected, and so its route and MO number
  Provider bad = s.providers[0];
  bad.id = 11;
  bad.name = "Bad Name";
  s.providers.push_back(bad);
  Route r = s.routes[0];
  r.id = 102;
  r.provider_id = 11;  // the rejected provider
  s.routes.push_back(r);
  r.id = 103;
  r.provider_id = 10;
  r.prefix = "44abc";
  s.routes.push_back(r);
  r.id = 104;
  r.prefix = "33";
  r.provider_id = 99;  // does not exist
  s.routes.push_back(r);
  s.mo_numbers.push_back({1002, "447700", 1});  // duplicate number
  validate(s);

  auto reason = [&](const std::string& table, const std::string& key) -> std::string {
    for (const auto& x : s.rejected)
      if (x.table == table && x.key == key) return x.reason;
    return "(not rejected)";
  };
  EXPECT_NE(reason("customers", "beta").find("neither argon2id nor bcrypt"), std::string::npos);
  EXPECT_NE(reason("providers", "id=11").find("name"), std::string::npos);
  EXPECT_NE(reason("routes", "id=101").find("customer 2 was rejected"), std::string::npos);
  EXPECT_NE(reason("routes", "id=102").find("provider 11 was rejected"), std::string::npos);
  EXPECT_NE(reason("routes", "id=103").find("prefix"), std::string::npos);
  EXPECT_NE(reason("routes", "id=104").find("no provider with id 99"), std::string::npos);
  EXPECT_NE(reason("mo_numbers", "44770012").find("customer 2 was rejected"), std::string::npos);
  EXPECT_NE(reason("mo_numbers", "447700").find("duplicate"), std::string::npos);
  EXPECT_EQ(s.rejected.size(), 8u);

  ASSERT_EQ(s.customers.size(), 1u);
  EXPECT_EQ(s.customers[0].system_id, "acme");
  ASSERT_EQ(s.routes.size(), 1u);
  EXPECT_EQ(s.routes[0].id, 100);
  ASSERT_EQ(s.mo_numbers.size(), 1u);
  EXPECT_EQ(s.mo_numbers[0].id, 1000);
  for (const auto& x : s.rejected) EXPECT_EQ(x.reason.find("plaintext"), std::string::npos);
}

TEST(Validate, ChecksLimits) {
  auto one = [](auto mutate) {
    Snapshot s = sample();
    mutate(s);
    validate(s);
    return s.rejected.size();
  };
  // Counts include what points at the rejected row: acme owns one MO number.
  EXPECT_EQ(one([](Snapshot& s) { s.customers[0].max_binds = 0; }), 2u);
  EXPECT_EQ(one([](Snapshot& s) { s.customers[0].ingress_mps = std::nan(""); }), 2u);
  EXPECT_EQ(one([](Snapshot& s) { s.customers[0].default_validity = std::chrono::seconds(0); }),
            2u);
  EXPECT_EQ(one([](Snapshot& s) { s.customers[0].system_id = "sixteen-chars-xx"; }), 2u);
  EXPECT_EQ(one([](Snapshot& s) { s.customers[1].system_id = "acme"; }),
            3u);                                                     // duplicate; + route, MO
  EXPECT_EQ(one([](Snapshot& s) { s.providers[0].port = 0; }), 3u);  // + both routes
  EXPECT_EQ(one([](Snapshot& s) { s.providers[0].password = "ninechars"; }), 3u);
  EXPECT_EQ(one([](Snapshot& s) { s.providers[0].window = 0; }), 3u);
  EXPECT_EQ(one([](Snapshot& s) { s.providers[0].mps = 0; }), 3u);
  EXPECT_EQ(one([](Snapshot& s) { s.providers[0].host = "bad host"; }), 3u);
  EXPECT_EQ(
      one([](Snapshot& s) { s.providers[0].enquire_link_interval = std::chrono::seconds(1); }), 3u);
  EXPECT_EQ(one([](Snapshot& s) { s.routes[0].weight = -1; }), 1u);
  EXPECT_EQ(one([](Snapshot& s) {
              s.routes[1] = s.routes[0];
              s.routes[1].id = 5;
            }),
            1u);  // duplicate route
  EXPECT_EQ(one([](Snapshot& s) { s.mo_numbers[0].prefix_or_number = "+44"; }), 1u);
}

TEST(Snapshot, Lookups) {
  Snapshot s = sample();
  for (bool indexed : {false, true}) {
    SCOPED_TRACE(indexed ? "indexed" : "scanning");
    if (indexed) s.reindex();
    ASSERT_NE(s.customer_by_system_id("acme"), nullptr);
    EXPECT_EQ(s.customer_by_system_id("acme")->id, 1);
    EXPECT_EQ(s.customer_by_system_id("nobody"), nullptr);
    EXPECT_EQ(s.customer_by_id(2)->system_id, "beta");
    EXPECT_EQ(s.customer_by_id(3), nullptr);
    EXPECT_EQ(s.provider_by_id(10)->name, "smsc-a");
    EXPECT_EQ(s.provider_by_name("smsc-a")->id, 10);
    EXPECT_EQ(s.provider_by_name("smsc-b"), nullptr);
    EXPECT_EQ(s.owner_of_mo("447700999")->system_id, "acme");
    EXPECT_EQ(s.owner_of_mo("+44770012345")->system_id, "beta");  // longest prefix wins
    EXPECT_EQ(s.owner_of_mo("44770012")->system_id, "beta");
    EXPECT_EQ(s.owner_of_mo("4477001")->system_id, "acme");
    EXPECT_EQ(s.owner_of_mo("44771"), nullptr);
    EXPECT_EQ(s.owner_of_mo(""), nullptr);
  }
  // Vectors changed after indexing: lookups notice and scan.
  s.customers.push_back(s.customers[0]);
  s.customers.back().id = 3;
  s.customers.back().system_id = "gamma";
  EXPECT_EQ(s.customer_by_system_id("gamma")->id, 3);
}

TEST(Cache, RoundTripsWithMode0600) {
  test::TempDir dir;
  Snapshot s = sample();
  validate(s);
  s.rejected.push_back({"routes", "id=9", "prefix must be at most 20 digits"});
  const std::string path = dir / "state/config-test.json";
  mode_t old = ::umask(0);
  save_cache(path, s);
  ::umask(old);
  struct stat st {};
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600);
  auto back = load_cache(path);
  ASSERT_TRUE(back);
  EXPECT_EQ(to_json(*back, true), to_json(s, true));
  EXPECT_NE(back->customer_by_system_id("acme"), nullptr);  // indexed
  // Overwriting keeps the mode and leaves no temporary files behind.
  s.version = 8;
  save_cache(path, s);
  EXPECT_EQ(load_cache(path)->version, 8);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir / "state"), {}), 1);
}

TEST(Cache, MissingIsNulloptCorruptThrows) {
  test::TempDir dir;
  EXPECT_FALSE(load_cache(dir / "none.json"));
  std::ofstream(dir / "bad.json") << "{not json";
  EXPECT_THROW(load_cache(dir / "bad.json"), std::runtime_error);
  std::ofstream(dir / "other.json") << R"({"format":"something-else"})";
  EXPECT_THROW(load_cache(dir / "other.json"), std::runtime_error);
}

TEST(Cache, BadRowInFileIsRejectedAlone) {
  test::TempDir dir;
  Snapshot s = sample();
  validate(s);
  save_cache(dir / "c.json", s);
  auto doc = nlohmann::json::parse(test::slurp(dir / "c.json"));
  doc["customers"][1]["max_binds"] = "many";
  doc["routes"][0]["prefix"] = "x1";
  std::ofstream(dir / "c.json") << doc.dump();
  auto back = load_cache(dir / "c.json");
  ASSERT_TRUE(back);
  EXPECT_EQ(back->customers.size(), 1u);
  EXPECT_EQ(back->routes.size(), 0u);  // one bad, one of the rejected customer
  EXPECT_EQ(back->mo_numbers.size(), 1u);
  EXPECT_EQ(back->rejected.size(), 4u);
}

TEST(ShowJson, HidesSecrets) {
  Snapshot s = sample();
  std::string text = to_json(s, false).dump();
  EXPECT_EQ(text.find(s.customers[0].password_hash), std::string::npos);
  EXPECT_EQ(text.find("\"pw\""), std::string::npos);
  EXPECT_NE(text.find("bcrypt"), std::string::npos);
}

TEST(Dsn, AddsTimeoutsUnlessSet) {
  std::string d = with_timeouts("host=h dbname=x");
  EXPECT_NE(d.find("connect_timeout=3"), std::string::npos);
  EXPECT_NE(d.find("tcp_user_timeout="), std::string::npos);
  EXPECT_EQ(with_timeouts("host=h connect_timeout=9").find("connect_timeout=3"), std::string::npos);
  std::string u = with_timeouts("postgresql://u@h/db");
  EXPECT_NE(u.find("postgresql://u@h/db?connect_timeout=3&keepalives=1"), std::string::npos);
}

TEST(Migrations, AreEmbeddedInOrder) {
  const auto& m = migrations();
  ASSERT_FALSE(m.empty());
  EXPECT_EQ(m[0].version, 1);
  EXPECT_EQ(m[0].name, "config");
  EXPECT_EQ(m[0].checksum.size(), 64u);
  for (std::size_t i = 1; i < m.size(); ++i) EXPECT_LT(m[i - 1].version, m[i].version);
}

}  // namespace
}  // namespace sluice::config
