#include "cli/args.h"

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <sstream>

namespace ferrite::cli {

Args& Args::flag(const std::string& name, const std::string& value_name, const std::string& help,
                 std::optional<std::string> default_value) {
  specs_.push_back({name, value_name, help, std::move(default_value)});
  return *this;
}

Args& Args::boolean(const std::string& name, const std::string& help, bool negatable) {
  Spec s{name, "", help, std::nullopt};
  s.is_bool = true;
  s.negatable = negatable;
  specs_.push_back(s);
  return *this;
}

Args& Args::positional(const std::string& name, const std::string& help, bool required) {
  Spec s{name, name, help, std::nullopt};
  s.is_positional = true;
  s.required = required;
  specs_.push_back(s);
  return *this;
}

Args& Args::alias(const std::string& short_form, const std::string& name) {
  aliases_[short_form] = name;
  return *this;
}

Args& Args::multi(const std::string& name, const std::string& value_name, const std::string& help) {
  Spec s{name, value_name, help, std::nullopt};
  s.is_multi = true;
  specs_.push_back(s);
  return *this;
}

const Args::Spec* Args::find(const std::string& name) const {
  for (const auto& s : specs_)
    if (!s.is_positional && s.name == name) return &s;
  return nullptr;
}

Status Args::parse(const std::vector<std::string>& argv) {
  std::size_t next_positional = 0;
  std::vector<const Spec*> positionals;
  for (const auto& s : specs_)
    if (s.is_positional) positionals.push_back(&s);
  for (std::size_t i = 0; i < argv.size(); ++i) {
    std::string a = argv[i];
    if (auto al = aliases_.find(a.substr(0, a.find('='))); al != aliases_.end())
      a = "--" + al->second + a.substr(al->first.size());
    if (a == "--help" || a == "-h") {
      help_ = true;
      return ok_status();
    }
    if (a.rfind("--", 0) == 0 && a.size() > 2) {
      std::string name = a.substr(2);
      std::optional<std::string> inline_value;
      if (auto eq = name.find('='); eq != std::string::npos) {
        inline_value = name.substr(eq + 1);
        name = name.substr(0, eq);
      }
      const Spec* spec = find(name);
      if (spec == nullptr && name.rfind("no-", 0) == 0) {
        const Spec* neg = find(name.substr(3));
        if (neg != nullptr && neg->is_bool && neg->negatable) {
          if (inline_value) return invalid_argument("--" + name + " takes no value");
          values_[neg->name] = {"false"};
          continue;
        }
      }
      if (spec == nullptr) return invalid_argument("unknown flag --" + name + " (see --help)");
      if (spec->is_bool) {
        if (inline_value && *inline_value != "true" && *inline_value != "false")
          return invalid_argument("--" + name + " takes no value");
        values_[name] = {inline_value.value_or("true")};
        continue;
      }
      if (inline_value) {
        values_[name].push_back(*inline_value);
        if (!spec->is_multi && values_[name].size() > 1) values_[name].erase(values_[name].begin());
        continue;
      }
      if (i + 1 >= argv.size()) return invalid_argument("--" + name + " needs a value (" + spec->value_name + ")");
      if (spec->is_multi) {
        // Takes every following argument up to the next flag.
        bool any = false;
        while (i + 1 < argv.size() && argv[i + 1].rfind("--", 0) != 0) {
          values_[name].push_back(argv[++i]);
          any = true;
        }
        if (!any) return invalid_argument("--" + name + " needs a value (" + spec->value_name + ")");
      } else {
        values_[name] = {argv[++i]};
      }
      continue;
    }
    if (next_positional >= positionals.size()) return invalid_argument("unexpected argument '" + a + "'");
    values_[positionals[next_positional++]->name] = {a};
  }
  for (const auto* p : positionals)
    if (p->required && !values_.count(p->name)) return invalid_argument("missing argument " + p->name);
  return ok_status();
}

std::optional<int> Args::parse_or_exit(const std::vector<std::string>& argv) {
  if (Status st = parse(argv); !st.ok()) return report_error(command_.substr(0, command_.find(' ')), st);
  if (help_) {
    std::printf("%s", usage().c_str());
    return 0;
  }
  return std::nullopt;
}

std::string Args::usage() const {
  std::ostringstream ss;
  ss << "usage: ferrite " << command_;
  for (const auto& s : specs_)
    if (s.is_positional) ss << (s.required ? " " : " [") << s.name << (s.required ? "" : "]");
  ss << " [flags]\n\n" << summary_ << "\n\nflags:\n";
  for (const auto& s : specs_) {
    std::string left;
    if (s.is_positional) {
      left = s.name;
    } else if (s.is_bool) {
      left = "--" + s.name + (s.negatable ? ", --no-" + s.name : "");
    } else {
      left = "--" + s.name + " " + s.value_name + (s.is_multi ? " ..." : "");
    }
    ss << "  " << left;
    if (left.size() < 34) ss << std::string(34 - left.size(), ' ');
    else ss << "\n" << std::string(36, ' ');
    ss << s.help;
    if (s.default_value && !s.default_value->empty()) ss << " (default: " << *s.default_value << ")";
    ss << "\n";
  }
  ss << "  --help" << std::string(28, ' ') << "show this help\n";
  return ss.str();
}

bool Args::has(const std::string& name) const { return values_.count(name) > 0; }

std::string Args::get(const std::string& name) const {
  auto it = values_.find(name);
  if (it != values_.end() && !it->second.empty()) return it->second.back();
  for (const auto& s : specs_)
    if (s.name == name && s.default_value) return *s.default_value;
  return "";
}

std::vector<std::string> Args::get_all(const std::string& name) const {
  auto it = values_.find(name);
  return it == values_.end() ? std::vector<std::string>{} : it->second;
}

bool Args::get_bool(const std::string& name) const {
  const std::string v = get(name);
  return v == "true";
}

Result<long long> Args::get_int(const std::string& name) const {
  const std::string v = get(name);
  errno = 0;
  char* end = nullptr;
  long long x = std::strtoll(v.c_str(), &end, 10);
  if (v.empty() || end != v.c_str() + v.size() || errno == ERANGE)
    return invalid_argument("--" + name + ": expected an integer, got '" + v + "'");
  return x;
}

Result<double> Args::get_double(const std::string& name) const {
  const std::string v = get(name);
  errno = 0;
  char* end = nullptr;
  double x = std::strtod(v.c_str(), &end);
  if (v.empty() || end != v.c_str() + v.size() || errno == ERANGE)
    return invalid_argument("--" + name + ": expected a number, got '" + v + "'");
  return x;
}

Result<std::vector<long long>> Args::get_int_list(const std::string& name) const {
  const std::string v = get(name);
  std::vector<long long> out;
  std::size_t pos = 0;
  while (pos <= v.size()) {
    std::size_t comma = v.find(',', pos);
    if (comma == std::string::npos) comma = v.size();
    std::string item = v.substr(pos, comma - pos);
    while (!item.empty() && item.front() == ' ') item.erase(item.begin());
    while (!item.empty() && item.back() == ' ') item.pop_back();
    errno = 0;
    char* end = nullptr;
    long long x = std::strtoll(item.c_str(), &end, 10);
    if (item.empty() || end != item.c_str() + item.size() || errno == ERANGE)
      return invalid_argument("--" + name + ": expected comma-separated integers, got '" + v + "'");
    out.push_back(x);
    pos = comma + 1;
  }
  return out;
}

int report_error(const std::string& command, const Status& status) {
  std::fprintf(stderr, "ferrite %s: error: %s\n", command.c_str(), status.message().c_str());
  return status.code() == StatusCode::kInvalidArgument ? 2 : 1;
}

}  // namespace ferrite::cli
