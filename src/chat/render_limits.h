// Bounds on one render, so that no template (they are untrusted code from model repositories)
// can hang a server or eat its memory. Each is checked as the render goes and ends it with a
// clear error; the defaults are far beyond what any real chat template needs.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ferrite::chat {

struct RenderLimits {
  std::size_t max_output_bytes = 32u << 20;  // the prompt, and any string built on the way
  std::size_t max_items = 1u << 20;          // elements of one list built by the template
  std::uint64_t max_steps = 2'000'000;       // loop iterations + macro calls in one render
  int max_call_depth = 64;                   // macro recursion
};

}  // namespace ferrite::chat
