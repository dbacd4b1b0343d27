// Post-processors of tokenizer.json for a single sequence: TemplateProcessing, ByteLevel
// (offsets only, so nothing to do on ids), RobertaProcessing, BertProcessing and Sequence.
#include <utility>

#include "tokenizer/components.h"

namespace ferrite::tokenizer {
namespace {

using json_util::Json;

class NoOpProcessor final : public PostProcessor {
 public:
  void process(std::vector<std::int32_t>&, bool) const override {}
};

// [prefix ids] $A [suffix ids], the shape of every single-sequence template.
class WrapProcessor final : public PostProcessor {
 public:
  WrapProcessor(std::vector<std::int32_t> prefix, std::vector<std::int32_t> suffix)
      : prefix_(std::move(prefix)), suffix_(std::move(suffix)) {}
  void process(std::vector<std::int32_t>& ids, bool add_special_tokens) const override {
    if (!add_special_tokens) return;
    ids.insert(ids.begin(), prefix_.begin(), prefix_.end());
    ids.insert(ids.end(), suffix_.begin(), suffix_.end());
  }

 private:
  std::vector<std::int32_t> prefix_, suffix_;
};

class SequenceProcessor final : public PostProcessor {
 public:
  explicit SequenceProcessor(std::vector<std::unique_ptr<PostProcessor>> parts) : parts_(std::move(parts)) {}
  void process(std::vector<std::int32_t>& ids, bool add_special_tokens) const override {
    for (const auto& p : parts_) p->process(ids, add_special_tokens);
  }

 private:
  std::vector<std::unique_ptr<PostProcessor>> parts_;
};

Result<std::unique_ptr<PostProcessor>> parse_template(const Json& j, const std::string& path) {
  FERRITE_ASSIGN_OR_RETURN(const Json* single, json_util::required(j, "single", path));
  const std::string single_path = json_util::child_path(path, "single");
  if (!single->is_array()) return json_util::error_at(single_path, "expected an array");
  const Json* specials = nullptr;
  if (auto it = j.find("special_tokens"); it != j.end() && !it->is_null()) {
    if (!it->is_object())
      return json_util::error_at(json_util::child_path(path, "special_tokens"), "expected an object");
    specials = &*it;
  }
  std::vector<std::int32_t> prefix, suffix;
  bool seen_sequence = false;
  for (std::size_t i = 0; i < single->size(); ++i) {
    const Json& item = (*single)[i];
    const std::string item_path = json_util::index_path(single_path, i);
    if (item.is_object() && item.contains("Sequence")) {
      if (seen_sequence) return json_util::error_at(item_path, "the single template holds $A twice");
      seen_sequence = true;
      continue;
    }
    if (!item.is_object() || !item.contains("SpecialToken"))
      return json_util::error_at(item_path, "expected {\"SpecialToken\": ...} or {\"Sequence\": ...}");
    FERRITE_ASSIGN_OR_RETURN(
        std::string name,
        json_util::required_string(item["SpecialToken"], "id", json_util::child_path(item_path, "SpecialToken")));
    if (specials == nullptr || !specials->contains(name))
      return json_util::error_at(item_path, "special token '" + name + "' is missing from special_tokens");
    const Json& entry = (*specials)[name];
    const std::string entry_path = json_util::child_path(json_util::child_path(path, "special_tokens"), name);
    FERRITE_ASSIGN_OR_RETURN(const Json* ids, json_util::required(entry, "ids", entry_path));
    if (!ids->is_array()) return json_util::error_at(json_util::child_path(entry_path, "ids"), "expected an array");
    for (const Json& id : *ids) {
      if (!id.is_number_integer())
        return json_util::error_at(json_util::child_path(entry_path, "ids"), "expected integers");
      (seen_sequence ? suffix : prefix).push_back(id.get<std::int32_t>());
    }
  }
  if (!seen_sequence) return json_util::error_at(single_path, "the single template has no $A");
  return std::unique_ptr<PostProcessor>(new WrapProcessor(std::move(prefix), std::move(suffix)));
}

// RobertaProcessing / BertProcessing: "cls": [token, id], "sep": [token, id].
Result<std::int32_t> pair_id(const Json& j, const char* key, const std::string& path) {
  FERRITE_ASSIGN_OR_RETURN(const Json* v, json_util::required(j, key, path));
  if (!v->is_array() || v->size() != 2 || !(*v)[1].is_number_integer())
    return json_util::error_at(json_util::child_path(path, key), "expected [token, id]");
  return (*v)[1].get<std::int32_t>();
}

}  // namespace

Result<std::unique_ptr<PostProcessor>> parse_post_processor(const Json& j, const std::string& path) {
  if (j.is_null()) return std::unique_ptr<PostProcessor>();
  FERRITE_ASSIGN_OR_RETURN(std::string type, json_util::type_tag(j, path));
  if (type == "TemplateProcessing") return parse_template(j, path);
  if (type == "ByteLevel") return std::unique_ptr<PostProcessor>(new NoOpProcessor());
  if (type == "RobertaProcessing" || type == "BertProcessing") {
    FERRITE_ASSIGN_OR_RETURN(std::int32_t cls, pair_id(j, "cls", path));
    FERRITE_ASSIGN_OR_RETURN(std::int32_t sep, pair_id(j, "sep", path));
    return std::unique_ptr<PostProcessor>(new WrapProcessor({cls}, {sep}));
  }
  if (type == "Sequence") {
    FERRITE_ASSIGN_OR_RETURN(const Json* list, json_util::required(j, "processors", path));
    const std::string list_path = json_util::child_path(path, "processors");
    if (!list->is_array()) return json_util::error_at(list_path, "expected an array");
    std::vector<std::unique_ptr<PostProcessor>> parts;
    for (std::size_t i = 0; i < list->size(); ++i) {
      FERRITE_ASSIGN_OR_RETURN(auto part, parse_post_processor((*list)[i], json_util::index_path(list_path, i)));
      if (part) parts.push_back(std::move(part));
    }
    return std::unique_ptr<PostProcessor>(new SequenceProcessor(std::move(parts)));
  }
  return unimplemented(json_util::child_path(path, "type") + ": unsupported post-processor type '" + type +
                       "' (supported: TemplateProcessing, ByteLevel, RobertaProcessing, BertProcessing, Sequence)");
}

}  // namespace ferrite::tokenizer
