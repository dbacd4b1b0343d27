// Scheduler behaviour on hand-built cases, with no model: each test states what one or two
// steps must plan.
#include "sched/scheduler.h"

#include <gtest/gtest.h>

#include "unit/sched/sched_test_util.h"

namespace ferrite::sched {
namespace {

using testing::Harness;
using testing::iota_tokens;

SchedulerConfig config(std::int64_t budget, std::int64_t max_seqs, Policy policy = Policy::kFcfs) {
  SchedulerConfig c;
  c.max_num_batched_tokens = budget;
  c.max_num_seqs = max_seqs;
  c.max_model_len = 4096;
  c.policy = policy;
  return c;
}

struct Expect {
  std::int64_t seq_id, start, n;
  bool sample;
};

void expect_plan(const StepPlan& plan, const std::vector<Expect>& want) {
  ASSERT_EQ(plan.seqs.size(), want.size());
  std::int64_t total = 0;
  for (std::size_t i = 0; i < want.size(); ++i) {
    SCOPED_TRACE("plan entry " + std::to_string(i));
    EXPECT_EQ(plan.seqs[i].seq->seq_id, want[i].seq_id);
    EXPECT_EQ(plan.seqs[i].start, want[i].start);
    EXPECT_EQ(plan.seqs[i].num_new_tokens, want[i].n);
    EXPECT_EQ(plan.seqs[i].sample, want[i].sample);
    total += want[i].n;
  }
  EXPECT_EQ(plan.num_batched_tokens, total);
}

TEST(Scheduler, TokenBudgetAndMaxNumSeqs) {
  Harness h(config(64, 3), 100, 16, true);
  for (int i = 0; i < 5; ++i) h.add(iota_tokens(30, 100 * i));
  expect_plan(h.step(), {{0, 0, 30, true}, {1, 0, 30, true}, {2, 0, 4, false}});
  // Running first (two decodes and the rest of the chunk); max_num_seqs keeps 3 and 4 waiting.
  expect_plan(h.step(), {{0, 30, 1, true}, {1, 30, 1, true}, {2, 4, 26, true}});
  EXPECT_EQ(h.sched.stats().num_running, 3);
  EXPECT_EQ(h.sched.stats().num_waiting, 2);
}

TEST(Scheduler, DecodesBeforeNewPrefills) {
  Harness h(config(64, 8), 100, 16, true);
  h.add(iota_tokens(10, 0));
  h.add(iota_tokens(10, 100));
  expect_plan(h.step(), {{0, 0, 10, true}, {1, 0, 10, true}});
  h.add(iota_tokens(100, 200));
  expect_plan(h.step(), {{0, 10, 1, true}, {1, 10, 1, true}, {2, 0, 62, false}});
}

TEST(Scheduler, ChunkedPrefillSplitsLongPrompt) {
  Harness h(config(32, 8), 100, 16, true);
  Sequence* s = h.add(iota_tokens(100, 0));
  expect_plan(h.step(), {{0, 0, 32, false}});
  EXPECT_EQ(s->num_computed, 32);
  EXPECT_EQ(s->block_table.size(), 2u);
  expect_plan(h.step(), {{0, 32, 32, false}});
  expect_plan(h.step(), {{0, 64, 32, false}});
  expect_plan(h.step(), {{0, 96, 4, true}});
  EXPECT_EQ(s->num_tokens(), 101);
  expect_plan(h.step(), {{0, 100, 1, true}});
}

TEST(Scheduler, FcfsDoesNotOvertake) {
  Harness h(config(1000, 8), 10, 16, true);
  Sequence* a = h.add(iota_tokens(100, 0));  // 7 blocks
  expect_plan(h.step(), {{0, 0, 100, true}});
  h.add(iota_tokens(100, 1000));  // needs 7 of the 3 left
  h.add(iota_tokens(10, 2000));   // would fit, but arrived later
  expect_plan(h.step(), {{0, 100, 1, true}});
  h.sched.finish(a);
  h.sched.check_invariants();
  expect_plan(h.step(), {{1, 0, 100, true}, {2, 0, 10, true}});
}

TEST(Scheduler, PriorityOrder) {
  Harness h(config(16, 8, Policy::kPriority), 100, 16, true);
  h.add(iota_tokens(16, 0), "", 2);
  h.add(iota_tokens(16, 100), "", 0);
  h.add(iota_tokens(16, 200), "", 1);
  ASSERT_EQ(h.sched.waiting().size(), 3u);
  EXPECT_EQ(h.sched.waiting()[0]->seq_id, 1);
  EXPECT_EQ(h.sched.waiting()[1]->seq_id, 2);
  EXPECT_EQ(h.sched.waiting()[2]->seq_id, 0);
  expect_plan(h.step(), {{1, 0, 16, true}});
  expect_plan(h.step(), {{1, 16, 1, true}, {2, 0, 15, false}});
  expect_plan(h.step(), {{1, 17, 1, true}, {2, 15, 1, true}, {0, 0, 14, false}});
  ASSERT_EQ(h.sched.running().size(), 3u);
  EXPECT_EQ(h.sched.running()[0]->seq_id, 1);
  EXPECT_EQ(h.sched.running()[2]->seq_id, 0);
}

TEST(Scheduler, PreemptsLatestArrivalFirst) {
  for (bool caching : {true, false}) {
    SCOPED_TRACE(caching ? "prefix caching" : "no prefix caching");
    Harness h(config(100, 8), 6, 4, caching);
    Sequence* a = h.add(iota_tokens(8, 0));
    Sequence* b = h.add(iota_tokens(8, 100));
    Sequence* c = h.add(iota_tokens(8, 200));
    h.step();
    EXPECT_EQ(h.pool.num_free_blocks(), 0);
    // Each now has 9 tokens and needs a third block; none is free.
    StepPlan plan = h.step();
    expect_plan(plan, {{0, 8, 1, true}, {1, 8, 1, true}});
    ASSERT_EQ(plan.preempted.size(), 1u);
    EXPECT_EQ(plan.preempted[0], c);
    EXPECT_EQ(c->status, SeqStatus::kWaiting);
    EXPECT_EQ(c->num_computed, 0);
    EXPECT_TRUE(c->block_table.empty());
    EXPECT_EQ(c->num_preemptions, 1);
    EXPECT_EQ(c->num_tokens(), 9);  // its output so far is kept and will be recomputed
    EXPECT_EQ(h.sched.waiting().front(), c);
    EXPECT_EQ(h.sched.stats().num_preemptions, 1);
    EXPECT_EQ(a->block_table.size(), 3u);
    EXPECT_EQ(b->block_table.size(), 3u);
  }
}

TEST(Scheduler, PreemptsLowestPriorityFirst) {
  Harness h(config(100, 8, Policy::kPriority), 6, 4, true);
  Sequence* low = h.add(iota_tokens(8, 0), "", 2);  // arrived first, lowest priority
  h.add(iota_tokens(8, 100), "", 1);
  h.add(iota_tokens(8, 200), "", 0);
  h.step();
  StepPlan plan = h.step();
  expect_plan(plan, {{2, 8, 1, true}, {1, 8, 1, true}});
  ASSERT_EQ(plan.preempted.size(), 1u);
  EXPECT_EQ(plan.preempted[0], low);
}

TEST(Scheduler, LastSequencePreemptsItself) {
  Harness h(config(100, 8), 2, 4, false);
  h.add(iota_tokens(3, 0));
  Sequence* b = h.add(iota_tokens(4, 100));
  h.step();
  // a (4 tokens) still fits its block; b (5 tokens) needs a second one and is the last.
  StepPlan plan = h.step();
  expect_plan(plan, {{0, 3, 1, true}});
  ASSERT_EQ(plan.preempted.size(), 1u);
  EXPECT_EQ(plan.preempted[0], b);
  EXPECT_EQ(h.pool.num_free_blocks(), 1);
}

TEST(Scheduler, PrefixCacheHitsOnSharedPrefix) {
  Harness h(config(1000, 8), 20, 16, true);
  const auto prefix = iota_tokens(40, 0);
  Sequence* a = h.add(prefix);
  h.step();  // a computed 40: its two full blocks are registered
  auto prompt_b = std::vector<std::int32_t>(prefix.begin(), prefix.begin() + 32);
  for (int i = 0; i < 8; ++i) prompt_b.push_back(1000 + i);
  Sequence* b = h.add(prompt_b);
  // Exactly a's first two blocks: the last token is never taken from the cache.
  Sequence* c = h.add(std::vector<std::int32_t>(prefix.begin(), prefix.begin() + 32));
  expect_plan(h.step(), {{0, 40, 1, true}, {1, 32, 8, true}, {2, 16, 16, true}});
  EXPECT_EQ(b->num_cached_prompt, 32);
  EXPECT_EQ(c->num_cached_prompt, 16);
  EXPECT_EQ(b->block_table[0], a->block_table[0]);
  EXPECT_EQ(b->block_table[1], a->block_table[1]);
  EXPECT_EQ(c->block_table[0], a->block_table[0]);
  EXPECT_NE(c->block_table[1], a->block_table[1]);  // c computed its own copy of block 1
  EXPECT_EQ(h.pool.ref_count(a->block_table[0]), 3);
  EXPECT_EQ(h.pool.ref_count(a->block_table[1]), 2);
  // After a finishes its blocks stay cached and serve a new sequence with the same prompt.
  const std::vector<std::int32_t> a_prefix_blocks(a->block_table.begin(), a->block_table.begin() + 2);
  h.sched.finish(a);
  h.sched.finish(b);
  h.sched.finish(c);
  h.sched.check_invariants();
  EXPECT_EQ(h.pool.num_free_blocks(), 20);
  EXPECT_GT(h.pool.stats().num_cached, 0);
  Sequence* d = h.add(prefix);
  expect_plan(h.step(), {{3, 32, 8, true}});
  EXPECT_EQ(d->num_cached_prompt, 32);
  EXPECT_EQ(std::vector<std::int32_t>(d->block_table.begin(), d->block_table.begin() + 2), a_prefix_blocks);
}

TEST(Scheduler, PrefixCachingDisabledComputesEverything) {
  Harness h(config(1000, 8), 20, 16, false);
  const auto prefix = iota_tokens(40, 0);
  h.add(prefix);
  h.step();
  Sequence* b = h.add(prefix);
  expect_plan(h.step(), {{0, 40, 1, true}, {1, 0, 40, true}});
  EXPECT_EQ(b->num_cached_prompt, 0);
  EXPECT_EQ(h.pool.stats().queries, 0);
}

TEST(Scheduler, DecodeThatFillsABlockRegistersIt) {
  Harness h(config(1000, 8), 20, 4, true);
  Sequence* a = h.add(iota_tokens(7, 0));
  h.step();  // 7 computed: block 0 registered, 8 tokens now
  EXPECT_EQ(a->num_registered_blocks, 1);
  h.step();  // token 8 computed: block 1 (prompt + first output) is full
  EXPECT_EQ(a->num_registered_blocks, 2);
  auto prompt = std::vector<std::int32_t>(a->tokens.begin(), a->tokens.begin() + 9);
  Sequence* b = h.add(prompt);
  h.step();
  EXPECT_EQ(b->num_cached_prompt, 8);
}

TEST(Scheduler, WaitForSeqSkipsWithoutBlocking) {
  Harness h(config(64, 8), 50, 16, true);
  const auto prompt = iota_tokens(40, 0);
  Sequence* first = h.add(prompt, "n2", 0, 0, -1, 0);
  Sequence* second = h.add(prompt, "n2", 0, 0, first->seq_id, 1);
  h.add(iota_tokens(20, 500), "other");
  // second is skipped (first has not prefilled) but does not stop the later request.
  expect_plan(h.step(), {{0, 0, 40, true}, {2, 0, 20, true}});
  EXPECT_EQ(second->status, SeqStatus::kWaiting);
  // Now first has prefilled: second finds the shared prompt blocks.
  expect_plan(h.step(), {{0, 40, 1, true}, {2, 20, 1, true}, {1, 32, 8, true}});
  EXPECT_EQ(second->num_cached_prompt, 32);
}

TEST(Scheduler, WaitForSeqWaitsThroughChunkedPrefill) {
  Harness h(config(16, 8), 50, 16, true);
  const auto prompt = iota_tokens(40, 0);
  Sequence* first = h.add(prompt, "n2");
  Sequence* second = h.add(prompt, "n2", 0, 0, first->seq_id, 1);
  expect_plan(h.step(), {{0, 0, 16, false}});
  expect_plan(h.step(), {{0, 16, 16, false}});
  expect_plan(h.step(), {{0, 32, 8, true}});
  expect_plan(h.step(), {{0, 40, 1, true}, {1, 32, 8, true}});
  EXPECT_EQ(second->num_cached_prompt, 32);
}

TEST(Scheduler, AbortFreesBlocksImmediately) {
  Harness h(config(1000, 8), 20, 16, true);
  Sequence* x0 = h.add(iota_tokens(40, 0), "x");
  h.add(iota_tokens(40, 0), "x", 0, 0, x0->seq_id, 1);
  h.add(iota_tokens(20, 100), "y");
  h.step();
  ASSERT_EQ(h.sched.running().size(), 2u);
  ASSERT_EQ(h.sched.waiting().size(), 1u);
  const auto ids = h.sched.abort_request("x");
  EXPECT_EQ(ids, (std::vector<std::int64_t>{0, 1}));
  EXPECT_EQ(h.sched.find(0), nullptr);
  EXPECT_EQ(h.sched.find(1), nullptr);
  EXPECT_EQ(h.pool.num_free_blocks(), 20 - 2);  // only y's 2 blocks are in use
  h.sched.check_invariants();
  EXPECT_TRUE(h.sched.abort_request("nope").empty());
  h.sched.abort_request("y");
  EXPECT_EQ(h.pool.num_free_blocks(), 20);
  EXPECT_FALSE(h.sched.has_work());
  h.sched.check_invariants();
}

TEST(Scheduler, EmptyWhenNothingFits) {
  Harness h(config(1000, 8), 2, 16, true);
  h.add(iota_tokens(40, 0));  // needs 3 blocks of 2
  StepPlan plan = h.sched.schedule();
  EXPECT_TRUE(plan.empty());
  EXPECT_TRUE(h.sched.has_work());
}

TEST(SchedulerDeathTest, AppendPastMaxTotalLenAborts) {
  Harness h(config(1000, 8), 20, 16, true);
  Sequence* s = h.add(iota_tokens(10, 0), "", 0, 11);
  h.step();  // appends token 11 of 11
  EXPECT_EQ(s->num_tokens(), 11);
  EXPECT_DEATH(h.sched.append_token(s, 1), "max_total_len");
}

TEST(SchedulerDeathTest, PlanOutOfStepAborts) {
  Harness h(config(1000, 8), 20, 16, true);
  h.add(iota_tokens(10, 0));
  StepPlan plan = h.sched.schedule();
  h.sched.on_step_done(plan);
  EXPECT_DEATH(h.sched.on_step_done(plan), "num_computed");
}

}  // namespace
}  // namespace ferrite::sched
