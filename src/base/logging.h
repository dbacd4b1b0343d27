// Logging goes through spdlog to stderr; stdout is reserved for command output (JSON).
#pragma once

#include <spdlog/spdlog.h>

namespace ferrite::base {

// Sets up the process-wide logger (stderr, "[ferrite] [level] msg"). Level names as spdlog's.
void init_logging(const std::string& level = "info");

}  // namespace ferrite::base

#define FERRITE_LOG_DEBUG(...) SPDLOG_DEBUG(__VA_ARGS__)
#define FERRITE_LOG_INFO(...) ::spdlog::info(__VA_ARGS__)
#define FERRITE_LOG_WARN(...) ::spdlog::warn(__VA_ARGS__)
#define FERRITE_LOG_ERROR(...) ::spdlog::error(__VA_ARGS__)
