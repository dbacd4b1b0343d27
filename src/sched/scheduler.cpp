#include "sched/scheduler.h"

#include <algorithm>
#include <span>
#include <string>

#include "base/check.h"

namespace ferrite::sched {

namespace {

std::span<const std::int32_t> block_tokens(const Sequence* seq, std::int64_t block, std::int64_t block_size) {
  return std::span<const std::int32_t>(seq->tokens.data() + block * block_size, static_cast<std::size_t>(block_size));
}

}  // namespace

Scheduler::Scheduler(const SchedulerConfig& config, kv::BlockPool& pool)
    : config_(config), pool_(pool), block_size_(pool.block_size()) {
  FERRITE_CHECK_MSG(config_.max_num_batched_tokens > 0, "Scheduler: max_num_batched_tokens must be positive");
  FERRITE_CHECK_MSG(config_.max_num_seqs > 0, "Scheduler: max_num_seqs must be positive");
  FERRITE_CHECK_MSG(config_.max_model_len > 0, "Scheduler: max_model_len must be positive");
}

bool Scheduler::before(const Sequence* a, const Sequence* b) const {
  if (config_.policy == Policy::kPriority && a->priority != b->priority) return a->priority < b->priority;
  if (a->arrival_time < b->arrival_time) return true;
  if (b->arrival_time < a->arrival_time) return false;
  return a->seq_id < b->seq_id;
}

void Scheduler::insert_running(Sequence* seq) {
  // Scanning from the back makes the common case (a newly arrived sequence is the latest) O(1).
  auto pos = running_.end();
  while (pos != running_.begin() && before(seq, *(pos - 1))) --pos;
  running_.insert(pos, seq);
}

void Scheduler::insert_waiting(Sequence* seq) {
  auto pos = waiting_.end();
  while (pos != waiting_.begin() && before(seq, *(pos - 1))) --pos;
  waiting_.insert(pos, seq);
}

void Scheduler::add(std::unique_ptr<Sequence> seq) {
  FERRITE_CHECK_MSG(seq != nullptr, "Scheduler::add: null sequence");
  FERRITE_CHECK_MSG(!seq->tokens.empty(), "Scheduler::add: empty prompt");
  FERRITE_CHECK_MSG(seq->prompt_len > 0 && seq->prompt_len <= seq->num_tokens(),
                    "Scheduler::add: prompt_len must be in (0, tokens]");
  // 0 stands for "as long as the model allows", so tests and tools need not spell it out.
  if (seq->max_total_len <= 0) seq->max_total_len = config_.max_model_len;
  FERRITE_CHECK_MSG(seq->max_total_len <= config_.max_model_len, "Scheduler::add: max_total_len > max_model_len");
  FERRITE_CHECK_MSG(seq->num_tokens() <= seq->max_total_len, "Scheduler::add: more tokens than max_total_len");
  FERRITE_CHECK_MSG(seq->num_computed == 0 && seq->block_table.empty() && seq->num_registered_blocks == 0,
                    "Scheduler::add: a new sequence holds no KV state");
  FERRITE_CHECK_MSG(!seqs_.contains(seq->seq_id), "Scheduler::add: duplicate seq_id");
  seq->status = SeqStatus::kWaiting;
  Sequence* raw = seq.get();
  seqs_.emplace(raw->seq_id, std::move(seq));
  insert_waiting(raw);
}

void Scheduler::release_blocks(Sequence* seq) {
  // Tail first: released blocks join the LRU at its most recent end, so releasing in reverse
  // leaves a sequence's first blocks (the ones most likely shared as a prefix) evicted last.
  for (auto it = seq->block_table.rbegin(); it != seq->block_table.rend(); ++it) pool_.release(*it);
  seq->block_table.clear();
}

void Scheduler::allocate_blocks(Sequence* seq, std::int64_t num_tokens) {
  const std::int64_t want = blocks_for(num_tokens);
  while (static_cast<std::int64_t>(seq->block_table.size()) < want) {
    auto block = pool_.allocate();
    FERRITE_CHECK_MSG(block.has_value(), "Scheduler: allocate() failed after the free-block check");
    seq->block_table.push_back(*block);
  }
}

void Scheduler::ensure_hashes(Sequence* seq, std::int64_t num_blocks) {
  FERRITE_CHECK_MSG(num_blocks * block_size_ <= seq->num_tokens(), "Scheduler: hashing a block that is not full");
  // Tokens never change once appended, so hashes computed once stay valid across preemption.
  while (static_cast<std::int64_t>(seq->block_hashes.size()) < num_blocks) {
    const auto i = static_cast<std::int64_t>(seq->block_hashes.size());
    const kv::BlockHash parent = i == 0 ? kv::kRootHash : seq->block_hashes.back();
    seq->block_hashes.push_back(kv::hash_block(parent, block_tokens(seq, i, block_size_)));
  }
}

bool Scheduler::waits_for_sibling(const Sequence* seq) const {
  if (seq->wait_for_seq < 0) return false;
  auto it = seqs_.find(seq->wait_for_seq);
  if (it == seqs_.end()) return false;  // finished or aborted: nothing to wait for
  const Sequence* first = it->second.get();
  return first->status != SeqStatus::kFinished && !first->prefill_done();
}

void Scheduler::preempt_last(StepPlan& plan) {
  Sequence* victim = running_.back();
  running_.pop_back();
  release_blocks(victim);
  victim->num_computed = 0;
  victim->num_registered_blocks = 0;
  victim->num_draft_computed = 0;
  victim->spec_tokens.clear();
  victim->status = SeqStatus::kWaiting;
  ++victim->num_preemptions;
  ++num_preemptions_;
  if (config_.policy == Policy::kFcfs) {
    waiting_.push_front(victim);
  } else {
    // Priority: the front among sequences of its own priority, behind better ones that wait.
    insert_waiting(victim);
  }
  plan.preempted.push_back(victim);
}

bool Scheduler::try_admit(Sequence* seq, std::int64_t budget, StepPlan& plan) {
  FERRITE_CHECK_MSG(seq->num_computed == 0 && seq->block_table.empty(), "Scheduler: waiting sequence holds KV state");
  // Find the cached prefix without touching the pool first, so that a sequence that does not fit
  // leaves the LRU order and the hit statistics as they were.
  hits_.clear();
  bool stopped_on_miss = false;
  if (pool_.prefix_caching() && !seq->skip_prefix_cache) {
    // Never the block holding the last token: at least one token must be computed for logits.
    const std::int64_t limit = (seq->num_tokens() - 1) / block_size_;
    for (std::int64_t b = 0; b < limit; ++b) {
      ensure_hashes(seq, b + 1);
      auto block = pool_.peek(seq->block_hashes[static_cast<std::size_t>(b)], block_tokens(seq, b, block_size_));
      if (!block) {
        stopped_on_miss = true;
        break;
      }
      hits_.push_back(*block);
    }
  }
  const auto num_hits = static_cast<std::int64_t>(hits_.size());
  const std::int64_t computed = num_hits * block_size_;
  const std::int64_t n = std::min(seq->num_tokens() - computed, budget);
  // A hit on a cached (ref 0) block takes it out of the allocatable count as well.
  std::int64_t needed = blocks_for(computed + n) - num_hits;
  for (std::int32_t b : hits_) needed += pool_.ref_count(b) == 0 ? 1 : 0;
  if (needed > pool_.num_free_blocks()) return false;

  for (std::int64_t b = 0; b < num_hits; ++b) {
    auto block = pool_.lookup(seq->block_hashes[static_cast<std::size_t>(b)], block_tokens(seq, b, block_size_));
    FERRITE_CHECK_MSG(block && *block == hits_[static_cast<std::size_t>(b)],
                      "Scheduler: lookup() disagrees with peek()");
    seq->block_table.push_back(*block);
  }
  if (stopped_on_miss) {
    // Counted so that the pool's hit rate reflects the miss; the pool is unchanged since peek().
    auto miss =
        pool_.lookup(seq->block_hashes[static_cast<std::size_t>(num_hits)], block_tokens(seq, num_hits, block_size_));
    FERRITE_CHECK_MSG(!miss, "Scheduler: lookup() disagrees with peek()");
  }
  allocate_blocks(seq, computed + n);
  seq->num_computed = computed;
  seq->num_draft_computed = computed;  // registered blocks hold the draft's KV too (draft_kv)
  seq->num_registered_blocks = num_hits;
  if (seq->num_preemptions == 0) seq->num_cached_prompt = std::min(computed, seq->prompt_len);
  seq->status = SeqStatus::kRunning;
  plan.seqs.push_back({seq, computed, n, computed + n == seq->num_tokens(), 0});
  plan.num_batched_tokens += n;
  return true;
}

StepPlan Scheduler::schedule() {
  StepPlan plan;
  plan.seqs.reserve(running_.size() + 8);
  std::int64_t budget = config_.max_num_batched_tokens;

  // Blocks the running sequences' own pending tokens need (only counted when some sequence asks
  // for draft slots, which must leave these free).
  auto own_share = [&](const Sequence* seq) {
    return std::max<std::int64_t>(0, blocks_for(seq->num_tokens()) - static_cast<std::int64_t>(seq->block_table.size()));
  };
  std::int64_t own_reserve = 0;
  for (const Sequence* seq : running_)
    if (seq->num_lookahead > 0) {
      for (const Sequence* r : running_) own_reserve += own_share(r);
      break;
    }

  // 1. Running sequences, in policy order. Victims come from the back and scheduling from the
  // front, so a preempted sequence is never one already in the plan.
  for (std::size_t i = 0; i < running_.size() && budget > 0;) {
    Sequence* seq = running_[i];
    const std::int64_t start = seq->num_computed;
    const std::int64_t pending = seq->num_tokens() - start;
    const std::int64_t n = std::min(pending, budget);
    if (n <= 0) {  // nothing appended since it sampled: the engine is about to finish it
      ++i;
      continue;
    }
    std::int64_t spec = 0;
    if (n == pending && seq->num_lookahead > 0) {
      spec = std::min<std::int64_t>({seq->num_lookahead, budget - n, seq->max_total_len - seq->num_tokens() - 1});
      // Drafts never preempt: they take only blocks that stay free once this sequence's own
      // tokens and those of the running sequences after it have theirs.
      const auto held = static_cast<std::int64_t>(seq->block_table.size());
      const std::int64_t usable = pool_.num_free_blocks() - (own_reserve - own_share(seq));
      const std::int64_t own_needed = blocks_for(start + n) - held;
      spec = own_needed > usable ? 0 : std::min(spec, (held + usable) * block_size_ - (start + n));
      spec = std::max<std::int64_t>(spec, 0);
    }
    own_reserve -= own_share(seq);
    const std::int64_t needed = blocks_for(start + n + spec) - static_cast<std::int64_t>(seq->block_table.size());
    bool preempted_self = false;
    while (needed > pool_.num_free_blocks()) {
      preempted_self = running_.back() == seq;
      preempt_last(plan);
      if (preempted_self) break;
    }
    if (preempted_self) break;  // it was the last running sequence, so the loop is over anyway
    allocate_blocks(seq, start + n + spec);
    plan.seqs.push_back({seq, start, n + spec, n == pending, spec});
    plan.num_batched_tokens += n + spec;
    budget -= n + spec;
    ++i;
  }

  // 2. Waiting sequences, unless this step had to preempt: blocks are short, and admitting now
  // would only preempt again next step.
  if (plan.preempted.empty()) {
    for (std::size_t w = 0;
         w < waiting_.size() && budget > 0 && static_cast<std::int64_t>(running_.size()) < config_.max_num_seqs;) {
      Sequence* seq = waiting_[w];
      // A later completion of an n > 1 request is not eligible until its first completion has
      // prefilled. It keeps its place, and others may pass it meanwhile (see scheduler.h): it
      // behaves as if it had not arrived yet, not as a sequence that does not fit.
      if (waits_for_sibling(seq)) {
        ++w;
        continue;
      }
      const std::size_t before_size = plan.seqs.size();
      if (!try_admit(seq, budget, plan)) break;  // no overtaking, under either policy
      budget -= plan.seqs[before_size].num_new_tokens;
      waiting_.erase(waiting_.begin() + static_cast<std::ptrdiff_t>(w));
      insert_running(seq);
    }
  }
  return plan;
}

void Scheduler::register_full_blocks(Sequence* seq) {
  if (!pool_.prefix_caching()) return;
  const std::int64_t valid = config_.draft_kv ? std::min(seq->num_computed, seq->num_draft_computed) : seq->num_computed;
  const std::int64_t full = valid / block_size_;
  if (full <= seq->num_registered_blocks) return;
  ensure_hashes(seq, full);
  for (std::int64_t b = seq->num_registered_blocks; b < full; ++b) {
    pool_.register_full(seq->block_table[static_cast<std::size_t>(b)], seq->block_hashes[static_cast<std::size_t>(b)],
                        block_tokens(seq, b, block_size_));
  }
  seq->num_registered_blocks = full;
}

void Scheduler::on_step_done(const StepPlan& plan) {
  for (const ScheduledSeq& s : plan.seqs) {
    Sequence* seq = s.seq;
    FERRITE_CHECK_MSG(seq->status == SeqStatus::kRunning, "on_step_done: scheduled sequence is not running");
    FERRITE_CHECK_MSG(seq->num_computed == s.start, "on_step_done: plan does not start at num_computed");
    FERRITE_CHECK_MSG(s.num_spec >= 0 && s.num_spec < s.num_new_tokens && (s.num_spec == 0 || s.sample),
                      "on_step_done: draft slots on a sequence that does not sample");
    // Drafts are computed too, but count only once accept_verified() knows which were right.
    seq->num_computed += s.num_new_tokens - s.num_spec;
    FERRITE_CHECK_MSG(seq->num_computed <= seq->num_tokens(), "on_step_done: computed past the last token");
    FERRITE_CHECK_MSG(static_cast<std::int64_t>(seq->block_table.size()) >= blocks_for(seq->num_computed + s.num_spec),
                      "on_step_done: computed tokens without blocks");
    register_full_blocks(seq);
  }
}

void Scheduler::accept_verified(Sequence* seq, std::span<const std::int32_t> emitted, std::int64_t num_accepted) {
  FERRITE_CHECK_MSG(seq->status == SeqStatus::kRunning, "accept_verified: sequence is not running");
  FERRITE_CHECK_MSG(seq->num_computed == seq->num_tokens(), "accept_verified: the sequence has uncomputed tokens");
  const auto n = static_cast<std::int64_t>(emitted.size());
  FERRITE_CHECK_MSG(n >= 1 && num_accepted >= 0 && num_accepted <= n &&
                        num_accepted <= static_cast<std::int64_t>(seq->spec_tokens.size()),
                    "accept_verified: more accepted drafts than drafts or emitted tokens");
  FERRITE_CHECK_MSG(seq->num_tokens() + n <= seq->max_total_len, "accept_verified: past max_total_len");
  for (std::int64_t i = 0; i < num_accepted; ++i)
    FERRITE_CHECK_MSG(emitted[static_cast<std::size_t>(i)] == seq->spec_tokens[static_cast<std::size_t>(i)],
                      "accept_verified: an accepted token is not the draft");
  // The KV of the last computed token and of the accepted drafts is right; the token emitted
  // after them (a correction or bonus) has none yet.
  seq->num_computed += num_accepted;
  seq->tokens.insert(seq->tokens.end(), emitted.begin(), emitted.end());
  seq->spec_tokens.clear();
  seq->num_draft_computed = std::min(seq->num_draft_computed, seq->num_computed);
  // Blocks past the last token held only rejected drafts.
  const std::int64_t keep = blocks_for(seq->num_tokens());
  while (static_cast<std::int64_t>(seq->block_table.size()) > keep) {
    pool_.release(seq->block_table.back());
    seq->block_table.pop_back();
  }
  register_full_blocks(seq);
}

void Scheduler::append_token(Sequence* seq, std::int32_t token) {
  FERRITE_CHECK_MSG(seq->status == SeqStatus::kRunning, "append_token: sequence is not running");
  FERRITE_CHECK_MSG(seq->num_tokens() < seq->max_total_len, "append_token: sequence is at max_total_len");
  seq->tokens.push_back(token);
}

void Scheduler::finish(Sequence* seq) {
  auto it = seqs_.find(seq->seq_id);
  FERRITE_CHECK_MSG(it != seqs_.end() && it->second.get() == seq, "finish: unknown sequence");
  release_blocks(seq);
  auto& queue = seq->status == SeqStatus::kRunning ? running_ : waiting_;
  auto pos = std::find(queue.begin(), queue.end(), seq);
  FERRITE_CHECK_MSG(pos != queue.end(), "finish: sequence missing from its queue");
  queue.erase(pos);
  seq->status = SeqStatus::kFinished;
  seqs_.erase(it);
}

std::vector<std::int64_t> Scheduler::abort_request(const std::string& request_id) {
  std::vector<std::int64_t> ids;
  for (const auto& [id, seq] : seqs_) {
    if (seq->request_id == request_id) ids.push_back(id);
  }
  std::sort(ids.begin(), ids.end());  // the map's order is not deterministic
  for (std::int64_t id : ids) finish(seqs_.at(id).get());
  return ids;
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  s.num_running = static_cast<std::int64_t>(running_.size());
  s.num_waiting = static_cast<std::int64_t>(waiting_.size());
  s.num_preemptions = num_preemptions_;
  return s;
}

Sequence* Scheduler::find(std::int64_t seq_id) const {
  auto it = seqs_.find(seq_id);
  return it == seqs_.end() ? nullptr : it->second.get();
}

void Scheduler::check_invariants() const {
  pool_.check_invariants();
  FERRITE_CHECK_MSG(running_.size() + waiting_.size() == seqs_.size(), "Scheduler: a sequence is in no queue or two");
  FERRITE_CHECK_MSG(static_cast<std::int64_t>(running_.size()) <= config_.max_num_seqs,
                    "Scheduler: more running sequences than max_num_seqs");
  std::vector<std::int32_t> refs(static_cast<std::size_t>(pool_.num_blocks()), 0);
  // last_owner catches the same block twice in one table, which the totals alone would not.
  std::vector<std::int64_t> last_owner(static_cast<std::size_t>(pool_.num_blocks()), -1);
  auto check_seq = [&](const Sequence* seq, SeqStatus status) {
    FERRITE_CHECK_MSG(seq->status == status, "Scheduler: sequence status disagrees with its queue");
    auto it = seqs_.find(seq->seq_id);
    FERRITE_CHECK_MSG(it != seqs_.end() && it->second.get() == seq, "Scheduler: queued sequence is not owned");
    FERRITE_CHECK_MSG(seq->num_tokens() <= seq->max_total_len, "Scheduler: sequence longer than max_total_len");
    FERRITE_CHECK_MSG(seq->num_computed >= 0 && seq->num_computed <= seq->num_tokens(),
                      "Scheduler: num_computed out of [0, tokens]");
    const auto num_blocks = static_cast<std::int64_t>(seq->block_table.size());
    if (status == SeqStatus::kWaiting) {
      FERRITE_CHECK_MSG(seq->num_computed == 0 && num_blocks == 0 && seq->num_registered_blocks == 0,
                        "Scheduler: waiting sequence holds KV state");
    } else {
      FERRITE_CHECK_MSG(num_blocks >= blocks_for(seq->num_computed), "Scheduler: computed tokens without blocks");
      FERRITE_CHECK_MSG(num_blocks <= blocks_for(seq->num_tokens()), "Scheduler: blocks beyond the last token");
      FERRITE_CHECK_MSG(seq->num_registered_blocks <= seq->num_computed / block_size_,
                        "Scheduler: registered a block that is not computed");
      FERRITE_CHECK_MSG(seq->spec_tokens.empty(), "Scheduler: drafts left over between steps");
      if (config_.draft_kv) {
        FERRITE_CHECK_MSG(seq->num_draft_computed <= seq->num_computed &&
                              seq->num_registered_blocks <= seq->num_draft_computed / block_size_,
                          "Scheduler: the draft's KV runs ahead of the target's, or a block registered without it");
      }
      if (pool_.prefix_caching()) {
        FERRITE_CHECK_MSG(static_cast<std::int64_t>(seq->block_hashes.size()) >= seq->num_registered_blocks,
                          "Scheduler: registered blocks without hashes");
      }
    }
    for (std::int32_t b : seq->block_table) {
      FERRITE_CHECK_MSG(b >= 0 && b < pool_.num_blocks(), "Scheduler: block id out of range");
      FERRITE_CHECK_MSG(last_owner[static_cast<std::size_t>(b)] != seq->seq_id,
                        "Scheduler: a block appears twice in one block table");
      last_owner[static_cast<std::size_t>(b)] = seq->seq_id;
      ++refs[static_cast<std::size_t>(b)];
    }
  };
  for (std::size_t i = 0; i < running_.size(); ++i) {
    check_seq(running_[i], SeqStatus::kRunning);
    if (i > 0) FERRITE_CHECK_MSG(before(running_[i - 1], running_[i]), "Scheduler: running queue out of order");
  }
  for (std::size_t i = 0; i < waiting_.size(); ++i) {
    check_seq(waiting_[i], SeqStatus::kWaiting);
    if (i > 0 && config_.policy == Policy::kPriority) {
      FERRITE_CHECK_MSG(before(waiting_[i - 1], waiting_[i]), "Scheduler: waiting queue out of priority order");
    }
  }
  for (std::size_t b = 0; b < refs.size(); ++b) {
    // Only sequences own blocks, so each block's count is exactly its owners.
    FERRITE_CHECK_MSG(refs[b] == pool_.ref_count(static_cast<std::int32_t>(b)),
                      "Scheduler: block reference count differs from the number of owning sequences");
  }
}

}  // namespace ferrite::sched
