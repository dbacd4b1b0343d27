#include "server/common/serving.h"

#include <algorithm>

#include "tokenizer/tokenizer.h"

namespace ferrite::server {

bool constant_time_equal(std::string_view a, std::string_view b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::size_t n = std::max(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

bool bearer_matches(std::string_view authorization, std::string_view api_key) {
  constexpr std::string_view kPrefix = "Bearer ";
  return authorization.substr(0, kPrefix.size()) == kPrefix &&
         constant_time_equal(authorization.substr(kPrefix.size()), api_key);
}

Status check_served_model(const std::vector<std::string>& served_names, const std::string& name) {
  for (const auto& n : served_names)
    if (n == name) return ok_status();
  return not_found("The model `" + name + "` does not exist.");
}

Status check_queue(Engine& engine, std::int64_t max_queue_len, std::int64_t front_end_in_flight,
                   std::int64_t max_num_seqs) {
  if (max_queue_len <= 0) return ok_status();
  const EngineStats s = engine.stats();
  const std::int64_t beyond = front_end_in_flight - max_num_seqs;
  if (std::max(s.num_waiting, beyond) >= max_queue_len)
    return resource_exhausted("the server is overloaded: " + std::to_string(max_queue_len) +
                              " requests are already waiting (--max-queue-len)");
  return ok_status();
}

Result<std::string> detokenize_ids(const tokenizer::Tokenizer* tok, std::span<const std::int64_t> ids,
                                   bool skip_special_tokens) {
  if (tok == nullptr) return invalid_argument("the model directory has no tokenizer");
  const auto vocab = static_cast<std::int64_t>(tok->vocab_size());
  std::vector<std::int32_t> checked;
  checked.reserve(ids.size());
  for (std::int64_t id : ids) {
    if (id < 0 || id >= vocab)
      return invalid_argument("token id " + std::to_string(id) + " is outside the vocabulary [0, " +
                              std::to_string(vocab) + ")");
    checked.push_back(static_cast<std::int32_t>(id));
  }
  return tok->decode(checked, skip_special_tokens);
}

}  // namespace ferrite::server
