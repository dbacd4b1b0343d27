// The scheduler's speculative-decoding bookkeeping (scheduler.h, "Speculative decoding"): draft
// slots for decoding sequences, their caps, on_step_done counting only a sequence's own tokens,
// accept_verified (emitted tokens, accepted drafts computed, tail blocks of rejected drafts
// freed), prefix-cache registration over accepted tokens only (and, with draft_kv, only as far
// as the draft computed), and preemption. Each test plays the engine's part by hand.
#include <gtest/gtest.h>

#include <optional>
#include <span>
#include <vector>

#include "sched/scheduler.h"
#include "unit/sched/sched_test_util.h"

namespace ferrite::sched {
namespace {

using testing::Harness;
using testing::iota_tokens;
using Tokens = std::vector<std::int32_t>;

SchedulerConfig config(std::int64_t budget, bool draft_kv = false) {
  SchedulerConfig c;
  c.max_num_batched_tokens = budget;
  c.max_num_seqs = 8;
  c.max_model_len = 4096;
  c.draft_kv = draft_kv;
  return c;
}

void expect_entry(const ScheduledSeq& s, const Sequence* seq, std::int64_t start, std::int64_t n, bool sample,
                  std::int64_t num_spec) {
  EXPECT_EQ(s.seq, seq);
  EXPECT_EQ(s.start, start);
  EXPECT_EQ(s.num_new_tokens, n);
  EXPECT_EQ(s.sample, sample);
  EXPECT_EQ(s.num_spec, num_spec);
}

// The drafts the engine would write for a planned entry: distinct per sequence and position,
// and far from the iota prompts and Harness's 5000 + n output tokens.
Tokens drafts_of(const ScheduledSeq& s) {
  Tokens d;
  for (std::int64_t i = 0; i < s.num_spec; ++i) d.push_back(static_cast<std::int32_t>(100000 * (s.seq->seq_id + 1) + i));
  return d;
}

void fill_drafts(const StepPlan& plan) {
  for (const auto& s : plan.seqs) s.seq->spec_tokens = drafts_of(s);
}

// The engine's draft-model passes: pass 1 catches the draft up with the sequence's own tokens,
// passes 2..k feed drafts 0..k-2 (the last draft is sampled, never fed).
void draft_model_ran(const StepPlan& plan) {
  for (const auto& s : plan.seqs) {
    Sequence* seq = s.seq;
    seq->num_draft_computed = s.start + s.num_new_tokens - s.num_spec;
    if (s.num_spec > 1) seq->num_draft_computed = seq->num_tokens() + s.num_spec - 1;
  }
}

// Emitted tokens: the first `accepted` drafts, then one correction/bonus token.
Tokens emitted(const Sequence* seq, std::int64_t accepted, std::int32_t last) {
  Tokens e(seq->spec_tokens.begin(), seq->spec_tokens.begin() + accepted);
  e.push_back(last);
  return e;
}

// schedule + on_step_done + one token per sampling sequence, for steps without draft slots
// (Harness::step checks invariants right after schedule(), which draft slots would fail).
StepPlan plain_step(Harness& h) {
  StepPlan plan = h.sched.schedule();
  for (const auto& s : plan.seqs) EXPECT_EQ(s.num_spec, 0);
  h.sched.on_step_done(plan);
  for (const auto& s : plan.seqs)
    if (s.sample) h.sched.append_token(s.seq, 5000 + static_cast<std::int32_t>(s.seq->num_tokens()));
  h.sched.check_invariants();
  return plan;
}

TEST(SchedulerSpec, DecodeGetsLookaheadSlots) {
  Harness h(config(1000), 20, 4, true);
  Sequence* a = h.add(iota_tokens(7, 0));
  a->num_lookahead = 3;  // admitted this step: no slots yet
  StepPlan plan = plain_step(h);
  ASSERT_EQ(plan.seqs.size(), 1u);
  expect_entry(plan.seqs[0], a, 0, 7, true, 0);
  ASSERT_EQ(a->num_tokens(), 8);
  ASSERT_EQ(a->block_table.size(), 2u);
  EXPECT_EQ(h.pool.num_free_blocks(), 18);

  plan = h.sched.schedule();
  ASSERT_EQ(plan.seqs.size(), 1u);
  expect_entry(plan.seqs[0], a, 7, 1 + 3, true, 3);
  EXPECT_EQ(plan.num_batched_tokens, 4);
  EXPECT_EQ(a->block_table.size(), 3u);  // positions 0..10: the last token and three drafts
  EXPECT_EQ(h.pool.num_free_blocks(), 17);

  fill_drafts(plan);
  h.sched.on_step_done(plan);
  EXPECT_EQ(a->num_computed, 8);  // its own token only, not the drafts
  EXPECT_EQ(a->num_tokens(), 8);
  EXPECT_EQ(a->num_registered_blocks, 2);

  const Tokens e = emitted(a, 1, 7777);
  ASSERT_EQ(e, (Tokens{100000, 7777}));
  h.sched.accept_verified(a, e, 1);
  EXPECT_EQ(a->num_tokens(), 10);
  EXPECT_EQ(a->tokens[8], 100000);
  EXPECT_EQ(a->tokens[9], 7777);
  EXPECT_EQ(a->num_computed, 9);  // 8 own + 1 accepted draft; 7777 has no KV yet
  EXPECT_TRUE(a->spec_tokens.empty());
  EXPECT_EQ(a->block_table.size(), 3u);  // blocks_for(10)
  EXPECT_EQ(h.pool.num_free_blocks(), 17);
  h.sched.check_invariants();

  // Next step decodes from the correction token.
  a->num_lookahead = 0;
  plan = plain_step(h);
  expect_entry(plan.seqs[0], a, 9, 1, true, 0);
  EXPECT_EQ(a->num_computed, 10);
}

TEST(SchedulerSpec, SlotsCappedByTokenBudget) {
  Harness h(config(10), 40, 4, true);
  Sequence* a = h.add(iota_tokens(3, 0));
  Sequence* b = h.add(iota_tokens(3, 100));
  Sequence* c = h.add(iota_tokens(3, 200));
  plain_step(h);  // 9 of 10 tokens
  for (Sequence* s : {a, b, c}) s->num_lookahead = 5;
  Sequence* d = h.add(iota_tokens(8, 300));
  d->num_lookahead = 5;

  StepPlan plan = h.sched.schedule();
  // a: 1 + 5 (9 left after its own token); b: 1 + 3 (budget left after a: 4); c and d: none left.
  ASSERT_EQ(plan.seqs.size(), 2u);
  expect_entry(plan.seqs[0], a, 3, 6, true, 5);
  expect_entry(plan.seqs[1], b, 3, 4, true, 3);
  EXPECT_EQ(plan.num_batched_tokens, 10);
  EXPECT_EQ(a->block_table.size(), 3u);  // positions 0..8
  EXPECT_EQ(b->block_table.size(), 2u);  // positions 0..6
  EXPECT_EQ(c->block_table.size(), 1u);
  EXPECT_EQ(d->status, SeqStatus::kWaiting);

  fill_drafts(plan);
  h.sched.on_step_done(plan);
  EXPECT_EQ(a->num_computed, 4);
  EXPECT_EQ(b->num_computed, 4);
  h.sched.accept_verified(a, emitted(a, 0, 41), 0);  // all rejected
  h.sched.accept_verified(b, emitted(b, 3, 42), 3);  // all accepted plus a bonus token
  EXPECT_EQ(a->num_tokens(), 5);
  EXPECT_EQ(a->num_computed, 4);
  EXPECT_EQ(a->block_table.size(), 2u);  // the block of positions 8.. held only rejected drafts
  EXPECT_EQ(b->num_tokens(), 8);
  EXPECT_EQ(b->num_computed, 7);
  EXPECT_EQ(b->block_table.size(), 2u);
  h.sched.check_invariants();
  EXPECT_EQ(h.pool.num_free_blocks(), 40 - 2 - 2 - 1);

  // Without lookahead the remaining budget goes to c and to d's prefill as usual.
  for (Sequence* s : {a, b, c}) s->num_lookahead = 0;
  plan = plain_step(h);
  ASSERT_EQ(plan.seqs.size(), 4u);
  expect_entry(plan.seqs[0], a, 4, 1, true, 0);
  expect_entry(plan.seqs[1], b, 7, 1, true, 0);
  expect_entry(plan.seqs[2], c, 3, 1, true, 0);
  expect_entry(plan.seqs[3], d, 0, 7, false, 0);  // admitted this step: a chunk, no slots
}

TEST(SchedulerSpec, SlotsCappedByMaxTotalLen) {
  Harness h(config(1000), 20, 4, true);
  Sequence* a = h.add(iota_tokens(7, 0), "", 0, /*max_total_len=*/12);
  Sequence* b = h.add(iota_tokens(7, 100), "", 0, /*max_total_len=*/9);
  plain_step(h);
  ASSERT_EQ(a->num_tokens(), 8);
  ASSERT_EQ(b->num_tokens(), 8);
  a->num_lookahead = 5;
  b->num_lookahead = 5;
  StepPlan plan = h.sched.schedule();
  ASSERT_EQ(plan.seqs.size(), 2u);
  // a: 3 drafts can emit 4 tokens, reaching 12; b has room for one token only: no drafts.
  expect_entry(plan.seqs[0], a, 7, 4, true, 3);
  expect_entry(plan.seqs[1], b, 7, 1, true, 0);
  EXPECT_EQ(plan.num_batched_tokens, 5);
  fill_drafts(plan);
  EXPECT_TRUE(b->spec_tokens.empty());
  h.sched.on_step_done(plan);
  h.sched.accept_verified(a, emitted(a, 3, 9), 3);
  h.sched.append_token(b, 9);
  EXPECT_EQ(a->num_tokens(), 12);
  EXPECT_EQ(a->num_computed, 11);
  EXPECT_EQ(b->num_tokens(), 9);
  h.sched.check_invariants();
}

TEST(SchedulerSpec, NoSlotsWhilePrefilling) {
  Harness h(config(8), 20, 4, true);
  Sequence* a = h.add(iota_tokens(20, 0));
  a->num_lookahead = 3;
  StepPlan plan = h.sched.schedule();  // admitted: no slots
  ASSERT_EQ(plan.seqs.size(), 1u);
  expect_entry(plan.seqs[0], a, 0, 8, false, 0);
  h.sched.on_step_done(plan);
  h.sched.check_invariants();
  plan = h.sched.schedule();  // running, but its chunk does not reach the last token
  ASSERT_EQ(plan.seqs.size(), 1u);
  expect_entry(plan.seqs[0], a, 8, 8, false, 0);
  EXPECT_EQ(a->block_table.size(), 4u);
  h.sched.on_step_done(plan);
  h.sched.check_invariants();
  EXPECT_EQ(a->num_computed, 16);
  // The last chunk samples, so (scheduler.h) it may carry drafts, within the budget left: 4.
  plan = h.sched.schedule();
  ASSERT_EQ(plan.seqs.size(), 1u);
  expect_entry(plan.seqs[0], a, 16, 4 + 3, true, 3);
  EXPECT_EQ(a->block_table.size(), 6u);  // positions 0..22
  fill_drafts(plan);
  h.sched.on_step_done(plan);
  EXPECT_EQ(a->num_computed, 20);
  h.sched.accept_verified(a, emitted(a, 0, 1), 0);
  EXPECT_EQ(a->num_tokens(), 21);
  EXPECT_EQ(a->block_table.size(), 6u);  // blocks_for(21): position 20's block stays
  h.sched.check_invariants();
}

TEST(SchedulerSpec, RejectedDraftTailBlocksAreFreed) {
  Harness h(config(1000), 10, 4, true);
  Sequence* a = h.add(iota_tokens(7, 0));
  plain_step(h);
  ASSERT_EQ(h.pool.num_free_blocks(), 8);
  a->num_lookahead = 5;
  StepPlan plan = h.sched.schedule();
  expect_entry(plan.seqs[0], a, 7, 6, true, 5);
  ASSERT_EQ(a->block_table.size(), 4u);  // positions 0..12
  EXPECT_EQ(h.pool.num_free_blocks(), 6);
  const std::int32_t last_block = a->block_table[3];
  fill_drafts(plan);
  h.sched.on_step_done(plan);
  h.sched.accept_verified(a, emitted(a, 0, 77), 0);
  EXPECT_EQ(a->num_tokens(), 9);
  EXPECT_EQ(a->num_computed, 8);
  ASSERT_EQ(a->block_table.size(), 3u);  // block 2 holds token 8 (77), block 3 only drafts
  EXPECT_EQ(h.pool.ref_count(last_block), 0);
  EXPECT_EQ(h.pool.num_free_blocks(), 7);
  EXPECT_EQ(h.pool.stats().num_cached, 0);  // the freed block was never registered
  h.sched.check_invariants();

  // Two accepted of five: positions 9..10 hold tokens, the rest of the slots go back.
  plan = h.sched.schedule();
  expect_entry(plan.seqs[0], a, 8, 6, true, 5);  // positions 8..13: 4 blocks
  EXPECT_EQ(a->block_table.size(), 4u);
  EXPECT_EQ(h.pool.num_free_blocks(), 6);
  fill_drafts(plan);
  h.sched.on_step_done(plan);
  h.sched.accept_verified(a, emitted(a, 2, 78), 2);
  EXPECT_EQ(a->num_tokens(), 12);
  EXPECT_EQ(a->num_computed, 11);
  EXPECT_EQ(a->block_table.size(), 3u);
  EXPECT_EQ(h.pool.num_free_blocks(), 7);
  h.sched.check_invariants();

  // All accepted plus a bonus: nothing to free; the bonus token's block comes next step.
  plan = h.sched.schedule();
  expect_entry(plan.seqs[0], a, 11, 6, true, 5);  // positions 11..16: 5 blocks
  EXPECT_EQ(a->block_table.size(), 5u);
  fill_drafts(plan);
  h.sched.on_step_done(plan);
  h.sched.accept_verified(a, emitted(a, 5, 79), 5);
  EXPECT_EQ(a->num_tokens(), 18);
  EXPECT_EQ(a->num_computed, 17);
  EXPECT_EQ(a->block_table.size(), 5u);  // blocks_for(18) = 5
  EXPECT_EQ(h.pool.num_free_blocks(), 5);
  h.sched.check_invariants();
  h.sched.finish(a);
  h.sched.check_invariants();
  EXPECT_EQ(h.pool.num_free_blocks(), 10);
}

TEST(SchedulerSpec, PrefixCacheRegistersOnlyAcceptedTokens) {
  Harness h(config(1000), 30, 4, true);
  Sequence* a = h.add(iota_tokens(7, 0));
  plain_step(h);  // tokens 0..6 and 5007; block 0 registered
  a->num_lookahead = 4;
  StepPlan plan = h.sched.schedule();
  expect_entry(plan.seqs[0], a, 7, 5, true, 4);  // drafts at positions 8..11 (block 2)
  a->spec_tokens = {100, 101, 102, 103};
  h.sched.on_step_done(plan);
  EXPECT_EQ(a->num_registered_blocks, 2);
  // Three accepted, then 555 instead of 103: block 2 now reads 100 101 102 555, but position
  // 11's KV is still the rejected 103's.
  h.sched.accept_verified(a, Tokens{100, 101, 102, 555}, 3);
  EXPECT_EQ(a->num_tokens(), 12);
  EXPECT_EQ(a->num_computed, 11);
  EXPECT_EQ(a->num_registered_blocks, 2);
  h.sched.check_invariants();

  const Tokens t(a->tokens.begin(), a->tokens.end());
  const kv::BlockHash h0 = kv::hash_block(kv::kRootHash, std::span(t.data(), 4));
  const kv::BlockHash h1 = kv::hash_block(h0, std::span(t.data() + 4, 4));
  const Tokens accepted_block = {100, 101, 102, 555}, draft_block = {100, 101, 102, 103};
  const kv::BlockHash h2 = kv::hash_block(h1, accepted_block);
  const kv::BlockHash h2_draft = kv::hash_block(h1, draft_block);
  EXPECT_EQ(h.pool.peek(h1, std::span(t.data() + 4, 4)), std::optional<std::int32_t>(a->block_table[1]));
  EXPECT_FALSE(h.pool.peek(h2, accepted_block).has_value());
  EXPECT_FALSE(h.pool.peek(h2_draft, draft_block).has_value());

  // Computing 555 completes block 2 over accepted tokens: now it is registered.
  a->num_lookahead = 0;
  plain_step(h);
  EXPECT_EQ(a->num_computed, 12);
  EXPECT_EQ(a->num_registered_blocks, 3);
  EXPECT_EQ(h.pool.peek(h2, accepted_block), std::optional<std::int32_t>(a->block_table[2]));
  EXPECT_FALSE(h.pool.peek(h2_draft, draft_block).has_value());

  // A later identical prompt finds the three blocks; one that continues with the rejected draft
  // finds only the first two.
  const std::vector<std::int32_t> a_blocks(a->block_table.begin(), a->block_table.begin() + 3);
  h.sched.finish(a);
  Tokens same = t;
  same.push_back(999);
  Tokens with_draft = t;
  with_draft[11] = 103;
  with_draft.push_back(999);
  Sequence* b = h.add(same);
  Sequence* c = h.add(with_draft);
  plain_step(h);
  EXPECT_EQ(b->num_cached_prompt, 12);
  EXPECT_EQ(std::vector<std::int32_t>(b->block_table.begin(), b->block_table.begin() + 3), a_blocks);
  EXPECT_EQ(c->num_cached_prompt, 8);
  EXPECT_NE(c->block_table[2], a_blocks[2]);
}

TEST(SchedulerSpec, DraftKvRegistrationStopsAtDraftComputed) {
  // The same script with and without the draft's KV in the blocks.
  for (const bool draft_kv : {false, true}) {
    SCOPED_TRACE(draft_kv ? "draft_kv" : "target only");
    Harness h(config(1000, draft_kv), 30, 4, true);
    Sequence* a = h.add(iota_tokens(11, 0));
    StepPlan plan = h.sched.schedule();
    draft_model_ran(plan);
    EXPECT_EQ(a->num_draft_computed, 11);
    h.sched.on_step_done(plan);
    h.sched.append_token(a, 500);
    EXPECT_EQ(a->num_registered_blocks, 2);
    h.sched.check_invariants();

    a->num_lookahead = 4;
    plan = h.sched.schedule();
    expect_entry(plan.seqs[0], a, 11, 5, true, 4);  // drafts at 12..15
    fill_drafts(plan);
    draft_model_ran(plan);
    EXPECT_EQ(a->num_draft_computed, 15);  // drafts 0..2 fed to the draft, the last one sampled only
    h.sched.on_step_done(plan);
    EXPECT_EQ(a->num_computed, 12);
    EXPECT_EQ(a->num_registered_blocks, 3);
    h.sched.accept_verified(a, emitted(a, 4, 501), 4);
    EXPECT_EQ(a->num_tokens(), 17);
    EXPECT_EQ(a->num_computed, 16);
    EXPECT_EQ(a->num_draft_computed, 15);
    // Block 3 (positions 12..15) holds the target's KV of accepted tokens, but the draft's KV
    // at 15 is missing: with draft_kv it is not registered yet.
    EXPECT_EQ(a->num_registered_blocks, draft_kv ? 3 : 4);
    const Tokens t = a->tokens;
    kv::BlockHash hash = kv::kRootHash;
    for (int b = 0; b < 4; ++b) hash = kv::hash_block(hash, std::span(t.data() + 4 * b, 4));
    EXPECT_EQ(h.pool.peek(hash, std::span(t.data() + 12, 4)).has_value(), !draft_kv);
    h.sched.check_invariants();

    a->num_lookahead = 0;
    plan = h.sched.schedule();
    expect_entry(plan.seqs[0], a, 16, 1, true, 0);
    draft_model_ran(plan);  // catches up from 15
    EXPECT_EQ(a->num_draft_computed, 17);
    h.sched.on_step_done(plan);
    h.sched.append_token(a, 502);
    EXPECT_EQ(a->num_registered_blocks, 4);
    EXPECT_EQ(h.pool.peek(hash, std::span(t.data() + 12, 4)), std::optional<std::int32_t>(a->block_table[3]));
    h.sched.check_invariants();
  }
}

TEST(SchedulerSpec, DraftKvLaggingDraftHoldsBackRegistration) {
  Harness h(config(1000, /*draft_kv=*/true), 30, 4, true);
  Sequence* a = h.add(iota_tokens(10, 0));
  StepPlan plan = h.sched.schedule();
  EXPECT_EQ(a->num_draft_computed, 0);  // admission: nothing cached, so nothing of the draft's
  a->num_draft_computed = 5;            // as if the draft had computed only 5 tokens
  h.sched.on_step_done(plan);
  EXPECT_EQ(a->num_computed, 10);
  EXPECT_EQ(a->num_registered_blocks, 1);  // min(10, 5) / 4
  h.sched.append_token(a, 500);
  h.sched.check_invariants();
  // accept_verified never lets the draft's count run ahead of the target's.
  a->num_lookahead = 2;
  plan = h.sched.schedule();
  expect_entry(plan.seqs[0], a, 10, 3, true, 2);
  fill_drafts(plan);
  a->num_draft_computed = 12;
  h.sched.on_step_done(plan);
  EXPECT_EQ(a->num_registered_blocks, 2);  // min(11, 12) / 4
  h.sched.accept_verified(a, emitted(a, 0, 501), 0);
  EXPECT_EQ(a->num_computed, 11);
  EXPECT_EQ(a->num_draft_computed, 11);
  h.sched.check_invariants();
}

TEST(SchedulerSpec, PreemptionClearsDrafts) {
  Harness h(config(1000, /*draft_kv=*/true), 4, 4, true);
  Sequence* a = h.add(iota_tokens(8, 0));
  Sequence* b = h.add(iota_tokens(8, 100));
  plain_step(h);
  ASSERT_EQ(h.pool.num_free_blocks(), 0);
  for (Sequence* s : {a, b}) {
    s->num_draft_computed = 8;
    s->num_lookahead = 3;
    s->spec_tokens = {1, 2, 3};  // an n-gram proposer fills these before schedule()
  }
  // a's own token at position 8 needs a third block: b, the last, is preempted. a gets no draft
  // slots (they were sized before the preemption freed anything).
  StepPlan plan = h.sched.schedule();
  ASSERT_EQ(plan.preempted.size(), 1u);
  EXPECT_EQ(plan.preempted[0], b);
  ASSERT_EQ(plan.seqs.size(), 1u);
  expect_entry(plan.seqs[0], a, 8, 1, true, 0);
  EXPECT_EQ(b->status, SeqStatus::kWaiting);
  EXPECT_TRUE(b->spec_tokens.empty());
  EXPECT_EQ(b->num_draft_computed, 0);
  EXPECT_EQ(b->num_computed, 0);
  EXPECT_EQ(b->num_registered_blocks, 0);
  EXPECT_TRUE(b->block_table.empty());
  EXPECT_EQ(b->num_preemptions, 1);
  a->spec_tokens.clear();  // the engine keeps only what the plan gave
  draft_model_ran(plan);
  h.sched.on_step_done(plan);
  h.sched.append_token(a, 9);
  h.sched.check_invariants();
}

// Draft slots never preempt: a lone sequence near the cache's capacity gets the slots the free
// blocks hold, and a sequence's drafts never push out another sequence.
TEST(SchedulerSpec, DraftsNeverPreempt) {
  {
    Harness h(config(1000), 3, 4, true);
    Sequence* a = h.add(iota_tokens(5, 0));
    plain_step(h);  // 6 tokens in 2 blocks, 1 free
    ASSERT_EQ(h.pool.num_free_blocks(), 1);
    a->num_lookahead = 8;
    StepPlan plan = h.sched.schedule();
    EXPECT_TRUE(plan.preempted.empty());
    ASSERT_EQ(plan.seqs.size(), 1u);
    expect_entry(plan.seqs[0], a, 5, 1 + 6, true, 6);  // positions 5..11 fill the 3 blocks
    EXPECT_EQ(h.pool.num_free_blocks(), 0);
    fill_drafts(plan);
    h.sched.on_step_done(plan);
    h.sched.accept_verified(a, emitted(a, 0, 42), 0);
    EXPECT_EQ(a->block_table.size(), 2u);  // blocks_for(7): the draft-only block is back
    EXPECT_EQ(h.pool.num_free_blocks(), 1);
    h.sched.check_invariants();
  }
  // a asks for drafts; b, after it, needs a block for its own next token (position 8).
  for (const std::int64_t blocks : {5, 6}) {
    Harness h(config(1000), blocks, 4, true);
    Sequence* a = h.add(iota_tokens(7, 0));
    Sequence* b = h.add(iota_tokens(8, 100));
    plain_step(h);  // a: 8 tokens, 2 full blocks; b: 9 tokens, 2 blocks and one more to come
    ASSERT_EQ(h.pool.num_free_blocks(), blocks - 4);
    a->num_lookahead = 8;
    StepPlan plan = h.sched.schedule();
    EXPECT_TRUE(plan.preempted.empty());
    ASSERT_EQ(plan.seqs.size(), 2u);
    if (blocks == 5) {
      expect_entry(plan.seqs[0], a, 7, 1, true, 0);  // the one free block is b's
    } else {
      expect_entry(plan.seqs[0], a, 7, 1 + 4, true, 4);  // the block b does not need
    }
    expect_entry(plan.seqs[1], b, 8, 1, true, 0);
    EXPECT_EQ(h.pool.num_free_blocks(), 0);
  }
}

TEST(SchedulerSpecDeathTest, AcceptVerifiedPreconditions) {
  Harness h(config(1000), 20, 4, true);
  Sequence* a = h.add(iota_tokens(7, 0));
  plain_step(h);
  a->num_lookahead = 2;
  StepPlan plan = h.sched.schedule();
  expect_entry(plan.seqs[0], a, 7, 3, true, 2);
  a->spec_tokens = {100, 101};
  h.sched.on_step_done(plan);
  EXPECT_DEATH(h.sched.accept_verified(a, Tokens{100, 999, 5}, 2), "not the draft");
  EXPECT_DEATH(h.sched.accept_verified(a, Tokens{100, 101, 102, 5}, 3), "more accepted drafts");
  EXPECT_DEATH(h.sched.accept_verified(a, Tokens{100}, 2), "more accepted drafts");
  EXPECT_DEATH(h.sched.accept_verified(a, Tokens{}, 0), "more accepted drafts");
  // The death tests ran in children: here the step is still open and completes normally.
  h.sched.accept_verified(a, Tokens{100, 101, 5}, 2);
  EXPECT_EQ(a->num_computed, 10);
  h.sched.check_invariants();
}

}  // namespace
}  // namespace ferrite::sched
