// The worker store's array literals, internal to store.cc.
//
// Thread-safety: plain values.
#pragma once

#include <charconv>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "verifier-workers/processor.h"

namespace attest::worker::store_internal {

// A PostgreSQL array literal built element by element (text format): the
// batch writes pass one array per column to unnest(), which is cheaper on
// both sides than a JSON document per row. Sized up front for `n` elements of
// about `width` characters: regrowing a 600 KB payload array was a visible
// share of the worker's copying.
class ArrayLiteral {
 public:
  explicit ArrayLiteral(size_t n = 0, size_t width = 8) { s_.reserve(2 + n * (width + 1)); }
  ArrayLiteral& Null() {
    Sep();
    s_ += "NULL";
    return *this;
  }
  ArrayLiteral& Int(int64_t v) {
    Sep();
    char buf[24];
    auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
    s_.append(buf, end);
    return *this;
  }
  template <typename T>
  ArrayLiteral& IntOrNull(const std::optional<T>& v) {
    return v ? Int(static_cast<int64_t>(*v)) : Null();
  }
  ArrayLiteral& Bool(bool v) {
    Sep();
    s_ += v ? 't' : 'f';
    return *this;
  }
  ArrayLiteral& Text(std::string_view v) {
    Sep();
    s_ += '"';
    // Runs without '"' or '\\' go in whole (UUIDs, states, '[]').
    while (!v.empty()) {
      const size_t special = v.find_first_of("\"\\");
      s_.append(v.substr(0, special));
      if (special == std::string_view::npos) break;
      s_ += '\\';
      s_ += v[special];
      v.remove_prefix(special + 1);
    }
    s_ += '"';
    return *this;
  }
  // bytea in hex input format; empty is NULL.
  ArrayLiteral& BytesOrNull(std::string_view v) { return v.empty() ? Null() : Bytes(v); }
  ArrayLiteral& Bytes(std::string_view v) {
    static constexpr char kDigits[] = "0123456789abcdef";
    Sep();
    s_ += "\"\\\\x";
    const size_t at = s_.size();
    s_.resize(at + 2 * v.size());
    char* out = s_.data() + at;
    for (unsigned char c : v) {
      *out++ = kDigits[c >> 4];
      *out++ = kDigits[c & 15];
    }
    s_ += '"';
    return *this;
  }
  // Once: the literal moves out.
  std::string Done() {
    s_ += '}';
    return std::move(s_);
  }

 private:
  void Sep() {
    if (!first_) s_ += ',';
    first_ = false;
  }
  std::string s_ = "{";
  bool first_ = true;
};

inline int64_t Micros(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
}

inline std::string_view AsText(const tpm::Bytes& b) {
  return std::string_view(reinterpret_cast<const char*>(b.data()), b.size());
}

}  // namespace attest::worker::store_internal
