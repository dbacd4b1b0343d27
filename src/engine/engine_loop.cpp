// The engine loop: one thread runs schedule -> forward -> sample -> output processing, step
// after step, while front ends queue requests and aborts under mu_.
#include <algorithm>

#include "base/logging.h"
#include "engine/engine_impl.h"
#include "sample/ngram_proposer.h"
#include "sample/spec_verify.h"

namespace ferrite::engine {

void EngineImpl::loop() {
  FinishReason end_reason = FinishReason::kAbort;
  std::string end_error;
  try {
    for (;;) {
      {
        std::unique_lock<std::mutex> lock(mu_);
        cv_.wait(lock, [&] { return stop_ || !inbox_.empty() || !abort_inbox_.empty() || scheduler_->has_work(); });
        if (stop_) break;
      }
      drain_inbox();
      if (scheduler_->has_work()) step();
    }
    drain_inbox();
  } catch (const std::exception& e) {
    // Out of memory or a library failure: the engine cannot go on. Every request gets an
    // error, submit() refuses new ones, and front ends report unhealthy.
    FERRITE_LOG_ERROR("engine loop failed: {}", e.what());
    healthy_.store(false);
    end_reason = FinishReason::kError;
    end_error = std::string("the engine failed: ") + e.what();
  }
  std::vector<Request*> left;
  for (auto& [id, r] : requests_) left.push_back(r.get());
  for (Request* r : left) finish_request_with(*r, end_reason, end_error);
  if (!healthy_.load()) {
    // Requests queued after the failure never reach the loop: end their streams too.
    std::vector<std::unique_ptr<Request>> orphans;
    {
      std::lock_guard<std::mutex> lock(mu_);
      orphans.swap(inbox_);
      live_ids_.clear();
    }
    for (auto& r : orphans)
      for (auto& c : r->completions) {
        OutputDelta d;
        d.index = c.index;
        d.finish_reason = FinishReason::kError;
        d.error = end_error;
        r->stream->push(std::move(d));
      }
  }
}

bool EngineImpl::step_for_test() {
  drain_inbox();
  if (!scheduler_->has_work()) return false;
  return step();
}

void EngineImpl::drain_inbox() {
  std::vector<std::unique_ptr<Request>> incoming;
  std::unordered_set<std::string> aborts;
  {
    std::lock_guard<std::mutex> lock(mu_);
    incoming.swap(inbox_);
    aborts.swap(abort_inbox_);
  }
  for (auto& r : incoming) {
    const double t = r->metrics.arrival_time;
    std::int64_t first = -1;
    for (Completion& c : r->completions) {
      auto seq = std::make_unique<sched::Sequence>();
      seq->seq_id = next_seq_id_++;
      seq->request_id = r->id;
      seq->index = c.index;
      seq->priority = r->priority;
      seq->arrival_time = t;
      seq->tokens = r->prompt;
      seq->prompt_len = static_cast<std::int64_t>(r->prompt.size());
      seq->max_total_len = r->max_total_len;
      seq->wait_for_seq = first;
      seq->skip_prefix_cache = r->params.prompt_logprobs.has_value();
      if (first < 0) first = seq->seq_id;
      c.seq_id = seq->seq_id;
      if (tokenizer_) {
        tokenizer::IncrementalDetokenizer::Options o;
        o.skip_special_tokens = r->params.skip_special_tokens;
        o.spaces_between_special_tokens = r->params.spaces_between_special_tokens;
        c.detok = std::make_unique<tokenizer::IncrementalDetokenizer>(tokenizer_, o, r->prompt);
      }
      c.stop = std::make_unique<StopChecker>(r->params.stop, r->params.include_stop_str_in_output);
      by_seq_[seq->seq_id] = {r.get(), &c};
      scheduler_->add(std::move(seq));
    }
    r->open = static_cast<std::int64_t>(r->completions.size());
    if (r->params.prompt_logprobs) r->prompt_logprobs.assign(r->prompt.size(), std::nullopt);
    const std::string id = r->id;
    requests_[id] = std::move(r);
  }
  for (const auto& id : aborts) {
    auto it = requests_.find(id);
    if (it != requests_.end()) finish_request_with(*it->second, FinishReason::kAbort, "");
  }
}

void EngineImpl::fail_requests_of(const sched::StepPlan& plan, const std::string& error) {
  std::vector<Request*> involved;
  for (const auto& s : plan.seqs) {
    Request* r = by_seq_.at(s.seq->seq_id).first;
    if (std::find(involved.begin(), involved.end(), r) == involved.end()) involved.push_back(r);
  }
  for (Request* r : involved) finish_request_with(*r, FinishReason::kError, error);
}

void EngineImpl::lookahead_before_schedule() {
  const SpeculativeConfig& sp = config_.speculative;
  if (!sp.enabled()) return;
  const auto& running = scheduler_->running();
  const bool off = sp.disable_by_batch_size > 0 && static_cast<std::int64_t>(running.size()) >= sp.disable_by_batch_size;
  for (sched::Sequence* seq : running) {
    seq->spec_tokens.clear();
    seq->num_lookahead = 0;
    // Only a sequence that will decode this step (everything but its last token computed).
    if (off || seq->num_computed != seq->num_tokens() - 1) continue;
    if (sp.method == SpeculativeConfig::Method::kNgram) {
      seq->spec_tokens = sample::propose_ngram(seq->tokens, sp.prompt_lookup_min, sp.prompt_lookup_max,
                                               sp.num_speculative_tokens);
      seq->num_lookahead = static_cast<std::int32_t>(seq->spec_tokens.size());
    } else {
      seq->num_lookahead = sp.num_speculative_tokens;
    }
  }
}

Status EngineImpl::attach_drafts(sched::StepPlan& plan) {
  if (!config_.speculative.enabled()) return ok_status();
  // The scheduler may have given fewer slots than asked (budget, max_tokens) or none (a running
  // sequence left out of the step keeps no drafts).
  std::unordered_set<const sched::Sequence*> in_plan;
  for (auto& s : plan.seqs) {
    in_plan.insert(s.seq);
    if (config_.speculative.method == SpeculativeConfig::Method::kNgram)
      s.seq->spec_tokens.resize(static_cast<std::size_t>(s.num_spec));
  }
  for (sched::Sequence* seq : scheduler_->running())
    if (!in_plan.count(seq)) seq->spec_tokens.clear();
  if (draft_model_) return run_draft_model(plan);
  return ok_status();
}

Status EngineImpl::run_draft_model(const sched::StepPlan& plan) {
  const std::int64_t vocab = info_.vocab_size;
  // Pass 1 mirrors the target's step: each sequence's draft KV catches up with its own tokens
  // computed this step (prefill chunks included), and the decoding ones sample their first draft.
  sched::StepPlan dp;
  std::int64_t max_spec = 0, q_rows = 0;
  draft_q_offset_.assign(plan.seqs.size(), -1);
  for (std::size_t i = 0; i < plan.seqs.size(); ++i) {
    const auto& s = plan.seqs[i];
    sched::Sequence* seq = s.seq;
    const std::int64_t own_end = s.start + s.num_new_tokens - s.num_spec;
    const std::int64_t from = std::min(seq->num_draft_computed, s.start);
    seq->spec_tokens.clear();
    dp.seqs.push_back({seq, from, own_end - from, s.num_spec > 0, 0});
    if (s.num_spec > 0) {
      draft_q_offset_[i] = q_rows;
      q_rows += s.num_spec;
      max_spec = std::max(max_spec, s.num_spec);
    }
  }
  draft_q_.resize(static_cast<std::size_t>(q_rows * vocab));
  auto sample_drafts = [&](const backend::Tensor& logits, const std::vector<runtime::RowMap>& rows,
                           const std::vector<std::size_t>& plan_index) {
    const float* all = logits.data<float>();
    for (std::size_t j = 0; j < plan_index.size(); ++j) {
      if (rows[j].num_rows == 0) continue;
      const std::size_t i = plan_index[j];
      sched::Sequence* seq = plan.seqs[i].seq;
      auto [rp, cp] = by_seq_.at(seq->seq_id);
      const auto pos = static_cast<std::int64_t>(seq->spec_tokens.size());
      draft_row_.assign(all + rows[j].first_row * vocab, all + (rows[j].first_row + 1) * vocab);
      float* q = draft_q_.data() + (draft_q_offset_[i] + pos) * vocab;
      sample::RowState st;
      st.params = &rp->params;
      st.prompt_tokens = std::span<const std::int32_t>(seq->tokens.data(), static_cast<std::size_t>(seq->prompt_len));
      st.output_tokens = std::span<const std::int32_t>(cp->output);
      st.eos_token_ids = eos_ids_;
      sample::draft_row_probs(draft_row_.data(), seq->spec_tokens, vocab, st, q);
      const std::int32_t d = sample::is_greedy(rp->params) ? sample::argmax_first(q, vocab)
                                                            : sample::draw_from_probs(q, vocab, cp->draft_rng.uniform());
      seq->spec_tokens.push_back(d);
    }
  };
  std::vector<runtime::RowMap> rows;
  std::vector<std::size_t> index(plan.seqs.size());
  for (std::size_t i = 0; i < index.size(); ++i) index[i] = i;
  {
    auto logits = draft_runner_->execute(dp, nullptr, &rows);
    if (!logits.ok()) return logits.status().with_context("draft model");
    sample_drafts(*logits, rows, index);
  }
  for (const auto& s : dp.seqs) s.seq->num_draft_computed = s.start + s.num_new_tokens;
  // Passes 2..k: one token per sequence that wants more drafts, at the position of its last draft.
  for (std::int64_t j = 1; j < max_spec; ++j) {
    sched::StepPlan step;
    index.clear();
    for (std::size_t i = 0; i < plan.seqs.size(); ++i) {
      const auto& s = plan.seqs[i];
      if (s.num_spec <= j) continue;
      const std::int64_t pos = s.seq->num_tokens() + j - 1;
      step.seqs.push_back({s.seq, pos, 1, true, 0});
      index.push_back(i);
    }
    auto logits = draft_runner_->execute(step, nullptr, &rows);
    if (!logits.ok()) return logits.status().with_context("draft model");
    sample_drafts(*logits, rows, index);
    for (const auto& s : step.seqs) s.seq->num_draft_computed = s.start + 1;
  }
  return ok_status();
}

bool EngineImpl::step() {
  lookahead_before_schedule();
  sched::StepPlan plan = scheduler_->schedule();
  for (sched::Sequence* s : plan.preempted) {
    auto it = by_seq_.find(s->seq_id);
    if (it != by_seq_.end()) ++it->second.first->metrics.num_preemptions;
  }
  if (plan.empty()) {
    // Nothing fits although work is queued: fail the oldest waiting request rather than spin.
    if (scheduler_->running().empty() && !scheduler_->waiting().empty()) {
      auto it = by_seq_.find(scheduler_->waiting().front()->seq_id);
      if (it != by_seq_.end())
        finish_request_with(*it->second.first, FinishReason::kError, "the request cannot be scheduled in the KV cache");
    }
    return false;
  }
  const double t0 = now();
  for (const auto& s : plan.seqs) {
    Request& r = *by_seq_.at(s.seq->seq_id).first;
    if (r.metrics.first_scheduled_time == 0) {
      r.metrics.first_scheduled_time = t0;
      r.metrics.queue_time = t0 - r.metrics.arrival_time;
    }
  }
  if (Status st = attach_drafts(plan); !st.ok()) {
    FERRITE_LOG_ERROR("speculative drafting failed: {}", st.to_string());
    for (const auto& s : plan.seqs) s.seq->spec_tokens.clear();
    fail_requests_of(plan, st.message());
    return true;
  }
  auto want_all_rows = [&](const sched::Sequence& seq) {
    return by_seq_.at(seq.seq_id).first->params.prompt_logprobs.has_value() && seq.num_computed < seq.prompt_len;
  };
  std::vector<runtime::RowMap> rows;
  auto logits = runner_->execute(plan, want_all_rows, &rows);
  if (!logits.ok()) {
    FERRITE_LOG_ERROR("forward pass failed: {}", logits.status().to_string());
    for (const auto& s : plan.seqs) s.seq->spec_tokens.clear();
    fail_requests_of(plan, logits.status().message());
    return true;
  }
  scheduler_->on_step_done(plan);
  const std::int64_t vocab = info_.vocab_size;
  float* all = logits->data<float>();
  std::int64_t prompt_tokens = 0, gen_tokens = 0;
  std::int64_t spec_drafts = 0, spec_draft_tokens = 0, spec_accepted = 0;
  std::vector<std::int64_t> accepted_per_pos;

  for (std::size_t i = 0; i < plan.seqs.size(); ++i) {
    const auto& s = plan.seqs[i];
    sched::Sequence* seq = s.seq;
    auto [rp, cp] = by_seq_.at(seq->seq_id);
    Request& r = *rp;
    Completion& c = *cp;
    prompt_tokens += std::min(s.num_new_tokens - s.num_spec, std::max<std::int64_t>(0, seq->prompt_len - s.start));
    // Prompt logprobs: the row at position p predicts token p + 1.
    if (r.params.prompt_logprobs && rows[i].num_rows > 0 && c.index == 0 && s.num_spec == 0) {
      for (std::int64_t k = 0; k < rows[i].num_rows; ++k) {
        const std::int64_t pos = s.start + k;
        if (pos + 1 >= seq->prompt_len) break;
        const float* row = all + (rows[i].first_row + k) * vocab;
        r.prompt_logprobs[static_cast<std::size_t>(pos + 1)] =
            sample::token_logprob(row, vocab, seq->tokens[static_cast<std::size_t>(pos + 1)], *r.params.prompt_logprobs);
      }
    }
    if (!s.sample) continue;
    sample::RowState st;
    st.params = &r.params;
    st.prompt_tokens = std::span<const std::int32_t>(seq->tokens.data(), static_cast<std::size_t>(seq->prompt_len));
    st.output_tokens = std::span<const std::int32_t>(c.output);
    st.eos_token_ids = eos_ids_;
    st.rng = &c.rng;
    if (s.num_spec > 0) {
      sample::SpecVerifyInput in;
      in.draft_tokens = seq->spec_tokens;
      in.target_logits = all + rows[i].first_row * vocab;
      in.draft_probs = draft_model_ ? draft_q_.data() + draft_q_offset_[i] * vocab : nullptr;
      in.vocab = vocab;
      in.max_new_tokens = r.max_total_len - seq->num_tokens();
      sample::SpecVerifyResult v = sample::verify_draft(in, st);
      ++spec_drafts;
      spec_draft_tokens += s.num_spec;
      spec_accepted += v.num_accepted;
      if (accepted_per_pos.size() < static_cast<std::size_t>(s.num_spec)) accepted_per_pos.resize(static_cast<std::size_t>(s.num_spec), 0);
      for (std::int32_t k = 0; k < v.num_accepted; ++k) ++accepted_per_pos[static_cast<std::size_t>(k)];
      scheduler_->accept_verified(seq, v.tokens, v.num_accepted);
      gen_tokens += emit_tokens(r, c, seq, v.tokens, std::move(v.logprobs));
      continue;
    }
    float* row = all + (rows[i].first_row + rows[i].num_rows - 1) * vocab;
    auto out = sample::sample_rows(row, 1, vocab, std::span<const sample::RowState>(&st, 1));
    const std::int32_t tok = out[0].token;
    scheduler_->append_token(seq, tok);
    std::vector<TokenLogprob> lps;
    if (out[0].logprob) lps.push_back(std::move(*out[0].logprob));
    gen_tokens += emit_tokens(r, c, seq, std::span<const std::int32_t>(&tok, 1), std::move(lps));
  }

  if (config_.check_invariants) scheduler_->check_invariants();
  publish_stats();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.steps += 1;
  stats_.prompt_tokens += prompt_tokens;
  stats_.generation_tokens += gen_tokens;
  stats_.spec_num_drafts += spec_drafts;
  stats_.spec_num_draft_tokens += spec_draft_tokens;
  stats_.spec_num_accepted_tokens += spec_accepted;
  if (stats_.spec_accepted_per_pos.size() < accepted_per_pos.size()) stats_.spec_accepted_per_pos.resize(accepted_per_pos.size(), 0);
  for (std::size_t k = 0; k < accepted_per_pos.size(); ++k) stats_.spec_accepted_per_pos[k] += accepted_per_pos[k];
  std::size_t bucket = 0;
  while ((std::int64_t{1} << bucket) < plan.num_batched_tokens) ++bucket;
  if (stats_.tokens_per_step_histogram.size() <= bucket) stats_.tokens_per_step_histogram.resize(bucket + 1, 0);
  ++stats_.tokens_per_step_histogram[bucket];
  return true;
}

std::int64_t EngineImpl::emit_tokens(Request& r, Completion& c, sched::Sequence* seq,
                                     std::span<const std::int32_t> tokens, std::vector<TokenLogprob> logprobs) {
  if (r.metrics.first_token_time == 0) r.metrics.first_token_time = now();
  if (!r.prompt_info_sent) {
    r.stream->set_prompt_info({r.prompt, r.prompt_logprobs});
    r.prompt_info_sent = true;
  }
  OutputDelta d;
  d.index = c.index;
  FinishReason reason = FinishReason::kNone;
  std::variant<std::monostate, std::string, std::int32_t> stop_reason;
  for (std::size_t j = 0; j < tokens.size(); ++j) {
    const std::int32_t tok = tokens[j];
    c.output.push_back(tok);
    d.token_ids.push_back(tok);
    if (j < logprobs.size()) d.logprobs.push_back(std::move(logprobs[j]));
    // Stop conditions, in vLLM's order: stop tokens (EOS, stop_token_ids), stop strings, length.
    // Tokens after the one that stops (accepted drafts past a stop string) are dropped.
    const bool is_stop_id = std::find(r.params.stop_token_ids.begin(), r.params.stop_token_ids.end(), tok) !=
                            r.params.stop_token_ids.end();
    const bool is_eos = !r.params.ignore_eos && std::find(eos_ids_.begin(), eos_ids_.end(), tok) != eos_ids_.end();
    const auto n_out = static_cast<std::int64_t>(c.output.size());
    const bool min_ok = n_out >= r.params.min_tokens;
    if (min_ok && (is_stop_id || is_eos)) {
      reason = FinishReason::kStop;
      if (is_stop_id) stop_reason = tok;
      // The stop token's own text is left out unless include_stop_str_in_output (as vLLM).
      if (c.detok && r.params.include_stop_str_in_output) d.text += c.stop->feed(c.detok->step(tok)).text;
      break;
    }
    if (c.detok) {
      auto fed = c.stop->feed(c.detok->step(tok));
      d.text += fed.text;
      if (fed.stopped && min_ok) {
        reason = FinishReason::kStop;
        stop_reason = *fed.stopped;
        break;
      }
    }
    if (n_out >= r.max_total_len - seq->prompt_len) {
      reason = FinishReason::kLength;
      break;
    }
  }
  const auto emitted = static_cast<std::int64_t>(d.token_ids.size());
  if (reason == FinishReason::kNone) {
    r.stream->push(std::move(d));
    return emitted;
  }
  if (!std::holds_alternative<std::string>(stop_reason) && c.detok) {
    d.text += c.stop->feed(c.detok->finish()).text;
    d.text += c.stop->flush();
  }
  finish_completion(r, c, reason, stop_reason, std::move(d.text), std::move(d.token_ids), std::move(d.logprobs));
  return emitted;
}

void EngineImpl::publish_stats() {
  const auto pool = pool_->stats();
  const auto ss = scheduler_->stats();
  std::lock_guard<std::mutex> lock(mu_);
  stats_.num_running = ss.num_running;
  stats_.num_waiting = ss.num_waiting;
  stats_.num_preemptions = ss.num_preemptions;
  stats_.num_free_kv_blocks = pool.num_free;
  stats_.kv_usage = pool.num_blocks ? 1.0 - static_cast<double>(pool.num_free) / static_cast<double>(pool.num_blocks) : 0.0;
  stats_.prefix_cache_queries = pool.queries;
  stats_.prefix_cache_hits = pool.hits;
}

void EngineImpl::finish_completion(Request& r, Completion& c, FinishReason reason,
                                   std::variant<std::monostate, std::string, std::int32_t> stop_reason, std::string text,
                                   std::vector<std::int32_t> tokens, std::vector<TokenLogprob> logprobs,
                                   std::string error) {
  if (c.finished) return;
  if (sched::Sequence* seq = scheduler_->find(c.seq_id)) {
    if (c.index == 0) r.usage.cached_prompt_tokens = seq->num_cached_prompt;
    scheduler_->finish(seq);
  }
  by_seq_.erase(c.seq_id);
  c.finished = true;
  --r.open;
  OutputDelta d;
  d.index = c.index;
  d.token_ids = std::move(tokens);
  d.text = std::move(text);
  d.logprobs = std::move(logprobs);
  d.finish_reason = reason;
  d.stop_reason = std::move(stop_reason);
  d.error = std::move(error);
  if (r.open == 0) {
    r.usage.prompt_tokens = static_cast<std::int64_t>(r.prompt.size());
    r.usage.completion_tokens = 0;
    for (const auto& cc : r.completions) r.usage.completion_tokens += static_cast<std::int64_t>(cc.output.size());
    r.metrics.finish_time = now();
    if (!r.prompt_info_sent) {
      r.stream->set_prompt_info({r.prompt, r.prompt_logprobs});
      r.prompt_info_sent = true;
    }
    r.stream->set_final(r.usage, r.metrics);
    // The id is free before the reader sees the last delta, so a client may reuse it at once.
    {
      std::lock_guard<std::mutex> lock(mu_);
      live_ids_.erase(r.id);
      ++stats_.requests_finished;
    }
    publish_stats();
  }
  r.stream->push(std::move(d));
  if (r.open == 0) requests_.erase(std::string(r.id));  // r is gone after this
}

void EngineImpl::finish_request_with(Request& r, FinishReason reason, const std::string& error) {
  // Capture the cached-prompt count before the sequences go.
  if (sched::Sequence* seq = scheduler_->find(r.completions.front().seq_id)) r.usage.cached_prompt_tokens = seq->num_cached_prompt;
  scheduler_->abort_request(r.id);
  const std::size_t n = r.completions.size();
  for (std::size_t i = 0; i < n; ++i) {
    Completion& c = r.completions[i];
    if (c.finished) continue;
    const bool last = r.open == 1;
    finish_completion(r, c, reason, std::monostate{}, "", {}, {}, error);
    if (last) return;  // the request was erased with its last completion
  }
}

}  // namespace ferrite::engine
