// --load-format dummy: weights made from config.json alone, for benchmarks at real model sizes
// without the checkpoint. Values come from a counter-based hash of (seed, tensor name, index),
// so they are the same on every run, machine and thread count.
#include <cmath>
#include <string>

#include "base/half.h"
#include "base/thread_pool.h"
#include "model/model.h"

namespace ferrite::model {

namespace {

std::uint64_t splitmix64(std::uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

std::uint64_t hash_name(const std::string& s) {
  std::uint64_t h = 0xcbf29ce484222325ull;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

class DummyWeightSource final : public WeightSource {
 public:
  explicit DummyWeightSource(std::uint64_t seed) : seed_(seed) {}

  Result<backend::Tensor> get(const std::string& name, const backend::Shape& shape, backend::DType dtype) override {
    return make(name, shape, dtype, shape, [](std::int64_t i) { return i; });
  }

  // Only the slice's values, each the value it has in the whole tensor (so shards of a dummy
  // model put together are the dummy model).
  Result<backend::Tensor> get_slice(const std::string& name, const backend::Shape& full_shape, int dim,
                                    std::int64_t begin, std::int64_t end, backend::DType dtype) override {
    if (dim == 0) {
      backend::Shape shape = full_shape;
      shape[0] = end - begin;
      const std::int64_t row = full_shape.ndim() > 1 ? full_shape.numel() / full_shape[0] : 1;
      return make(name, full_shape, dtype, shape, [=](std::int64_t i) { return begin * row + i; });
    }
    if (dim != 1 || full_shape.ndim() != 2) return invalid_argument("dummy weights slice rows or columns of matrices");
    const std::int64_t w = end - begin, cols = full_shape[1];
    return make(name, full_shape, dtype, backend::Shape{full_shape[0], w},
                [=](std::int64_t i) { return (i / w) * cols + begin + i % w; });
  }

  // Every weight "exists"; optional ones (biases) are asked for only when the config has them.
  bool contains(const std::string&) const override { return true; }

 private:
  // A tensor of `shape` whose element i is element index_of(i) of the whole tensor `full`.
  template <typename IndexOf>
  Result<backend::Tensor> make(const std::string& name, const backend::Shape& full, backend::DType dtype,
                               const backend::Shape& shape, IndexOf index_of) {
    if (!backend::is_float(dtype)) return invalid_argument("dummy weights are float only");
    backend::Tensor t = backend::Tensor::empty(shape, dtype);
    const std::int64_t n = t.numel();
    const bool ones = ends_with(name, "norm.weight");
    const double fan_in = full.ndim() >= 2 ? static_cast<double>(full[full.ndim() - 1]) : 64.0;
    const float a = static_cast<float>(1.0 / std::sqrt(fan_in));
    const std::uint64_t key = splitmix64(seed_ ^ hash_name(name));
    base::ThreadPool::global().parallel_for(static_cast<std::size_t>(n), 1 << 16, [&](int, std::size_t b, std::size_t e) {
      for (std::size_t i = b; i < e; ++i) {
        float v = 1.0f;
        if (!ones) {
          const std::uint64_t r = splitmix64(key + static_cast<std::uint64_t>(index_of(static_cast<std::int64_t>(i))));
          v = (static_cast<float>(r >> 40) * (1.0f / 16777216.0f) * 2.0f - 1.0f) * a;  // uniform [-a, a)
        }
        switch (dtype) {
          case backend::DType::kF32: t.data<float>()[i] = v; break;
          case backend::DType::kBF16: t.data<bf16>()[i] = f32_to_bf16(v); break;
          default: t.data<f16>()[i] = f32_to_f16(v); break;
        }
      }
    });
    return t;
  }


  std::uint64_t seed_;
};

}  // namespace

std::unique_ptr<WeightSource> make_dummy_weight_source(std::uint64_t seed) {
  return std::make_unique<DummyWeightSource>(seed);
}

}  // namespace ferrite::model
