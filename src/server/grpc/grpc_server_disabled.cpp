// The gRPC server of a build without gRPC (FERRITE_GRPC=OFF, or the packages were not found at
// configure time): start() explains, so `ferrite serve --grpc-port` fails with a clear message.
#include "server/grpc/grpc_server.h"

namespace ferrite::server {

struct GrpcServer::Impl {};

bool grpc_available() { return false; }

GrpcServer::GrpcServer(GrpcConfig) : impl_(std::make_unique<Impl>()) {}
GrpcServer::~GrpcServer() = default;

Result<int> GrpcServer::start() {
  return unimplemented(
      "this ferrite was built without gRPC: FERRITE_GRPC=OFF, gRPC/Protobuf not found at configure time (apt-get "
      "install libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler, then re-run cmake; the cmake "
      "output says which)");
}
void GrpcServer::set_ready(std::shared_ptr<Engine>, std::shared_ptr<const tokenizer::Tokenizer>, ModelInfo) {}
void GrpcServer::drain(std::chrono::milliseconds) {}
std::int64_t GrpcServer::in_flight() const { return 0; }

}  // namespace ferrite::server
