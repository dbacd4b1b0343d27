#include "runtime/model_runner.h"

#include <algorithm>

#include "base/check.h"

namespace ferrite::runtime {

model::ForwardBatch build_forward_batch(const sched::StepPlan& plan, std::int64_t block_size,
                                        const std::function<bool(const sched::Sequence&)>& want_all_rows,
                                        std::vector<RowMap>* rows) {
  model::ForwardBatch b;
  std::size_t max_blocks = 0;
  std::int64_t total = 0;
  for (const auto& s : plan.seqs) {
    max_blocks = std::max(max_blocks, s.seq->block_table.size());
    total += s.num_new_tokens;
  }
  b.max_blocks = static_cast<std::int64_t>(std::max<std::size_t>(max_blocks, 1));
  b.token_ids.reserve(static_cast<std::size_t>(total));
  b.positions.reserve(static_cast<std::size_t>(total));
  b.slot_mapping.reserve(static_cast<std::size_t>(total));
  b.query_start.reserve(plan.seqs.size() + 1);
  b.context_lens.reserve(plan.seqs.size());
  b.block_tables.assign(plan.seqs.size() * static_cast<std::size_t>(b.max_blocks), 0);
  rows->assign(plan.seqs.size(), RowMap{});
  b.query_start.push_back(0);
  for (std::size_t i = 0; i < plan.seqs.size(); ++i) {
    const auto& s = plan.seqs[i];
    const sched::Sequence& seq = *s.seq;
    const std::int32_t row0 = static_cast<std::int32_t>(b.token_ids.size());
    const std::int64_t own = seq.num_tokens();
    FERRITE_CHECK_MSG(s.start + s.num_new_tokens <= own + static_cast<std::int64_t>(seq.spec_tokens.size()),
                      "build_forward_batch: positions past the sequence's tokens and drafts");
    for (std::int64_t p = s.start; p < s.start + s.num_new_tokens; ++p) {
      // Positions past the sequence's own tokens are drafts being verified (or proposed).
      b.token_ids.push_back(p < own ? seq.tokens[static_cast<std::size_t>(p)]
                                    : seq.spec_tokens[static_cast<std::size_t>(p - own)]);
      b.positions.push_back(static_cast<std::int32_t>(p));
      const std::int64_t blk = seq.block_table[static_cast<std::size_t>(p / block_size)];
      b.slot_mapping.push_back(blk * block_size + p % block_size);
    }
    b.query_start.push_back(static_cast<std::int32_t>(b.token_ids.size()));
    b.context_lens.push_back(static_cast<std::int32_t>(s.start + s.num_new_tokens));
    std::copy(seq.block_table.begin(), seq.block_table.end(),
              b.block_tables.begin() + static_cast<std::ptrdiff_t>(i * static_cast<std::size_t>(b.max_blocks)));
    RowMap& r = (*rows)[i];
    if (want_all_rows && want_all_rows(seq)) {
      r.first_row = static_cast<std::int64_t>(b.sample_rows.size());
      r.num_rows = s.num_new_tokens;
      for (std::int64_t k = 0; k < s.num_new_tokens; ++k) b.sample_rows.push_back(row0 + static_cast<std::int32_t>(k));
    } else if (s.sample) {
      // The sampling row, preceded by one row per draft slot: rows k..0 before the end score the
      // token after the last own token and after each draft.
      const std::int64_t n_rows = s.num_spec + 1;
      r.first_row = static_cast<std::int64_t>(b.sample_rows.size());
      r.num_rows = n_rows;
      const auto end = static_cast<std::int32_t>(b.token_ids.size());
      for (std::int64_t k = n_rows; k >= 1; --k) b.sample_rows.push_back(end - static_cast<std::int32_t>(k));
    }
  }
  return b;
}

Result<backend::Tensor> ModelRunner::execute(const sched::StepPlan& plan,
                                             const std::function<bool(const sched::Sequence&)>& want_all_rows,
                                             std::vector<RowMap>* rows) {
  model::ForwardBatch b = build_forward_batch(plan, kv_.block_size, want_all_rows, rows);
  return model_.forward(b, kv_);
}

}  // namespace ferrite::runtime
