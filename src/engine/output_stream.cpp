#include "ferrite/engine.h"

namespace ferrite {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::kStop: return "stop";
    case FinishReason::kLength: return "length";
    case FinishReason::kAbort: return "abort";
    case FinishReason::kError: return "error";
    case FinishReason::kNone: return "";
  }
  return "";
}

std::optional<OutputDelta> OutputStream::next() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [&] { return !queue_.empty() || open_ == 0; });
  if (queue_.empty()) return std::nullopt;
  OutputDelta d = std::move(queue_.front());
  queue_.pop_front();
  return d;
}

std::optional<OutputDelta> OutputStream::next_for(std::chrono::milliseconds timeout, bool* timed_out) {
  std::unique_lock<std::mutex> lock(mu_);
  const bool ready = cv_.wait_for(lock, timeout, [&] { return !queue_.empty() || open_ == 0; });
  if (timed_out) *timed_out = !ready;
  if (!ready || queue_.empty()) return std::nullopt;
  OutputDelta d = std::move(queue_.front());
  queue_.pop_front();
  return d;
}

std::optional<OutputDelta> OutputStream::try_next(bool* finished) {
  std::lock_guard<std::mutex> lock(mu_);
  *finished = queue_.empty() && open_ == 0;
  if (queue_.empty()) return std::nullopt;
  OutputDelta d = std::move(queue_.front());
  queue_.pop_front();
  return d;
}

void OutputStream::set_listener(std::function<void()> listener) {
  std::lock_guard<std::mutex> lock(mu_);
  listener_ = std::move(listener);
}

PromptInfo OutputStream::prompt_info() {
  std::lock_guard<std::mutex> lock(mu_);
  return prompt_info_;
}

Usage OutputStream::usage() {
  std::lock_guard<std::mutex> lock(mu_);
  return usage_;
}

RequestMetrics OutputStream::metrics() {
  std::lock_guard<std::mutex> lock(mu_);
  return metrics_;
}

bool OutputStream::finished() {
  std::lock_guard<std::mutex> lock(mu_);
  return open_ == 0 && queue_.empty();
}

void OutputStream::push(OutputDelta delta) {
  std::function<void()> listener;
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (delta.finish_reason != FinishReason::kNone && open_ > 0) --open_;
    queue_.push_back(std::move(delta));
    listener = listener_;
  }
  cv_.notify_all();
  if (listener) listener();
}

void OutputStream::set_prompt_info(PromptInfo info) {
  std::lock_guard<std::mutex> lock(mu_);
  prompt_info_ = std::move(info);
}

void OutputStream::set_final(Usage usage, RequestMetrics metrics) {
  std::lock_guard<std::mutex> lock(mu_);
  usage_ = usage;
  metrics_ = metrics;
}

}  // namespace ferrite
