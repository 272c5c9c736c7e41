// The flat index behind the DLR's done marks and the gateway's status view: a multimap of 64-bit
// hashes, whose values must all be found (colliding or not) until erased, through growth and
// deletions.
#include "common/hash_index.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <iterator>
#include <map>
#include <random>
#include <vector>

namespace sluice {
namespace {

std::vector<int*> all(const HashIndex<int>& x, uint64_t h) {
  std::vector<int*> out;
  x.each(h, [&](int* v) {
    out.push_back(v);
    return true;
  });
  return out;
}

TEST(HashIndex, ValuesUnderOneHashComeInTheOrderTheyWentIn) {
  HashIndex<int> x;
  int v[40];
  // 0 is the empty marker inside: a zero hash must still work.
  for (int i = 0; i < 40; ++i) x.insert(i % 2 == 0 ? 0 : 7, &v[i]);  // grows on the way
  std::vector<int*> zero, seven;
  for (int i = 0; i < 40; ++i) (i % 2 == 0 ? zero : seven).push_back(&v[i]);
  EXPECT_EQ(all(x, 0), zero);
  EXPECT_EQ(all(x, 7), seven);
  EXPECT_TRUE(x.erase(7, &v[3]));
  EXPECT_FALSE(x.erase(7, &v[3]));
  EXPECT_FALSE(x.erase(0, &v[1]));  // under another hash
  seven.erase(seven.begin() + 1);
  EXPECT_EQ(all(x, 7), seven);
  EXPECT_EQ(x.size(), 39u);
}

TEST(HashIndex, EachStopsWhenAsked) {
  HashIndex<int> x;
  int a = 0, b = 0;
  x.insert(5, &a);
  x.insert(5, &b);
  int calls = 0;
  x.each(5, [&](int*) {
    ++calls;
    return false;
  });
  EXPECT_EQ(calls, 1);
  EXPECT_TRUE(all(x, 6).empty());
}

TEST(HashIndex, AgreesWithAMultimapThroughRandomInsertsAndErases) {
  // Few distinct hashes, so that runs are long and wrap around the table.
  std::mt19937_64 rng(7);
  HashIndex<int> x;
  std::multimap<uint64_t, int*> model;
  std::vector<int> values(20000);
  for (size_t i = 0; i < values.size(); ++i) {
    uint64_t h = 2 + rng() % 300;
    if (rng() % 3 == 0) h = rng() | 2;  // and some spread ones (0 and 1 are one hash)
    x.insert(h, &values[i]);
    model.emplace(h, &values[i]);
    if (rng() % 2 == 0) {
      auto it = model.begin();
      std::advance(it, static_cast<long>(rng() % model.size()));
      ASSERT_TRUE(x.erase(it->first, it->second));
      model.erase(it);
    }
  }
  ASSERT_EQ(x.size(), model.size());
  for (auto it = model.begin(); it != model.end();) {
    auto [from, to] = model.equal_range(it->first);
    std::vector<int*> want;
    for (auto j = from; j != to; ++j) want.push_back(j->second);
    auto got = all(x, it->first);
    std::sort(want.begin(), want.end());
    std::sort(got.begin(), got.end());
    ASSERT_EQ(got, want) << it->first;
    it = to;
  }
}

TEST(HashIndex, ShrinksAfterABurstIsErasedAndKeepsTheRestInOrder) {
  std::mt19937_64 rng(11);
  HashIndex<int> x;
  std::vector<int> values(100000);
  for (size_t i = 0; i < values.size(); ++i) x.insert(2 + rng() % 5000, &values[i]);
  size_t peak = x.slots();
  ASSERT_GE(peak, 2 * values.size());
  // Keep every thousandth value; hash 3 keeps several, whose order must survive.
  std::mt19937_64 again(11);
  std::multimap<uint64_t, int*> kept;
  for (size_t i = 0; i < values.size(); ++i) {
    uint64_t h = 2 + again() % 5000;
    if (i % 1000 == 0 || h == 3)
      kept.emplace(h, &values[i]);
    else
      ASSERT_TRUE(x.erase(h, &values[i]));
  }
  EXPECT_EQ(x.size(), kept.size());
  EXPECT_LE(x.slots(), 8 * kept.size()) << "peak " << peak;
  for (auto it = kept.begin(); it != kept.end();) {
    auto [from, to] = kept.equal_range(it->first);
    std::vector<int*> want;
    for (auto j = from; j != to; ++j) want.push_back(j->second);  // insertion order
    ASSERT_EQ(all(x, it->first), want) << it->first;
    it = to;
  }
  for (auto& [h, v] : kept) ASSERT_TRUE(x.erase(h, v));
  EXPECT_EQ(x.size(), 0u);
  EXPECT_LE(x.slots(), 32u);
}

}  // namespace
}  // namespace sluice
