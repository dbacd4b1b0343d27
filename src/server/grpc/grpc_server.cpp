// The ferrite.v1.Ferrite service on gRPC's synchronous server, plus grpc.health.v1 and reflection.
// Handlers only translate: proto -> GenerateRequest -> Engine::submit -> stream of messages, and a
// Status -> a gRPC status code. The only translation unit that includes gRPC's headers.
#include "server/grpc/grpc_server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>

#include <atomic>
#include <cstdio>
#include <mutex>
#include <thread>

#include "base/logging.h"
#include "ferrite/v1/ferrite.grpc.pb.h"
#include "ferrite/version.h"
#include "server/common/serving.h"
#include "server/grpc/convert.h"
#include "tokenizer/tokenizer.h"

namespace ferrite::server {

namespace {

namespace conv = grpc_convert;
using Clock = std::chrono::system_clock;

grpc::Status to_grpc(const Status& st) {
  grpc::StatusCode code = grpc::StatusCode::INTERNAL;
  switch (st.code()) {
    case StatusCode::kOk: return grpc::Status::OK;
    case StatusCode::kInvalidArgument:
    case StatusCode::kOutOfRange: code = grpc::StatusCode::INVALID_ARGUMENT; break;
    case StatusCode::kNotFound: code = grpc::StatusCode::NOT_FOUND; break;
    case StatusCode::kUnimplemented: code = grpc::StatusCode::UNIMPLEMENTED; break;
    case StatusCode::kResourceExhausted: code = grpc::StatusCode::RESOURCE_EXHAUSTED; break;
    case StatusCode::kFailedPrecondition: code = grpc::StatusCode::FAILED_PRECONDITION; break;
    case StatusCode::kAborted: code = grpc::StatusCode::ABORTED; break;
    case StatusCode::kUnavailable: code = grpc::StatusCode::UNAVAILABLE; break;
    case StatusCode::kDeadlineExceeded: code = grpc::StatusCode::DEADLINE_EXCEEDED; break;
    case StatusCode::kDataLoss:
    case StatusCode::kInternal: code = grpc::StatusCode::INTERNAL; break;
  }
  return grpc::Status(code, st.message());
}

grpc::Status unavailable(const char* message) { return grpc::Status(grpc::StatusCode::UNAVAILABLE, message); }

}  // namespace

struct GrpcServer::Impl final : v1::Ferrite::Service {
  GrpcConfig config;
  std::unique_ptr<grpc::Server> server;
  int port = -1;

  std::mutex mu;  // guards engine, tokenizer, info (set once by set_ready)
  std::shared_ptr<Engine> engine;
  std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
  ModelInfo info;
  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};
  std::atomic<bool> force_abort{false};
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::uint64_t> id_counter{0};
  std::int64_t created = 0;

  struct Ready {
    std::shared_ptr<Engine> engine;
    std::shared_ptr<const tokenizer::Tokenizer> tokenizer;
    ModelInfo info;
  };

  // Authentication, then readiness: the engine and its companions, or the status that says why not.
  grpc::Status admit(grpc::ServerContext* ctx, bool generating, Ready* out) {
    if (!config.api_key.empty()) {
      const auto& md = ctx->client_metadata();
      const auto it = md.find("authorization");
      const std::string_view value = it == md.end() ? std::string_view() : std::string_view(it->second.data(), it->second.size());
      if (!bearer_matches(value, config.api_key))
        return grpc::Status(grpc::StatusCode::UNAUTHENTICATED, kApiKeyMessage);
    }
    if (generating && draining.load()) return unavailable(kShuttingDownMessage);
    if (!ready.load()) return unavailable(kLoadingMessage);
    {
      std::lock_guard<std::mutex> lock(mu);
      out->engine = engine;
      out->tokenizer = tokenizer;
      out->info = info;
    }
    if (!out->engine->healthy()) return unavailable(kEngineStoppedMessage);
    return grpc::Status::OK;
  }

  // An empty name is the served model, as an absent "model" is over HTTP.
  grpc::Status check_model(const std::string& name) const {
    if (name.empty()) return grpc::Status::OK;
    return to_grpc(check_served_model(config.served_model_names, name));
  }

  std::string new_request_id() {
    char buf[64];
    std::snprintf(buf, sizeof buf, "grpc-%llx%06llx", static_cast<unsigned long long>(created),
                  static_cast<unsigned long long>(++id_counter));
    return buf;
  }

  grpc::Status Generate(grpc::ServerContext* ctx, const v1::GenerateRequest* req,
                        grpc::ServerWriter<v1::GenerateResponse>* writer) override {
    Ready r;
    if (auto s = admit(ctx, true, &r); !s.ok()) return s;
    if (auto s = check_model(req->model()); !s.ok()) return s;
    GenerateRequest gr;
    gr.request_id = req->request_id().empty() ? new_request_id() : req->request_id();
    gr.priority = req->priority();
    auto prompt = conv::prompt_from_proto(*req);
    if (!prompt.ok()) return to_grpc(prompt.status());
    gr.prompt = std::move(*prompt);
    auto sampling = conv::sampling_from_proto(req->sampling());
    if (!sampling.ok()) return to_grpc(sampling.status());
    gr.sampling = std::move(*sampling);
    if (Status q = check_queue(*r.engine, config.max_queue_len, in_flight.load(), config.max_num_seqs); !q.ok())
      return to_grpc(q);

    const std::string id = gr.request_id;
    auto submitted = r.engine->submit(std::move(gr));
    if (!submitted.ok()) return to_grpc(submitted.status());
    std::shared_ptr<OutputStream> stream = *submitted;
    ++in_flight;
    struct Count {
      std::atomic<std::int64_t>& n;
      ~Count() { --n; }
    } count{in_flight};

    const auto start = Clock::now();
    grpc::Status cut;  // set once the call is cut short; the engine request is aborted then
    auto cut_short = [&](grpc::Status why) {
      if (!cut.ok()) return;
      cut = std::move(why);
      r.engine->abort(id);
    };
    auto check_cut = [&] {
      if (!cut.ok()) return;
      if (ctx->IsCancelled()) {
        // gRPC cancels a call whose deadline passed; tell the two apart for the log and status.
        const bool expired = Clock::now() >= ctx->deadline();
        cut_short(expired ? grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the deadline passed")
                          : grpc::Status(grpc::StatusCode::CANCELLED, "the client cancelled the call"));
      } else if (Clock::now() >= ctx->deadline()) {
        cut_short(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the deadline passed"));
      } else if (force_abort.load()) {
        cut_short(unavailable(kShuttingDownMessage));
      } else if (config.request_timeout_s > 0 &&
                 std::chrono::duration<double>(Clock::now() - start).count() > config.request_timeout_s) {
        cut_short(grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "the request ran past --request-timeout"));
      }
    };

    bool first = true;
    v1::GenerateResponse held;  // the latest Complete: the stream's last one carries the usage
    bool have_held = false;
    auto write = [&](const v1::GenerateResponse& m) {
      if (cut.ok() && !writer->Write(m)) cut_short(grpc::Status(grpc::StatusCode::CANCELLED, "the client went away"));
    };
    for (;;) {
      check_cut();
      bool timed_out = false;
      auto d = stream->next_for(std::chrono::milliseconds(50), &timed_out);
      if (!d) {
        if (timed_out && !stream->finished()) continue;
        break;
      }
      if (!cut.ok()) continue;  // aborted: read to the end so the blocks are known to be freed
      const bool has_output = !d->token_ids.empty() || !d->text.empty();
      if (has_output || first) {
        v1::GenerateResponse m;
        m.set_request_id(id);
        conv::fill_chunk(*d, m.mutable_chunk());
        if (first) conv::fill_prompt_info(stream->prompt_info(), m.mutable_chunk());
        first = false;
        write(m);
      }
      if (d->finish_reason == FinishReason::kNone) continue;
      if (have_held) write(held);
      if (d->finish_reason == FinishReason::kError) {
        v1::GenerateResponse e;
        e.set_request_id(id);
        e.mutable_error()->set_index(d->index);
        e.mutable_error()->set_message(d->error);
        write(e);
      }
      held.Clear();
      held.set_request_id(id);
      conv::fill_complete(*d, held.mutable_complete());
      have_held = true;
    }
    if (!cut.ok()) {
      FERRITE_LOG_INFO("{} grpc Generate cut short: {}", id, cut.error_message());
      return cut;
    }
    if (have_held) {
      conv::fill_usage(stream->usage(), held.mutable_complete()->mutable_usage());
      write(held);
    }
    const Usage u = stream->usage();
    FERRITE_LOG_INFO("{} grpc Generate OK prompt_tokens={} completion_tokens={} total={:.3f}s", id, u.prompt_tokens,
                     u.completion_tokens, std::chrono::duration<double>(Clock::now() - start).count());
    return cut.ok() ? grpc::Status::OK : cut;
  }

  grpc::Status Tokenize(grpc::ServerContext* ctx, const v1::TokenizeRequest* req, v1::TokenizeResponse* res) override {
    Ready r;
    if (auto s = admit(ctx, false, &r); !s.ok()) return s;
    if (auto s = check_model(req->model()); !s.ok()) return s;
    Result<std::vector<std::int32_t>> ids = std::vector<std::int32_t>{};
    if (req->input_case() == v1::TokenizeRequest::kChat) {
      auto cp = conv::chat_from_proto(req->chat());
      if (!cp.ok()) return to_grpc(cp.status());
      ids = r.engine->tokenize_prompt(*cp);
    } else if (req->input_case() == v1::TokenizeRequest::kText) {
      if (!r.tokenizer) return to_grpc(invalid_argument("the model directory has no tokenizer"));
      ids = r.tokenizer->encode(req->text(), req->has_add_special_tokens() ? req->add_special_tokens() : true);
    } else {
      return to_grpc(invalid_argument("'text' or 'chat' is required"));
    }
    if (!ids.ok()) return to_grpc(ids.status());
    res->mutable_token_ids()->Add(ids->begin(), ids->end());
    res->set_max_model_len(r.info.max_model_len);
    if (req->return_token_strs()) {
      for (std::int32_t id : *ids) {
        auto t = r.tokenizer ? r.tokenizer->id_to_token(id) : std::nullopt;
        res->add_token_strs(t ? *t : "token_id:" + std::to_string(id));
      }
    }
    return grpc::Status::OK;
  }

  grpc::Status Detokenize(grpc::ServerContext* ctx, const v1::DetokenizeRequest* req,
                          v1::DetokenizeResponse* res) override {
    Ready r;
    if (auto s = admit(ctx, false, &r); !s.ok()) return s;
    if (auto s = check_model(req->model()); !s.ok()) return s;
    const std::vector<std::int64_t> ids(req->token_ids().begin(), req->token_ids().end());
    auto text = detokenize_ids(r.tokenizer.get(), ids, req->skip_special_tokens());
    if (!text.ok()) return to_grpc(text.status());
    res->set_text(std::move(*text));
    return grpc::Status::OK;
  }

  grpc::Status ListModels(grpc::ServerContext* ctx, const v1::ListModelsRequest*, v1::ListModelsResponse* res) override {
    Ready r;
    if (auto s = admit(ctx, false, &r); !s.ok()) return s;
    for (const auto& n : config.served_model_names) {
      auto* card = res->add_models();
      card->set_id(n);
      card->set_root(config.model_path);
      card->set_max_model_len(r.info.max_model_len);
    }
    return grpc::Status::OK;
  }

  grpc::Status GetModelInfo(grpc::ServerContext* ctx, const v1::GetModelInfoRequest* req,
                            v1::GetModelInfoResponse* res) override {
    Ready r;
    if (auto s = admit(ctx, false, &r); !s.ok()) return s;
    if (auto s = check_model(req->model()); !s.ok()) return s;
    res->set_architecture(r.info.architecture);
    res->set_dtype(r.info.dtype);
    res->set_max_model_len(r.info.max_model_len);
    res->set_vocab_size(r.info.vocab_size);
    res->set_num_parameters(r.info.num_parameters);
    for (const auto& n : config.served_model_names) res->add_served_model_names(n);
    res->set_model_path(config.model_path);
    return grpc::Status::OK;
  }

  grpc::Status GetServerInfo(grpc::ServerContext* ctx, const v1::GetServerInfoRequest*,
                             v1::GetServerInfoResponse* res) override {
    Ready r;
    if (auto s = admit(ctx, false, &r); !s.ok()) return s;
    const EngineStats s = r.engine->stats();
    res->set_num_running(s.num_running);
    res->set_num_waiting(s.num_waiting);
    res->set_num_kv_blocks(s.num_kv_blocks);
    res->set_num_free_kv_blocks(s.num_free_kv_blocks);
    res->set_kv_usage(s.kv_usage);
    res->set_block_size(r.info.block_size);
    res->set_prefix_cache_queries(s.prefix_cache_queries);
    res->set_prefix_cache_hits(s.prefix_cache_hits);
    res->set_num_preemptions(s.num_preemptions);
    res->set_requests_finished(s.requests_finished);
    res->set_prompt_tokens(s.prompt_tokens);
    res->set_generation_tokens(s.generation_tokens);
    res->set_grpc_in_flight(in_flight.load());
    res->set_max_queue_len(config.max_queue_len);
    res->set_max_num_seqs(config.max_num_seqs);
    res->set_max_logprobs(config.max_logprobs);
    res->set_version(FERRITE_VERSION_STRING);
    res->set_healthy(r.engine->healthy());
    return grpc::Status::OK;
  }

  void set_serving(bool serving) {
    if (!server) return;
    if (auto* health = server->GetHealthCheckService()) {
      health->SetServingStatus(serving);  // the overall status ("")
      health->SetServingStatus(v1::Ferrite::service_full_name(), serving);
    }
  }
};

bool grpc_available() { return true; }

GrpcServer::GrpcServer(GrpcConfig config) : impl_(std::make_unique<Impl>()) {
  if (config.served_model_names.empty()) config.served_model_names.push_back("ferrite");
  impl_->config = std::move(config);
  impl_->created =
      std::chrono::duration_cast<std::chrono::seconds>(Clock::now().time_since_epoch()).count();
}

GrpcServer::~GrpcServer() {
  if (impl_->server) drain(std::chrono::milliseconds(0));
}

Result<int> GrpcServer::start() {
  // Both are process-wide switches that take effect for servers built afterwards.
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  const auto& c = impl_->config;
  const int max_bytes = static_cast<int>(std::min<std::int64_t>(std::max<std::int64_t>(c.max_message_bytes, 1), INT32_MAX));
  grpc::ServerBuilder builder;
  const std::string addr = (c.host.find(':') != std::string::npos ? "[" + c.host + "]" : c.host) + ":" + std::to_string(c.port);
  builder.AddListeningPort(addr, grpc::InsecureServerCredentials(), &impl_->port);
  builder.SetMaxReceiveMessageSize(max_bytes);
  builder.SetMaxSendMessageSize(max_bytes);
  builder.RegisterService(impl_.get());
  impl_->server = builder.BuildAndStart();
  if (!impl_->server || impl_->port <= 0) {
    impl_->server.reset();
    return Status(StatusCode::kUnavailable, "gRPC: cannot listen on " + addr);
  }
  impl_->set_serving(false);  // NOT_SERVING until the model is loaded
  return impl_->port;
}

void GrpcServer::set_ready(std::shared_ptr<Engine> engine, std::shared_ptr<const tokenizer::Tokenizer> tokenizer,
                           ModelInfo info) {
  {
    std::lock_guard<std::mutex> lock(impl_->mu);
    impl_->engine = std::move(engine);
    impl_->tokenizer = std::move(tokenizer);
    impl_->info = std::move(info);
  }
  impl_->ready = true;
  if (!impl_->draining.load()) impl_->set_serving(true);
}

void GrpcServer::drain(std::chrono::milliseconds timeout) {
  if (!impl_->server) return;
  impl_->draining = true;
  impl_->set_serving(false);
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (impl_->in_flight.load() > 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  impl_->force_abort = true;  // running Generate calls abort their requests and end UNAVAILABLE
  // Shutdown waits for the handlers; after the deadline it cancels what is still open.
  impl_->server->Shutdown(Clock::now() + std::chrono::seconds(5));
  impl_->server->Wait();
  impl_->server.reset();
}

std::int64_t GrpcServer::in_flight() const { return impl_->in_flight.load(); }

}  // namespace ferrite::server
