# Compiler flags shared by every ferrite target (applied through ferrite_compile_options).
add_library(ferrite_compile_options INTERFACE)
target_compile_options(ferrite_compile_options INTERFACE
  $<$<COMPILE_LANGUAGE:CXX>:-Wall -Wextra -Wpedantic -Wno-unused-parameter>)
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
