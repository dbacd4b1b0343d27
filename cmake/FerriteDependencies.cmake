# Every third-party dependency comes from a Debian package (scripts/dev.sh installs them).
find_package(Threads REQUIRED)
find_package(nlohmann_json 3.10 REQUIRED)
find_package(spdlog REQUIRED)
find_package(PkgConfig REQUIRED)
pkg_check_modules(PCRE2 REQUIRED IMPORTED_TARGET libpcre2-8)
if(FERRITE_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(FERRITE_BUILD_BENCHMARKS)
  find_package(benchmark REQUIRED)
endif()

# gRPC is optional (FERRITE_GRPC, AUTO by default): without it the server builds HTTP only and
# `ferrite serve --grpc-port` says so. Code is generated at build time from proto/ (nothing generated
# is committed), so protoc and grpc_cpp_plugin are needed as well as the libraries. Debian 12's
# libsentencepiece.so bundles and exports its own protobuf-lite (3.14), which would clash with
# libprotobuf (3.21) in one process; no ferrite binary links it (it sits behind the dlopened
# ferrite_sp_shim, src/tokenizer/CMakeLists.txt), so gRPC and tokenizer.model models coexist.
set(FERRITE_HAVE_GRPC OFF)
if(NOT FERRITE_GRPC STREQUAL "OFF")
  find_package(Protobuf QUIET)
  find_package(gRPC CONFIG QUIET)
  find_program(FERRITE_PROTOC protoc)
  find_program(FERRITE_GRPC_CPP_PLUGIN grpc_cpp_plugin)
  if(Protobuf_FOUND AND gRPC_FOUND AND TARGET gRPC::grpc++ AND TARGET gRPC::grpc++_reflection
     AND FERRITE_PROTOC AND FERRITE_GRPC_CPP_PLUGIN)
    set(FERRITE_HAVE_GRPC ON)
  elseif(FERRITE_GRPC STREQUAL "ON")
    message(FATAL_ERROR "FERRITE_GRPC=ON but gRPC/Protobuf were not found "
                        "(apt-get install libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler)")
  endif()
endif()
message(STATUS "ferrite: gRPC server: ${FERRITE_HAVE_GRPC}")

# MPI is optional (FERRITE_MPI, AUTO by default): it launches and connects the ranks of a
# tensor-parallel job (src/parallel). C bindings only. FindMPI also gives MPIEXEC_EXECUTABLE and
# MPIEXEC_NUMPROC_FLAG, which the multi-rank tests use to start themselves.
set(FERRITE_HAVE_MPI OFF)
if(NOT FERRITE_MPI STREQUAL "OFF")
  find_package(MPI COMPONENTS C QUIET)
  if(MPI_C_FOUND AND TARGET MPI::MPI_C)
    set(FERRITE_HAVE_MPI ON)
  elseif(FERRITE_MPI STREQUAL "ON")
    message(FATAL_ERROR "FERRITE_MPI=ON but MPI was not found (apt-get install libopenmpi-dev openmpi-bin)")
  endif()
endif()
message(STATUS "ferrite: MPI communicator: ${FERRITE_HAVE_MPI}")
