// Test helpers that write safetensors files byte by byte, so tests control every field
// (including the broken ones) without depending on the reader under test. Header-only and free
// of third-party includes so that any test binary can use it.
#pragma once

#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ferrite::test {

// One tensor to write: its name, safetensors dtype name, shape and raw little-endian bytes.
struct StTensor {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::string bytes;
};

// One header entry as it will appear in the JSON, offsets included (they may be made wrong).
struct StHeaderEntry {
  std::string name;
  std::string dtype;
  std::vector<std::int64_t> shape;
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
};

inline std::string le64(std::uint64_t v) {
  std::string s(8, '\0');
  for (int i = 0; i < 8; ++i) s[static_cast<std::size_t>(i)] = static_cast<char>((v >> (8 * i)) & 0xff);
  return s;
}

inline std::string json_string(const std::string& s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  return out + "\"";
}

// The header JSON for `entries`; `metadata` (a JSON object text) becomes "__metadata__" when set.
inline std::string header_json(const std::vector<StHeaderEntry>& entries, const std::string& metadata = "") {
  std::string h = "{";
  if (!metadata.empty()) h += "\"__metadata__\":" + metadata;
  for (const auto& e : entries) {
    if (h.size() > 1) h += ",";
    h += json_string(e.name) + ":{\"dtype\":" + json_string(e.dtype) + ",\"shape\":[";
    for (std::size_t i = 0; i < e.shape.size(); ++i) {
      if (i) h += ",";
      h += std::to_string(e.shape[i]);
    }
    h += "],\"data_offsets\":[" + std::to_string(e.begin) + "," + std::to_string(e.end) + "]}";
  }
  return h + "}";
}

// Lays tensors out back to back in `*data`, each starting at a multiple of `align`, with `gap`
// extra zero bytes before each one (gaps are legal).
inline std::vector<StHeaderEntry> layout(const std::vector<StTensor>& tensors, std::string* data, std::size_t align = 8,
                                         std::size_t gap = 0) {
  std::vector<StHeaderEntry> out;
  for (const auto& t : tensors) {
    data->append(gap, '\0');
    while (data->size() % align != 0) data->push_back('\0');
    StHeaderEntry e{t.name, t.dtype, t.shape, data->size(), data->size() + t.bytes.size()};
    data->append(t.bytes);
    out.push_back(e);
  }
  return out;
}

// length prefix + header + data. With pad_to_8 the header is padded with spaces so the data
// section starts 8-aligned, as the safetensors library does.
inline std::string assemble(std::string header, const std::string& data, bool pad_to_8 = true) {
  if (pad_to_8)
    while ((8 + header.size()) % 8 != 0) header.push_back(' ');
  return le64(header.size()) + header + data;
}

inline std::string make_safetensors(const std::vector<StTensor>& tensors, const std::string& metadata = "") {
  std::string data;
  auto entries = layout(tensors, &data);
  return assemble(header_json(entries, metadata), data);
}

template <typename T>
std::string raw_bytes(const std::vector<T>& v) {
  std::string s(v.size() * sizeof(T), '\0');
  if (!v.empty()) std::memcpy(s.data(), v.data(), s.size());
  return s;
}

inline void write_file(const std::string& path, const std::string& bytes) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  if (!f) throw std::runtime_error("cannot write " + path);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

inline std::string read_whole_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/ferrite_test_XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

}  // namespace ferrite::test
