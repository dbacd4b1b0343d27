// Normalizers of tokenizer.json: NFC, NFD, NFKC, NFKD, Lowercase, Replace, Prepend, Strip,
// StripAccents and Sequence.
#include <utility>

#include "tokenizer/components.h"
#include "tokenizer/unicode.h"

namespace ferrite::tokenizer {
namespace {

using json_util::Json;

class UnicodeNormalizer final : public Normalizer {
 public:
  explicit UnicodeNormalizer(unicode::NormalizationForm form) : form_(form) {}
  void normalize(std::string& s, std::string& scratch) const override {
    unicode::normalize(form_, s, scratch);
    s.swap(scratch);
  }

 private:
  unicode::NormalizationForm form_;
};

class Lowercase final : public Normalizer {
 public:
  void normalize(std::string& s, std::string& scratch) const override {
    scratch.clear();
    unicode::append_lowercase(scratch, s);
    s.swap(scratch);
  }
};

class Prepend final : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& s, std::string&) const override {
    if (!s.empty()) s.insert(0, prefix_);
  }

 private:
  std::string prefix_;
};

class Strip final : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& s, std::string&) const override {
    std::size_t begin = 0, end = s.size();
    if (left_) {
      while (begin < end) {
        std::size_t i = begin;
        if (!unicode::is_whitespace(unicode::next_code_point(s, i))) break;
        begin = i;
      }
    }
    if (right_) {
      while (end > begin) {
        std::size_t start = 0;
        if (!unicode::is_whitespace(unicode::previous_code_point(s, end, &start))) break;
        end = start;
      }
    }
    if (begin != 0 || end != s.size()) s = s.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class StripAccents final : public Normalizer {
 public:
  void normalize(std::string& s, std::string& scratch) const override {
    scratch.clear();
    std::size_t i = 0;
    while (i < s.size()) {
      const std::size_t start = i;
      const char32_t c = unicode::next_code_point(s, i);
      if (!unicode::is_nonspacing_mark(c)) scratch.append(s, start, i - start);
    }
    s.swap(scratch);
  }
};

class Replace final : public Normalizer {
 public:
  Replace(std::shared_ptr<const Regex> regex, std::string content)
      : regex_(std::move(regex)), content_(std::move(content)) {}
  void normalize(std::string& s, std::string& scratch) const override {
    scratch.clear();
    const std::string& pat = regex_->pattern();
    if (regex_->literal() && !pat.empty()) {
      // A plain string: leftmost non-overlapping occurrences, same as the regex would find.
      std::size_t pos = 0;
      for (std::size_t hit = s.find(pat); hit != std::string::npos; hit = s.find(pat, pos)) {
        scratch.append(s, pos, hit - pos);
        scratch.append(content_);
        pos = hit + pat.size();
      }
      if (pos == 0) return;
      scratch.append(s, pos, std::string::npos);
    } else {
      std::vector<Span> matches;
      regex_->find_all(s, matches);
      if (matches.empty()) return;
      std::size_t pos = 0;
      for (const Span& m : matches) {
        scratch.append(s, pos, m.begin - pos);
        scratch.append(content_);
        pos = m.end;
      }
      scratch.append(s, pos, std::string::npos);
    }
    s.swap(scratch);
  }

 private:
  std::shared_ptr<const Regex> regex_;
  std::string content_;
};

class SequenceNormalizer final : public Normalizer {
 public:
  explicit SequenceNormalizer(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& s, std::string& scratch) const override {
    for (const auto& p : parts_) p->normalize(s, scratch);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

// {"String": "..."} or {"Regex": "..."}, shared by Replace and Split.
Result<std::shared_ptr<const Regex>> parse_pattern(const Json& j, const std::string& path) {
  if (j.is_object() && j.size() == 1) {
    auto it = j.begin();
    if (it.value().is_string()) {
      if (it.key() == "String") return Regex::compile(it.value().get<std::string>(), /*literal=*/true);
      if (it.key() == "Regex") {
        auto re = Regex::compile(it.value().get<std::string>(), /*literal=*/false);
        if (!re.ok()) return json_util::error_at(path, re.status().message());
        return re;
      }
    }
  }
  return json_util::error_at(path, "expected {\"String\": ...} or {\"Regex\": ...}");
}

Result<std::unique_ptr<Normalizer>> parse_normalizer(const Json& j, const std::string& path) {
  if (j.is_null()) return std::unique_ptr<Normalizer>();
  FERRITE_ASSIGN_OR_RETURN(std::string type, json_util::type_tag(j, path));
  using unicode::NormalizationForm;
  if (type == "NFC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(NormalizationForm::kNFC));
  if (type == "NFD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(NormalizationForm::kNFD));
  if (type == "NFKC") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(NormalizationForm::kNFKC));
  if (type == "NFKD") return std::unique_ptr<Normalizer>(new UnicodeNormalizer(NormalizationForm::kNFKD));
  if (type == "Lowercase") return std::unique_ptr<Normalizer>(new Lowercase());
  if (type == "StripAccents") return std::unique_ptr<Normalizer>(new StripAccents());
  if (type == "Prepend") {
    FERRITE_ASSIGN_OR_RETURN(std::string prefix, json_util::required_string(j, "prepend", path));
    return std::unique_ptr<Normalizer>(new Prepend(std::move(prefix)));
  }
  if (type == "Strip") {
    FERRITE_ASSIGN_OR_RETURN(bool left, json_util::bool_or(j, "strip_left", path, true));
    FERRITE_ASSIGN_OR_RETURN(bool right, json_util::bool_or(j, "strip_right", path, true));
    return std::unique_ptr<Normalizer>(new Strip(left, right));
  }
  if (type == "Replace") {
    FERRITE_ASSIGN_OR_RETURN(const Json* pattern, json_util::required(j, "pattern", path));
    FERRITE_ASSIGN_OR_RETURN(auto regex, parse_pattern(*pattern, json_util::child_path(path, "pattern")));
    FERRITE_ASSIGN_OR_RETURN(std::string content, json_util::required_string(j, "content", path));
    return std::unique_ptr<Normalizer>(new Replace(std::move(regex), std::move(content)));
  }
  if (type == "Sequence") {
    FERRITE_ASSIGN_OR_RETURN(const Json* list, json_util::required(j, "normalizers", path));
    const std::string list_path = json_util::child_path(path, "normalizers");
    if (!list->is_array()) return json_util::error_at(list_path, "expected an array");
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (std::size_t i = 0; i < list->size(); ++i) {
      FERRITE_ASSIGN_OR_RETURN(auto part, parse_normalizer((*list)[i], json_util::index_path(list_path, i)));
      if (part) parts.push_back(std::move(part));
    }
    return std::unique_ptr<Normalizer>(new SequenceNormalizer(std::move(parts)));
  }
  return unimplemented(json_util::child_path(path, "type") + ": unsupported normalizer type '" + type +
                       "' (supported: NFC, NFD, NFKC, NFKD, Lowercase, Replace, Prepend, Strip, StripAccents, "
                       "Sequence)");
}

}  // namespace ferrite::tokenizer
