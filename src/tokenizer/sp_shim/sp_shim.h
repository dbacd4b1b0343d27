// The C interface of ferrite_sp_shim, the one library that links libsentencepiece. Debian 12's
// libsentencepiece.so bundles and exports its own protobuf-lite (3.14), which clashes with
// libprotobuf (3.21, gRPC) in one process; ferrite therefore never links it, but dlopens this shim
// with RTLD_LOCAL | RTLD_DEEPBIND (sentencepiece_backend.cpp), so libsentencepiece binds to its
// own protobuf and nothing of it becomes visible to the rest of the process.
//
// Contract: no C++ type crosses this boundary and no exception escapes it. Strings go in as
// (pointer, length). Piece strings come back as (pointer, length) into the model, valid while the
// handle lives; encode/decode results are buffers the shim allocates, released with
// ferrite_sp_free_buffer. A function that can fail returns 0 on success and -1 on failure, the
// reason then readable from ferrite_sp_last_error() (per thread, until the next failing call).
// The handle's const functions may be called from many threads at once.
#pragma once

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ferrite_sp ferrite_sp;

// Loads a tokenizer.model; NULL on failure.
ferrite_sp* ferrite_sp_load(const char* path, size_t path_len);
void ferrite_sp_free(ferrite_sp* sp);
const char* ferrite_sp_last_error(void);

int32_t ferrite_sp_piece_size(const ferrite_sp* sp);
// Out-of-range ids give the empty string.
void ferrite_sp_id_to_piece(const ferrite_sp* sp, int32_t id, const char** piece, size_t* piece_len);
// Unknown pieces give the unknown id, as SentencePieceProcessor::PieceToId does.
int32_t ferrite_sp_piece_to_id(const ferrite_sp* sp, const char* piece, size_t piece_len);
int32_t ferrite_sp_bos_id(const ferrite_sp* sp);
int32_t ferrite_sp_eos_id(const ferrite_sp* sp);
int32_t ferrite_sp_unk_id(const ferrite_sp* sp);
int32_t ferrite_sp_pad_id(const ferrite_sp* sp);
// Out-of-range ids answer 0.
int ferrite_sp_is_control(const ferrite_sp* sp, int32_t id);
int ferrite_sp_is_unknown(const ferrite_sp* sp, int32_t id);
int ferrite_sp_is_byte(const ferrite_sp* sp, int32_t id);

// Encodes text to ids: *ids (freed with ferrite_sp_free_buffer) holds *num_ids of them.
int ferrite_sp_encode(const ferrite_sp* sp, const char* text, size_t text_len, int32_t** ids, size_t* num_ids);
// Decodes ids as SentencePieceProcessor::DecodeIds does (the empty string where it fails):
// *text (freed with ferrite_sp_free_buffer) holds *text_len bytes, NUL-terminated.
int ferrite_sp_decode_ids(const ferrite_sp* sp, const int32_t* ids, size_t num_ids, char** text, size_t* text_len);
void ferrite_sp_free_buffer(void* buffer);

#ifdef __cplusplus
}  // extern "C"
#endif
