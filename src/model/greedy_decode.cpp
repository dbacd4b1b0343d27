#include "model/greedy_decode.h"

#include <algorithm>

namespace ferrite::model {

namespace {

std::int32_t argmax(const float* x, std::int64_t n) {
  std::int64_t best = 0;
  for (std::int64_t i = 1; i < n; ++i)
    if (x[i] > x[best]) best = i;  // first maximum wins, as torch.argmax
  return static_cast<std::int32_t>(best);
}

}  // namespace

Result<GreedyResult> greedy_decode(CausalLM& model, const std::vector<std::vector<std::int32_t>>& prompts,
                                   const GreedyOptions& o) {
  const auto& cfg = model.config();
  const auto n = static_cast<std::int64_t>(prompts.size());
  if (n == 0) return invalid_argument("no prompts");
  if (o.max_tokens < 0) return invalid_argument("max_tokens must be >= 0");
  std::int64_t longest = 0;
  for (const auto& p : prompts) {
    if (p.empty()) return invalid_argument("empty prompt");
    for (std::int32_t id : p)
      if (id < 0 || id >= cfg.vocab_size)
        return invalid_argument("prompt token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                                std::to_string(cfg.vocab_size) + ")");
    longest = std::max<std::int64_t>(longest, static_cast<std::int64_t>(p.size()));
  }
  const std::int64_t max_len = longest + o.max_tokens;
  const std::int64_t blocks_per_seq = (max_len + o.block_size - 1) / o.block_size;
  KvCache kv = model.allocate_kv_cache(blocks_per_seq * n, o.block_size);

  GreedyResult out;
  out.tokens.resize(static_cast<std::size_t>(n));
  out.last_prompt_logits.resize(static_cast<std::size_t>(n));
  std::vector<std::int64_t> done_len(static_cast<std::size_t>(n), 0);  // tokens already in the cache
  std::vector<bool> finished(static_cast<std::size_t>(n), o.max_tokens == 0);
  std::vector<std::vector<std::int32_t>> seq(prompts.begin(), prompts.end());
  auto is_eos = [&](std::int32_t id) {
    return std::find(cfg.eos_token_ids.begin(), cfg.eos_token_ids.end(), id) != cfg.eos_token_ids.end();
  };

  for (;;) {
    ForwardBatch b;
    b.max_blocks = blocks_per_seq;
    b.query_start.push_back(0);
    std::vector<std::int64_t> members;
    std::vector<bool> completes_prompt;
    for (std::int64_t i = 0; i < n; ++i) {
      const auto& s = seq[static_cast<std::size_t>(i)];
      const std::int64_t have = done_len[static_cast<std::size_t>(i)];
      const auto total = static_cast<std::int64_t>(s.size());
      if (finished[static_cast<std::size_t>(i)] || have >= total) continue;
      std::int64_t take = total - have;
      if (o.prefill_chunk > 0) take = std::min(take, o.prefill_chunk);
      for (std::int64_t p = have; p < have + take; ++p) {
        b.token_ids.push_back(s[static_cast<std::size_t>(p)]);
        b.positions.push_back(static_cast<std::int32_t>(p));
        b.slot_mapping.push_back((i * blocks_per_seq + p / o.block_size) * o.block_size + p % o.block_size);
      }
      b.query_start.push_back(static_cast<std::int32_t>(b.token_ids.size()));
      b.context_lens.push_back(static_cast<std::int32_t>(have + take));
      for (std::int64_t j = 0; j < blocks_per_seq; ++j) b.block_tables.push_back(static_cast<std::int32_t>(i * blocks_per_seq + j));
      const bool ends = have + take == total;
      if (ends) b.sample_rows.push_back(static_cast<std::int32_t>(b.token_ids.size() - 1));
      members.push_back(i);
      completes_prompt.push_back(ends);
      done_len[static_cast<std::size_t>(i)] = have + take;
    }
    if (members.empty()) break;
    FERRITE_ASSIGN_OR_RETURN(backend::Tensor logits, model.forward(b, kv));
    std::int64_t row = 0;
    for (std::size_t m = 0; m < members.size(); ++m) {
      if (!completes_prompt[m]) continue;
      const auto i = static_cast<std::size_t>(members[m]);
      const float* l = logits.data<float>() + row * cfg.vocab_size;
      ++row;
      if (out.tokens[i].empty() && static_cast<std::int64_t>(seq[i].size()) == static_cast<std::int64_t>(prompts[i].size()))
        out.last_prompt_logits[i].assign(l, l + cfg.vocab_size);
      const std::int32_t next = argmax(l, cfg.vocab_size);
      out.tokens[i].push_back(next);
      seq[i].push_back(next);
      if (static_cast<std::int64_t>(out.tokens[i].size()) >= o.max_tokens || (o.stop_at_eos && is_eos(next)))
        finished[i] = true;
    }
  }
  return out;
}

}  // namespace ferrite::model
