// Open-addressing hash maps for the hot lookups of BPE: token string -> id and
// (left id, right id) -> merge. std::unordered_map costs a node allocation per entry and a
// pointer chase per probe; these keep entries in one array and keys in one arena.
#pragma once

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

namespace ferrite::tokenizer {

inline std::uint64_t hash_bytes(const char* p, std::size_t n) {
  std::uint64_t h = 0x9E3779B97F4A7C15ULL ^ (n * 0xC2B2AE3D27D4EB4FULL);
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * 0xFF51AFD7ED558CCDULL;
    h ^= h >> 32;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t w = 0;
    std::memcpy(&w, p, n);
    h = (h ^ w) * 0xC4CEB9FE1A85EC53ULL;
  }
  h ^= h >> 29;
  h *= 0xBF58476D1CE4E5B9ULL;
  return h ^ (h >> 32);
}

// String -> V. Keys are copied into an arena; erase is not supported (clear() is).
template <typename V>
class FlatStringMap {
 public:
  explicit FlatStringMap(std::size_t expected = 16) { rehash(capacity_for(expected)); }

  std::size_t size() const { return size_; }
  std::size_t arena_bytes() const { return arena_.size(); }

  const V* find(std::string_view key) const {
    const std::uint64_t h = hash_bytes(key.data(), key.size());
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.len == kEmpty) return nullptr;
      if (s.hash == h && s.len == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0)
        return &s.value;
    }
  }

  // Inserts or overwrites.
  void put(std::string_view key, const V& value) {
    if ((size_ + 1) * 4 > slots_.size() * 3) rehash(slots_.size() * 2);
    const std::uint64_t h = hash_bytes(key.data(), key.size());
    for (std::size_t i = h & mask_;; i = (i + 1) & mask_) {
      Slot& s = slots_[i];
      if (s.len == kEmpty) {
        s.hash = h;
        s.offset = static_cast<std::uint32_t>(arena_.size());
        s.len = static_cast<std::uint32_t>(key.size());
        s.value = value;
        arena_.append(key);
        ++size_;
        return;
      }
      if (s.hash == h && s.len == key.size() && std::memcmp(arena_.data() + s.offset, key.data(), key.size()) == 0) {
        s.value = value;
        return;
      }
    }
  }

  void clear() {
    for (Slot& s : slots_) s.len = kEmpty;
    arena_.clear();
    size_ = 0;
  }

 private:
  static constexpr std::uint32_t kEmpty = 0xFFFFFFFFu;
  struct Slot {
    std::uint64_t hash = 0;
    std::uint32_t offset = 0;
    std::uint32_t len = kEmpty;
    V value{};
  };
  static std::size_t capacity_for(std::size_t n) {
    std::size_t c = 16;
    while (c * 3 < n * 4 + 4) c *= 2;
    return c;
  }
  void rehash(std::size_t capacity) {
    std::vector<Slot> old;
    old.swap(slots_);
    slots_.assign(capacity, Slot{});
    mask_ = capacity - 1;
    for (const Slot& s : old) {
      if (s.len == kEmpty) continue;
      for (std::size_t i = s.hash & mask_;; i = (i + 1) & mask_) {
        if (slots_[i].len == kEmpty) {
          slots_[i] = s;
          break;
        }
      }
    }
  }

  std::vector<Slot> slots_;
  std::string arena_;
  std::size_t size_ = 0, mask_ = 0;
};

// (left id, right id) -> (rank, merged id).
class MergeMap {
 public:
  struct Merge {
    std::uint32_t rank;
    std::int32_t new_id;
  };
  void reserve(std::size_t n) {
    std::size_t c = 16;
    while (c < n * 2) c *= 2;
    slots_.assign(c, Slot{});
    mask_ = c - 1;
  }
  void put(std::int32_t a, std::int32_t b, Merge m) {
    const std::uint64_t key = make_key(a, b);
    for (std::size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
      if (slots_[i].key == kEmpty || slots_[i].key == key) {
        slots_[i] = {key, m};
        return;
      }
    }
  }
  const Merge* find(std::int32_t a, std::int32_t b) const {
    const std::uint64_t key = make_key(a, b);
    for (std::size_t i = mix(key) & mask_;; i = (i + 1) & mask_) {
      const Slot& s = slots_[i];
      if (s.key == key) return &s.merge;
      if (s.key == kEmpty) return nullptr;
    }
  }

 private:
  static constexpr std::uint64_t kEmpty = ~0ULL;
  struct Slot {
    std::uint64_t key = kEmpty;
    Merge merge{};
  };
  static std::uint64_t make_key(std::int32_t a, std::int32_t b) {
    return (static_cast<std::uint64_t>(static_cast<std::uint32_t>(a)) << 32) | static_cast<std::uint32_t>(b);
  }
  static std::uint64_t mix(std::uint64_t k) {
    k *= 0x9E3779B97F4A7C15ULL;
    return k ^ (k >> 29);
  }
  std::vector<Slot> slots_;
  std::size_t mask_ = 0;
};

}  // namespace ferrite::tokenizer
