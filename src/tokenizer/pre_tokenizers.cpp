// Pre-tokenizers of tokenizer.json: ByteLevel, Split, Metaspace, Digits, Whitespace,
// WhitespaceSplit, Punctuation, BertPreTokenizer and Sequence.
#include <algorithm>
#include <array>
#include <utility>

#include "tokenizer/components.h"
#include "tokenizer/unicode.h"

namespace ferrite::tokenizer {
namespace {

using json_util::Json;

struct ByteLevelTables {
  struct Code {
    char bytes[2];
    std::uint8_t len;
  };
  std::array<std::string, 256> to_char;
  std::array<Code, 256> code{};  // to_char as fixed-size entries for the hot loop
  std::array<int, 512> to_byte{};
  ByteLevelTables() {
    to_byte.fill(-1);
    int extra = 0;
    for (int b = 0; b < 256; ++b) {
      const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
      const char32_t c = printable ? static_cast<char32_t>(b) : static_cast<char32_t>(256 + extra++);
      std::string& s = to_char[static_cast<std::size_t>(b)];
      unicode::append_utf8(s, c);
      Code& k = code[static_cast<std::size_t>(b)];
      k.len = static_cast<std::uint8_t>(s.size());
      k.bytes[0] = s[0];
      k.bytes[1] = s.size() > 1 ? s[1] : '\0';
      to_byte[c] = b;
    }
  }
};

const ByteLevelTables& byte_level_tables() {
  static const ByteLevelTables tables;
  return tables;
}

SplitBehavior parse_behavior_name(const std::string& name, bool* ok) {
  *ok = true;
  if (name == "Removed") return SplitBehavior::kRemoved;
  if (name == "Isolated") return SplitBehavior::kIsolated;
  if (name == "MergedWithPrevious") return SplitBehavior::kMergedWithPrevious;
  if (name == "MergedWithNext") return SplitBehavior::kMergedWithNext;
  if (name == "Contiguous") return SplitBehavior::kContiguous;
  *ok = false;
  return SplitBehavior::kIsolated;
}

Result<SplitBehavior> parse_behavior(const Json& j, const std::string& path, const char* fallback) {
  FERRITE_ASSIGN_OR_RETURN(auto name, json_util::optional_string(j, "behavior", path));
  bool ok = false;
  const SplitBehavior b = parse_behavior_name(name.value_or(fallback), &ok);
  if (!ok)
    return json_util::error_at(json_util::child_path(path, "behavior"),
                               "unknown split behavior '" + *name +
                                   "' (expected Removed, Isolated, MergedWithPrevious, MergedWithNext or Contiguous)");
  return b;
}

// Every character for which `pred` holds is one match (tokenizers' Fn(char) -> bool pattern).
template <typename Pred>
void char_matches(std::string_view text, Pred pred, std::vector<Span>& out) {
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t start = i;
    if (pred(unicode::next_code_point(text, i)))
      out.push_back({static_cast<std::uint32_t>(start), static_cast<std::uint32_t>(i)});
  }
}

// Shared loop: for each piece without a token, `split(text, spans)` fills the sub-pieces.
template <typename SplitFn>
void split_pieces(const PieceList& in, PieceList& out, SplitFn split) {
  out.clear();
  out.arena.reserve(in.arena.size());
  std::vector<Span> spans;
  for (const Piece& p : in.pieces) {
    if (p.token_id >= 0) {
      out.pieces.push_back(p);
      continue;
    }
    const std::string_view text = in.view(p);
    spans.clear();
    split(text, spans);
    for (const Span& s : spans) out.push(text.substr(s.begin, s.end - s.begin), p.at_origin && s.begin == 0);
  }
}

class ByteLevelPre final : public PreTokenizer {
 public:
  ByteLevelPre(bool add_prefix_space, std::shared_ptr<const Regex> regex)
      : add_prefix_space_(add_prefix_space), regex_(std::move(regex)) {}

  void pre_tokenize(const PieceList& in, PieceList& out) const override {
    const ByteLevelTables& t = byte_level_tables();
    out.clear();
    std::string prefixed;
    std::vector<Span> matches, spans;
    for (const Piece& p : in.pieces) {
      if (p.token_id >= 0) {
        out.pieces.push_back(p);
        continue;
      }
      std::string_view text = in.view(p);
      if (add_prefix_space_ && (text.empty() || text[0] != ' ')) {
        prefixed.assign(" ");
        prefixed.append(text);
        text = prefixed;
      }
      spans.clear();
      if (regex_) {
        matches.clear();
        regex_->find_all(text, matches);
        split_by_matches(text, matches, SplitBehavior::kIsolated, false, spans);
      } else if (!text.empty()) {
        spans.push_back({0, static_cast<std::uint32_t>(text.size())});
      }
      // Every byte maps to one or two UTF-8 bytes: size the arena for the worst case, write
      // through a pointer, then trim.
      const std::size_t base = out.arena.size();
      out.arena.resize(base + 2 * text.size());
      char* const data = out.arena.data();
      char* w = data + base;
      for (const Span& s : spans) {
        const auto begin = static_cast<std::uint32_t>(w - data);
        for (std::uint32_t k = s.begin; k < s.end; ++k) {
          const ByteLevelTables::Code& c = t.code[static_cast<unsigned char>(text[k])];
          w[0] = c.bytes[0];
          w[1] = c.bytes[1];
          w += c.len;
        }
        out.pieces.push_back({begin, static_cast<std::uint32_t>(w - data), -1, p.at_origin && s.begin == 0});
      }
      out.arena.resize(static_cast<std::size_t>(w - data));
    }
  }

 private:
  bool add_prefix_space_;
  std::shared_ptr<const Regex> regex_;  // null: use_regex false
};

class SplitPre final : public PreTokenizer {
 public:
  SplitPre(std::shared_ptr<const Regex> regex, SplitBehavior behavior, bool invert)
      : regex_(std::move(regex)), behavior_(behavior), invert_(invert) {}
  void pre_tokenize(const PieceList& in, PieceList& out) const override {
    std::vector<Span> matches;
    split_pieces(in, out, [&](std::string_view text, std::vector<Span>& spans) {
      matches.clear();
      regex_->find_all(text, matches);
      split_by_matches(text, matches, behavior_, invert_, spans);
    });
  }

 private:
  std::shared_ptr<const Regex> regex_;
  SplitBehavior behavior_;
  bool invert_;
};

enum class PrependScheme { kFirst, kNever, kAlways };

class MetaspacePre final : public PreTokenizer {
 public:
  MetaspacePre(std::string replacement, PrependScheme scheme, bool split)
      : replacement_(std::move(replacement)), scheme_(scheme), split_(split) {
    std::size_t i = 0;
    replacement_cp_ = unicode::next_code_point(replacement_, i);
  }
  void pre_tokenize(const PieceList& in, PieceList& out) const override {
    out.clear();
    std::string s;
    std::vector<Span> matches, spans;
    for (const Piece& p : in.pieces) {
      if (p.token_id >= 0) {
        out.pieces.push_back(p);
        continue;
      }
      const std::string_view text = in.view(p);
      s.clear();
      for (char c : text) {
        if (c == ' ')
          s.append(replacement_);
        else
          s.push_back(c);
      }
      const bool starts = s.compare(0, replacement_.size(), replacement_) == 0;
      if (!starts && (scheme_ == PrependScheme::kAlways || (scheme_ == PrependScheme::kFirst && p.at_origin)))
        s.insert(0, replacement_);
      if (!split_) {
        if (!s.empty()) out.push(s, p.at_origin);
        continue;
      }
      matches.clear();
      spans.clear();
      char_matches(
          s, [&](char32_t c) { return c == replacement_cp_; }, matches);
      split_by_matches(s, matches, SplitBehavior::kMergedWithNext, false, spans);
      for (const Span& sp : spans)
        out.push(std::string_view(s).substr(sp.begin, sp.end - sp.begin), p.at_origin && sp.begin == 0);
    }
  }

 private:
  std::string replacement_;
  char32_t replacement_cp_ = 0;
  PrependScheme scheme_;
  bool split_;
};

// Digits, WhitespaceSplit, Punctuation: split on a character class.
template <typename Pred>
class CharClassPre final : public PreTokenizer {
 public:
  CharClassPre(Pred pred, SplitBehavior behavior) : pred_(pred), behavior_(behavior) {}
  void pre_tokenize(const PieceList& in, PieceList& out) const override {
    std::vector<Span> matches;
    split_pieces(in, out, [&](std::string_view text, std::vector<Span>& spans) {
      matches.clear();
      char_matches(text, pred_, matches);
      split_by_matches(text, matches, behavior_, false, spans);
    });
  }

 private:
  Pred pred_;
  SplitBehavior behavior_;
};

template <typename Pred>
std::unique_ptr<PreTokenizer> make_char_class(Pred pred, SplitBehavior behavior) {
  return std::make_unique<CharClassPre<Pred>>(pred, behavior);
}

// Whitespace: the matches of \w+|[^\w\s]+ (Rust regex, Unicode classes), spaces dropped.
class WhitespacePre final : public PreTokenizer {
 public:
  void pre_tokenize(const PieceList& in, PieceList& out) const override {
    split_pieces(in, out, [](std::string_view text, std::vector<Span>& spans) {
      std::size_t i = 0;
      int run_class = -1;  // 0 word, 1 other non-space
      std::size_t run_start = 0;
      while (i < text.size()) {
        const std::size_t start = i;
        const char32_t c = unicode::next_code_point(text, i);
        const int cls = unicode::is_word_char(c) ? 0 : unicode::is_whitespace(c) ? -1 : 1;
        if (cls != run_class) {
          if (run_class >= 0)
            spans.push_back({static_cast<std::uint32_t>(run_start), static_cast<std::uint32_t>(start)});
          run_class = cls;
          run_start = start;
        }
      }
      if (run_class >= 0)
        spans.push_back({static_cast<std::uint32_t>(run_start), static_cast<std::uint32_t>(text.size())});
    });
  }
};

class SequencePre final : public PreTokenizer {
 public:
  explicit SequencePre(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void pre_tokenize(const PieceList& in, PieceList& out) const override {
    if (parts_.empty()) {
      out = in;
      return;
    }
    PieceList tmp;
    const PieceList* src = &in;
    for (std::size_t i = 0; i < parts_.size(); ++i) {
      // Alternate between `out` and `tmp` so that the last stage writes into `out`.
      const bool to_out = (parts_.size() - 1 - i) % 2 == 0;
      PieceList& dst = to_out ? out : tmp;
      parts_[i]->pre_tokenize(*src, dst);
      src = &dst;
    }
  }

 private:
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

const char* kGpt2Pattern = R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

}  // namespace

const std::string& byte_level_char(unsigned char byte) { return byte_level_tables().to_char[byte]; }

int byte_level_byte(char32_t c) { return c < 512 ? byte_level_tables().to_byte[c] : -1; }

void split_by_matches(std::string_view text, const std::vector<Span>& matches, SplitBehavior behavior, bool invert,
                      std::vector<Span>& out) {
  struct Seg {
    std::uint32_t begin, end;
    bool is_match;
  };
  std::vector<Seg> segs;
  segs.reserve(matches.size() * 2 + 1);
  const auto len = static_cast<std::uint32_t>(text.size());
  if (len == 0) {
    segs.push_back({0, 0, false});
  } else {
    std::uint32_t prev = 0;
    for (const Span& m : matches) {
      if (prev != m.begin) segs.push_back({prev, m.begin, false});
      segs.push_back({m.begin, m.end, true});
      prev = m.end;
    }
    if (prev != len) segs.push_back({prev, len, false});
  }
  if (invert)
    for (Seg& s : segs) s.is_match = !s.is_match;

  const std::size_t first_out = out.size();
  bool previous_match = false;
  switch (behavior) {
    case SplitBehavior::kIsolated:
      for (const Seg& s : segs) out.push_back({s.begin, s.end});
      break;
    case SplitBehavior::kRemoved:
      for (const Seg& s : segs)
        if (!s.is_match) out.push_back({s.begin, s.end});
      break;
    case SplitBehavior::kContiguous:
      for (const Seg& s : segs) {
        if (s.is_match == previous_match && out.size() > first_out)
          out.back().end = s.end;
        else
          out.push_back({s.begin, s.end});
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithPrevious:
      for (const Seg& s : segs) {
        if (s.is_match && !previous_match && out.size() > first_out)
          out.back().end = s.end;
        else
          out.push_back({s.begin, s.end});
        previous_match = s.is_match;
      }
      break;
    case SplitBehavior::kMergedWithNext: {
      // Folded from the right, as tokenizers does, then put back in order.
      for (auto it = segs.rbegin(); it != segs.rend(); ++it) {
        if (it->is_match && !previous_match && out.size() > first_out)
          out.back().begin = it->begin;
        else
          out.push_back({it->begin, it->end});
        previous_match = it->is_match;
      }
      std::reverse(out.begin() + static_cast<std::ptrdiff_t>(first_out), out.end());
      break;
    }
  }
  // Empty pieces never reach the model.
  std::size_t w = first_out;
  for (std::size_t r = first_out; r < out.size(); ++r)
    if (out[r].begin != out[r].end) out[w++] = out[r];
  out.resize(w);
}

Result<std::unique_ptr<PreTokenizer>> parse_pre_tokenizer(const Json& j, const std::string& path) {
  if (j.is_null()) return std::unique_ptr<PreTokenizer>();
  FERRITE_ASSIGN_OR_RETURN(std::string type, json_util::type_tag(j, path));
  if (type == "ByteLevel") {
    FERRITE_ASSIGN_OR_RETURN(bool add_prefix_space, json_util::bool_or(j, "add_prefix_space", path, true));
    FERRITE_ASSIGN_OR_RETURN(bool use_regex, json_util::bool_or(j, "use_regex", path, true));
    std::shared_ptr<const Regex> regex;
    if (use_regex) {
      static const auto gpt2 = Regex::compile(kGpt2Pattern, false);
      if (!gpt2.ok()) return gpt2.status();
      regex = gpt2.value();
    }
    return std::unique_ptr<PreTokenizer>(new ByteLevelPre(add_prefix_space, std::move(regex)));
  }
  if (type == "Split") {
    FERRITE_ASSIGN_OR_RETURN(const Json* pattern, json_util::required(j, "pattern", path));
    FERRITE_ASSIGN_OR_RETURN(auto regex, parse_pattern(*pattern, json_util::child_path(path, "pattern")));
    FERRITE_ASSIGN_OR_RETURN(SplitBehavior behavior, parse_behavior(j, path, "Isolated"));
    FERRITE_ASSIGN_OR_RETURN(bool invert, json_util::bool_or(j, "invert", path, false));
    return std::unique_ptr<PreTokenizer>(new SplitPre(std::move(regex), behavior, invert));
  }
  if (type == "Metaspace") {
    FERRITE_ASSIGN_OR_RETURN(std::string replacement, json_util::single_char(j, "replacement", path, "\xE2\x96\x81"));
    FERRITE_ASSIGN_OR_RETURN(auto scheme_name, json_util::optional_string(j, "prepend_scheme", path));
    PrependScheme scheme = PrependScheme::kAlways;
    if (scheme_name) {
      if (*scheme_name == "first")
        scheme = PrependScheme::kFirst;
      else if (*scheme_name == "never")
        scheme = PrependScheme::kNever;
      else if (*scheme_name == "always")
        scheme = PrependScheme::kAlways;
      else
        return json_util::error_at(json_util::child_path(path, "prepend_scheme"),
                                   "expected \"first\", \"always\" or \"never\"");
    }
    // Files older than prepend_scheme carry add_prefix_space instead.
    if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() && !j["add_prefix_space"].get<bool>())
      scheme = PrependScheme::kNever;
    FERRITE_ASSIGN_OR_RETURN(bool split, json_util::bool_or(j, "split", path, true));
    return std::unique_ptr<PreTokenizer>(new MetaspacePre(std::move(replacement), scheme, split));
  }
  if (type == "Digits") {
    FERRITE_ASSIGN_OR_RETURN(bool individual, json_util::bool_or(j, "individual_digits", path, false));
    return make_char_class(unicode::is_numeric, individual ? SplitBehavior::kIsolated : SplitBehavior::kContiguous);
  }
  if (type == "Whitespace") return std::unique_ptr<PreTokenizer>(new WhitespacePre());
  if (type == "WhitespaceSplit") return make_char_class(unicode::is_whitespace, SplitBehavior::kRemoved);
  if (type == "Punctuation") {
    FERRITE_ASSIGN_OR_RETURN(SplitBehavior behavior, parse_behavior(j, path, "Isolated"));
    return make_char_class(unicode::is_punctuation, behavior);
  }
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    parts.push_back(make_char_class(unicode::is_whitespace, SplitBehavior::kRemoved));
    parts.push_back(make_char_class(unicode::is_punctuation, SplitBehavior::kIsolated));
    return std::unique_ptr<PreTokenizer>(new SequencePre(std::move(parts)));
  }
  if (type == "Sequence") {
    FERRITE_ASSIGN_OR_RETURN(const Json* list, json_util::required(j, "pretokenizers", path));
    const std::string list_path = json_util::child_path(path, "pretokenizers");
    if (!list->is_array()) return json_util::error_at(list_path, "expected an array");
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (std::size_t i = 0; i < list->size(); ++i) {
      FERRITE_ASSIGN_OR_RETURN(auto part, parse_pre_tokenizer((*list)[i], json_util::index_path(list_path, i)));
      if (part) parts.push_back(std::move(part));
    }
    return std::unique_ptr<PreTokenizer>(new SequencePre(std::move(parts)));
  }
  return unimplemented(json_util::child_path(path, "type") + ": unsupported pre-tokenizer type '" + type +
                       "' (supported: ByteLevel, Split, Metaspace, Digits, Whitespace, WhitespaceSplit, "
                       "Punctuation, BertPreTokenizer, Sequence)");
}

}  // namespace ferrite::tokenizer
