#include "model/safetensors.h"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/half.h"
#include "unit/model/safetensors_writer.h"

namespace ferrite::model {
namespace {

using backend::DType;
using backend::Shape;
using test::StTensor;
using test::TempDir;

std::string bf16_bytes(const std::vector<float>& v) {
  std::vector<bf16> h;
  for (float f : v) h.push_back(f32_to_bf16(f));
  return test::raw_bytes(h);
}

std::string f16_bytes(const std::vector<float>& v) {
  std::vector<f16> h;
  for (float f : v) h.push_back(f32_to_f16(f));
  return test::raw_bytes(h);
}

bool points_into(const backend::Tensor& t, const SafetensorsFile& f) {
  const auto* p = static_cast<const std::uint8_t*>(t.raw_data());
  return p >= f.mapped_data() && p + t.nbytes() <= f.mapped_data() + f.mapped_size();
}

std::vector<StTensor> sample_tensors() {
  return {
      {"model.a", "F32", {2, 3}, test::raw_bytes(std::vector<float>{1, 2, 3, 4, 5, 6})},
      {"model.b", "BF16", {4}, bf16_bytes({0.5f, -1.0f, 3.0f, 1024.0f})},
      {"model.c", "F16", {2, 2}, f16_bytes({0.25f, -2.0f, 65504.0f, 1e-3f})},
      {"model.i32", "I32", {3}, test::raw_bytes(std::vector<std::int32_t>{-1, 0, 7})},
      {"model.i64", "I64", {2}, test::raw_bytes(std::vector<std::int64_t>{1LL << 40, -5})},
      {"model.scalar", "F32", {}, test::raw_bytes(std::vector<float>{42.0f})},
      {"model.empty", "F32", {0, 4}, ""},
  };
}

TEST(SafetensorsTest, SingleFileRoundTripIsZeroCopy) {
  TempDir d;
  test::write_file(d.file("model.safetensors"), test::make_safetensors(sample_tensors(), R"({"format":"pt"})"));
  auto ws = WeightStore::open(d.path());
  ASSERT_TRUE(ws.ok()) << ws.status().to_string();
  ASSERT_EQ(ws->files().size(), 1u);
  const SafetensorsFile& file = *ws->files()[0];
  EXPECT_EQ(ws->names().size(), 7u);
  EXPECT_TRUE(ws->contains("model.a"));
  EXPECT_FALSE(ws->contains("__metadata__"));
  EXPECT_EQ(ws->file_of("model.a"), d.file("model.safetensors"));
  EXPECT_EQ(ws->file_of("nope"), "");
  ASSERT_NE(ws->info("model.c"), nullptr);
  EXPECT_EQ(ws->info("model.c")->dtype, DType::kF16);

  auto a = ws->get("model.a", Shape{2, 3}, DType::kF32);
  ASSERT_TRUE(a.ok()) << a.status().to_string();
  EXPECT_TRUE(points_into(*a, file));
  for (int i = 0; i < 6; ++i) EXPECT_EQ(a->data<float>()[i], static_cast<float>(i + 1));

  auto b = ws->get("model.b", Shape{4}, DType::kBF16);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(points_into(*b, file));
  EXPECT_EQ(bf16_to_f32(b->data<bf16>()[3]), 1024.0f);

  auto i32 = ws->get("model.i32", Shape{3}, DType::kI32);
  ASSERT_TRUE(i32.ok());
  EXPECT_EQ(i32->data<std::int32_t>()[0], -1);
  EXPECT_EQ(i32->data<std::int32_t>()[2], 7);
  auto i64 = ws->get("model.i64", Shape{2}, DType::kI64);
  ASSERT_TRUE(i64.ok());
  EXPECT_EQ(i64->data<std::int64_t>()[0], 1LL << 40);
  EXPECT_EQ(i64->data<std::int64_t>()[1], -5);

  auto s = ws->get("model.scalar", Shape{}, DType::kF32);
  ASSERT_TRUE(s.ok());
  EXPECT_EQ(s->ndim(), 0);
  EXPECT_EQ(s->data<float>()[0], 42.0f);
  auto e = ws->get("model.empty", Shape{0, 4}, DType::kF32);
  ASSERT_TRUE(e.ok());
  EXPECT_EQ(e->numel(), 0);

  auto raw = ws->get_raw("model.c");
  ASSERT_TRUE(raw.ok());
  EXPECT_EQ(raw->dtype(), DType::kF16);
  EXPECT_EQ(raw->shape(), (Shape{2, 2}));
}

TEST(SafetensorsTest, DtypeConversions) {
  TempDir d;
  test::write_file(d.file("model.safetensors"), test::make_safetensors(sample_tensors()));
  auto ws = WeightStore::open(d.path());
  ASSERT_TRUE(ws.ok()) << ws.status().to_string();

  auto b = ws->get("model.b", Shape{4}, DType::kF32);
  ASSERT_TRUE(b.ok());
  EXPECT_FALSE(points_into(*b, *ws->files()[0]));  // a converted copy
  const float want_b[] = {0.5f, -1.0f, 3.0f, 1024.0f};
  for (int i = 0; i < 4; ++i) EXPECT_EQ(b->data<float>()[i], want_b[i]);

  auto c = ws->get("model.c", Shape{2, 2}, DType::kF32);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data<float>()[0], 0.25f);
  EXPECT_EQ(c->data<float>()[2], 65504.0f);
  EXPECT_NEAR(c->data<float>()[3], 1e-3f, 1e-6f);

  auto a = ws->get("model.a", Shape{2, 3}, DType::kBF16);
  ASSERT_TRUE(a.ok());
  EXPECT_EQ(a->dtype(), DType::kBF16);
  EXPECT_EQ(bf16_to_f32(a->data<bf16>()[5]), 6.0f);
  auto c16 = ws->get("model.c", Shape{2, 2}, DType::kBF16);
  ASSERT_TRUE(c16.ok());
  EXPECT_EQ(bf16_to_f32(c16->data<bf16>()[1]), -2.0f);

  for (auto [name, shape, dt] :
       {std::tuple{"model.i32", Shape{3}, DType::kF32}, std::tuple{"model.a", Shape{2, 3}, DType::kI32},
        std::tuple{"model.i64", Shape{2}, DType::kI32}}) {
    auto r = ws->get(name, shape, dt);
    ASSERT_FALSE(r.ok()) << name;
    EXPECT_NE(r.status().message().find(name), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find("cannot be converted"), std::string::npos) << r.status().message();
    EXPECT_NE(r.status().message().find(d.file("model.safetensors")), std::string::npos);
  }
}

TEST(SafetensorsTest, MissingTensorAndWrongShape) {
  TempDir d;
  test::write_file(d.file("model.safetensors"), test::make_safetensors(sample_tensors()));
  auto ws = WeightStore::open(d.path());
  ASSERT_TRUE(ws.ok());

  auto missing = ws->get("model.layers.0.q_proj.weight", Shape{2, 3}, DType::kF32);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find("'model.layers.0.q_proj.weight'"), std::string::npos);
  EXPECT_NE(missing.status().message().find(d.path()), std::string::npos);
  EXPECT_EQ(ws->get_raw("nope").status().code(), StatusCode::kNotFound);

  auto shape = ws->get("model.a", Shape{3, 2}, DType::kF32);
  ASSERT_FALSE(shape.ok());
  const std::string& m = shape.status().message();
  EXPECT_NE(m.find("'model.a'"), std::string::npos) << m;
  EXPECT_NE(m.find(d.file("model.safetensors")), std::string::npos) << m;
  EXPECT_NE(m.find("has shape [2, 3]"), std::string::npos) << m;
  EXPECT_NE(m.find("expected [3, 2]"), std::string::npos) << m;
  EXPECT_FALSE(ws->get("model.a", Shape{6}, DType::kF32).ok());
}

TEST(SafetensorsTest, TensorsOutliveTheStore) {
  TempDir d;
  test::write_file(d.file("model.safetensors"), test::make_safetensors(sample_tensors()));
  backend::Tensor t;
  {
    auto ws = WeightStore::open(d.path());
    ASSERT_TRUE(ws.ok());
    t = ws->get("model.a", Shape{2, 3}, DType::kF32).value();
  }
  // The storage holds the mapping; ASan would flag a read of an unmapped page.
  EXPECT_EQ(t.data<float>()[5], 6.0f);
}

TEST(SafetensorsTest, GapsMetadataPaddingAndMisalignedData) {
  TempDir d;
  std::vector<StTensor> ts = {
      {"h", "F16", {1}, f16_bytes({1.5f})},
      {"f", "F32", {2}, test::raw_bytes(std::vector<float>{3.0f, -4.0f})},
      {"l", "I64", {1}, test::raw_bytes(std::vector<std::int64_t>{99})},
  };
  std::string data;
  auto entries = test::layout(ts, &data, /*align=*/2, /*gap=*/2);  // f and l land misaligned
  // Trailing spaces are legal; padding to 8 puts f at data offset 6, misaligned for F32.
  std::string header = test::header_json(entries, R"({"format":"pt","note":"x"})") + "    ";
  test::write_file(d.file("model.safetensors"), test::assemble(header, data, /*pad_to_8=*/true));
  auto f = SafetensorsFile::open(d.file("model.safetensors"));
  ASSERT_TRUE(f.ok()) << f.status().to_string();
  ASSERT_EQ((*f)->tensors().size(), 3u);
  for (const TensorInfo& info : (*f)->tensors()) {
    backend::Tensor t = (*f)->tensor(info);
    const auto addr = reinterpret_cast<std::uintptr_t>(t.raw_data());
    EXPECT_EQ(addr % backend::dtype_size(info.dtype), 0u) << info.name;
  }
  EXPECT_EQ(f16_to_f32((*f)->tensor(*(*f)->find("h")).data<f16>()[0]), 1.5f);
  EXPECT_EQ((*f)->tensor(*(*f)->find("f")).data<float>()[1], -4.0f);
  EXPECT_EQ((*f)->find("f")->begin, 6u);
  EXPECT_FALSE(points_into((*f)->tensor(*(*f)->find("f")), **f));  // copied to stay aligned
  EXPECT_TRUE(points_into((*f)->tensor(*(*f)->find("l")), **f));
  EXPECT_EQ((*f)->tensor(*(*f)->find("l")).data<std::int64_t>()[0], 99);
  EXPECT_EQ((*f)->find("__metadata__"), nullptr);
}

// ---- Header validation: every bad case names the file and (where there is one) the tensor.

struct BadHeader {
  const char* label;
  std::string bytes;
  std::vector<std::string> expect;  // substrings of the message besides the file path
};

std::string one(const std::string& entry, std::size_t data_bytes = 64) {
  return test::assemble(R"({"w":)" + entry + "}", std::string(data_bytes, '\0'));
}

std::vector<BadHeader> bad_headers() {
  std::vector<BadHeader> v = {
      {"empty file", "", {"too short"}},
      {"short", "abc", {"too short"}},
      {"length beyond file", test::le64(1000) + "{}", {"exceeds the file size", "truncated"}},
      {"absurd length", test::le64(1ULL << 40) + "{}", {"exceeds the limit"}},
      {"max length", test::le64(~0ULL) + "{}", {"exceeds the limit"}},
      {"zero length", test::le64(0), {"not valid JSON"}},
      {"not json", test::assemble("{not json", ""), {"not valid JSON", "line 1"}},
      {"truncated json", test::assemble(R"({"w":{"dtype":"F32")", ""), {"not valid JSON"}},
      {"array", test::assemble("[1,2]", ""), {"must be a JSON object", "array"}},
      {"entry not object", one("5"), {"'w'", "must be an object"}},
      {"no dtype", one(R"({"shape":[1],"data_offsets":[0,4]})"), {"'w'", "no 'dtype'"}},
      {"no shape", one(R"({"dtype":"F32","data_offsets":[0,4]})"), {"'w'", "no 'shape'"}},
      {"no offsets", one(R"({"dtype":"F32","shape":[1]})"), {"'w'", "no 'data_offsets'"}},
      {"dtype number", one(R"({"dtype":5,"shape":[1],"data_offsets":[0,4]})"), {"'w'", "'dtype' must be a string"}},
      {"shape negative", one(R"({"dtype":"F32","shape":[-1],"data_offsets":[0,4]})"), {"'w'", "non-negative"}},
      {"shape float", one(R"({"dtype":"F32","shape":[1.5],"data_offsets":[0,4]})"), {"'w'", "non-negative integers"}},
      {"shape string", one(R"({"dtype":"F32","shape":["2"],"data_offsets":[0,8]})"), {"'w'", "'shape'"}},
      {"shape scalar", one(R"({"dtype":"F32","shape":4,"data_offsets":[0,16]})"), {"'w'", "'shape'"}},
      {"shape null", one(R"({"dtype":"F32","shape":null,"data_offsets":[0,4]})"), {"'w'", "'shape'"}},
      {"six dims", one(R"({"dtype":"F32","shape":[1,1,1,1,1,1],"data_offsets":[0,4]})"), {"'w'", "6 dimensions"}},
      {"numel overflow",
       one(R"({"dtype":"F32","shape":[4294967296,4294967296],"data_offsets":[0,4]})"),
       {"'w'", "overflows"}},
      {"bytes overflow",
       one(R"({"dtype":"F32","shape":[4611686018427387904,2],"data_offsets":[0,4]})"),
       {"'w'", "overflows"}},
      {"dim beyond int64",
       one(R"({"dtype":"F32","shape":[18446744073709551615],"data_offsets":[0,4]})"),
       {"'w'", "overflows"}},
      {"offsets number", one(R"({"dtype":"F32","shape":[1],"data_offsets":3})"), {"'w'", "data_offsets"}},
      {"offsets three", one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4,8]})"), {"'w'", "[begin, end]"}},
      {"offsets negative", one(R"({"dtype":"F32","shape":[1],"data_offsets":[-4,0]})"), {"'w'", "non-negative"}},
      {"offsets float", one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,4.0]})"), {"'w'", "data_offsets"}},
      {"begin after end", one(R"({"dtype":"F32","shape":[1],"data_offsets":[8,4]})"), {"'w'", "begin > end"}},
      {"size mismatch", one(R"({"dtype":"F32","shape":[1],"data_offsets":[0,8]})"), {"'w'", "span 8 bytes", "needs 4"}},
      {"beyond data",
       one(R"({"dtype":"F32","shape":[4],"data_offsets":[56,72]})"),
       {"'w'", "beyond the end of the data section (64 bytes)", "truncated"}},
      {"truncated data", one(R"({"dtype":"F32","shape":[4],"data_offsets":[0,16]})", 10), {"'w'", "truncated"}},
      {"overlap",
       test::assemble(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
                      std::string(16, '\0')),
       {"'a'", "'b'", "overlap"}},
      {"same range",
       test::assemble(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                      R"("b":{"dtype":"I32","shape":[2],"data_offsets":[0,8]}})",
                      std::string(16, '\0')),
       {"'a'", "'b'", "overlap"}},
      {"contained after a long one",
       test::assemble(R"({"a":{"dtype":"F32","shape":[8],"data_offsets":[0,32]},)"
                      R"("b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]},)"
                      R"("c":{"dtype":"F32","shape":[1],"data_offsets":[16,20]}})",
                      std::string(32, '\0')),
       {"'a'", "overlap"}},
  };
  // Deep nesting must neither overflow the stack in parsing, destruction nor error messages.
  const std::string deep = std::string(200000, '[') + std::string(200000, ']');
  v.push_back({"deep header", test::assemble(deep, ""), {"must be a JSON object"}});
  v.push_back({"deep entry", one(deep), {"'w'", "must be an object"}});
  v.push_back(
      {"deep shape", one(R"({"dtype":"F32","data_offsets":[0,4],"shape":[)" + deep + "]}"), {"'w'", "'shape'"}});
  v.push_back(
      {"deep offsets", one(R"({"dtype":"F32","shape":[1],"data_offsets":)" + deep + "}"), {"'w'", "data_offsets"}});
  for (const char* dt : {"F8_E4M3", "F8_E5M2", "I8", "U8", "BOOL", "F64", "I16", "U64", "Q4_K"}) {
    v.push_back({dt,
                 one(std::string(R"({"dtype":")") + dt + R"(","shape":[1],"data_offsets":[0,1]})"),
                 {std::string("unsupported dtype '") + dt + "' in tensor 'w' of file"}});
  }
  return v;
}

TEST(SafetensorsTest, BadHeadersGiveOneClearError) {
  TempDir d;
  const std::string path = d.file("model.safetensors");
  for (const BadHeader& c : bad_headers()) {
    SCOPED_TRACE(c.label);
    test::write_file(path, c.bytes);
    auto f = SafetensorsFile::open(path);
    ASSERT_FALSE(f.ok());
    const std::string& m = f.status().message();
    EXPECT_NE(m.find(path), std::string::npos) << m;
    for (const auto& s : c.expect) EXPECT_NE(m.find(s), std::string::npos) << "want '" << s << "' in: " << m;
    // The same through WeightStore, the way a model load sees it.
    auto ws = WeightStore::open(d.path());
    ASSERT_FALSE(ws.ok());
    EXPECT_EQ(ws.status().message(), m);
  }
}

TEST(SafetensorsTest, LegalOddities) {
  // Zero-sized tensors may share offsets; tensors may sit in any order with gaps between.
  const std::string bytes = test::assemble(R"({"z1":{"dtype":"F32","shape":[0],"data_offsets":[4,4]},)"
                                           R"("z2":{"dtype":"BF16","shape":[3,0],"data_offsets":[4,4]},)"
                                           R"("b":{"dtype":"F32","shape":[1],"data_offsets":[16,20]},)"
                                           R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                                           R"("end":{"dtype":"F32","shape":[0],"data_offsets":[24,24]},)"
                                           R"("__metadata__":{"format":"pt"}})",
                                           std::string(24, '\0'));
  auto r = parse_safetensors_header(reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size(), "mem");
  ASSERT_TRUE(r.ok()) << r.status().to_string();
  EXPECT_EQ(r->size(), 5u);

  // Metadata is ignored whatever it holds, even nesting deep enough to break a recursive parser.
  const std::string deep =
      test::assemble(R"({"__metadata__":)" + std::string(200000, '[') + std::string(200000, ']') + "}", "");
  auto m = parse_safetensors_header(reinterpret_cast<const std::uint8_t*>(deep.data()), deep.size(), "mem");
  ASSERT_TRUE(m.ok()) << m.status().to_string();
  EXPECT_TRUE(m->empty());
}

// ---- Shards

std::string index_json(const std::vector<std::pair<std::string, std::string>>& map) {
  std::string s = R"({"metadata":{"total_size":0},"weight_map":{)";
  for (std::size_t i = 0; i < map.size(); ++i) {
    if (i) s += ",";
    s += test::json_string(map[i].first) + ":" + test::json_string(map[i].second);
  }
  return s + "}}";
}

constexpr const char* kShard1 = "model-00001-of-00002.safetensors";
constexpr const char* kShard2 = "model-00002-of-00002.safetensors";

void write_shards(const TempDir& d) {
  test::write_file(d.file(kShard1),
                   test::make_safetensors({{"a", "F32", {2}, test::raw_bytes(std::vector<float>{1, 2})},
                                           {"b", "BF16", {1}, bf16_bytes({3})}}));
  test::write_file(d.file(kShard2),
                   test::make_safetensors({{"c", "F32", {1}, test::raw_bytes(std::vector<float>{4})}}));
}

TEST(SafetensorsTest, ShardedLoad) {
  TempDir d;
  write_shards(d);
  test::write_file(d.file("model.safetensors.index.json"),
                   index_json({{"a", kShard1}, {"b", kShard1}, {"c", kShard2}}));
  auto ws = WeightStore::open(d.path());
  ASSERT_TRUE(ws.ok()) << ws.status().to_string();
  EXPECT_EQ(ws->files().size(), 2u);
  EXPECT_EQ(ws->names(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(ws->file_of("c"), d.file(kShard2));
  auto c = ws->get("c", Shape{1}, DType::kF32);
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->data<float>()[0], 4.0f);
  EXPECT_TRUE(points_into(*c, *ws->files()[1]));
  auto b = ws->get("b", Shape{1}, DType::kF32);
  ASSERT_TRUE(b.ok());
  EXPECT_EQ(b->data<float>()[0], 3.0f);
}

TEST(SafetensorsTest, ShardErrors) {
  struct Case {
    const char* label;
    std::string index;
    std::vector<std::string> expect;
    StatusCode code;
  };
  const std::vector<Case> cases = {
      {"missing shard",
       index_json({{"a", kShard1}, {"x", "model-00003-of-00003.safetensors"}}),
       {"model-00003-of-00003.safetensors", "'x'", "does not exist"},
       StatusCode::kNotFound},
      {"tensor not in shard",
       index_json({{"a", kShard1}, {"zz", kShard2}}),
       {"'zz'", kShard2, "does not contain it"},
       StatusCode::kDataLoss},
      {"malformed", "{\"weight_map\": {", {"model.safetensors.index.json", "malformed JSON"}, StatusCode::kDataLoss},
      {"no weight_map", R"({"metadata":{}})", {"missing 'weight_map'"}, StatusCode::kDataLoss},
      {"weight_map list", R"({"weight_map":[1]})", {"'weight_map' must be an object"}, StatusCode::kDataLoss},
      {"empty weight_map", R"({"weight_map":{}})", {"empty"}, StatusCode::kDataLoss},
      {"entry not string", R"({"weight_map":{"a":3}})", {"'a'", "must be a file name"}, StatusCode::kDataLoss},
      {"path escape", index_json({{"a", "../model.safetensors"}}), {"'a'", "not a file name"}, StatusCode::kDataLoss},
      {"duplicate",
       index_json({{"a", kShard1}, {"dup", "dup.safetensors"}}),
       {"'a'", "stored in both"},
       StatusCode::kDataLoss},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.label);
    TempDir d;
    write_shards(d);
    test::write_file(d.file("dup.safetensors"),
                     test::make_safetensors({{"a", "F32", {1}, test::raw_bytes(std::vector<float>{9})},
                                             {"dup", "F32", {1}, test::raw_bytes(std::vector<float>{9})}}));
    test::write_file(d.file("model.safetensors.index.json"), c.index);
    auto ws = WeightStore::open(d.path());
    ASSERT_FALSE(ws.ok());
    EXPECT_EQ(ws.status().code(), c.code) << ws.status().to_string();
    for (const auto& s : c.expect)
      EXPECT_NE(ws.status().message().find(s), std::string::npos) << "want '" << s << "' in: " << ws.status().message();
  }
}

TEST(SafetensorsTest, CorruptShardNamesTheShard) {
  TempDir d;
  write_shards(d);
  std::string bytes = test::read_whole_file(d.file(kShard2));
  bytes.resize(bytes.size() - 2);  // cut into c's data
  test::write_file(d.file(kShard2), bytes);
  test::write_file(d.file("model.safetensors.index.json"), index_json({{"a", kShard1}, {"c", kShard2}}));
  auto ws = WeightStore::open(d.path());
  ASSERT_FALSE(ws.ok());
  EXPECT_NE(ws.status().message().find(d.file(kShard2)), std::string::npos) << ws.status().message();
  EXPECT_NE(ws.status().message().find("'c'"), std::string::npos) << ws.status().message();
  EXPECT_NE(ws.status().message().find("truncated"), std::string::npos) << ws.status().message();
}

TEST(SafetensorsTest, NoWeights) {
  TempDir d;
  auto ws = WeightStore::open(d.path());
  ASSERT_FALSE(ws.ok());
  EXPECT_EQ(ws.status().code(), StatusCode::kNotFound);
  EXPECT_NE(ws.status().message().find("no model.safetensors"), std::string::npos);
  test::write_file(d.file("pytorch_model.bin"), "x");
  EXPECT_NE(WeightStore::open(d.path()).status().message().find("pytorch_model.bin is not supported"),
            std::string::npos);
  auto none = WeightStore::open(d.file("does-not-exist"));
  ASSERT_FALSE(none.ok());
  EXPECT_NE(none.status().message().find("does-not-exist"), std::string::npos);
}

}  // namespace
}  // namespace ferrite::model
