// MappedFile: a read-only memory map of a whole file (safetensors weights are used in place).
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "ferrite/status.h"

namespace ferrite::base {

class MappedFile {
 public:
  static Result<std::shared_ptr<MappedFile>> open(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const std::uint8_t* data() const { return data_; }
  std::size_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  MappedFile() = default;
  const std::uint8_t* data_ = nullptr;
  std::size_t size_ = 0;
  std::string path_;
};

// Reads a whole (small) file into a string.
Result<std::string> read_file(const std::string& path);

}  // namespace ferrite::base
