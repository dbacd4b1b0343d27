#include "tokenizer/tokenizer_json.h"

namespace ferrite::tokenizer {
namespace {

using json_util::Json;

class Reader final : public nlohmann::json_sax<Json> {
 public:
  explicit Reader(TokenizerJson& out) : out_(out) {}
  const std::string& error() const { return error_; }

  bool null() override { return scalar(Json(nullptr)); }
  bool boolean(bool v) override { return scalar(Json(v)); }
  bool number_integer(number_integer_t v) override {
    if (mode_ == Mode::kVocab) return vocab_entry(v);
    return scalar(Json(v));
  }
  bool number_unsigned(number_unsigned_t v) override {
    if (mode_ == Mode::kVocab) {
      if (v > static_cast<number_unsigned_t>(INT64_MAX)) return fail("model.vocab." + key_, "id out of range");
      return vocab_entry(static_cast<std::int64_t>(v));
    }
    return scalar(Json(v));
  }
  bool number_float(number_float_t v, const string_t&) override { return scalar(Json(v)); }
  bool string(string_t& v) override {
    if (mode_ == Mode::kMerges) {
      // Legacy "a b": exactly one space.
      const std::size_t sp = v.find(' ');
      if (sp == std::string::npos || v.find(' ', sp + 1) != std::string::npos)
        return fail(merge_path(), "expected \"left right\"");
      out_.merges.emplace_back(v.substr(0, sp), v.substr(sp + 1));
      return true;
    }
    if (mode_ == Mode::kMergePair) {
      pair_.push_back(std::move(v));
      return true;
    }
    return scalar(Json(std::move(v)));
  }
  bool binary(binary_t&) override { return fail("", "unexpected binary value"); }

  bool start_object(std::size_t) override {
    if (mode_ == Mode::kVocab) return fail("model.vocab." + key_, "expected an integer id");
    if (mode_ != Mode::kTree) return fail(merge_path(), "expected \"left right\" or [left, right]");
    if (stack_.size() == 2 && key_ == "vocab" && in_model()) {
      mode_ = Mode::kVocab;
      out_.has_vocab = true;
      return true;
    }
    return open(Json::object());
  }
  bool key(string_t& k) override {
    key_ = std::move(k);
    return true;
  }
  bool end_object() override {
    if (mode_ == Mode::kVocab) {
      mode_ = Mode::kTree;
      return true;
    }
    close();
    return true;
  }
  bool start_array(std::size_t) override {
    if (mode_ == Mode::kVocab) return fail("model.vocab." + key_, "expected an integer id");
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kMergePair;
      pair_.clear();
      return true;
    }
    if (mode_ == Mode::kMergePair) return fail(merge_path(), "expected \"left right\" or [left, right]");
    if (stack_.size() == 2 && key_ == "merges" && in_model()) {
      mode_ = Mode::kMerges;
      out_.has_merges = true;
      return true;
    }
    return open(Json::array());
  }
  bool end_array() override {
    if (mode_ == Mode::kMergePair) {
      if (pair_.size() != 2) return fail(merge_path(), "expected \"left right\" or [left, right]");
      out_.merges.emplace_back(std::move(pair_[0]), std::move(pair_[1]));
      mode_ = Mode::kMerges;
      return true;
    }
    if (mode_ == Mode::kMerges) {
      mode_ = Mode::kTree;
      return true;
    }
    close();
    return true;
  }
  bool parse_error(std::size_t position, const std::string&, const nlohmann::detail::exception& e) override {
    error_ = "malformed JSON at byte " + std::to_string(position) + ": " + e.what();
    return false;
  }

 private:
  enum class Mode { kTree, kVocab, kMerges, kMergePair };

  bool in_model() const { return keys_.size() == 2 && keys_[1] == "model"; }
  std::string merge_path() const { return "model.merges[" + std::to_string(out_.merges.size()) + "]"; }
  bool fail(const std::string& path, const std::string& message) {
    error_ = path.empty() ? message : path + ": " + message;
    return false;
  }
  bool vocab_entry(std::int64_t id) {
    out_.vocab.emplace_back(std::move(key_), id);
    return true;
  }
  Json* insert(Json&& value) {
    if (stack_.empty()) {
      out_.root = std::move(value);
      return &out_.root;
    }
    Json& parent = *stack_.back();
    if (parent.is_object()) {
      Json& slot = parent[key_];
      slot = std::move(value);
      return &slot;
    }
    parent.push_back(std::move(value));
    return &parent.back();
  }
  bool open(Json&& container) {
    const bool in_object = !stack_.empty() && stack_.back()->is_object();
    keys_.push_back(in_object ? key_ : std::string());
    stack_.push_back(insert(std::move(container)));
    return true;
  }
  void close() {
    stack_.pop_back();
    keys_.pop_back();
  }
  bool scalar(Json&& value) {
    if (mode_ == Mode::kVocab) return fail("model.vocab." + key_, "expected an integer id");
    if (mode_ != Mode::kTree) return fail(merge_path(), "expected \"left right\" or [left, right]");
    insert(std::move(value));
    return true;
  }

  TokenizerJson& out_;
  std::vector<Json*> stack_;       // open containers; pointers stay valid while a child is open
  std::vector<std::string> keys_;  // the key each open container sits under ("" in an array)
  std::string key_;
  std::vector<std::string> pair_;
  Mode mode_ = Mode::kTree;
  std::string error_;
};

}  // namespace

Result<TokenizerJson> read_tokenizer_json(std::string_view text) {
  TokenizerJson out;
  Reader reader(out);
  bool ok = false;
  try {
    ok = Json::sax_parse(text.begin(), text.end(), &reader);
  } catch (const Json::exception& e) {
    return data_loss(std::string("tokenizer.json: malformed JSON: ") + e.what());
  }
  if (!ok) {
    const std::string& err = reader.error();
    if (err.rfind("malformed JSON", 0) == 0) return data_loss("tokenizer.json: " + err);
    return invalid_argument("tokenizer.json: " + (err.empty() ? std::string("cannot read") : err));
  }
  return out;
}

}  // namespace ferrite::tokenizer
