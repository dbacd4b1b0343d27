#include "model/safetensors.h"

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>

namespace ferrite::model {

namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

// Names come from the file; a corrupt one can be megabytes long, so messages quote a prefix.
std::string quote(const std::string& s) {
  constexpr std::size_t kMax = 200;
  if (s.size() <= kMax) return "'" + s + "'";
  return "'" + s.substr(0, kMax) + "...' (" + std::to_string(s.size()) + " bytes)";
}

std::string describe(const json& v) {
  if (v.is_structured()) return v.type_name();
  std::string text = v.dump(-1, ' ', false, json::error_handler_t::replace);
  if (text.size() > 60) text = text.substr(0, 57) + "...";
  return std::string(v.type_name()) + " " + text;
}

std::string strip_nlohmann_tag(std::string what) {
  if (auto pos = what.find("] "); what.rfind("[json.exception", 0) == 0 && pos != std::string::npos)
    what = what.substr(pos + 2);
  return what;
}

std::optional<backend::DType> safetensors_dtype(const std::string& s) {
  if (s == "F32") return backend::DType::kF32;
  if (s == "F16") return backend::DType::kF16;
  if (s == "BF16") return backend::DType::kBF16;
  if (s == "I32") return backend::DType::kI32;
  if (s == "I64") return backend::DType::kI64;
  return std::nullopt;
}

// A JSON integer as a non-negative uint64; nullopt for anything else (floats, negatives, strings).
std::optional<std::uint64_t> non_negative_integer(const json& v) {
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (v.is_number_integer()) {
    const auto i = v.get<std::int64_t>();
    if (i >= 0) return static_cast<std::uint64_t>(i);
  }
  return std::nullopt;
}

// Validates one header entry. `data_size` is the size of the data section.
Result<TensorInfo> parse_entry(const std::string& name, const json& e, std::size_t data_size, const std::string& path) {
  const std::string where = "tensor " + quote(name) + " of file " + path + ": ";
  auto bad = [&](const std::string& msg) { return data_loss(where + msg); };
  if (!e.is_object()) return bad("header entry must be an object, got " + describe(e));
  for (const char* key : {"dtype", "shape", "data_offsets"})
    if (!e.contains(key)) return bad("header entry has no '" + std::string(key) + "'");

  TensorInfo info;
  info.name = name;
  const json& dt = e["dtype"];
  if (!dt.is_string()) return bad("'dtype' must be a string, got " + describe(dt));
  const auto dtype = safetensors_dtype(dt.get<std::string>());
  if (!dtype) {
    return unimplemented("unsupported dtype " + quote(dt.get<std::string>()) + " in tensor " + quote(name) +
                         " of file " + path + " (supported: F32, F16, BF16, I32, I64)");
  }
  info.dtype = *dtype;

  const json& shape = e["shape"];
  if (!shape.is_array()) return bad("'shape' must be a list of non-negative integers, got " + describe(shape));
  if (shape.size() > static_cast<std::size_t>(backend::kMaxDims))
    return unimplemented(where + "has " + std::to_string(shape.size()) + " dimensions; at most " +
                         std::to_string(backend::kMaxDims) + " are supported");
  std::vector<std::int64_t> dims;
  std::uint64_t numel = 1;
  bool overflow = false;
  for (const auto& d : shape) {
    const auto v = non_negative_integer(d);
    if (!v) return bad("'shape' entries must be non-negative integers, got " + describe(d));
    if (*v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) overflow = true;
    overflow = overflow || __builtin_mul_overflow(numel, *v, &numel);
    dims.push_back(static_cast<std::int64_t>(*v));
  }
  std::uint64_t nbytes = 0;
  overflow = overflow || numel > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
             __builtin_mul_overflow(numel, static_cast<std::uint64_t>(backend::dtype_size(info.dtype)), &nbytes);
  if (overflow) return bad("the element count of shape " + shape.dump() + " overflows");
  info.shape = backend::Shape(dims);

  const json& off = e["data_offsets"];
  std::optional<std::uint64_t> begin, end;
  if (off.is_array() && off.size() == 2) {
    begin = non_negative_integer(off[0]);
    end = non_negative_integer(off[1]);
  }
  if (!begin || !end) {
    // Element by element: dumping a nested array would recurse as deep as the file likes.
    std::string got = describe(off);
    if (off.is_array() && off.size() <= 4) {
      got = "[";
      for (std::size_t i = 0; i < off.size(); ++i) got += (i ? std::string(", ") : std::string()) + describe(off[i]);
      got += "]";
    }
    return bad("'data_offsets' must be [begin, end] with non-negative integers, got " + got);
  }
  if (*begin > *end)
    return bad("data_offsets [" + std::to_string(*begin) + ", " + std::to_string(*end) + "] have begin > end");
  if (*end - *begin != nbytes)
    return bad("data_offsets [" + std::to_string(*begin) + ", " + std::to_string(*end) + "] span " +
               std::to_string(*end - *begin) + " bytes but shape " + info.shape.to_string() + " of " +
               dt.get<std::string>() + " needs " + std::to_string(nbytes));
  if (*end > data_size)
    return bad("data_offsets [" + std::to_string(*begin) + ", " + std::to_string(*end) +
               "] lie beyond the end of the data section (" + std::to_string(data_size) +
               " bytes): the file is truncated or corrupt");
  info.begin = static_cast<std::size_t>(*begin);
  info.end = static_cast<std::size_t>(*end);
  return info;
}

}  // namespace

Result<std::vector<TensorInfo>> parse_safetensors_header(const std::uint8_t* data, std::size_t file_size,
                                                         const std::string& path) {
  if (file_size < 8)
    return data_loss(path + ": file is " + std::to_string(file_size) +
                     " bytes, too short for the 8-byte safetensors header length (truncated file?)");
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | data[i];  // little-endian whatever the host
  if (n > kMaxSafetensorsHeaderBytes)
    return data_loss(path + ": safetensors header length " + std::to_string(n) + " exceeds the limit of " +
                     std::to_string(kMaxSafetensorsHeaderBytes) + " bytes (corrupt file?)");
  if (n > file_size - 8)
    return data_loss(path + ": safetensors header length " + std::to_string(n) + " exceeds the file size " +
                     std::to_string(file_size) + " (truncated file?)");
  const std::size_t data_size = file_size - 8 - static_cast<std::size_t>(n);

  json header;
  try {
    const char* text = reinterpret_cast<const char*>(data + 8);
    header = json::parse(text, text + n);
  } catch (const json::exception& e) {
    return data_loss(path + ": safetensors header is not valid JSON: " + strip_nlohmann_tag(e.what()));
  }
  if (!header.is_object())
    return data_loss(path + ": safetensors header must be a JSON object, got " + describe(header));

  std::vector<TensorInfo> infos;
  infos.reserve(header.size());
  try {
    for (auto it = header.begin(); it != header.end(); ++it) {
      if (it.key() == "__metadata__") continue;
      FERRITE_ASSIGN_OR_RETURN(TensorInfo info, parse_entry(it.key(), it.value(), data_size, path));
      infos.push_back(std::move(info));
    }
  } catch (const json::exception& e) {  // every access is type-checked first; a last guard
    return data_loss(path + ": bad safetensors header: " + strip_nlohmann_tag(e.what()));
  }

  // Overlap: sorted by begin, a range overlaps an earlier one iff it starts before the furthest
  // end seen so far. Empty tensors occupy nothing.
  std::vector<const TensorInfo*> order;
  for (const auto& t : infos)
    if (t.end > t.begin) order.push_back(&t);
  std::sort(order.begin(), order.end(), [](const TensorInfo* a, const TensorInfo* b) {
    return a->begin != b->begin ? a->begin < b->begin : a->end < b->end;
  });
  const TensorInfo* furthest = nullptr;
  for (const TensorInfo* t : order) {
    if (furthest != nullptr && t->begin < furthest->end) {
      return data_loss(path + ": tensors " + quote(furthest->name) + " [" + std::to_string(furthest->begin) + ", " +
                       std::to_string(furthest->end) + ") and " + quote(t->name) + " [" + std::to_string(t->begin) +
                       ", " + std::to_string(t->end) + ") overlap in the data section");
    }
    if (furthest == nullptr || t->end > furthest->end) furthest = t;
  }
  return infos;
}

Result<std::shared_ptr<SafetensorsFile>> SafetensorsFile::open(const std::string& path) {
  FERRITE_ASSIGN_OR_RETURN(auto mapped, base::MappedFile::open(path));
  FERRITE_ASSIGN_OR_RETURN(auto infos, parse_safetensors_header(mapped->data(), mapped->size(), path));
  std::shared_ptr<SafetensorsFile> f(new SafetensorsFile());
  std::uint64_t n = 0;
  for (int i = 7; i >= 0; --i) n = (n << 8) | mapped->data()[i];
  f->data_start_ = 8 + static_cast<std::size_t>(n);
  f->file_ = std::move(mapped);
  f->tensors_ = std::move(infos);
  for (std::size_t i = 0; i < f->tensors_.size(); ++i) f->index_[f->tensors_[i].name] = i;
  return f;
}

const TensorInfo* SafetensorsFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

backend::Tensor SafetensorsFile::tensor(const TensorInfo& info) const {
  FERRITE_CHECK(data_start_ + info.end <= file_->size() && info.begin <= info.end);
  const std::uint8_t* p = file_->data() + data_start_ + info.begin;
  const std::size_t bytes = info.end - info.begin;
  const std::size_t align = backend::dtype_size(info.dtype);
  if (reinterpret_cast<std::uintptr_t>(p) % align != 0) {
    backend::Tensor copy = backend::Tensor::empty(info.shape, info.dtype);
    if (bytes) std::memcpy(copy.raw_data(), p, bytes);
    return copy;
  }
  // The mapping is read-only (PROT_READ); Storage hands out void*, and writing through it would
  // fault, which is the right outcome for a weight.
  auto storage = backend::make_borrowed_storage(const_cast<std::uint8_t*>(p), bytes, backend::Device::kCpu,
                                                std::shared_ptr<const void>(file_));
  return backend::Tensor(std::move(storage), 0, info.shape, info.dtype);
}

namespace {

Result<json> read_index(const std::string& index_path) {
  FERRITE_ASSIGN_OR_RETURN(std::string text, base::read_file(index_path));
  json j;
  try {
    j = json::parse(text);
  } catch (const json::exception& e) {
    return data_loss(index_path + ": malformed JSON: " + strip_nlohmann_tag(e.what()));
  }
  if (!j.is_object()) return data_loss(index_path + ": expected a JSON object, got " + describe(j));
  auto it = j.find("weight_map");
  if (it == j.end()) return data_loss(index_path + ": missing 'weight_map'");
  if (!it->is_object()) return data_loss(index_path + ": 'weight_map' must be an object, got " + describe(*it));
  if (it->empty()) return data_loss(index_path + ": 'weight_map' is empty");
  return std::move(*it);
}

bool plain_file_name(const std::string& s) {
  return !s.empty() && s != "." && s != ".." && s.find('/') == std::string::npos && s.find('\0') == std::string::npos;
}

}  // namespace

Result<WeightStore> WeightStore::open(const std::string& model_dir) {
  const fs::path dir(model_dir);
  std::error_code ec;
  if (!fs::is_directory(dir, ec))
    return not_found("model directory " + model_dir + " does not exist or is not a directory");

  WeightStore store;
  store.model_dir_ = model_dir;
  const fs::path index_path = dir / "model.safetensors.index.json";
  const fs::path single_path = dir / "model.safetensors";
  if (fs::exists(index_path, ec)) {
    const std::string ip = index_path.string();
    FERRITE_ASSIGN_OR_RETURN(json weight_map, read_index(ip));
    // shard -> tensors the index puts there, in a fixed order so errors are reproducible.
    std::map<std::string, std::vector<std::string>> shards;
    for (auto it = weight_map.begin(); it != weight_map.end(); ++it) {
      if (!it.value().is_string())
        return data_loss(ip + ": weight_map entry for tensor " + quote(it.key()) + " must be a file name, got " +
                         describe(it.value()));
      const std::string shard = it.value().get<std::string>();
      if (!plain_file_name(shard))
        return data_loss(ip + ": weight_map entry for tensor " + quote(it.key()) + " names " + quote(shard) +
                         ", which is not a file name in the model directory");
      shards[shard].push_back(it.key());
    }
    for (const auto& [shard, tensors] : shards) {
      const std::string sp = (dir / shard).string();
      if (!fs::exists(dir / shard, ec))
        return not_found(ip + ": shard " + quote(shard) + " (listed for tensor " + quote(tensors.front()) +
                         ") does not exist: " + sp);
      FERRITE_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(sp));
      for (const auto& t : tensors)
        if (file->find(t) == nullptr)
          return data_loss(ip + ": tensor " + quote(t) + " is listed in shard " + quote(shard) + " but file " + sp +
                           " does not contain it");
      store.files_.push_back(std::move(file));
    }
  } else if (fs::exists(single_path, ec)) {
    FERRITE_ASSIGN_OR_RETURN(auto file, SafetensorsFile::open(single_path.string()));
    store.files_.push_back(std::move(file));
  } else {
    std::string hint;
    if (fs::exists(dir / "pytorch_model.bin", ec) || fs::exists(dir / "pytorch_model.bin.index.json", ec))
      hint = " (pytorch_model.bin is not supported; convert the weights to safetensors)";
    return not_found("no model.safetensors or model.safetensors.index.json in model directory " + model_dir + hint);
  }

  for (std::size_t f = 0; f < store.files_.size(); ++f) {
    for (const TensorInfo& t : store.files_[f]->tensors()) {
      auto [it, inserted] = store.by_name_.emplace(t.name, std::make_pair(f, &t));
      if (!inserted)
        return data_loss("tensor " + quote(t.name) + " is stored in both " + store.files_[it->second.first]->path() +
                         " and " + store.files_[f]->path());
    }
  }
  return store;
}

bool WeightStore::contains(const std::string& name) const { return by_name_.count(name) != 0; }

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  out.reserve(by_name_.size());
  for (const auto& [name, _] : by_name_) out.push_back(name);
  return out;
}

std::string WeightStore::file_of(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? std::string() : files_[it->second.first]->path();
}

const TensorInfo* WeightStore::info(const std::string& name) const {
  auto it = by_name_.find(name);
  return it == by_name_.end() ? nullptr : it->second.second;
}

Status WeightStore::not_found_error(const std::string& name) const {
  return not_found("tensor " + quote(name) + " not found in the weights of model directory " + model_dir_);
}

Result<backend::Tensor> WeightStore::get_raw(const std::string& name) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return not_found_error(name);
  return files_[it->second.first]->tensor(*it->second.second);
}

Result<backend::Tensor> WeightStore::get(const std::string& name, const backend::Shape& shape,
                                         backend::DType dtype) const {
  auto it = by_name_.find(name);
  if (it == by_name_.end()) return not_found_error(name);
  const SafetensorsFile& file = *files_[it->second.first];
  const TensorInfo& info = *it->second.second;
  if (info.shape != shape)
    return invalid_argument("tensor " + quote(name) + " in file " + file.path() + " has shape " +
                            info.shape.to_string() + ", expected " + shape.to_string());
  backend::Tensor t = file.tensor(info);
  if (info.dtype == dtype) return t;
  if (!backend::is_float(info.dtype) || !backend::is_float(dtype))
    return invalid_argument("tensor " + quote(name) + " in file " + file.path() + " has dtype " +
                            backend::dtype_name(info.dtype) + ", which cannot be converted to " +
                            backend::dtype_name(dtype));
  return t.to_dtype(dtype);
}

}  // namespace ferrite::model
