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
# is committed), so protoc and grpc_cpp_plugin are needed as well as the libraries.
set(FERRITE_HAVE_GRPC OFF)
if(NOT FERRITE_GRPC STREQUAL "OFF")
  find_package(Protobuf QUIET)
  find_package(gRPC CONFIG QUIET)
  find_program(FERRITE_PROTOC protoc)
  find_program(FERRITE_GRPC_CPP_PLUGIN grpc_cpp_plugin)
  # Debian 12's libsentencepiece.so bundles protobuf-lite 3.14 and exports its symbols. In one
  # process with libprotobuf.so (3.21) one of the two binds to the other's code: libprotobuf
  # first breaks tokenizer.model tokenizers (version check abort), sentencepiece first crashes
  # every binary at start-up. AUTO therefore stays off when the tokenizer links such a library;
  # ON builds anyway with libprotobuf first (proto/CMakeLists.txt) and tokenizer.model unusable.
  set(FERRITE_GRPC_CONFLICT "")
  pkg_check_modules(FERRITE_SP_PROBE QUIET sentencepiece)
  if(FERRITE_SP_PROBE_FOUND)
    find_library(FERRITE_SP_LIBRARY sentencepiece HINTS ${FERRITE_SP_PROBE_LIBRARY_DIRS})
    find_program(FERRITE_NM nm)
    if(FERRITE_SP_LIBRARY AND FERRITE_NM)
      execute_process(COMMAND ${FERRITE_NM} -D --defined-only ${FERRITE_SP_LIBRARY}
                      OUTPUT_VARIABLE sp_symbols ERROR_QUIET)
      if(sp_symbols MATCHES "_ZN6google8protobuf8internal13VerifyVersion")
        set(FERRITE_GRPC_CONFLICT "${FERRITE_SP_LIBRARY} exports its own copy of protobuf")
      endif()
    endif()
  endif()
  if(Protobuf_FOUND AND gRPC_FOUND AND TARGET gRPC::grpc++ AND TARGET gRPC::grpc++_reflection
     AND FERRITE_PROTOC AND FERRITE_GRPC_CPP_PLUGIN)
    if(FERRITE_GRPC_CONFLICT AND FERRITE_GRPC STREQUAL "AUTO")
      message(STATUS "ferrite: gRPC found but left off: ${FERRITE_GRPC_CONFLICT}, which clashes with "
                     "libprotobuf in one process (-DFERRITE_GRPC=ON builds it anyway; tokenizer.model then fails)")
    else()
      set(FERRITE_HAVE_GRPC ON)
      if(FERRITE_GRPC_CONFLICT)
        message(WARNING "FERRITE_GRPC=ON: ${FERRITE_GRPC_CONFLICT}; libprotobuf is linked first, so "
                        "SentencePiece tokenizers (tokenizer.model) abort in binaries with the gRPC server")
      endif()
    endif()
  elseif(FERRITE_GRPC STREQUAL "ON")
    message(FATAL_ERROR "FERRITE_GRPC=ON but gRPC/Protobuf were not found "
                        "(apt-get install libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler)")
  endif()
endif()
message(STATUS "ferrite: gRPC server: ${FERRITE_HAVE_GRPC}")
