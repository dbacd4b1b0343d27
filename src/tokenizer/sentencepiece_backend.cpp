// Models that ship only tokenizer.model: encoding and decoding through libsentencepiece, with
// the special tokens of tokenizer_config.json (and the model's control pieces) split out of the
// text first, as transformers' slow tokenizers do.
#include "tokenizer/backend.h"

#ifdef FERRITE_HAVE_SENTENCEPIECE

#include <sentencepiece_processor.h>

#include <algorithm>
#include <unordered_set>

#include "tokenizer/added_tokens.h"

namespace ferrite::tokenizer::detail {
namespace {

class SentencePieceBackend final : public Backend {
 public:
  Status init(const std::string& path, TokenizerConfig& config) {
    const auto st = sp_.Load(path);
    if (!st.ok()) return data_loss("cannot load SentencePiece model: " + st.ToString());
    const auto piece_or = [&](int id) -> std::optional<std::string> {
      if (id < 0 || id >= sp_.GetPieceSize()) return std::nullopt;
      return sp_.IdToPiece(id);
    };
    if (!config.bos_token) config.bos_token = piece_or(sp_.bos_id());
    if (!config.eos_token) config.eos_token = piece_or(sp_.eos_id());
    if (!config.unk_token) config.unk_token = piece_or(sp_.unk_id());
    if (!config.pad_token) config.pad_token = piece_or(sp_.pad_id());

    std::vector<AddedToken> added = config.added_tokens_decoder;
    std::unordered_set<std::string> known;
    for (const AddedToken& t : added) known.insert(t.content);
    // Control pieces (<s>, </s>), the unknown piece and the config's special tokens are matched
    // in the text as special tokens, as transformers' slow tokenizers do.
    const auto add_special = [&](int id) {
      if (id < 0 || id >= sp_.GetPieceSize() || !known.insert(sp_.IdToPiece(id)).second) return;
      AddedToken t;
      t.id = id;
      t.content = sp_.IdToPiece(id);
      t.special = true;
      t.normalized = false;
      added.push_back(std::move(t));
    };
    for (int id = 0; id < sp_.GetPieceSize(); ++id)
      if (sp_.IsControl(id) || sp_.IsUnknown(id)) add_special(id);
    for (const auto* token : {&config.bos_token, &config.eos_token, &config.unk_token, &config.pad_token})
      if (*token) {
        const int id = sp_.PieceToId(**token);
        if (sp_.IdToPiece(id) == **token) add_special(id);
      }
    for (AddedToken& t : added) t.normalized = false;  // matched on the raw text
    std::sort(added.begin(), added.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
    vocab_size_ = static_cast<std::size_t>(sp_.GetPieceSize());
    for (const AddedToken& t : added)
      if (t.id >= sp_.GetPieceSize()) ++vocab_size_;
    added_.build(std::move(added), nullptr);
    return ok_status();
  }

  Result<std::vector<std::int32_t>> encode(std::string_view text, bool) const override {
    std::vector<AddedVocabulary::Segment> segments;
    added_.split(text, false, segments);
    std::vector<std::int32_t> ids;
    std::vector<int> piece_ids;
    for (const auto& seg : segments) {
      if (seg.id >= 0) {
        ids.push_back(seg.id);
        continue;
      }
      if (seg.end == seg.begin) continue;
      piece_ids.clear();
      const auto st = sp_.Encode(text.substr(seg.begin, seg.end - seg.begin), &piece_ids);
      if (!st.ok()) return internal_error("SentencePiece encode failed: " + st.ToString());
      ids.insert(ids.end(), piece_ids.begin(), piece_ids.end());
    }
    return ids;
  }

  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const override {
    std::string out;
    std::vector<int> run;
    const auto flush = [&] {
      if (!run.empty()) out.append(sp_.DecodeIds(run));
      run.clear();
    };
    for (const std::int32_t id : ids) {
      if (const AddedToken* t = added_.by_id(id)) {
        flush();
        if (!(skip_special_tokens && t->special)) out.append(t->content);
      } else if (id >= 0 && id < sp_.GetPieceSize()) {
        run.push_back(id);
      }
    }
    flush();
    return out;
  }

  std::size_t vocab_size() const override { return vocab_size_; }
  std::optional<std::string> id_to_token(std::int32_t id) const override {
    if (const AddedToken* t = added_.by_id(id)) return t->content;
    if (id >= 0 && id < sp_.GetPieceSize()) return sp_.IdToPiece(id);
    return std::nullopt;
  }
  std::optional<std::int32_t> token_to_id(std::string_view token) const override {
    if (auto id = added_.by_content(token)) return id;
    const int id = sp_.PieceToId(token);
    // PieceToId answers unk_id for unknown pieces.
    if (id == sp_.unk_id() && token != sp_.IdToPiece(id)) return std::nullopt;
    return id;
  }
  const std::vector<AddedToken>& added_tokens() const override { return added_.tokens(); }
  const AddedToken* added_token(std::int32_t id) const override { return added_.by_id(id); }
  bool is_byte_fallback_token(std::int32_t id) const override {
    return id >= 0 && id < sp_.GetPieceSize() && sp_.IsByte(id);
  }
  bool is_sentencepiece() const override { return true; }

 private:
  sentencepiece::SentencePieceProcessor sp_;
  AddedVocabulary added_;
  std::size_t vocab_size_ = 0;
};

}  // namespace

Result<std::unique_ptr<Backend>> load_sentencepiece(const std::string& model_path, TokenizerConfig& config) {
  auto backend = std::make_unique<SentencePieceBackend>();
  FERRITE_RETURN_IF_ERROR(backend->init(model_path, config));
  return std::unique_ptr<Backend>(std::move(backend));
}

}  // namespace ferrite::tokenizer::detail

#else

namespace ferrite::tokenizer::detail {

Result<std::unique_ptr<Backend>> load_sentencepiece(const std::string&, TokenizerConfig&) {
  return unimplemented(
      "this model ships only tokenizer.model (SentencePiece) and ferrite was built without libsentencepiece "
      "(install libsentencepiece-dev and rebuild)");
}

}  // namespace ferrite::tokenizer::detail

#endif
