// The tokenizer.json pipeline: added tokens -> normalizer -> pre-tokenizer -> BPE ->
// post-processor, and ids -> tokens -> decoder.
#include <algorithm>
#include <unordered_map>

#include "tokenizer/added_tokens.h"
#include "tokenizer/backend.h"
#include "tokenizer/bpe.h"
#include "tokenizer/components.h"
#include "tokenizer/tokenizer_json.h"

namespace ferrite::tokenizer::detail {
namespace {

using json_util::Json;

bool mentions_type(const Json& j, std::string_view type) {
  if (j.is_object()) {
    auto it = j.find("type");
    if (it != j.end() && it->is_string() && it->get_ref<const std::string&>() == type) return true;
    for (const auto& [key, value] : j.items())
      if (mentions_type(value, type)) return true;
  } else if (j.is_array()) {
    for (const Json& v : j)
      if (mentions_type(v, type)) return true;
  }
  return false;
}

Result<AddedToken> parse_added_token(const Json& j, const std::string& path) {
  AddedToken t;
  FERRITE_ASSIGN_OR_RETURN(const Json* id, json_util::required(j, "id", path));
  if (!id->is_number_integer() || id->get<std::int64_t>() < 0 || id->get<std::int64_t>() > INT32_MAX)
    return json_util::error_at(json_util::child_path(path, "id"), "expected a non-negative integer");
  t.id = id->get<std::int32_t>();
  FERRITE_ASSIGN_OR_RETURN(t.content, json_util::required_string(j, "content", path));
  FERRITE_ASSIGN_OR_RETURN(t.single_word, json_util::bool_or(j, "single_word", path, false));
  FERRITE_ASSIGN_OR_RETURN(t.lstrip, json_util::bool_or(j, "lstrip", path, false));
  FERRITE_ASSIGN_OR_RETURN(t.rstrip, json_util::bool_or(j, "rstrip", path, false));
  FERRITE_ASSIGN_OR_RETURN(t.special, json_util::bool_or(j, "special", path, false));
  FERRITE_ASSIGN_OR_RETURN(t.normalized, json_util::bool_or(j, "normalized", path, !t.special));
  return t;
}

class HfPipeline final : public Backend {
 public:
  static Result<std::unique_ptr<Backend>> load(std::string_view text, const std::vector<AddedToken>& extra_added);

  Result<std::vector<std::int32_t>> encode(std::string_view text, bool add_special_tokens) const override;
  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const override;
  std::size_t vocab_size() const override { return vocab_size_; }
  std::optional<std::string> id_to_token(std::int32_t id) const override {
    if (const AddedToken* t = added_.by_id(id)) return t->content;
    if (model_->has_id(id)) return std::string(model_->id_to_token(id));
    return std::nullopt;
  }
  std::optional<std::int32_t> token_to_id(std::string_view token) const override {
    if (auto id = added_.by_content(token)) return id;
    return model_->token_to_id(token);
  }
  const std::vector<AddedToken>& added_tokens() const override { return added_.tokens(); }
  const AddedToken* added_token(std::int32_t id) const override { return added_.by_id(id); }
  bool is_byte_fallback_token(std::int32_t id) const override {
    if (!decoder_fuses_bytes_ || added_.by_id(id) != nullptr || !model_->has_id(id)) return false;
    const std::string_view t = model_->id_to_token(id);
    return t.size() == 6 && t.substr(0, 3) == "<0x" && t[5] == '>';
  }

 private:
  struct CacheLease {
    const BpeModel* model;
    BpeModel::WordCache* cache;
    explicit CacheLease(const BpeModel* m) : model(m), cache(m->acquire_cache()) {}
    ~CacheLease() { model->release_cache(cache); }
    CacheLease(const CacheLease&) = delete;
    CacheLease& operator=(const CacheLease&) = delete;
  };

  std::unique_ptr<Normalizer> normalizer_;
  std::unique_ptr<PreTokenizer> pre_tokenizer_;
  std::unique_ptr<BpeModel> model_;
  std::unique_ptr<PostProcessor> post_processor_;
  std::unique_ptr<Decoder> decoder_;
  AddedVocabulary added_;
  std::size_t vocab_size_ = 0;
  bool decoder_fuses_bytes_ = false;
};

Result<std::unique_ptr<Backend>> HfPipeline::load(std::string_view text, const std::vector<AddedToken>& extra_added) {
  FERRITE_ASSIGN_OR_RETURN(TokenizerJson doc, read_tokenizer_json(text));
  const Json& root = doc.root;
  if (!root.is_object()) return data_loss("tokenizer.json: expected a JSON object at the top level");
  std::unique_ptr<HfPipeline> p(new HfPipeline());

  FERRITE_ASSIGN_OR_RETURN(const Json* model, json_util::required(root, "model", ""));
  if (!model->is_object()) return json_util::error_at("model", "expected an object");
  std::string model_type;
  if (auto it = model->find("type"); it != model->end() && it->is_string()) {
    model_type = it->get<std::string>();
  } else {
    // Untagged files: tokenizers tells the models apart by their fields.
    model_type = model->contains("merges")                                    ? "BPE"
                 : model->contains("max_input_chars_per_word")                ? "WordPiece"
                 : (model->contains("vocab") && (*model)["vocab"].is_array()) ? "Unigram"
                                                                              : "WordLevel";
  }
  if (model_type != "BPE")
    return unimplemented("model.type: unsupported tokenizer model type '" + model_type + "' (supported: BPE)");
  FERRITE_ASSIGN_OR_RETURN(p->model_, BpeModel::from_json(*model, doc, "model"));

  const auto component = [&](const char* key) -> const Json& {
    static const Json kNull;
    auto it = root.find(key);
    return it == root.end() ? kNull : *it;
  };
  FERRITE_ASSIGN_OR_RETURN(p->normalizer_, parse_normalizer(component("normalizer"), "normalizer"));
  FERRITE_ASSIGN_OR_RETURN(p->pre_tokenizer_, parse_pre_tokenizer(component("pre_tokenizer"), "pre_tokenizer"));
  FERRITE_ASSIGN_OR_RETURN(p->post_processor_, parse_post_processor(component("post_processor"), "post_processor"));
  FERRITE_ASSIGN_OR_RETURN(p->decoder_, parse_decoder(component("decoder"), "decoder"));
  p->decoder_fuses_bytes_ = mentions_type(component("decoder"), "ByteFallback");

  // Ids as tokenizers assigns them: the model's id for a string in its vocabulary, else the next
  // free id after the vocabulary, in file order. The "id" written in the file is only a hint.
  std::vector<AddedToken> added;
  std::unordered_map<std::string, std::size_t> index_of;
  std::int32_t next_id = static_cast<std::int32_t>(p->model_->vocab_size());
  const auto add = [&](AddedToken t) {
    if (t.content.empty()) return;
    if (auto it = index_of.find(t.content); it != index_of.end()) {
      t.id = added[it->second].id;
      added[it->second] = std::move(t);
      return;
    }
    if (auto id = p->model_->token_to_id(t.content))
      t.id = *id;
    else
      t.id = next_id++;
    index_of.emplace(t.content, added.size());
    added.push_back(std::move(t));
  };
  const Json& added_json = component("added_tokens");
  if (!added_json.is_null()) {
    if (!added_json.is_array()) return json_util::error_at("added_tokens", "expected an array");
    for (std::size_t i = 0; i < added_json.size(); ++i) {
      FERRITE_ASSIGN_OR_RETURN(AddedToken t,
                               parse_added_token(added_json[i], json_util::index_path("added_tokens", i)));
      add(std::move(t));
    }
  }
  // transformers adds the tokens of added_tokens_decoder that tokenizer.json lacks, in id order,
  // after the largest added id.
  for (const AddedToken& t : added) next_id = std::max(next_id, t.id + 1);
  for (const AddedToken& t : extra_added)
    if (!index_of.count(t.content)) add(t);
  std::stable_sort(added.begin(), added.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });

  p->vocab_size_ = p->model_->vocab_size();
  for (const AddedToken& t : added)
    if (!p->model_->token_to_id(t.content)) ++p->vocab_size_;
  p->added_.build(std::move(added), p->normalizer_.get());
  return std::unique_ptr<Backend>(std::move(p));
}

Result<std::vector<std::int32_t>> HfPipeline::encode(std::string_view text, bool add_special_tokens) const {
  // Scratch buffers kept per thread: encoding allocates nothing once they have grown.
  thread_local PieceList stage_a, stage_b;
  thread_local std::vector<AddedVocabulary::Segment> raw_segments, norm_segments;
  thread_local std::string normalized, scratch;

  stage_a.clear();
  raw_segments.clear();
  added_.split(text, /*normalized=*/false, raw_segments);
  for (const auto& seg : raw_segments) {
    if (seg.id >= 0) {
      stage_a.push_token(seg.id);
      continue;
    }
    normalized.assign(text.substr(seg.begin, seg.end - seg.begin));
    if (normalizer_) normalizer_->normalize(normalized, scratch);
    norm_segments.clear();
    added_.split(normalized, /*normalized=*/true, norm_segments);
    for (const auto& ns : norm_segments) {
      if (ns.id >= 0) {
        stage_a.push_token(ns.id);
      } else if (ns.end > ns.begin) {
        stage_a.push(std::string_view(normalized).substr(ns.begin, ns.end - ns.begin), seg.begin == 0 && ns.begin == 0);
      }
    }
  }
  const PieceList* words = &stage_a;
  if (pre_tokenizer_) {
    pre_tokenizer_->pre_tokenize(stage_a, stage_b);
    words = &stage_b;
  }

  std::vector<std::int32_t> ids;
  ids.reserve(text.size() / 3 + 4);
  {
    CacheLease lease(model_.get());
    for (const Piece& piece : words->pieces) {
      if (piece.token_id >= 0)
        ids.push_back(piece.token_id);
      else
        model_->tokenize(words->view(piece), ids, lease.cache);
    }
  }
  if (post_processor_) post_processor_->process(ids, add_special_tokens);
  // One huge input should not pin megabytes of scratch to this thread for good.
  constexpr std::size_t kKeepBytes = 4 << 20;
  if (stage_a.arena.capacity() > kKeepBytes || stage_b.arena.capacity() > kKeepBytes) {
    stage_a = PieceList();
    stage_b = PieceList();
    normalized = std::string();
  }
  return ids;
}

std::string HfPipeline::decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (const std::int32_t id : ids) {
    if (const AddedToken* t = added_.by_id(id)) {
      if (skip_special_tokens && t->special) continue;
      tokens.push_back(t->content);
    } else if (model_->has_id(id)) {
      tokens.emplace_back(model_->id_to_token(id));
    }
  }
  std::string out;
  if (decoder_) {
    decoder_->decode_chain(tokens);
    for (const std::string& t : tokens) out.append(t);
  } else {
    for (std::size_t i = 0; i < tokens.size(); ++i) {
      if (i > 0) out.push_back(' ');
      out.append(tokens[i]);
    }
  }
  return out;
}

}  // namespace

Result<std::unique_ptr<Backend>> load_hf_pipeline(std::string_view tokenizer_json,
                                                  const std::vector<AddedToken>& extra_added) {
  return HfPipeline::load(tokenizer_json, extra_added);
}

}  // namespace ferrite::tokenizer::detail
