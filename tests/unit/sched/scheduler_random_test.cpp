// Randomized workload: thousands of steps of arrivals, aborts, finishes and preemptions over a
// tiny block pool, driven by a fake model that keeps real paged "KV" (one 64-bit state per slot,
// each token's state chained from the previous position's slot). A wrong block table, a stale or
// wrongly shared cached block, or a plan that skips or repeats tokens changes the state chain, so
// every finished sequence must match the same fake model run alone.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "kv/block_pool.h"
#include "sched/scheduler.h"

namespace ferrite::sched {
namespace {

constexpr std::int32_t kVocab = 48;
constexpr std::int32_t kEos = 0;
constexpr std::uint64_t kInitState = 0x243f6a8885a308d3ull;

std::uint64_t mix(std::uint64_t x) {
  x ^= x >> 31;
  x *= 0x7fb5d329728ea185ull;
  x ^= x >> 27;
  x *= 0x81dadef4bc2dd44dull;
  x ^= x >> 33;
  return x;
}

// The "forward pass" of one token: depends on every earlier token through `prev` and on the position.
std::uint64_t step_state(std::uint64_t prev, std::int32_t token, std::int64_t pos) {
  return mix(prev + 0x9e3779b97f4a7c15ull * static_cast<std::uint64_t>(token + 1) +
             0xc2b2ae3d27d4eb4full * static_cast<std::uint64_t>(pos));
}
std::int32_t next_token(std::uint64_t state) { return static_cast<std::int32_t>((state >> 29) % kVocab); }

// The fake model run on one sequence alone, with no cache: the reference output.
std::vector<std::int32_t> run_alone(std::vector<std::int32_t> tokens, std::int64_t max_total_len) {
  std::uint64_t state = kInitState;
  for (std::size_t p = 0; p < tokens.size(); ++p) state = step_state(state, tokens[p], static_cast<std::int64_t>(p));
  while (true) {
    const std::int32_t tok = next_token(state);
    tokens.push_back(tok);
    if (tok == kEos || static_cast<std::int64_t>(tokens.size()) >= max_total_len) return tokens;
    state = step_state(state, tok, static_cast<std::int64_t>(tokens.size()) - 1);
  }
}

struct WorkloadConfig {
  std::uint64_t seed = 1;
  Policy policy = Policy::kFcfs;
  bool caching = true;
  std::int64_t num_blocks = 40;
  std::int64_t block_size = 4;
  std::int64_t budget = 48;
  std::int64_t max_num_seqs = 8;
  std::int64_t max_model_len = 96;
  int steps = 3000;
};

struct WorkloadResult {
  std::uint64_t digest = 0;  // of every plan: two runs with one seed must agree
  std::int64_t finished = 0, aborted = 0, preemptions = 0, hits = 0, evictions = 0;
};

struct Finished {
  std::vector<std::int32_t> prompt, tokens;
  std::int64_t max_total_len;
};

class Workload {
 public:
  explicit Workload(const WorkloadConfig& c)
      : c_(c),
        pool_(c.num_blocks, c.block_size, c.caching),
        sched_(make_config(c), pool_),
        rng_(c.seed),
        kv_(static_cast<std::size_t>(c.num_blocks * c.block_size), 0) {
    for (int i = 0; i < 4; ++i) prefixes_.push_back(random_tokens(uniform(8, 40)));
    for (int i = 0; i < 3; ++i) phrases_.push_back(random_tokens(c.block_size));
  }

  WorkloadResult run() {
    for (int step = 0; step < c_.steps; ++step) {
      if (sched_.waiting().size() < 12 && uniform(0, 99) < 35) add_request();
      one_step();
      if (!live_.empty() && uniform(0, 99) < 2) abort_random();
      sched_.check_invariants();
      if (::testing::Test::HasFatalFailure()) return result_;
    }
    // Drain: everything left must finish on its own.
    for (int step = 0; sched_.has_work(); ++step) {
      if (step > 100000) {
        ADD_FAILURE() << "the workload did not drain";
        return result_;
      }
      one_step();
      sched_.check_invariants();
      if (::testing::Test::HasFatalFailure()) return result_;
    }
    // No leak, no double free: every block is free or cached.
    EXPECT_EQ(pool_.num_free_blocks(), c_.num_blocks);
    pool_.check_invariants();
    for (const Finished& f : finished_) {
      if (f.tokens != run_alone(f.prompt, f.max_total_len)) {
        ADD_FAILURE() << "scheduling changed a sequence's output (prompt of " << f.prompt.size() << " tokens)";
        break;
      }
    }
    result_.preemptions = sched_.stats().num_preemptions;
    result_.hits = pool_.stats().hits;
    result_.evictions = pool_.stats().evictions;
    return result_;
  }

 private:
  static SchedulerConfig make_config(const WorkloadConfig& c) {
    SchedulerConfig s;
    s.max_num_batched_tokens = c.budget;
    s.max_num_seqs = c.max_num_seqs;
    s.max_model_len = c.max_model_len;
    s.policy = c.policy;
    return s;
  }
  std::int64_t uniform(std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng_);
  }
  std::vector<std::int32_t> random_tokens(std::int64_t n) {
    std::vector<std::int32_t> t;
    for (std::int64_t i = 0; i < n; ++i) t.push_back(static_cast<std::int32_t>(uniform(1, kVocab - 1)));
    return t;
  }

  void add_request() {
    std::vector<std::int32_t> prompt;
    const std::int64_t kind = uniform(0, 2);
    if (kind == 0) {  // a shared prefix (a system prompt), then a private tail
      prompt = prefixes_[static_cast<std::size_t>(uniform(0, 3))];
    } else if (kind == 1) {
      // Block-aligned phrases from a tiny set: equal blocks behind different prefixes, which
      // only the hash chain tells apart.
      for (std::int64_t k = uniform(1, 6); k > 0; --k) {
        const auto& phrase = phrases_[static_cast<std::size_t>(uniform(0, 2))];
        prompt.insert(prompt.end(), phrase.begin(), phrase.end());
      }
    }
    const auto tail = random_tokens(uniform(kind == 2 ? 1 : 0, kind == 1 ? 5 : 30));
    prompt.insert(prompt.end(), tail.begin(), tail.end());
    if (prompt.empty()) prompt.push_back(1);
    if (static_cast<std::int64_t>(prompt.size()) >= c_.max_model_len)
      prompt.resize(static_cast<std::size_t>(c_.max_model_len - 1));
    const std::int64_t max_total_len =
        std::min<std::int64_t>(static_cast<std::int64_t>(prompt.size()) + uniform(1, 40), c_.max_model_len);
    const std::int64_t roll = uniform(0, 9);
    const int n = roll < 7 ? 1 : roll < 9 ? 2 : 3;
    const auto priority = static_cast<std::int32_t>(uniform(0, 3));
    const std::string request_id = "req" + std::to_string(next_request_++);
    std::int64_t first = -1;
    for (int i = 0; i < n; ++i) {
      auto seq = std::make_unique<Sequence>();
      seq->seq_id = next_seq_++;
      seq->request_id = request_id;
      seq->index = i;
      seq->priority = priority;
      seq->arrival_time = static_cast<double>(seq->seq_id);
      seq->tokens = prompt;
      seq->prompt_len = static_cast<std::int64_t>(prompt.size());
      seq->max_total_len = max_total_len;
      seq->wait_for_seq = first;
      if (i == 0) first = seq->seq_id;
      sched_.add(std::move(seq));
    }
    live_[request_id] = n;
  }

  std::size_t slot(const Sequence* seq, std::int64_t pos) const {
    const auto b = static_cast<std::size_t>(pos / c_.block_size);
    EXPECT_LT(b, seq->block_table.size()) << "position without a block";
    if (b >= seq->block_table.size()) return 0;
    return static_cast<std::size_t>(seq->block_table[b] * c_.block_size + pos % c_.block_size);
  }

  void fold(std::uint64_t v) { result_.digest = mix(result_.digest ^ v); }

  void one_step() {
    StepPlan plan = sched_.schedule();
    // The plan's contract.
    ASSERT_LE(plan.num_batched_tokens, c_.budget);
    ASSERT_LE(static_cast<std::int64_t>(plan.seqs.size()), c_.max_num_seqs);
    std::int64_t total = 0;
    std::set<const Sequence*> in_plan;
    for (const ScheduledSeq& s : plan.seqs) {
      ASSERT_TRUE(in_plan.insert(s.seq).second) << "sequence scheduled twice";
      ASSERT_EQ(s.seq->status, SeqStatus::kRunning);
      ASSERT_EQ(s.start, s.seq->num_computed) << "the plan must compute exactly the uncomputed tokens, in order";
      ASSERT_GT(s.num_new_tokens, 0);
      ASSERT_LE(s.start + s.num_new_tokens, s.seq->num_tokens());
      ASSERT_LE(s.start + s.num_new_tokens, s.seq->max_total_len);
      ASSERT_EQ(s.sample, s.start + s.num_new_tokens == s.seq->num_tokens());
      total += s.num_new_tokens;
    }
    ASSERT_EQ(total, plan.num_batched_tokens);
    for (const Sequence* p : plan.preempted) {
      ASSERT_FALSE(in_plan.contains(p)) << "a preempted sequence was scheduled";
      ASSERT_EQ(p->status, SeqStatus::kWaiting);
    }
    // The fake forward pass over paged KV.
    for (const ScheduledSeq& s : plan.seqs) {
      const Sequence* seq = s.seq;
      fold(static_cast<std::uint64_t>(seq->seq_id) * 1000003u + static_cast<std::uint64_t>(s.start) * 7919u +
           static_cast<std::uint64_t>(s.num_new_tokens));
      for (std::int64_t p = s.start; p < s.start + s.num_new_tokens; ++p) {
        const std::uint64_t prev = p == 0 ? kInitState : kv_[slot(seq, p - 1)];
        const std::size_t dst = slot(seq, p);
        ASSERT_EQ(pool_.ref_count(seq->block_table[static_cast<std::size_t>(p / c_.block_size)]), 1)
            << "writing KV into a shared block";
        kv_[dst] = step_state(prev, seq->tokens[static_cast<std::size_t>(p)], p);
      }
    }
    for (const Sequence* p : plan.preempted) fold(~static_cast<std::uint64_t>(p->seq_id));
    // Read the logits before on_step_done(): nothing may move KV in between anyway.
    std::vector<std::pair<Sequence*, std::int32_t>> sampled;
    for (const ScheduledSeq& s : plan.seqs) {
      if (s.sample) sampled.emplace_back(s.seq, next_token(kv_[slot(s.seq, s.seq->num_tokens() - 1)]));
    }
    sched_.on_step_done(plan);
    for (auto [seq, tok] : sampled) {
      sched_.append_token(seq, tok);
      if (tok == kEos || seq->num_tokens() >= seq->max_total_len) {
        finished_.push_back({std::vector<std::int32_t>(seq->tokens.begin(), seq->tokens.begin() + seq->prompt_len),
                             seq->tokens, seq->max_total_len});
        if (--live_[seq->request_id] == 0) live_.erase(seq->request_id);
        sched_.finish(seq);
        ++result_.finished;
      }
    }
  }

  void abort_random() {
    auto it = live_.begin();
    std::advance(it, uniform(0, static_cast<std::int64_t>(live_.size()) - 1));
    const std::string id = it->first;
    const auto ids = sched_.abort_request(id);
    EXPECT_EQ(static_cast<int>(ids.size()), it->second);
    live_.erase(it);
    ++result_.aborted;
    fold(0xabcdefull ^ ids.size());
  }

  WorkloadConfig c_;
  kv::BlockPool pool_;
  Scheduler sched_;
  std::mt19937_64 rng_;
  std::vector<std::uint64_t> kv_;
  std::vector<std::vector<std::int32_t>> prefixes_, phrases_;
  std::map<std::string, int> live_;  // request -> sequences not yet finished
  std::vector<Finished> finished_;
  std::int64_t next_seq_ = 0, next_request_ = 0;
  WorkloadResult result_;
};

TEST(FakeModel, RunAloneIsDeterministic) {
  const auto a = run_alone({1, 2, 3}, 40);
  EXPECT_EQ(a, run_alone({1, 2, 3}, 40));
  EXPECT_NE(a, run_alone({1, 2, 4}, 40));
}

class RandomWorkload : public ::testing::TestWithParam<std::tuple<Policy, bool, std::int64_t>> {};

TEST_P(RandomWorkload, InvariantsHoldAndOutputsMatchSoloRuns) {
  WorkloadConfig c;
  c.policy = std::get<0>(GetParam());
  c.caching = std::get<1>(GetParam());
  c.block_size = std::get<2>(GetParam());
  c.num_blocks = 160 / c.block_size;  // ~1.7 longest sequences: preemption is frequent
  c.seed = 1234 + static_cast<std::uint64_t>(c.block_size) * 10 + (c.caching ? 1 : 0) +
           (c.policy == Policy::kPriority ? 100 : 0);
  const WorkloadResult r = Workload(c).run();
  if (HasFailure()) return;
  RecordProperty("finished", static_cast<int>(r.finished));
  RecordProperty("preemptions", static_cast<int>(r.preemptions));
  EXPECT_GT(r.finished, 300);
  EXPECT_GT(r.aborted, 10);
  EXPECT_GT(r.preemptions, 50);
  if (c.caching) {
    EXPECT_GT(r.hits, 100);
    EXPECT_GT(r.evictions, 0);
  } else {
    EXPECT_EQ(r.hits, 0);
  }
  // Same seed, same plans.
  EXPECT_EQ(Workload(c).run().digest, r.digest);
  std::printf("policy=%s caching=%d bs=%lld: finished=%lld aborted=%lld preemptions=%lld hits=%lld evictions=%lld\n",
              c.policy == Policy::kFcfs ? "fcfs" : "priority", c.caching ? 1 : 0, static_cast<long long>(c.block_size),
              static_cast<long long>(r.finished), static_cast<long long>(r.aborted),
              static_cast<long long>(r.preemptions), static_cast<long long>(r.hits),
              static_cast<long long>(r.evictions));
}

INSTANTIATE_TEST_SUITE_P(Scheduler, RandomWorkload,
                         ::testing::Combine(::testing::Values(Policy::kFcfs, Policy::kPriority), ::testing::Bool(),
                                            ::testing::Values(std::int64_t{4}, std::int64_t{16})));

}  // namespace
}  // namespace ferrite::sched
