// propose_ngram's contract (sample/ngram_proposer.h): the longest suffix of the context, from
// max_n down to min_n tokens, that also occurs earlier proposes the tokens that followed its most
// recent earlier occurrence that k tokens follow (else its earliest), up to k of them. Hand-written contexts whose answer follows from the
// definition, then a randomized comparison against a brute-force reading of the same definition.
#include "sample/ngram_proposer.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <string>
#include <vector>

namespace ferrite::sample {
namespace {

using Tokens = std::vector<std::int32_t>;

Tokens propose(const Tokens& context, std::int32_t min_n, std::int32_t max_n, std::int32_t k) {
  return propose_ngram(context, min_n, max_n, k);
}

TEST(NgramProposer, RecurringSuffixProposesWhatFollowedIt) {
  // Suffix [1, 2] occurred at 0 and was followed by 3, 4, then (overlapping the suffix) 1, 2.
  const Tokens ctx = {1, 2, 3, 4, 1, 2};
  EXPECT_EQ(propose(ctx, 1, 3, 2), (Tokens{3, 4}));
  EXPECT_EQ(propose(ctx, 2, 2, 3), (Tokens{3, 4, 1}));
  // [4, 1, 2] never occurred before, so max_n = 3 falls back to the 2-gram.
  EXPECT_EQ(propose(ctx, 1, 3, 3), (Tokens{3, 4, 1}));
}

TEST(NgramProposer, NothingWhenNoSuffixRecurs) {
  EXPECT_TRUE(propose({1, 2, 3, 4, 5}, 1, 3, 4).empty());
  // 7 recurs, but not at the end: the suffix [8] does not.
  EXPECT_TRUE(propose({7, 1, 7, 8}, 1, 3, 4).empty());
}

TEST(NgramProposer, NothingWhenContextTooShort) {
  EXPECT_TRUE(propose({}, 1, 3, 4).empty());
  EXPECT_TRUE(propose({7}, 1, 3, 4).empty());  // the suffix itself is no earlier occurrence
  EXPECT_EQ(propose({7, 7}, 1, 3, 4), (Tokens{7}));
  EXPECT_TRUE(propose({7, 7}, 2, 3, 4).empty());  // a 2-gram needs a third token to recur
}

TEST(NgramProposer, KLimitsTheDraft) {
  const Tokens ctx = {5, 10, 11, 12, 13, 14, 15, 5};
  EXPECT_EQ(propose(ctx, 1, 1, 1), (Tokens{10}));
  EXPECT_EQ(propose(ctx, 1, 1, 3), (Tokens{10, 11, 12}));
  EXPECT_EQ(propose(ctx, 1, 1, 7), (Tokens{10, 11, 12, 13, 14, 15, 5}));
}

TEST(NgramProposer, ContinuationCutByEndOfContext) {
  // [4] occurred at 0 and is followed by only two tokens before the context ends.
  EXPECT_EQ(propose({4, 5, 4}, 1, 10, 5), (Tokens{5, 4}));
  EXPECT_EQ(propose({9, 1, 2, 8, 1, 2}, 2, 2, 10), (Tokens{8, 1, 2}));
}

TEST(NgramProposer, OverlappingOccurrence) {
  // A run of one repeated token: the most recent earlier occurrence of [5, 5, 5] starts one
  // token before the suffix, so it proposes one more 5.
  EXPECT_EQ(propose({5, 5, 5, 5}, 1, 3, 4), (Tokens{5}));
  EXPECT_EQ(propose({5, 5, 5, 5}, 3, 3, 4), (Tokens{5}));
  // [1, 2, 1] at 0 overlaps the suffix at 2..4 and is followed by 2, 1.
  EXPECT_EQ(propose({1, 2, 1, 2, 1}, 3, 4, 5), (Tokens{2, 1}));
  // The overlapping occurrence (at 3) is more recent than the disjoint one (at 0), but only one
  // token follows it; four follow the one at 0.
  EXPECT_EQ(propose({3, 3, 8, 3, 3, 3}, 2, 2, 4), (Tokens{8, 3, 3, 3}));
  EXPECT_EQ(propose({3, 3, 8, 3, 3, 3}, 2, 2, 1), (Tokens{3}));
  // A run of one token: the earliest occurrence proposes the run, not one more token.
  EXPECT_EQ(propose({7, 5, 5, 5, 5, 5, 5}, 1, 1, 4), (Tokens{5, 5, 5, 5}));
}

TEST(NgramProposer, MostRecentOccurrenceWithAFullDraftWins) {
  // [1] occurred at 0, 2 and 4; the latest (4) was followed by 4 and then the suffix.
  EXPECT_EQ(propose({1, 2, 1, 3, 1, 4, 1}, 1, 1, 1), (Tokens{4}));
  EXPECT_EQ(propose({1, 2, 1, 3, 1, 4, 1}, 1, 1, 2), (Tokens{4, 1}));
  // Three tokens follow only the occurrences at 2 and 0: the later of them.
  EXPECT_EQ(propose({1, 2, 1, 3, 1, 4, 1}, 1, 1, 3), (Tokens{3, 1, 4}));
  // No occurrence is followed by 9 tokens: the earliest, with the longest tail.
  EXPECT_EQ(propose({1, 2, 1, 3, 1, 4, 1}, 1, 1, 9), (Tokens{2, 1, 3, 1, 4, 1}));
}

TEST(NgramProposer, LongerMatchWinsOverMoreRecentShorterOne) {
  // Suffix [1, 2, 3]: the 3-gram occurred at 0 (followed by 10, 11); the 2-gram [2, 3] most
  // recently at 5 (followed by 20); the 1-gram [3] most recently at 8 (followed by 30).
  const Tokens ctx = {1, 2, 3, 10, 11, 2, 3, 20, 3, 30, 1, 2, 3};
  EXPECT_EQ(propose(ctx, 1, 3, 2), (Tokens{10, 11}));
  EXPECT_EQ(propose(ctx, 1, 2, 2), (Tokens{20, 3}));
  EXPECT_EQ(propose(ctx, 1, 1, 2), (Tokens{30, 1}));
  EXPECT_EQ(propose(ctx, 3, 3, 2), (Tokens{10, 11}));
  EXPECT_EQ(propose(ctx, 2, 5, 2), (Tokens{10, 11}));  // 5- and 4-grams do not recur
}

TEST(NgramProposer, MinNAboveSuffixLengthProposesNothing) {
  // The 2-gram [1, 2] recurs, but min_n = 3 excludes it, and [2, 1, 2] does not recur.
  EXPECT_EQ(propose({1, 2, 1, 2}, 2, 3, 4), (Tokens{1, 2}));
  EXPECT_TRUE(propose({1, 2, 1, 2}, 3, 3, 4).empty());
  // min_n longer than any suffix that could have an earlier occurrence.
  EXPECT_TRUE(propose({6, 6, 6, 6}, 4, 8, 4).empty());
  EXPECT_TRUE(propose({6, 6, 6, 6}, 5, 8, 4).empty());
  EXPECT_EQ(propose({6, 6, 6, 6}, 3, 8, 4), (Tokens{6}));
}

TEST(NgramProposer, KZeroProposesNothing) {
  EXPECT_TRUE(propose({1, 2, 1}, 1, 3, 0).empty());
  EXPECT_TRUE(propose({5, 5, 5, 5}, 1, 3, 0).empty());
}

// The definition, read as literally as possible: for n from max_n down to min_n, every start i
// of an earlier occurrence (i + n <= size - 1, so it begins before the suffix and a token follows
// it) is compared token by token; the largest matching i with k tokens after it wins, else the
// smallest matching i.
Tokens brute_force(const Tokens& ctx, int min_n, int max_n, int k) {
  const int size = static_cast<int>(ctx.size());
  for (int n = max_n; n >= min_n; --n) {
    if (n > size) continue;
    Tokens suffix(ctx.end() - n, ctx.end());
    int best_full = -1, earliest = -1;
    for (int i = 0; i + n <= size - 1; ++i) {
      bool same = true;
      for (int j = 0; j < n; ++j) same = same && ctx[i + j] == suffix[j];
      if (!same) continue;
      if (earliest < 0) earliest = i;
      if (size - (i + n) >= k) best_full = i;
    }
    if (earliest < 0) continue;
    const int best = best_full >= 0 ? best_full : earliest;
    Tokens out;
    for (int p = best + n; p < size && static_cast<int>(out.size()) < k; ++p) out.push_back(ctx[p]);
    return out;
  }
  return {};
}

TEST(NgramProposer, MatchesBruteForceOnRandomContexts) {
  std::mt19937 gen(1234);
  int non_empty = 0, long_match = 0;
  for (int trial = 0; trial < 20000; ++trial) {
    const int vocab = 2 + static_cast<int>(gen() % 3);
    const int size = static_cast<int>(gen() % 25);
    Tokens ctx(static_cast<std::size_t>(size));
    for (auto& t : ctx) t = static_cast<std::int32_t>(gen() % vocab);
    const int min_n = 1 + static_cast<int>(gen() % 4);
    const int max_n = min_n + static_cast<int>(gen() % 4);
    const int k = static_cast<int>(gen() % 7);
    const Tokens want = brute_force(ctx, min_n, max_n, k);
    const Tokens got = propose(ctx, min_n, max_n, k);
    ASSERT_EQ(got, want) << "trial " << trial << " min_n " << min_n << " max_n " << max_n << " k " << k;
    non_empty += want.empty() ? 0 : 1;
    long_match += (!want.empty() && min_n >= 3) ? 1 : 0;
  }
  // The generator exercises both outcomes, long n-grams included.
  EXPECT_GT(non_empty, 5000);
  EXPECT_GT(long_match, 500);
}

}  // namespace
}  // namespace ferrite::sample
