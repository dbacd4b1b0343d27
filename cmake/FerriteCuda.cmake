# FERRITE_CUDA=AUTO turns the CUDA backend on when nvcc is found. Kernels target Hopper
# (sm_90a) only; the CPU backend is always built and is the reference.
set(FERRITE_HAVE_CUDA OFF)
if(NOT FERRITE_CUDA STREQUAL "OFF")
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    set(FERRITE_HAVE_CUDA ON)
    set(CMAKE_CUDA_STANDARD 17)  # CMake 3.25 does not know nvcc 13 accepts C++20
    set(CMAKE_CUDA_ARCHITECTURES OFF)
    set(FERRITE_CUDA_GENCODE "-gencode=arch=compute_90a,code=sm_90a")
  elseif(FERRITE_CUDA STREQUAL "ON")
    message(FATAL_ERROR "FERRITE_CUDA=ON but no CUDA compiler was found (is nvcc on PATH?)")
  endif()
endif()
message(STATUS "ferrite: CUDA backend ${FERRITE_HAVE_CUDA}")
