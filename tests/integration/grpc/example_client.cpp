// A minimal C++ client of ferrite's gRPC API (docs/grpc.md shows this file; the ctest
// grpc_cpp_example runs it against a real `ferrite serve --grpc-port`).
//
//   mkdir gen && plugin="$(which grpc_cpp_plugin)"
//   protoc -I proto --cpp_out=gen --grpc_out=gen --plugin=protoc-gen-grpc="$plugin" proto/ferrite/v1/ferrite.proto
//   g++ -std=c++17 -Igen example_client.cpp gen/ferrite/v1/*.cc $(pkg-config --cflags --libs grpc++ protobuf)
//   ./a.out 127.0.0.1:50051 [API_KEY]
#include <grpcpp/grpcpp.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "ferrite/v1/ferrite.grpc.pb.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s HOST:PORT [API_KEY]\n", argv[0]);
    return 2;
  }
  const std::string api_key = argc > 2 ? argv[2] : "";
  auto channel = grpc::CreateChannel(argv[1], grpc::InsecureChannelCredentials());
  auto stub = ferrite::v1::Ferrite::NewStub(channel);
  // A ClientContext serves one call; with --api-key, each carries `authorization: Bearer KEY`.
  const auto context = [&](std::chrono::seconds timeout) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    if (!api_key.empty()) ctx->AddMetadata("authorization", "Bearer " + api_key);
    return ctx;
  };

  ferrite::v1::GetModelInfoResponse info;
  grpc::Status status = stub->GetModelInfo(context(std::chrono::seconds(10)).get(), {}, &info);
  if (!status.ok()) {
    std::fprintf(stderr, "GetModelInfo: %d %s\n", status.error_code(), status.error_message().c_str());
    return 1;
  }
  std::printf("model: %s (%s, %lld ids)\n", info.served_model_names(0).c_str(), info.architecture().c_str(),
              static_cast<long long>(info.vocab_size()));

  // Greedy generation from token ids, streamed: chunks of new tokens, then one Complete per
  // completion (the last one carries the usage).
  ferrite::v1::GenerateRequest request;
  for (int id : {1, 17, 42, 99, 7, 300}) request.mutable_token_ids()->add_ids(id);
  request.mutable_sampling()->set_temperature(0);
  request.mutable_sampling()->set_max_tokens(8);
  request.mutable_sampling()->set_ignore_eos(true);
  auto ctx = context(std::chrono::seconds(60));
  auto reader = stub->Generate(ctx.get(), request);
  std::vector<int> tokens;
  ferrite::v1::GenerateResponse response;
  while (reader->Read(&response)) {
    if (response.has_chunk()) {
      tokens.insert(tokens.end(), response.chunk().token_ids().begin(), response.chunk().token_ids().end());
    } else if (response.has_complete()) {
      const auto& done = response.complete();
      std::printf("finish: %s\n", ferrite::v1::FinishReason_Name(done.finish_reason()).c_str());
      if (done.has_usage())
        std::printf("usage: %lld prompt, %lld generated\n", static_cast<long long>(done.usage().prompt_tokens()),
                    static_cast<long long>(done.usage().completion_tokens()));
    } else if (response.has_error()) {
      std::fprintf(stderr, "error: %s\n", response.error().message().c_str());
    }
  }
  status = reader->Finish();  // INVALID_ARGUMENT, UNAUTHENTICATED, ... for a refused request
  if (!status.ok()) {
    std::fprintf(stderr, "Generate: %d %s\n", status.error_code(), status.error_message().c_str());
    return 1;
  }
  std::printf("tokens: [");
  for (std::size_t i = 0; i < tokens.size(); ++i) std::printf("%s%d", i ? ", " : "", tokens[i]);
  std::printf("]\n");
  return 0;
}
