# Compiler flags shared by every ferrite target (applied through ferrite_compile_options).
add_library(ferrite_compile_options INTERFACE)
target_compile_options(ferrite_compile_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unused-parameter>)
# GCC 12 at -O3 reports -Wrestrict inside libstdc++'s own operator+(const char*, string&&)
# (GCC bug 105651, fixed in GCC 13): a false positive on correct code, so it is off for GCC 12.
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(ferrite_compile_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Wno-restrict>)
endif()
if(FERRITE_WERROR)
  target_compile_options(ferrite_compile_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-Werror>)
endif()
if(FERRITE_SANITIZE)
  target_compile_options(ferrite_compile_options INTERFACE
    -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
  target_link_options(ferrite_compile_options INTERFACE -fsanitize=address,undefined)
endif()

# Compute kernels are compiled for AVX2+FMA as the portable baseline; AVX-512 code paths are
# compiled per function with target attributes and chosen at run time from CPUID, so one binary
# runs on both kinds of machine. FERRITE_NATIVE tunes everything for the build host instead.
add_library(ferrite_simd_options INTERFACE)
if(FERRITE_NATIVE)
  target_compile_options(ferrite_simd_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-march=native>)
else()
  target_compile_options(ferrite_simd_options INTERFACE $<$<COMPILE_LANGUAGE:CXX>:-mavx2 -mfma -mf16c>)
endif()

find_program(CCACHE_PROGRAM ccache)
if(CCACHE_PROGRAM)
  set(CMAKE_CXX_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_C_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
  set(CMAKE_CUDA_COMPILER_LAUNCHER ${CCACHE_PROGRAM})
endif()
