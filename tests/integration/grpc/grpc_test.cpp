// The gRPC server over real engines on loopback, called with the generated C++ stub: greedy
// generation equals the engine's, tokenization (also with a tokenizer.model beside libprotobuf),
// info, error codes (RESOURCE_EXHAUSTED on a full queue), deadline and cancellation (both free
// the request's KV blocks), health (NOT_SERVING before ready and while draining) and reflection.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/impl/codegen/client_unary_call.h>
#include <grpcpp/impl/codegen/sync_stream.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "ferrite/engine.h"
#include "ferrite/v1/ferrite.grpc.pb.h"
#include "server/grpc/grpc_server.h"
#include "test_util.h"
#include "tokenizer/tokenizer.h"

namespace ferrite {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

std::string qwen3_tokenizer() { return testing::shared_dir() + "/fixtures/tokenizers/qwen3"; }
bool have_shared() { return fs::exists(qwen3_tokenizer() + "/tokenizer.json"); }

struct Served {
  std::shared_ptr<Engine> engine;
  std::unique_ptr<server::GrpcServer> grpc;
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<v1::Ferrite::Stub> stub;

  ~Served() {
    if (grpc) grpc->drain(std::chrono::milliseconds(0));
    if (engine) engine->shutdown();
  }
};

std::unique_ptr<Served> serve(EngineConfig ec, bool with_tokenizer, std::string api_key = "") {
  auto s = std::make_unique<Served>();
  ec.show_progress = false;
  ec.check_invariants = true;
  ec.use_generation_config = false;
  auto engine = Engine::create(ec);
  EXPECT_TRUE(engine.ok()) << engine.status().to_string();
  if (!engine.ok()) return nullptr;
  s->engine = std::move(*engine);
  server::GrpcConfig gc;
  gc.served_model_names = {"tiny", "tiny-alias"};
  gc.model_path = ec.model_dir;
  gc.max_num_seqs = ec.max_num_seqs;
  gc.max_logprobs = ec.max_logprobs;
  gc.api_key = std::move(api_key);
  s->grpc = std::make_unique<server::GrpcServer>(gc);
  auto port = s->grpc->start();
  EXPECT_TRUE(port.ok()) << port.status().to_string();
  if (!port.ok()) return nullptr;
  std::shared_ptr<const tokenizer::Tokenizer> tok;
  if (with_tokenizer) tok = *tokenizer::Tokenizer::load(qwen3_tokenizer());
  s->grpc->set_ready(s->engine, tok, s->engine->model_info());
  s->channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
  s->stub = v1::Ferrite::NewStub(s->channel);
  return s;
}

EngineConfig tiny_config(bool with_tokenizer) {
  EngineConfig c;
  c.model_dir = testing::source_dir() + "/tests/data/models/llama";
  if (with_tokenizer) c.tokenizer_dir = qwen3_tokenizer();
  c.max_logprobs = 5;
  return c;
}

EngineConfig slow_config() {
  EngineConfig c;
  c.model_dir = testing::slow_dummy_model_dir();
  c.load_format = "dummy";
  c.num_kv_blocks = 256;
  c.enable_prefix_caching = false;  // so "all blocks free" is exact after an abort
  return c;
}

struct Collected {
  grpc::Status status;
  std::vector<std::int32_t> tokens;
  std::string text;
  std::vector<std::int32_t> prompt_ids;
  std::vector<v1::Complete> completes;
};

Collected generate(Served& s, const v1::GenerateRequest& req) {
  Collected out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(60));
  auto reader = s.stub->Generate(&ctx, req);
  v1::GenerateResponse m;
  while (reader->Read(&m)) {
    if (m.has_chunk()) {
      out.tokens.insert(out.tokens.end(), m.chunk().token_ids().begin(), m.chunk().token_ids().end());
      out.text += m.chunk().text();
      if (m.chunk().prompt_token_ids_size() > 0)
        out.prompt_ids.assign(m.chunk().prompt_token_ids().begin(), m.chunk().prompt_token_ids().end());
    }
    if (m.has_complete()) out.completes.push_back(m.complete());
  }
  out.status = reader->Finish();
  return out;
}

// The engine's own greedy answer, bypassing the server.
std::vector<std::int32_t> engine_greedy(Engine& e, Prompt p, std::int64_t max_tokens, std::string* text = nullptr) {
  GenerateRequest r;
  r.prompt = std::move(p);
  r.sampling.temperature = 0;
  r.sampling.max_tokens = max_tokens;
  r.sampling.ignore_eos = true;
  auto stream = e.submit(std::move(r));
  EXPECT_TRUE(stream.ok());
  std::vector<std::int32_t> ids;
  while (auto d = (*stream)->next()) {
    ids.insert(ids.end(), d->token_ids.begin(), d->token_ids.end());
    if (text) *text += d->text;
  }
  return ids;
}

v1::GenerateRequest greedy_request(std::vector<std::int32_t> ids, std::int64_t max_tokens) {
  v1::GenerateRequest req;
  req.mutable_token_ids()->mutable_ids()->Add(ids.begin(), ids.end());
  req.mutable_sampling()->set_temperature(0);
  req.mutable_sampling()->set_max_tokens(max_tokens);
  req.mutable_sampling()->set_ignore_eos(true);
  return req;
}

TEST(GrpcServer, GenerateStreamsTheEnginesGreedyTokens) {
  auto s = serve(tiny_config(false), false);
  ASSERT_TRUE(s);
  const std::vector<std::int32_t> prompt = {1, 17, 42, 99, 7, 300};
  const auto want = engine_greedy(*s->engine, prompt, 12);
  auto got = generate(*s, greedy_request(prompt, 12));
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.tokens, want);
  EXPECT_EQ(got.prompt_ids, prompt);
  ASSERT_EQ(got.completes.size(), 1u);
  EXPECT_EQ(got.completes[0].finish_reason(), v1::FINISH_REASON_LENGTH);
  ASSERT_TRUE(got.completes[0].has_usage());
  EXPECT_EQ(got.completes[0].usage().prompt_tokens(), 6);
  EXPECT_EQ(got.completes[0].usage().completion_tokens(), 12);

  // n = 2 with a stop token id: one Complete per completion, the last one with the usage.
  auto req = greedy_request(prompt, 12);
  req.mutable_sampling()->set_n(2);
  req.mutable_sampling()->add_stop_token_ids(want[3]);
  req.set_model("tiny-alias");
  got = generate(*s, req);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  ASSERT_EQ(got.completes.size(), 2u);
  EXPECT_EQ(got.completes[1].finish_reason(), v1::FINISH_REASON_STOP);
  EXPECT_EQ(got.completes[1].stop_token_id(), want[3]);
  EXPECT_FALSE(got.completes[0].has_usage());
  EXPECT_EQ(got.completes[1].usage().completion_tokens(), 8);
}

TEST(GrpcServer, TextPromptTokenizeAndDetokenize) {
  if (!have_shared()) GTEST_SKIP() << "no ../shared/fixtures/tokenizers/qwen3";
  auto s = serve(tiny_config(true), true);
  ASSERT_TRUE(s);
  // The fixture model's vocabulary is 512 ids: plain ASCII text stays inside it.
  const std::string text = "a b c";
  v1::GenerateRequest req;
  req.set_text(text);
  req.mutable_sampling()->set_temperature(0);
  req.mutable_sampling()->set_max_tokens(6);
  req.mutable_sampling()->set_ignore_eos(true);
  std::string want_text;
  const auto want = engine_greedy(*s->engine, text, 6, &want_text);
  auto got = generate(*s, req);
  ASSERT_TRUE(got.status.ok()) << got.status.error_message();
  EXPECT_EQ(got.tokens, want);
  EXPECT_EQ(got.text, want_text);

  grpc::ClientContext c1;
  v1::TokenizeRequest tr;
  tr.set_text(text);
  tr.set_return_token_strs(true);
  v1::TokenizeResponse tres;
  ASSERT_TRUE(s->stub->Tokenize(&c1, tr, &tres).ok());
  EXPECT_EQ(std::vector<std::int32_t>(tres.token_ids().begin(), tres.token_ids().end()), got.prompt_ids);
  EXPECT_EQ(tres.token_strs_size(), tres.token_ids_size());
  EXPECT_GT(tres.max_model_len(), 0);

  grpc::ClientContext c2;
  v1::DetokenizeRequest dr;
  dr.mutable_token_ids()->Add(tres.token_ids().begin(), tres.token_ids().end());
  v1::DetokenizeResponse dres;
  ASSERT_TRUE(s->stub->Detokenize(&c2, dr, &dres).ok());
  EXPECT_EQ(dres.text(), text);

  grpc::ClientContext c3;
  dr.add_token_ids(1 << 30);
  const auto st = s->stub->Detokenize(&c3, dr, &dres);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(st.error_message().find("is outside the vocabulary"), std::string::npos) << st.error_message();
}

// A tokenizer.model tokenizer in a process that has libprotobuf (this one, through gRPC): Debian's
// libsentencepiece carries a clashing protobuf of its own, which the dlopened shim keeps apart.
TEST(GrpcServer, SentencePieceTokenizerBesideLibprotobuf) {
  auto tok = tokenizer::Tokenizer::load(testing::source_dir() + "/tests/data/tokenizer/sp_tiny");
  if (!tok.ok() && tok.status().code() == StatusCode::kUnimplemented) GTEST_SKIP() << tok.status().message();
  ASSERT_TRUE(tok.ok()) << tok.status().message();
  ASSERT_TRUE((*tok)->is_sentencepiece());
  auto want = (*tok)->encode("Hello world, <s> again", true);
  ASSERT_TRUE(want.ok());
  EXPECT_GT(want->size(), 3u);

  auto s = serve(tiny_config(false), false);
  ASSERT_TRUE(s);
  s->grpc->set_ready(s->engine, std::shared_ptr<const tokenizer::Tokenizer>(std::move(*tok)), s->engine->model_info());
  grpc::ClientContext ctx;
  v1::TokenizeRequest tr;
  tr.set_text("Hello world, <s> again");
  v1::TokenizeResponse res;
  ASSERT_TRUE(s->stub->Tokenize(&ctx, tr, &res).ok());
  EXPECT_EQ(std::vector<std::int32_t>(res.token_ids().begin(), res.token_ids().end()), *want);
}

TEST(GrpcServer, ModelAndServerInfo) {
  auto s = serve(tiny_config(false), false);
  ASSERT_TRUE(s);
  const ModelInfo info = s->engine->model_info();
  {
    grpc::ClientContext ctx;
    v1::ListModelsResponse res;
    ASSERT_TRUE(s->stub->ListModels(&ctx, {}, &res).ok());
    ASSERT_EQ(res.models_size(), 2);
    EXPECT_EQ(res.models(0).id(), "tiny");
    EXPECT_EQ(res.models(1).max_model_len(), info.max_model_len);
  }
  {
    grpc::ClientContext ctx;
    v1::GetModelInfoResponse res;
    ASSERT_TRUE(s->stub->GetModelInfo(&ctx, {}, &res).ok());
    EXPECT_EQ(res.architecture(), info.architecture);
    EXPECT_EQ(res.vocab_size(), info.vocab_size);
    EXPECT_EQ(res.max_model_len(), info.max_model_len);
    EXPECT_EQ(res.served_model_names_size(), 2);
  }
  {
    grpc::ClientContext ctx;
    v1::GetModelInfoRequest req;
    req.set_model("nope");
    v1::GetModelInfoResponse res;
    const auto st = s->stub->GetModelInfo(&ctx, req, &res);
    EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
    EXPECT_EQ(st.error_message(), "The model `nope` does not exist.");
  }
  {
    grpc::ClientContext ctx;
    v1::GetServerInfoResponse res;
    ASSERT_TRUE(s->stub->GetServerInfo(&ctx, {}, &res).ok());
    EXPECT_EQ(res.num_kv_blocks(), info.num_kv_blocks);
    EXPECT_EQ(res.block_size(), info.block_size);
    EXPECT_EQ(res.max_logprobs(), 5);
    EXPECT_TRUE(res.healthy());
  }
}

TEST(GrpcServer, ErrorsMapToStatusCodesWithTheHttpMessages) {
  auto s = serve(tiny_config(false), false);
  ASSERT_TRUE(s);
  auto expect = [&](v1::GenerateRequest req, grpc::StatusCode code, const std::string& fragment) {
    auto got = generate(*s, req);
    EXPECT_EQ(got.status.error_code(), code) << got.status.error_message();
    EXPECT_NE(got.status.error_message().find(fragment), std::string::npos) << got.status.error_message();
  };
  // The same message as SamplingParams::validate gives the HTTP server.
  SamplingParams bad;
  bad.temperature = -1;
  auto req = greedy_request({1, 2, 3}, 4);
  req.mutable_sampling()->set_temperature(-1);
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, bad.validate().message());
  req = greedy_request({1, 2, 3}, 4);
  req.mutable_sampling()->set_logprobs(50);
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "logprobs");
  req = greedy_request({1, 2, 3}, 4);
  req.mutable_sampling()->set_top_p(0);
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "top_p");
  req = greedy_request(
      std::vector<std::int32_t>(static_cast<std::size_t>(s->engine->model_info().max_model_len) + 1, 5), 4);
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "");
  req = greedy_request({1, 2, 100000}, 4);
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "100000");
  req = greedy_request({1, 2, 3}, 4);
  req.set_model("gpt-9");
  expect(req, grpc::StatusCode::NOT_FOUND, "The model `gpt-9` does not exist.");
  expect(v1::GenerateRequest(), grpc::StatusCode::INVALID_ARGUMENT, "a prompt is required");
  req = greedy_request({1, 2, 3}, 4);
  req.mutable_chat()->add_messages()->set_role("user");
  req.mutable_chat()->set_tools_json("{not json");
  expect(req, grpc::StatusCode::INVALID_ARGUMENT, "'tools_json' is not valid JSON");
}

TEST(GrpcServer, ApiKeyIsRequiredWhenSet) {
  auto s = serve(tiny_config(false), false, "sekret");
  ASSERT_TRUE(s);
  v1::ListModelsResponse res;
  grpc::ClientContext c1;
  EXPECT_EQ(s->stub->ListModels(&c1, {}, &res).error_code(), grpc::StatusCode::UNAUTHENTICATED);
  grpc::ClientContext c2;
  c2.AddMetadata("authorization", "Bearer sekret");
  EXPECT_TRUE(s->stub->ListModels(&c2, {}, &res).ok());
}

// Waits until the engine has nothing running and every KV block is free again.
void expect_blocks_freed(Served& s) {
  v1::GetServerInfoResponse info;
  for (int i = 0; i < 200; ++i) {
    grpc::ClientContext ctx;
    info.Clear();
    ASSERT_TRUE(s.stub->GetServerInfo(&ctx, {}, &info).ok());
    if (info.num_running() == 0 && info.num_waiting() == 0 && info.num_free_kv_blocks() == info.num_kv_blocks()) return;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ADD_FAILURE() << "blocks not freed: running " << info.num_running() << ", free " << info.num_free_kv_blocks() << "/"
                << info.num_kv_blocks();
}

TEST(GrpcServer, DeadlineAbortsTheRequestAndFreesItsBlocks) {
  auto s = serve(slow_config(), false);
  ASSERT_TRUE(s);
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::milliseconds(400));
  auto reader = s->stub->Generate(&ctx, greedy_request(std::vector<std::int32_t>(40, 3), 3000));
  v1::GenerateResponse m;
  int chunks = 0;
  while (reader->Read(&m)) ++chunks;
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_GT(chunks, 0);
  expect_blocks_freed(*s);
  EXPECT_EQ(s->grpc->in_flight(), 0);
}

TEST(GrpcServer, ClientCancellationFreesBlocks) {
  auto s = serve(slow_config(), false);
  ASSERT_TRUE(s);
  grpc::ClientContext ctx;
  auto reader = s->stub->Generate(&ctx, greedy_request(std::vector<std::int32_t>(40, 3), 3000));
  v1::GenerateResponse m;
  int chunks = 0;
  while (chunks < 3 && reader->Read(&m)) ++chunks;
  ASSERT_EQ(chunks, 3);
  {
    grpc::ClientContext c;
    v1::GetServerInfoResponse info;
    ASSERT_TRUE(s->stub->GetServerInfo(&c, {}, &info).ok());
    EXPECT_LT(info.num_free_kv_blocks(), info.num_kv_blocks());  // the request holds blocks
  }
  ctx.TryCancel();
  while (reader->Read(&m)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  expect_blocks_freed(*s);
}

// grpc.health.v1.Health/Check with raw bytes: HealthCheckRequest{service} is field 1, and
// HealthCheckResponse{status} is field 1: SERVING is bytes 08 01, NOT_SERVING 08 02.
const std::string kServing("\x08\x01", 2);
const std::string kNotServing("\x08\x02", 2);

std::string health_check(grpc::Channel& channel, const std::string& service) {
  std::string req;
  if (!service.empty()) req = std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
  grpc::Slice slice(req);
  grpc::ByteBuffer in(&slice, 1), out;
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  const auto st = grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      &channel, grpc::internal::RpcMethod("/grpc.health.v1.Health/Check", grpc::internal::RpcMethod::NORMAL_RPC), &ctx,
      in, &out);
  EXPECT_TRUE(st.ok()) << st.error_message();
  std::vector<grpc::Slice> slices;
  (void)out.Dump(&slices);
  std::string bytes;
  for (const auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  return bytes;
}

TEST(GrpcServer, HealthAndReflection) {
  auto s = serve(tiny_config(false), false);
  ASSERT_TRUE(s);
  const auto health = [&](const std::string& service) { return health_check(*s->channel, service); };
  EXPECT_EQ(health(""), kServing);
  EXPECT_EQ(health("ferrite.v1.Ferrite"), kServing);

  // grpc.reflection.v1alpha.ServerReflection: ServerReflectionRequest{list_services: "*"}
  // (field 7); the answer names the service.
  grpc::ClientContext ctx;
  std::unique_ptr<grpc::ClientReaderWriter<grpc::ByteBuffer, grpc::ByteBuffer>> rw(
      grpc::internal::ClientReaderWriterFactory<grpc::ByteBuffer, grpc::ByteBuffer>::Create(
          s->channel.get(),
          grpc::internal::RpcMethod("/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
                                    grpc::internal::RpcMethod::BIDI_STREAMING),
          &ctx));
  const std::string req("\x3a\x01*", 3);
  grpc::Slice slice(req);
  ASSERT_TRUE(rw->Write(grpc::ByteBuffer(&slice, 1)));
  rw->WritesDone();
  grpc::ByteBuffer resp;
  ASSERT_TRUE(rw->Read(&resp));
  std::vector<grpc::Slice> slices;
  (void)resp.Dump(&slices);
  std::string bytes;
  for (const auto& sl : slices) bytes.append(reinterpret_cast<const char*>(sl.begin()), sl.size());
  EXPECT_NE(bytes.find("ferrite.v1.Ferrite"), std::string::npos);
  EXPECT_NE(bytes.find("grpc.health.v1.Health"), std::string::npos);
  while (rw->Read(&resp)) {
  }
  EXPECT_TRUE(rw->Finish().ok());
}

// NOT_SERVING from start() until set_ready(), SERVING then, NOT_SERVING again as soon as drain()
// begins (while a Generate call still runs), and new Generate calls are refused meanwhile.
TEST(GrpcServer, HealthIsNotServingBeforeReadyAndWhileDraining) {
  EngineConfig ec = slow_config();
  ec.show_progress = false;
  auto engine = Engine::create(ec);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  std::shared_ptr<Engine> shared = std::move(*engine);
  server::GrpcServer gs(server::GrpcConfig{});
  auto port = gs.start();
  ASSERT_TRUE(port.ok()) << port.status().to_string();
  auto channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
  auto stub = v1::Ferrite::NewStub(channel);
  EXPECT_EQ(health_check(*channel, ""), kNotServing);
  EXPECT_EQ(health_check(*channel, "ferrite.v1.Ferrite"), kNotServing);
  {
    grpc::ClientContext ctx;
    v1::ListModelsResponse res;
    EXPECT_EQ(stub->ListModels(&ctx, {}, &res).error_code(), grpc::StatusCode::UNAVAILABLE);
  }

  gs.set_ready(shared, nullptr, shared->model_info());
  EXPECT_EQ(health_check(*channel, ""), kServing);
  EXPECT_EQ(health_check(*channel, "ferrite.v1.Ferrite"), kServing);

  grpc::ClientContext ctx;
  auto reader = stub->Generate(&ctx, greedy_request(std::vector<std::int32_t>(40, 3), 3000));
  v1::GenerateResponse m;
  ASSERT_TRUE(reader->Read(&m));  // running
  std::thread drain([&] { gs.drain(std::chrono::seconds(20)); });
  // drain() waits for the running call; health turns NOT_SERVING at once.
  std::string status;
  for (int i = 0; i < 200 && (status = health_check(*channel, "")) != kNotServing; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  EXPECT_EQ(status, kNotServing);
  EXPECT_EQ(health_check(*channel, "ferrite.v1.Ferrite"), kNotServing);
  {
    grpc::ClientContext c;
    v1::GenerateResponse r;
    auto refused = stub->Generate(&c, greedy_request({1, 2, 3}, 4));
    while (refused->Read(&r)) {
    }
    EXPECT_EQ(refused->Finish().error_code(), grpc::StatusCode::UNAVAILABLE);
  }
  ctx.TryCancel();
  while (reader->Read(&m)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  drain.join();
  EXPECT_EQ(gs.in_flight(), 0);
  shared->shutdown();
}

// --max-queue-len: with one sequence running and one waiting behind it (--max-num-seqs 1), a third
// Generate is refused with RESOURCE_EXHAUSTED and the HTTP server's message.
TEST(GrpcServer, FullQueueIsResourceExhausted) {
  EngineConfig ec = slow_config();
  ec.show_progress = false;
  ec.max_num_seqs = 1;
  auto engine = Engine::create(ec);
  ASSERT_TRUE(engine.ok()) << engine.status().to_string();
  server::GrpcConfig gc;
  gc.max_queue_len = 1;
  gc.max_num_seqs = 1;
  auto s = std::make_unique<Served>();
  s->engine = std::move(*engine);
  s->grpc = std::make_unique<server::GrpcServer>(gc);
  auto port = s->grpc->start();
  ASSERT_TRUE(port.ok()) << port.status().to_string();
  s->grpc->set_ready(s->engine, nullptr, s->engine->model_info());
  s->channel = grpc::CreateChannel("127.0.0.1:" + std::to_string(*port), grpc::InsecureChannelCredentials());
  s->stub = v1::Ferrite::NewStub(s->channel);

  grpc::ClientContext running_ctx, waiting_ctx;
  auto running = s->stub->Generate(&running_ctx, greedy_request(std::vector<std::int32_t>(40, 3), 3000));
  v1::GenerateResponse m;
  ASSERT_TRUE(running->Read(&m));
  auto waiting = s->stub->Generate(&waiting_ctx, greedy_request(std::vector<std::int32_t>(40, 4), 3000));
  v1::GetServerInfoResponse info;
  for (int i = 0; i < 500; ++i) {
    grpc::ClientContext c;
    ASSERT_TRUE(s->stub->GetServerInfo(&c, {}, &info).ok());
    if (info.grpc_in_flight() == 2 && info.num_waiting() == 1) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  ASSERT_EQ(info.grpc_in_flight(), 2);
  EXPECT_EQ(info.max_queue_len(), 1);

  auto refused = generate(*s, greedy_request({1, 2, 3}, 4));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED) << refused.status.error_message();
  EXPECT_EQ(refused.status.error_message(),
            "the server is overloaded: 1 requests are already waiting (--max-queue-len)");

  running_ctx.TryCancel();
  waiting_ctx.TryCancel();
  while (running->Read(&m)) {
  }
  while (waiting->Read(&m)) {
  }
  EXPECT_EQ(running->Finish().error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_EQ(waiting->Finish().error_code(), grpc::StatusCode::CANCELLED);
  expect_blocks_freed(*s);
}

}  // namespace
}  // namespace ferrite
