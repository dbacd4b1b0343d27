// safetensors reading: a single model.safetensors or shards listed in
// model.safetensors.index.json. Files are memory-mapped and tensors borrow the mapping.
//
// Format: 8-byte little-endian header length N, N bytes of JSON
// {"name": {"dtype": "BF16", "shape": [..], "data_offsets": [begin, end]}, "__metadata__": {..}},
// then the data section; offsets are relative to the start of the data section.
// Validation (each failure names the file and the tensor): N fits the file, the JSON parses, every
// dtype is known, end - begin == numel * dtype size, offsets lie inside the data section, and no
// two tensors overlap. Gaps between tensors are allowed; "__metadata__" is ignored. A header that
// passes makes every later access inside the mapping safe.
//
// Tensors are zero-copy when their data is aligned to the dtype size (the safetensors library
// writes aligned files); a misaligned one is copied so that typed loads stay defined.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "backend/tensor.h"
#include "base/mmap_file.h"
#include "ferrite/status.h"

namespace ferrite::model {

// Headers larger than this are treated as corrupt (the safetensors library uses the same bound).
constexpr std::size_t kMaxSafetensorsHeaderBytes = 100'000'000;

struct TensorInfo {
  std::string name;
  backend::DType dtype;
  backend::Shape shape;
  std::size_t begin = 0;  // byte offsets in the data section
  std::size_t end = 0;
};

// Parses a safetensors header from raw bytes (the whole file, or at least its header).
// `file_size` is the size of the whole file. Exposed for the mutation test.
Result<std::vector<TensorInfo>> parse_safetensors_header(const std::uint8_t* data, std::size_t file_size,
                                                         const std::string& path);

class SafetensorsFile {
 public:
  static Result<std::shared_ptr<SafetensorsFile>> open(const std::string& path);
  const std::string& path() const { return file_->path(); }
  const std::vector<TensorInfo>& tensors() const { return tensors_; }
  const TensorInfo* find(const std::string& name) const;
  // A tensor borrowing the mapping (zero-copy), or a copy when the data is misaligned.
  backend::Tensor tensor(const TensorInfo& info) const;
  // The whole mapping, and where the data section starts in it.
  const std::uint8_t* mapped_data() const { return file_->data(); }
  std::size_t mapped_size() const { return file_->size(); }
  std::size_t data_start() const { return data_start_; }

 private:
  std::shared_ptr<base::MappedFile> file_;
  std::size_t data_start_ = 0;
  std::vector<TensorInfo> tensors_;
  std::map<std::string, std::size_t> index_;
};

// All weights of a model directory, by tensor name.
class WeightStore {
 public:
  // Opens <dir>/model.safetensors, or the shards of <dir>/model.safetensors.index.json.
  static Result<WeightStore> open(const std::string& model_dir);
  bool contains(const std::string& name) const;
  std::vector<std::string> names() const;
  // The tensor `name` with exactly `shape`; converted to `dtype` when it differs (a copy),
  // else zero-copy. Errors name the tensor and its file.
  Result<backend::Tensor> get(const std::string& name, const backend::Shape& shape, backend::DType dtype) const;
  // The file a tensor lives in ("" if none).
  std::string file_of(const std::string& name) const;
  // The header entry of a tensor (nullptr if none): dtype and shape without touching the data.
  const TensorInfo* info(const std::string& name) const;
  // The tensor as stored (zero-copy); NOT_FOUND naming the tensor and the directory.
  Result<backend::Tensor> get_raw(const std::string& name) const;
  const std::string& model_dir() const { return model_dir_; }
  const std::vector<std::shared_ptr<SafetensorsFile>>& files() const { return files_; }

 private:
  Status not_found_error(const std::string& name) const;

  std::string model_dir_;
  std::vector<std::shared_ptr<SafetensorsFile>> files_;
  std::map<std::string, std::pair<std::size_t, const TensorInfo*>> by_name_;
};

}  // namespace ferrite::model
