// A small flag parser shared by every ferrite command: "--name value", "--name=value",
// boolean "--name" / "--no-name", positionals, and an error for any unknown flag.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "ferrite/status.h"

namespace ferrite::cli {

class Args {
 public:
  Args(std::string command, std::string summary) : command_(std::move(command)), summary_(std::move(summary)) {}

  // Declarations (before parse). `value_name` empty means a boolean flag.
  Args& flag(const std::string& name, const std::string& value_name, const std::string& help,
             std::optional<std::string> default_value = std::nullopt);
  Args& boolean(const std::string& name, const std::string& help, bool negatable = false);
  Args& positional(const std::string& name, const std::string& help, bool required = false);
  // `short_form` (e.g. "-tp") is another spelling of the flag `name`.
  Args& alias(const std::string& short_form, const std::string& name);
  // A flag that may be given several times, or with several values after it.
  Args& multi(const std::string& name, const std::string& value_name, const std::string& help);

  // Parses argv (without the program and command names). On "--help" sets help_requested().
  Status parse(const std::vector<std::string>& argv);
  // The prologue of every command: parses argv; on an error prints it and returns the exit code,
  // on --help prints the usage and returns 0; otherwise returns nullopt (go on).
  std::optional<int> parse_or_exit(const std::vector<std::string>& argv);
  bool help_requested() const { return help_; }
  std::string usage() const;

  bool has(const std::string& name) const;
  std::string get(const std::string& name) const;  // value or default ("" if neither)
  std::vector<std::string> get_all(const std::string& name) const;
  bool get_bool(const std::string& name) const;
  Result<long long> get_int(const std::string& name) const;
  Result<double> get_double(const std::string& name) const;
  // Comma-separated integers, e.g. "1,2,3".
  Result<std::vector<long long>> get_int_list(const std::string& name) const;

 private:
  struct Spec {
    std::string name, value_name, help;
    std::optional<std::string> default_value;
    bool is_bool = false, negatable = false, is_positional = false, required = false, is_multi = false;
  };
  const Spec* find(const std::string& name) const;

  std::string command_, summary_;
  std::vector<Spec> specs_;
  std::map<std::string, std::vector<std::string>> values_;
  std::map<std::string, std::string> aliases_;
  bool help_ = false;
};

// Prints "ferrite <command>: error: <message>" to stderr and returns the exit code 2 (usage) or 1.
int report_error(const std::string& command, const Status& status);

}  // namespace ferrite::cli
