#include "base/logging.h"

#include <spdlog/sinks/stdout_color_sinks.h>

namespace ferrite::base {

spdlog::logger& logger() {
  static const std::shared_ptr<spdlog::logger> instance = [] {
    auto l = spdlog::stderr_color_mt("ferrite");
    l->set_pattern("[ferrite] [%l] %v");
    return l;
  }();
  return *instance;
}

void init_logging(const std::string& level) { logger().set_level(spdlog::level::from_str(level)); }

}  // namespace ferrite::base
