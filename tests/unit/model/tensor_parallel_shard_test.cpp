// The shard arithmetic of model/tensor_parallel.h and its load-time checks (one process).
#include <gtest/gtest.h>

#include "model/model.h"
#include "model/tensor_parallel.h"
#include "test_util.h"

namespace ferrite::model {
namespace {

ModelConfig heads(std::int64_t q, std::int64_t kv, std::int64_t vocab = 512) {
  ModelConfig c;
  c.num_attention_heads = q;
  c.num_key_value_heads = kv;
  c.vocab_size = vocab;
  return c;
}

TEST(TensorParallelShards, EvenSplitCoversEverythingOnce) {
  for (std::int64_t n : {1, 7, 100, 172, 509})
    for (int size = 1; size <= 8; ++size) {
      std::int64_t next = 0;
      for (int r = 0; r < size; ++r) {
        const auto [b, e] = even_split(n, size, r);
        EXPECT_EQ(b, next);
        EXPECT_LE(e - b, (n + size - 1) / size);
        next = e;
      }
      EXPECT_EQ(next, n);
    }
}

TEST(TensorParallelShards, HeadsAndTheKvHeadsTheyRead) {
  // 8 query heads over 4 KV heads (groups of 2): 2 ranks hold 2 KV heads each.
  HeadShard s = head_shard(heads(8, 4), TpShard{1, 2});
  EXPECT_EQ(s.q_begin, 4);
  EXPECT_EQ(s.q_count, 4);
  EXPECT_EQ(s.kv_begin, 2);
  EXPECT_EQ(s.kv_count, 2);
  // 8 query heads over 2 KV heads at 4 ranks: each KV head on 2 ranks, the one of its queries.
  for (int r = 0; r < 4; ++r) {
    s = head_shard(heads(8, 2), TpShard{r, 4});
    EXPECT_EQ(s.q_begin, 2 * r);
    EXPECT_EQ(s.kv_count, 1);
    EXPECT_EQ(s.kv_begin, (2 * r) / 4) << "rank " << r;
  }
  // One KV head (MQA): every rank holds it.
  for (int r = 0; r < 2; ++r) EXPECT_EQ(head_shard(heads(4, 1), TpShard{r, 2}).kv_begin, 0);
}

TEST(TensorParallelShards, VocabularyShardsArePaddedToOneSize) {
  VocabShard a = vocab_shard(509, TpShard{0, 2}), b = vocab_shard(509, TpShard{1, 2});
  EXPECT_EQ(a.padded, 255);
  EXPECT_EQ(b.padded, 255);
  EXPECT_EQ(a.begin, 0);
  EXPECT_EQ(a.end, 255);
  EXPECT_EQ(b.begin, 255);
  EXPECT_EQ(b.end, 509);
  // More padding than a whole shard: the last rank may hold no token at all.
  VocabShard c = vocab_shard(5, TpShard{3, 4});
  EXPECT_EQ(c.padded, 2);
  EXPECT_EQ(c.begin, 5);
  EXPECT_EQ(c.end, 5);
}

TEST(TensorParallelShards, LoadRefusesDegreesThatDoNotFit) {
  EXPECT_TRUE(check_tensor_parallel(heads(4, 2), 1).ok());
  EXPECT_TRUE(check_tensor_parallel(heads(4, 2), 2).ok());
  EXPECT_TRUE(check_tensor_parallel(heads(4, 2), 4).ok());
  EXPECT_TRUE(check_tensor_parallel(heads(4, 1), 2).ok());
  const Status s = check_tensor_parallel(heads(4, 2), 3);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("does not divide the model's 4 attention heads"), std::string::npos) << s.message();
  EXPECT_NE(s.message().find("allows: 2, 4"), std::string::npos) << s.message();
  // 12 query heads over 3 KV heads at 2 ranks: a rank's queries would straddle KV groups.
  const Status kv = check_tensor_parallel(heads(12, 3), 2);
  ASSERT_FALSE(kv.ok());
  EXPECT_NE(kv.message().find("3 KV heads"), std::string::npos) << kv.message();
  EXPECT_FALSE(check_tensor_parallel(heads(4, 2), 0).ok());
}

// Slices of a tensor: rows are a view, columns a copy, both with a dtype conversion when asked.
TEST(TensorParallelShards, SliceTensorRowsAndColumns) {
  backend::Tensor t = backend::Tensor::empty(backend::Shape{3, 4}, backend::DType::kF32);
  for (int i = 0; i < 12; ++i) t.data<float>()[i] = static_cast<float>(i);
  backend::Tensor rows = slice_tensor(t, 0, 1, 3, backend::DType::kF32);
  ASSERT_EQ(rows.dim(0), 2);
  EXPECT_EQ(rows.data<float>()[0], 4.f);
  backend::Tensor cols = slice_tensor(t, 1, 1, 3, backend::DType::kF32);
  ASSERT_EQ(cols.dim(1), 2);
  const float want[] = {1, 2, 5, 6, 9, 10};
  for (int i = 0; i < 6; ++i) EXPECT_EQ(cols.data<float>()[i], want[i]);
  backend::Tensor half = slice_tensor(t, 1, 2, 4, backend::DType::kBF16);
  EXPECT_EQ(half.dtype(), backend::DType::kBF16);
  EXPECT_EQ(half.dim(0), 3);
}

// The dummy source's slices are the slices of its whole tensors.
TEST(TensorParallelShards, DummySlicesMatchTheWholeTensor) {
  auto w = make_dummy_weight_source(3);
  auto whole = w->get("x.weight", backend::Shape{6, 10}, backend::DType::kF32);
  ASSERT_TRUE(whole.ok());
  for (int dim : {0, 1}) {
    auto part = w->get_slice("x.weight", backend::Shape{6, 10}, dim, 2, 5, backend::DType::kF32);
    ASSERT_TRUE(part.ok());
    backend::Tensor want = slice_tensor(*whole, dim, 2, 5, backend::DType::kF32).clone();
    ASSERT_EQ(part->numel(), want.numel());
    for (std::int64_t i = 0; i < want.numel(); ++i) EXPECT_EQ(part->data<float>()[i], want.data<float>()[i]) << dim;
  }
}

}  // namespace
}  // namespace ferrite::model
