// Decoders of tokenizer.json: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace,
// BPEDecoder and Sequence. Each mirrors tokenizers' decode_chain on a list of token strings.
#include <utility>

#include "tokenizer/components.h"
#include "tokenizer/unicode.h"

namespace ferrite::tokenizer {
namespace {

using json_util::Json;

class ByteLevelDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const std::string& t : tokens) {
      // A token whose characters are all byte images becomes those bytes; any other token
      // (an added token such as "<|im_end|>" with characters outside the map) stays as is.
      const std::size_t mark = bytes.size();
      bool mapped = true;
      std::size_t i = 0;
      while (i < t.size()) {
        const int b = byte_level_byte(unicode::next_code_point(t, i));
        if (b < 0) {
          mapped = false;
          break;
        }
        bytes.push_back(static_cast<char>(b));
      }
      if (!mapped) {
        bytes.resize(mark);
        bytes.append(t);
      }
    }
    tokens.assign(1, unicode::from_utf8_lossy(bytes));
  }
};

class ReplaceDecoder final : public Decoder {
 public:
  ReplaceDecoder(std::shared_ptr<const Regex> regex, std::string content)
      : regex_(std::move(regex)), content_(std::move(content)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<Span> matches;
    std::string out;
    for (std::string& t : tokens) {
      matches.clear();
      regex_->find_all(t, matches);
      if (matches.empty()) continue;
      out.clear();
      std::size_t pos = 0;
      for (const Span& m : matches) {
        out.append(t, pos, m.begin - pos);
        out.append(content_);
        pos = m.end;
      }
      out.append(t, pos, std::string::npos);
      t.swap(out);
    }
  }

 private:
  std::shared_ptr<const Regex> regex_;
  std::string content_;
};

// Parses "<0xAB>" (exactly six characters, two hex digits of either case).
int byte_token_value(const std::string& t) {
  if (t.size() != 6 || t.compare(0, 3, "<0x") != 0 || t[5] != '>') return -1;
  int v = 0;
  for (int k = 3; k < 5; ++k) {
    const char c = t[static_cast<std::size_t>(k)];
    int d;
    if (c >= '0' && c <= '9')
      d = c - '0';
    else if (c >= 'a' && c <= 'f')
      d = c - 'a' + 10;
    else if (c >= 'A' && c <= 'F')
      d = c - 'A' + 10;
    else
      return -1;
    v = v * 16 + d;
  }
  return v;
}

class ByteFallbackDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    out.reserve(tokens.size());
    std::string run;
    const auto flush = [&] {
      if (run.empty()) return;
      // A run of byte tokens that is not valid UTF-8 as a whole becomes one U+FFFD per byte.
      if (unicode::is_valid_utf8(run)) {
        out.push_back(run);
      } else {
        for (std::size_t k = 0; k < run.size(); ++k) out.emplace_back(unicode::kReplacementUtf8);
      }
      run.clear();
    };
    for (std::string& t : tokens) {
      const int b = byte_token_value(t);
      if (b >= 0) {
        run.push_back(static_cast<char>(b));
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    tokens.swap(out);
  }
};

class FuseDecoder final : public Decoder {
 public:
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string all;
    for (const std::string& t : tokens) all.append(t);
    tokens.assign(1, std::move(all));
  }
};

class StripDecoder final : public Decoder {
 public:
  StripDecoder(std::string content, std::size_t start, std::size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (std::string& t : tokens) {
      std::size_t begin = 0;
      for (std::size_t k = 0; k < start_ && begin < t.size() && t.compare(begin, content_.size(), content_) == 0; ++k)
        begin += content_.size();
      std::size_t end = t.size();
      for (std::size_t k = 0; k < stop_ && end >= begin + content_.size() &&
                              t.compare(end - content_.size(), content_.size(), content_) == 0;
           ++k)
        end -= content_.size();
      if (begin != 0 || end != t.size()) t = t.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  std::size_t start_, stop_;
};

class MetaspaceDecoder final : public Decoder {
 public:
  MetaspaceDecoder(std::string replacement, bool strip_first)
      : replacement_(std::move(replacement)), strip_first_(strip_first) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    std::string out;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      if (t.find(replacement_) == std::string::npos) continue;
      // tokenizers drops every replacement character of the first token, not only a leading one.
      const std::string_view with = (i == 0 && strip_first_) ? std::string_view() : std::string_view(" ");
      out.clear();
      std::size_t pos = 0;
      for (std::size_t hit = t.find(replacement_); hit != std::string::npos; hit = t.find(replacement_, pos)) {
        out.append(t, pos, hit - pos);
        out.append(with);
        pos = hit + replacement_.size();
      }
      out.append(t, pos, std::string::npos);
      t.swap(out);
    }
  }

 private:
  std::string replacement_;
  bool strip_first_;
};

class BpeDecoder final : public Decoder {
 public:
  explicit BpeDecoder(std::string suffix) : suffix_(std::move(suffix)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    if (suffix_.empty()) return;
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      std::string& t = tokens[i];
      const std::string_view with = i + 1 == tokens.size() ? std::string_view() : std::string_view(" ");
      std::string out;
      std::size_t pos = 0;
      for (std::size_t hit = t.find(suffix_); hit != std::string::npos; hit = t.find(suffix_, pos)) {
        out.append(t, pos, hit - pos);
        out.append(with);
        pos = hit + suffix_.size();
      }
      out.append(t, pos, std::string::npos);
      t.swap(out);
    }
  }

 private:
  std::string suffix_;
};

class SequenceDecoder final : public Decoder {
 public:
  explicit SequenceDecoder(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode_chain(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode_chain(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

Result<std::unique_ptr<Decoder>> parse_decoder(const Json& j, const std::string& path) {
  if (j.is_null()) return std::unique_ptr<Decoder>();
  FERRITE_ASSIGN_OR_RETURN(std::string type, json_util::type_tag(j, path));
  if (type == "ByteLevel") return std::unique_ptr<Decoder>(new ByteLevelDecoder());
  if (type == "ByteFallback") return std::unique_ptr<Decoder>(new ByteFallbackDecoder());
  if (type == "Fuse") return std::unique_ptr<Decoder>(new FuseDecoder());
  if (type == "Replace") {
    FERRITE_ASSIGN_OR_RETURN(const Json* pattern, json_util::required(j, "pattern", path));
    FERRITE_ASSIGN_OR_RETURN(auto regex, parse_pattern(*pattern, json_util::child_path(path, "pattern")));
    FERRITE_ASSIGN_OR_RETURN(std::string content, json_util::required_string(j, "content", path));
    return std::unique_ptr<Decoder>(new ReplaceDecoder(std::move(regex), std::move(content)));
  }
  if (type == "Strip") {
    FERRITE_ASSIGN_OR_RETURN(std::string content, json_util::single_char(j, "content", path, " "));
    FERRITE_ASSIGN_OR_RETURN(std::int64_t start, json_util::int_or(j, "start", path, 0));
    FERRITE_ASSIGN_OR_RETURN(std::int64_t stop, json_util::int_or(j, "stop", path, 0));
    if (start < 0 || stop < 0) return json_util::error_at(path, "start and stop must not be negative");
    return std::unique_ptr<Decoder>(
        new StripDecoder(std::move(content), static_cast<std::size_t>(start), static_cast<std::size_t>(stop)));
  }
  if (type == "Metaspace") {
    FERRITE_ASSIGN_OR_RETURN(std::string replacement, json_util::single_char(j, "replacement", path, "\xE2\x96\x81"));
    FERRITE_ASSIGN_OR_RETURN(auto scheme, json_util::optional_string(j, "prepend_scheme", path));
    bool strip_first = scheme.value_or("always") != "never";
    if (j.contains("add_prefix_space") && j["add_prefix_space"].is_boolean() && !j["add_prefix_space"].get<bool>())
      strip_first = false;
    return std::unique_ptr<Decoder>(new MetaspaceDecoder(std::move(replacement), strip_first));
  }
  if (type == "BPEDecoder") {
    FERRITE_ASSIGN_OR_RETURN(auto suffix, json_util::optional_string(j, "suffix", path));
    return std::unique_ptr<Decoder>(new BpeDecoder(suffix.value_or("</w>")));
  }
  if (type == "Sequence") {
    FERRITE_ASSIGN_OR_RETURN(const Json* list, json_util::required(j, "decoders", path));
    const std::string list_path = json_util::child_path(path, "decoders");
    if (!list->is_array()) return json_util::error_at(list_path, "expected an array");
    std::vector<std::unique_ptr<Decoder>> parts;
    for (std::size_t i = 0; i < list->size(); ++i) {
      FERRITE_ASSIGN_OR_RETURN(auto part, parse_decoder((*list)[i], json_util::index_path(list_path, i)));
      if (part) parts.push_back(std::move(part));
    }
    return std::unique_ptr<Decoder>(new SequenceDecoder(std::move(parts)));
  }
  return unimplemented(json_util::child_path(path, "type") + ": unsupported decoder type '" + type +
                       "' (supported: ByteLevel, Replace, ByteFallback, Fuse, Strip, Metaspace, BPEDecoder, "
                       "Sequence)");
}

}  // namespace ferrite::tokenizer
