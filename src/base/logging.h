// Logging goes through one spdlog logger writing to stderr; stdout is reserved for command
// output (JSON), whether or not init_logging() was called.
#pragma once

#include <spdlog/spdlog.h>

#include <string>

namespace ferrite::base {

// The process-wide ferrite logger (stderr, "[ferrite] [level] msg"), created on first use.
spdlog::logger& logger();
// Sets its level ("trace", "debug", "info", "warn", "error", "off").
void init_logging(const std::string& level = "info");

}  // namespace ferrite::base

#define FERRITE_LOG_DEBUG(...) ::ferrite::base::logger().debug(__VA_ARGS__)
#define FERRITE_LOG_INFO(...) ::ferrite::base::logger().info(__VA_ARGS__)
#define FERRITE_LOG_WARN(...) ::ferrite::base::logger().warn(__VA_ARGS__)
#define FERRITE_LOG_ERROR(...) ::ferrite::base::logger().error(__VA_ARGS__)
