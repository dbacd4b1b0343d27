// Tensor: a typed, strided view over Storage. Storage is owned (64-byte aligned host memory,
// or device memory from a backend) or borrowed from a memory-mapped file, which it keeps alive.
// Copies of a Tensor share storage; use clone() for a deep copy.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "backend/dtype.h"
#include "base/check.h"

namespace ferrite::backend {

constexpr int kMaxDims = 5;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<std::int64_t> dims);
  explicit Shape(const std::vector<std::int64_t>& dims);
  int ndim() const { return ndim_; }
  std::int64_t operator[](int i) const { return dims_[static_cast<std::size_t>(i)]; }
  std::int64_t& operator[](int i) { return dims_[static_cast<std::size_t>(i)]; }
  std::int64_t numel() const;
  std::vector<std::int64_t> to_vector() const;
  std::string to_string() const;
  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }

 private:
  std::array<std::int64_t, kMaxDims> dims_{};
  int ndim_ = 0;
};

class Storage {
 public:
  virtual ~Storage() = default;
  virtual void* data() = 0;
  virtual std::size_t bytes() const = 0;
  virtual Device device() const = 0;
};

// Host memory, 64-byte aligned, uninitialised.
std::shared_ptr<Storage> make_host_storage(std::size_t bytes);
// Borrowed memory kept alive by `owner` (for example a MappedFile).
std::shared_ptr<Storage> make_borrowed_storage(void* data, std::size_t bytes, Device device,
                                               std::shared_ptr<const void> owner);

class Tensor {
 public:
  Tensor() = default;
  Tensor(std::shared_ptr<Storage> storage, std::size_t byte_offset, Shape shape, DType dtype);

  // New contiguous host tensor (uninitialised / zero-filled).
  static Tensor empty(Shape shape, DType dtype);
  static Tensor zeros(Shape shape, DType dtype);

  bool defined() const { return storage_ != nullptr; }
  const Shape& shape() const { return shape_; }
  int ndim() const { return shape_.ndim(); }
  std::int64_t dim(int i) const { return shape_[i < 0 ? i + ndim() : i]; }
  std::int64_t stride(int i) const { return strides_[static_cast<std::size_t>(i < 0 ? i + ndim() : i)]; }
  std::int64_t numel() const { return shape_.numel(); }
  DType dtype() const { return dtype_; }
  Device device() const { return storage_ ? storage_->device() : Device::kCpu; }
  std::size_t nbytes() const { return static_cast<std::size_t>(numel()) * dtype_size(dtype_); }
  bool is_contiguous() const;

  void* raw_data() const {
    return static_cast<std::uint8_t*>(storage_->data()) + byte_offset_;
  }
  template <typename T>
  T* data() const {
    return static_cast<T*>(raw_data());
  }

  // Same storage, new shape (contiguous tensors only; numel must match).
  Tensor view(Shape shape) const;
  // Rows [begin, end) of dimension 0 (a view).
  Tensor slice_rows(std::int64_t begin, std::int64_t end) const;
  // Deep copy into a contiguous host tensor.
  Tensor clone() const;
  // Host conversion between float dtypes (a new tensor; returns *this if already that dtype).
  Tensor to_dtype(DType dtype) const;

  const std::shared_ptr<Storage>& storage() const { return storage_; }

 private:
  std::shared_ptr<Storage> storage_;
  std::size_t byte_offset_ = 0;
  Shape shape_;
  std::array<std::int64_t, kMaxDims> strides_{};
  DType dtype_ = DType::kF32;
};

}  // namespace ferrite::backend
