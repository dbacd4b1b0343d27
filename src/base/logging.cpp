#include "base/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace ferrite::base {

void init_logging(const std::string& level) {
  static bool done = false;
  if (!done) {
    auto logger = spdlog::stderr_color_mt("ferrite");
    spdlog::set_default_logger(logger);
    spdlog::set_pattern("[ferrite] [%l] %v");
    done = true;
  }
  spdlog::set_level(spdlog::level::from_str(level));
}

}  // namespace ferrite::base
