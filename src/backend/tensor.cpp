#include "backend/tensor.h"

#include <cstdlib>
#include <cstring>
#include <sstream>

#include "base/half.h"

namespace ferrite::backend {

std::size_t dtype_size(DType dt) {
  switch (dt) {
    case DType::kF32: return 4;
    case DType::kF16: return 2;
    case DType::kBF16: return 2;
    case DType::kI32: return 4;
    case DType::kI64: return 8;
  }
  return 0;
}

const char* dtype_name(DType dt) {
  switch (dt) {
    case DType::kF32: return "float32";
    case DType::kF16: return "float16";
    case DType::kBF16: return "bfloat16";
    case DType::kI32: return "int32";
    case DType::kI64: return "int64";
  }
  return "unknown";
}

Result<DType> parse_dtype(std::string_view n) {
  if (n == "float32" || n == "float" || n == "f32" || n == "fp32" || n == "F32") return DType::kF32;
  if (n == "float16" || n == "half" || n == "f16" || n == "fp16" || n == "F16") return DType::kF16;
  if (n == "bfloat16" || n == "bf16" || n == "BF16") return DType::kBF16;
  if (n == "int32" || n == "I32") return DType::kI32;
  if (n == "int64" || n == "I64") return DType::kI64;
  return unimplemented("unsupported dtype '" + std::string(n) +
                       "' (supported: float32, float16, bfloat16, int32, int64)");
}

bool is_float(DType dt) { return dt == DType::kF32 || dt == DType::kF16 || dt == DType::kBF16; }

const char* device_name(Device d) { return d == Device::kCpu ? "cpu" : "cuda"; }

Shape::Shape(std::initializer_list<std::int64_t> dims) : Shape(std::vector<std::int64_t>(dims)) {}

Shape::Shape(const std::vector<std::int64_t>& dims) {
  FERRITE_CHECK(dims.size() <= static_cast<std::size_t>(kMaxDims));
  ndim_ = static_cast<int>(dims.size());
  for (std::size_t i = 0; i < dims.size(); ++i) dims_[i] = dims[i];
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < ndim_; ++i) n *= dims_[static_cast<std::size_t>(i)];
  return n;
}

std::vector<std::int64_t> Shape::to_vector() const {
  return {dims_.begin(), dims_.begin() + ndim_};
}

std::string Shape::to_string() const {
  std::ostringstream ss;
  ss << '[';
  for (int i = 0; i < ndim_; ++i) ss << (i ? ", " : "") << dims_[static_cast<std::size_t>(i)];
  ss << ']';
  return ss.str();
}

bool Shape::operator==(const Shape& o) const {
  if (ndim_ != o.ndim_) return false;
  for (int i = 0; i < ndim_; ++i)
    if (dims_[static_cast<std::size_t>(i)] != o.dims_[static_cast<std::size_t>(i)]) return false;
  return true;
}

namespace {

class HostStorage final : public Storage {
 public:
  explicit HostStorage(std::size_t bytes) : bytes_(bytes) {
    const std::size_t rounded = ((bytes + 63) / 64) * 64;
    data_ = rounded ? std::aligned_alloc(64, rounded) : nullptr;
    FERRITE_CHECK_MSG(rounded == 0 || data_ != nullptr, "host allocation failed");
  }
  ~HostStorage() override { std::free(data_); }
  void* data() override { return data_; }
  std::size_t bytes() const override { return bytes_; }
  Device device() const override { return Device::kCpu; }

 private:
  void* data_;
  std::size_t bytes_;
};

class BorrowedStorage final : public Storage {
 public:
  BorrowedStorage(void* data, std::size_t bytes, Device device, std::shared_ptr<const void> owner)
      : data_(data), bytes_(bytes), device_(device), owner_(std::move(owner)) {}
  void* data() override { return data_; }
  std::size_t bytes() const override { return bytes_; }
  Device device() const override { return device_; }

 private:
  void* data_;
  std::size_t bytes_;
  Device device_;
  std::shared_ptr<const void> owner_;
};

}  // namespace

std::shared_ptr<Storage> make_host_storage(std::size_t bytes) { return std::make_shared<HostStorage>(bytes); }

std::shared_ptr<Storage> make_borrowed_storage(void* data, std::size_t bytes, Device device,
                                               std::shared_ptr<const void> owner) {
  return std::make_shared<BorrowedStorage>(data, bytes, device, std::move(owner));
}

Tensor::Tensor(std::shared_ptr<Storage> storage, std::size_t byte_offset, Shape shape, DType dtype)
    : storage_(std::move(storage)), byte_offset_(byte_offset), shape_(shape), dtype_(dtype) {
  std::int64_t s = 1;
  for (int i = shape_.ndim() - 1; i >= 0; --i) {
    strides_[static_cast<std::size_t>(i)] = s;
    s *= shape_[i];
  }
  FERRITE_CHECK(storage_ == nullptr || byte_offset_ + nbytes() <= storage_->bytes());
}

Tensor Tensor::empty(Shape shape, DType dtype) {
  const auto bytes = static_cast<std::size_t>(shape.numel()) * dtype_size(dtype);
  return Tensor(make_host_storage(bytes), 0, shape, dtype);
}

Tensor Tensor::zeros(Shape shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  if (t.nbytes()) std::memset(t.raw_data(), 0, t.nbytes());
  return t;
}

bool Tensor::is_contiguous() const {
  std::int64_t s = 1;
  for (int i = ndim() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[static_cast<std::size_t>(i)] != s) return false;
    s *= shape_[i];
  }
  return true;
}

Tensor Tensor::view(Shape shape) const {
  FERRITE_CHECK(is_contiguous());
  FERRITE_CHECK_MSG(shape.numel() == numel(), "view changes the number of elements");
  return Tensor(storage_, byte_offset_, shape, dtype_);
}

Tensor Tensor::slice_rows(std::int64_t begin, std::int64_t end) const {
  FERRITE_CHECK(ndim() >= 1 && 0 <= begin && begin <= end && end <= dim(0) && is_contiguous());
  Shape s = shape_;
  s[0] = end - begin;
  const std::size_t row_bytes = static_cast<std::size_t>(strides_[0]) * dtype_size(dtype_);
  return Tensor(storage_, byte_offset_ + static_cast<std::size_t>(begin) * row_bytes, s, dtype_);
}

Tensor Tensor::clone() const {
  FERRITE_CHECK(device() == Device::kCpu && is_contiguous());
  Tensor t = empty(shape_, dtype_);
  if (nbytes()) std::memcpy(t.raw_data(), raw_data(), nbytes());
  return t;
}

Tensor Tensor::to_dtype(DType dtype) const {
  if (dtype == dtype_) return *this;
  FERRITE_CHECK(device() == Device::kCpu && is_contiguous() && is_float(dtype) && is_float(dtype_));
  Tensor out = empty(shape_, dtype);
  const std::int64_t n = numel();
  auto load = [&](std::int64_t i) -> float {
    switch (dtype_) {
      case DType::kF32: return data<float>()[i];
      case DType::kBF16: return bf16_to_f32(data<bf16>()[i]);
      default: return f16_to_f32(data<f16>()[i]);
    }
  };
  for (std::int64_t i = 0; i < n; ++i) {
    const float v = load(i);
    switch (dtype) {
      case DType::kF32: out.data<float>()[i] = v; break;
      case DType::kBF16: out.data<bf16>()[i] = f32_to_bf16(v); break;
      default: out.data<f16>()[i] = f32_to_f16(v); break;
    }
  }
  return out;
}

}  // namespace ferrite::backend
