// Models that ship only tokenizer.model: encoding and decoding through libsentencepiece, with
// the special tokens of tokenizer_config.json (and the model's control pieces) split out of the
// text first, as transformers' slow tokenizers do.
//
// libsentencepiece is never linked into ferrite: Debian's exports a protobuf of its own that
// clashes with gRPC's libprotobuf. It sits behind ferrite_sp_shim (sp_shim/sp_shim.h), which is
// dlopened on the first tokenizer.model with RTLD_LOCAL | RTLD_DEEPBIND, so its protobuf and ours
// never see each other.
#include "tokenizer/backend.h"

#ifdef FERRITE_HAVE_SENTENCEPIECE

#include <dlfcn.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <unordered_set>

#include "tokenizer/added_tokens.h"
#include "tokenizer/sp_shim/sp_shim.h"

// RTLD_DEEPBIND breaks AddressSanitizer's interposition of malloc and friends in the loaded
// library (ASan reports it and aborts), so sanitized builds load the shim without it.
#if defined(__SANITIZE_ADDRESS__)
#define FERRITE_SP_DEEPBIND 0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FERRITE_SP_DEEPBIND 0
#endif
#endif
#ifndef FERRITE_SP_DEEPBIND
#define FERRITE_SP_DEEPBIND RTLD_DEEPBIND
#endif

namespace ferrite::tokenizer::detail {
namespace {

// The shim's functions, resolved once per process.
struct ShimApi {
  decltype(&ferrite_sp_load) load;
  decltype(&ferrite_sp_free) free;
  decltype(&ferrite_sp_last_error) last_error;
  decltype(&ferrite_sp_piece_size) piece_size;
  decltype(&ferrite_sp_id_to_piece) id_to_piece;
  decltype(&ferrite_sp_piece_to_id) piece_to_id;
  decltype(&ferrite_sp_bos_id) bos_id;
  decltype(&ferrite_sp_eos_id) eos_id;
  decltype(&ferrite_sp_unk_id) unk_id;
  decltype(&ferrite_sp_pad_id) pad_id;
  decltype(&ferrite_sp_is_control) is_control;
  decltype(&ferrite_sp_is_unknown) is_unknown;
  decltype(&ferrite_sp_is_byte) is_byte;
  decltype(&ferrite_sp_encode) encode;
  decltype(&ferrite_sp_decode_ids) decode_ids;
  decltype(&ferrite_sp_free_buffer) free_buffer;
};

constexpr const char* kShimFile = "libferrite_sp_shim.so";

// Where the shim may be: $FERRITE_SP_SHIM alone when set; else next to the executable, next to
// the object that holds this code, the build tree, the install prefix.
std::vector<std::string> shim_candidates() {
  if (const char* env = std::getenv("FERRITE_SP_SHIM"); env && *env) return {env};
  namespace fs = std::filesystem;
  std::vector<std::string> out;
  const auto add = [&](const std::string& path) {
    if (!path.empty() && std::find(out.begin(), out.end(), path) == out.end()) out.push_back(path);
  };
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec) add((exe.parent_path() / kShimFile).string());
  Dl_info info{};
  if (dladdr(reinterpret_cast<void*>(&shim_candidates), &info) != 0 && info.dli_fname && *info.dli_fname) {
    const fs::path self = fs::absolute(info.dli_fname, ec);
    if (!ec) add((self.parent_path() / kShimFile).string());
  }
#ifdef FERRITE_SP_SHIM_BUILD_PATH
  add(FERRITE_SP_SHIM_BUILD_PATH);
#endif
#ifdef FERRITE_SP_SHIM_INSTALL_PATH
  add(FERRITE_SP_SHIM_INSTALL_PATH);
#endif
  return out;
}

template <typename F>
bool resolve(void* handle, const char* name, F& fn) {
  fn = reinterpret_cast<F>(dlsym(handle, name));
  return fn != nullptr;
}

struct Shim {
  ShimApi api{};
  std::string error;  // why it could not be loaded; empty when api is usable
};

Shim open_shim() {
  Shim shim;
  if (FERRITE_SP_DEEPBIND == 0 && dlsym(RTLD_DEFAULT, "_ZN6google8protobuf8internal13VerifyVersionEiiPKc")) {
    // Without RTLD_DEEPBIND libsentencepiece's protobuf would bind to the libprotobuf already in
    // the process and abort on its version check: refuse instead.
    shim.error =
        "this model ships only tokenizer.model (SentencePiece), which an AddressSanitizer build cannot "
        "load in a process that has libprotobuf (gRPC): RTLD_DEEPBIND, which keeps libsentencepiece's "
        "own protobuf apart, is incompatible with ASan";
    return shim;
  }
  std::string tried;
  for (const std::string& path : shim_candidates()) {
    // A file that is absent says so briefly; one that is there but fails says what dlerror says.
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) {
      tried += (tried.empty() ? "" : "; ") + path + " (absent)";
      continue;
    }
    void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | FERRITE_SP_DEEPBIND);
    if (!handle) {
      const char* err = dlerror();
      tried += (tried.empty() ? "" : "; ") + path + " (" + (err ? err : "dlopen failed") + ")";
      continue;
    }
    ShimApi& a = shim.api;
    std::string missing;
    const auto need = [&](const char* name, auto& fn) {
      if (!resolve(handle, name, fn) && missing.empty()) {
        const char* err = dlerror();
        missing = err ? err : name;
      }
    };
    need("ferrite_sp_load", a.load);
    need("ferrite_sp_free", a.free);
    need("ferrite_sp_last_error", a.last_error);
    need("ferrite_sp_piece_size", a.piece_size);
    need("ferrite_sp_id_to_piece", a.id_to_piece);
    need("ferrite_sp_piece_to_id", a.piece_to_id);
    need("ferrite_sp_bos_id", a.bos_id);
    need("ferrite_sp_eos_id", a.eos_id);
    need("ferrite_sp_unk_id", a.unk_id);
    need("ferrite_sp_pad_id", a.pad_id);
    need("ferrite_sp_is_control", a.is_control);
    need("ferrite_sp_is_unknown", a.is_unknown);
    need("ferrite_sp_is_byte", a.is_byte);
    need("ferrite_sp_encode", a.encode);
    need("ferrite_sp_decode_ids", a.decode_ids);
    need("ferrite_sp_free_buffer", a.free_buffer);
    if (missing.empty()) return shim;  // the handle stays open for the life of the process
    tried += (tried.empty() ? "" : "; ") + path + " (" + missing + ")";
    dlclose(handle);
    shim.api = {};
  }
  const std::string where = tried.empty() ? std::string("nothing") : tried;
  shim.error = std::string("this model ships only tokenizer.model (SentencePiece) and ferrite cannot load ") +
               kShimFile + ", its SentencePiece shim: tried " + where +
               " (set FERRITE_SP_SHIM to its path, or rebuild with libsentencepiece-dev installed)";
  return shim;
}

const Shim& shim() {
  static const Shim s = open_shim();
  return s;
}

class SentencePieceBackend final : public Backend {
 public:
  explicit SentencePieceBackend(const ShimApi& api) : api_(api) {}
  ~SentencePieceBackend() override {
    if (sp_) api_.free(sp_);
  }
  SentencePieceBackend(const SentencePieceBackend&) = delete;
  SentencePieceBackend& operator=(const SentencePieceBackend&) = delete;

  Status init(const std::string& path, TokenizerConfig& config) {
    sp_ = api_.load(path.data(), path.size());
    if (!sp_) return data_loss("cannot load SentencePiece model: " + std::string(api_.last_error()));
    piece_size_ = api_.piece_size(sp_);
    const auto piece_or = [&](int id) -> std::optional<std::string> {
      if (id < 0 || id >= piece_size_) return std::nullopt;
      return std::string(piece(id));
    };
    if (!config.bos_token) config.bos_token = piece_or(api_.bos_id(sp_));
    if (!config.eos_token) config.eos_token = piece_or(api_.eos_id(sp_));
    if (!config.unk_token) config.unk_token = piece_or(api_.unk_id(sp_));
    if (!config.pad_token) config.pad_token = piece_or(api_.pad_id(sp_));

    std::vector<AddedToken> added = config.added_tokens_decoder;
    std::unordered_set<std::string> known;
    for (const AddedToken& t : added) known.insert(t.content);
    // Control pieces (<s>, </s>), the unknown piece and the config's special tokens are matched
    // in the text as special tokens, as transformers' slow tokenizers do.
    const auto add_special = [&](int id) {
      if (id < 0 || id >= piece_size_ || !known.insert(std::string(piece(id))).second) return;
      AddedToken t;
      t.id = id;
      t.content = std::string(piece(id));
      t.special = true;
      t.normalized = false;
      added.push_back(std::move(t));
    };
    for (int id = 0; id < piece_size_; ++id)
      if (api_.is_control(sp_, id) || api_.is_unknown(sp_, id)) add_special(id);
    for (const auto* token : {&config.bos_token, &config.eos_token, &config.unk_token, &config.pad_token})
      if (*token) {
        const int id = api_.piece_to_id(sp_, (*token)->data(), (*token)->size());
        if (piece(id) == **token) add_special(id);
      }
    for (AddedToken& t : added) t.normalized = false;  // matched on the raw text
    std::sort(added.begin(), added.end(), [](const AddedToken& a, const AddedToken& b) { return a.id < b.id; });
    vocab_size_ = static_cast<std::size_t>(piece_size_);
    for (const AddedToken& t : added)
      if (t.id >= piece_size_) ++vocab_size_;
    added_.build(std::move(added), nullptr);
    return ok_status();
  }

  Result<std::vector<std::int32_t>> encode(std::string_view text, bool) const override {
    std::vector<AddedVocabulary::Segment> segments;
    added_.split(text, false, segments);
    std::vector<std::int32_t> ids;
    for (const auto& seg : segments) {
      if (seg.id >= 0) {
        ids.push_back(seg.id);
        continue;
      }
      if (seg.end == seg.begin) continue;
      std::int32_t* piece_ids = nullptr;
      std::size_t n = 0;
      if (api_.encode(sp_, text.data() + seg.begin, seg.end - seg.begin, &piece_ids, &n) != 0)
        return internal_error("SentencePiece encode failed: " + std::string(api_.last_error()));
      ids.insert(ids.end(), piece_ids, piece_ids + n);
      api_.free_buffer(piece_ids);
    }
    return ids;
  }

  std::string decode(std::span<const std::int32_t> ids, bool skip_special_tokens) const override {
    std::string out;
    std::vector<std::int32_t> run;
    const auto flush = [&] {
      if (run.empty()) return;
      char* text = nullptr;
      std::size_t len = 0;
      // A failed decode adds nothing, as SentencePieceProcessor::DecodeIds answers "" then.
      if (api_.decode_ids(sp_, run.data(), run.size(), &text, &len) == 0) out.append(text, len);
      api_.free_buffer(text);
      run.clear();
    };
    for (const std::int32_t id : ids) {
      if (const AddedToken* t = added_.by_id(id)) {
        flush();
        if (!(skip_special_tokens && t->special)) out.append(t->content);
      } else if (id >= 0 && id < piece_size_) {
        run.push_back(id);
      }
    }
    flush();
    return out;
  }

  std::size_t vocab_size() const override { return vocab_size_; }
  std::optional<std::string> id_to_token(std::int32_t id) const override {
    if (const AddedToken* t = added_.by_id(id)) return t->content;
    if (id >= 0 && id < piece_size_) return std::string(piece(id));
    return std::nullopt;
  }
  std::optional<std::int32_t> token_to_id(std::string_view token) const override {
    if (auto id = added_.by_content(token)) return id;
    const int id = api_.piece_to_id(sp_, token.data(), token.size());
    // PieceToId answers unk_id for unknown pieces.
    if (id == api_.unk_id(sp_) && token != piece(id)) return std::nullopt;
    return id;
  }
  const std::vector<AddedToken>& added_tokens() const override { return added_.tokens(); }
  const AddedToken* added_token(std::int32_t id) const override { return added_.by_id(id); }
  bool is_byte_fallback_token(std::int32_t id) const override {
    return id >= 0 && id < piece_size_ && api_.is_byte(sp_, id) != 0;
  }
  bool is_sentencepiece() const override { return true; }

 private:
  // Valid while sp_ lives; the empty string for ids outside the model.
  std::string_view piece(std::int32_t id) const {
    const char* p = nullptr;
    std::size_t len = 0;
    api_.id_to_piece(sp_, id, &p, &len);
    return {p, len};
  }

  const ShimApi& api_;
  ferrite_sp* sp_ = nullptr;
  std::int32_t piece_size_ = 0;
  AddedVocabulary added_;
  std::size_t vocab_size_ = 0;
};

}  // namespace

Result<std::unique_ptr<Backend>> load_sentencepiece(const std::string& model_path, TokenizerConfig& config) {
  const Shim& s = shim();
  if (!s.error.empty()) return unimplemented(s.error);
  auto backend = std::make_unique<SentencePieceBackend>(s.api);
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
