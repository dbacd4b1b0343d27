#include "backend/tensor.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <memory>
#include <vector>

#include "base/half.h"

namespace ferrite::backend {
namespace {

Tensor iota(Shape shape) {
  Tensor t = Tensor::empty(shape, DType::kF32);
  for (std::int64_t i = 0; i < t.numel(); ++i) t.data<float>()[i] = static_cast<float>(i);
  return t;
}

TEST(ShapeTest, Basics) {
  Shape s{2, 3, 4};
  EXPECT_EQ(s.ndim(), 3);
  EXPECT_EQ(s[1], 3);
  EXPECT_EQ(s.numel(), 24);
  EXPECT_EQ(s.to_vector(), (std::vector<std::int64_t>{2, 3, 4}));
  EXPECT_EQ(s.to_string(), "[2, 3, 4]");
  EXPECT_EQ(s, Shape(std::vector<std::int64_t>{2, 3, 4}));
  EXPECT_NE(s, (Shape{2, 3}));
  EXPECT_NE(s, (Shape{2, 3, 5}));
  Shape scalar;
  EXPECT_EQ(scalar.ndim(), 0);
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(scalar.to_string(), "[]");
  EXPECT_EQ((Shape{4, 0}).numel(), 0);
  Shape m{1, 1, 1, 1, 1};
  m[4] = 9;
  EXPECT_EQ(m.numel(), 9);
}

TEST(ShapeDeathTest, TooManyDims) { EXPECT_DEATH(Shape({1, 1, 1, 1, 1, 1}), ""); }

TEST(DTypeTest, NamesSizesParsing) {
  EXPECT_EQ(dtype_size(DType::kF32), 4u);
  EXPECT_EQ(dtype_size(DType::kBF16), 2u);
  EXPECT_EQ(dtype_size(DType::kF16), 2u);
  EXPECT_EQ(dtype_size(DType::kI32), 4u);
  EXPECT_EQ(dtype_size(DType::kI64), 8u);
  EXPECT_STREQ(dtype_name(DType::kBF16), "bfloat16");
  EXPECT_EQ(*parse_dtype("bfloat16"), DType::kBF16);
  EXPECT_EQ(*parse_dtype("BF16"), DType::kBF16);
  EXPECT_EQ(*parse_dtype("half"), DType::kF16);
  EXPECT_EQ(*parse_dtype("float"), DType::kF32);
  EXPECT_EQ(*parse_dtype("I64"), DType::kI64);
  auto bad = parse_dtype("float8_e4m3fn");
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("float8_e4m3fn"), std::string::npos);
  EXPECT_TRUE(is_float(DType::kF16));
  EXPECT_FALSE(is_float(DType::kI32));
  EXPECT_STREQ(device_name(Device::kCpu), "cpu");
}

TEST(TensorTest, EmptyZerosStrides) {
  Tensor t = Tensor::zeros(Shape{2, 3, 4}, DType::kF32);
  EXPECT_TRUE(t.defined());
  EXPECT_EQ(t.ndim(), 3);
  EXPECT_EQ(t.numel(), 24);
  EXPECT_EQ(t.nbytes(), 96u);
  EXPECT_EQ(t.stride(0), 12);
  EXPECT_EQ(t.stride(1), 4);
  EXPECT_EQ(t.stride(2), 1);
  EXPECT_EQ(t.stride(-1), 1);
  EXPECT_EQ(t.dim(-1), 4);
  EXPECT_EQ(t.dim(0), 2);
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(t.device(), Device::kCpu);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.raw_data()) % 64, 0u);
  for (std::int64_t i = 0; i < 24; ++i) EXPECT_EQ(t.data<float>()[i], 0.0f);
  Tensor none;
  EXPECT_FALSE(none.defined());
  Tensor zero = Tensor::zeros(Shape{0, 5}, DType::kBF16);
  EXPECT_EQ(zero.nbytes(), 0u);
  EXPECT_TRUE(zero.clone().defined());
  Tensor scalar = Tensor::zeros(Shape{}, DType::kI64);
  EXPECT_EQ(scalar.numel(), 1);
  EXPECT_EQ(scalar.nbytes(), 8u);
}

TEST(TensorTest, ViewSharesStorage) {
  Tensor t = iota(Shape{2, 6});
  Tensor v = t.view(Shape{3, 4});
  EXPECT_EQ(v.raw_data(), t.raw_data());
  EXPECT_EQ(v.storage(), t.storage());
  EXPECT_EQ(v.stride(0), 4);
  v.data<float>()[5] = -1.0f;
  EXPECT_EQ(t.data<float>()[5], -1.0f);
  EXPECT_EQ(t.view(Shape{12}).ndim(), 1);
}

TEST(TensorTest, SliceRows) {
  Tensor t = iota(Shape{4, 3});
  Tensor s = t.slice_rows(1, 3);
  EXPECT_EQ(s.shape(), (Shape{2, 3}));
  EXPECT_EQ(static_cast<std::uint8_t*>(s.raw_data()), static_cast<std::uint8_t*>(t.raw_data()) + 3 * 4);
  EXPECT_EQ(s.data<float>()[0], 3.0f);
  EXPECT_EQ(s.data<float>()[5], 8.0f);
  EXPECT_TRUE(s.is_contiguous());
  EXPECT_EQ(t.slice_rows(2, 2).numel(), 0);
  EXPECT_EQ(t.slice_rows(0, 4).data<float>()[11], 11.0f);
  // A slice of a slice, then a view of it.
  Tensor ss = s.slice_rows(1, 2).view(Shape{3});
  EXPECT_EQ(ss.data<float>()[2], 8.0f);
  Tensor t3 = iota(Shape{3, 2, 2});
  EXPECT_EQ(t3.slice_rows(2, 3).data<float>()[0], 8.0f);
}

TEST(TensorTest, CloneIsDeep) {
  Tensor t = iota(Shape{3, 3});
  Tensor c = t.clone();
  EXPECT_NE(c.raw_data(), t.raw_data());
  EXPECT_EQ(c.shape(), t.shape());
  EXPECT_EQ(std::memcmp(c.raw_data(), t.raw_data(), t.nbytes()), 0);
  c.data<float>()[0] = 100.0f;
  EXPECT_EQ(t.data<float>()[0], 0.0f);
  Tensor sc = t.slice_rows(1, 2).clone();
  EXPECT_EQ(sc.data<float>()[0], 3.0f);
}

TEST(TensorTest, ToDtype) {
  Tensor t = Tensor::empty(Shape{5}, DType::kF32);
  const float vals[] = {0.5f, -2.0f, 1.0f / 3.0f, 65504.0f, 1e-8f};
  std::memcpy(t.raw_data(), vals, sizeof vals);
  EXPECT_EQ(t.to_dtype(DType::kF32).raw_data(), t.raw_data());  // no copy for the same dtype

  Tensor b = t.to_dtype(DType::kBF16);
  EXPECT_EQ(b.dtype(), DType::kBF16);
  EXPECT_EQ(b.shape(), t.shape());
  for (int i = 0; i < 5; ++i) EXPECT_EQ(b.data<bf16>()[i].bits, f32_to_bf16(vals[i]).bits);
  Tensor h = t.to_dtype(DType::kF16);
  for (int i = 0; i < 5; ++i) EXPECT_EQ(h.data<f16>()[i].bits, f32_to_f16(vals[i]).bits);
  Tensor back = h.to_dtype(DType::kF32);
  EXPECT_EQ(back.data<float>()[0], 0.5f);
  EXPECT_EQ(back.data<float>()[3], 65504.0f);
  Tensor hb = h.to_dtype(DType::kBF16);  // f16 -> bf16 goes through f32
  EXPECT_EQ(bf16_to_f32(hb.data<bf16>()[1]), -2.0f);
  Tensor bh = b.to_dtype(DType::kF16);
  EXPECT_EQ(f16_to_f32(bh.data<f16>()[0]), 0.5f);
  // A slice converts only its rows.
  Tensor m = iota(Shape{3, 2});
  Tensor ms = m.slice_rows(1, 3).to_dtype(DType::kBF16);
  EXPECT_EQ(ms.numel(), 4);
  EXPECT_EQ(bf16_to_f32(ms.data<bf16>()[0]), 2.0f);
}

TEST(TensorTest, BorrowedStorageKeepsOwnerAlive) {
  auto owner = std::make_shared<std::vector<float>>(std::vector<float>{1, 2, 3, 4});
  std::weak_ptr<std::vector<float>> weak = owner;
  Tensor t(make_borrowed_storage(owner->data(), 16, Device::kCpu, owner), 4, Shape{3}, DType::kF32);
  owner.reset();
  ASSERT_FALSE(weak.expired());
  EXPECT_EQ(t.data<float>()[0], 2.0f);
  EXPECT_EQ(t.storage()->bytes(), 16u);
  t = Tensor();
  EXPECT_TRUE(weak.expired());
}

TEST(TensorDeathTest, BrokenInvariantsAbort) {
  Tensor t = iota(Shape{2, 3});
  EXPECT_DEATH(t.view(Shape{5}), "number of elements");
  EXPECT_DEATH(t.slice_rows(1, 3), "");
  EXPECT_DEATH(t.slice_rows(2, 1), "");
  EXPECT_DEATH(Tensor(make_host_storage(8), 4, Shape{2}, DType::kF32), "");
  Tensor i = Tensor::zeros(Shape{2}, DType::kI32);
  EXPECT_DEATH(i.to_dtype(DType::kF32), "");
}

}  // namespace
}  // namespace ferrite::backend
