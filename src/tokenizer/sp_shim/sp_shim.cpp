// ferrite_sp_shim: libsentencepiece behind the C interface of sp_shim.h. Built with hidden
// visibility, so the C functions below are all it exports.
#include "tokenizer/sp_shim/sp_shim.h"

#include <sentencepiece_processor.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>
#include <vector>

#define FERRITE_SP_EXPORT extern "C" __attribute__((visibility("default")))

struct ferrite_sp {
  sentencepiece::SentencePieceProcessor processor;
};

namespace {

thread_local std::string last_error;

int fail(std::string message) {
  last_error = std::move(message);
  return -1;
}

bool in_range(const ferrite_sp* sp, int32_t id) { return id >= 0 && id < sp->processor.GetPieceSize(); }

}  // namespace

FERRITE_SP_EXPORT ferrite_sp* ferrite_sp_load(const char* path, size_t path_len) {
  try {
    auto* sp = new ferrite_sp;
    const auto st = sp->processor.Load(std::string(path, path_len));
    if (st.ok()) return sp;
    delete sp;
    fail(st.ToString());
  } catch (const std::exception& e) {
    fail(e.what());
  }
  return nullptr;
}

FERRITE_SP_EXPORT void ferrite_sp_free(ferrite_sp* sp) { delete sp; }

FERRITE_SP_EXPORT const char* ferrite_sp_last_error(void) { return last_error.c_str(); }

FERRITE_SP_EXPORT int32_t ferrite_sp_piece_size(const ferrite_sp* sp) { return sp->processor.GetPieceSize(); }

FERRITE_SP_EXPORT void ferrite_sp_id_to_piece(const ferrite_sp* sp, int32_t id, const char** piece, size_t* piece_len) {
  if (!in_range(sp, id)) {
    *piece = "";
    *piece_len = 0;
    return;
  }
  // A reference into the model: valid as long as the processor.
  const std::string& p = sp->processor.IdToPiece(id);
  *piece = p.data();
  *piece_len = p.size();
}

FERRITE_SP_EXPORT int32_t ferrite_sp_piece_to_id(const ferrite_sp* sp, const char* piece, size_t piece_len) {
  return sp->processor.PieceToId(std::string_view(piece, piece_len));
}

FERRITE_SP_EXPORT int32_t ferrite_sp_bos_id(const ferrite_sp* sp) { return sp->processor.bos_id(); }
FERRITE_SP_EXPORT int32_t ferrite_sp_eos_id(const ferrite_sp* sp) { return sp->processor.eos_id(); }
FERRITE_SP_EXPORT int32_t ferrite_sp_unk_id(const ferrite_sp* sp) { return sp->processor.unk_id(); }
FERRITE_SP_EXPORT int32_t ferrite_sp_pad_id(const ferrite_sp* sp) { return sp->processor.pad_id(); }

FERRITE_SP_EXPORT int ferrite_sp_is_control(const ferrite_sp* sp, int32_t id) {
  return in_range(sp, id) && sp->processor.IsControl(id);
}
FERRITE_SP_EXPORT int ferrite_sp_is_unknown(const ferrite_sp* sp, int32_t id) {
  return in_range(sp, id) && sp->processor.IsUnknown(id);
}
FERRITE_SP_EXPORT int ferrite_sp_is_byte(const ferrite_sp* sp, int32_t id) {
  return in_range(sp, id) && sp->processor.IsByte(id);
}

FERRITE_SP_EXPORT int ferrite_sp_encode(const ferrite_sp* sp, const char* text, size_t text_len, int32_t** ids,
                                        size_t* num_ids) {
  *ids = nullptr;
  *num_ids = 0;
  try {
    std::vector<int> out;
    const auto st = sp->processor.Encode(std::string_view(text, text_len), &out);
    if (!st.ok()) return fail(st.ToString());
    if (out.empty()) return 0;
    auto* buf = static_cast<int32_t*>(std::malloc(out.size() * sizeof(int32_t)));
    if (!buf) return fail("out of memory");
    for (std::size_t i = 0; i < out.size(); ++i) buf[i] = out[i];
    *ids = buf;
    *num_ids = out.size();
    return 0;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

FERRITE_SP_EXPORT int ferrite_sp_decode_ids(const ferrite_sp* sp, const int32_t* ids, size_t num_ids, char** text,
                                            size_t* text_len) {
  *text = nullptr;
  *text_len = 0;
  try {
    const std::string out = sp->processor.DecodeIds(std::vector<int>(ids, ids + num_ids));
    auto* buf = static_cast<char*>(std::malloc(out.size() + 1));
    if (!buf) return fail("out of memory");
    std::memcpy(buf, out.data(), out.size());
    buf[out.size()] = '\0';
    *text = buf;
    *text_len = out.size();
    return 0;
  } catch (const std::exception& e) {
    return fail(e.what());
  }
}

FERRITE_SP_EXPORT void ferrite_sp_free_buffer(void* buffer) { std::free(buffer); }
