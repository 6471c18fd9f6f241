// Internal: a bounds-checked little-endian cursor over a byte span. Every read
// returns false instead of reading past the end; callers turn that into an
// error naming the offset (base + position) and the field.
#pragma once

#include <cstdint>
#include <cstring>
#include <span>

namespace attest::eventlog::internal {

class Reader {
 public:
  Reader(std::span<const uint8_t> buf, size_t base = 0) : buf_(buf), base_(base) {}

  size_t pos() const { return pos_; }
  size_t offset() const { return base_ + pos_; }  // absolute offset in the log
  size_t remaining() const { return buf_.size() - pos_; }
  bool done() const { return pos_ == buf_.size(); }

  bool U8(uint8_t* v) { return Le(v, 1); }
  bool U16(uint16_t* v) { return Le(v, 2); }
  bool U32(uint32_t* v) { return Le(v, 4); }
  bool U64(uint64_t* v) { return Le(v, 8); }

  // A view of the next n bytes (n may come from input: checked, no overflow).
  bool Take(uint64_t n, std::span<const uint8_t>* out) {
    if (n > remaining()) return false;
    *out = buf_.subspan(pos_, static_cast<size_t>(n));
    pos_ += static_cast<size_t>(n);
    return true;
  }
  bool Skip(uint64_t n) {
    std::span<const uint8_t> ignored;
    return Take(n, &ignored);
  }

 private:
  template <typename T>
  bool Le(T* v, size_t n) {
    if (remaining() < n) return false;
    T out = 0;
    for (size_t i = 0; i < n; ++i) out |= static_cast<T>(static_cast<T>(buf_[pos_ + i]) << (8 * i));
    *v = out;
    pos_ += n;
    return true;
  }

  std::span<const uint8_t> buf_;
  size_t base_;
  size_t pos_ = 0;
};

}  // namespace attest::eventlog::internal
