#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ferrite/status.h"

namespace ferrite::backend {

enum class DType : std::uint8_t { kF32, kF16, kBF16, kI32, kI64 };

std::size_t dtype_size(DType dt);
// "float32", "float16", "bfloat16", "int32", "int64".
const char* dtype_name(DType dt);
// Accepts torch names ("bfloat16", "float16", "float32", "half", "float", "bf16", "f16", "f32",
// "fp16", "fp32") and safetensors names ("F32", "F16", "BF16", "I32", "I64").
Result<DType> parse_dtype(std::string_view name);
bool is_float(DType dt);

enum class Device : std::uint8_t { kCpu, kCuda };
const char* device_name(Device d);

}  // namespace ferrite::backend
