#include "sample/ngram_proposer.h"

#include <algorithm>

namespace ferrite::sample {

std::vector<std::int32_t> propose_ngram(std::span<const std::int32_t> context, std::int32_t min_n, std::int32_t max_n,
                                        std::int32_t k) {
  std::vector<std::int32_t> out;
  const auto size = static_cast<std::int64_t>(context.size());
  if (k <= 0 || min_n <= 0) return out;
  for (std::int64_t n = std::min<std::int64_t>(max_n, size - 1); n >= min_n; --n) {
    const std::int32_t* suffix = context.data() + size - n;
    // Most recent first: an occurrence starting at i is followed by context[i + n] (i + n < size).
    // The first one followed by k tokens wins; failing that, the earliest (the longest tail).
    std::int64_t best = -1;
    for (std::int64_t i = size - n - 1; i >= 0; --i) {
      if (context[static_cast<std::size_t>(i)] != suffix[0]) continue;
      if (!std::equal(suffix, suffix + n, context.data() + i)) continue;
      best = i;
      if (size - (i + n) >= k) break;
    }
    if (best >= 0) {
      const std::int64_t from = best + n, to = std::min(size, from + k);
      out.assign(context.begin() + from, context.begin() + to);
      return out;
    }
  }
  return out;
}

}  // namespace ferrite::sample
