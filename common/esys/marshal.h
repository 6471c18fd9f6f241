// Marshalling of TPM structures to/from bytes with libtss2-mu, wrapped so that
// every unmarshal checks that the whole input is consumed and every failure is
// an Error (errc::marshal_error), never a crash. Templates are instantiated for
// the mu functions of each type, e.g.
//   Marshal(pub, Tss2_MU_TPM2B_PUBLIC_Marshal)
//   Unmarshal<TPM2B_PUBLIC>(bytes, Tss2_MU_TPM2B_PUBLIC_Unmarshal, "EK public")
//
// Thread-safety: pure functions.
#pragma once

#include <tss2/tss2_mu.h>

#include <cstdint>
#include <string>
#include <vector>

#include "common/base/result.h"
#include "common/esys/errors.h"

namespace attest::esys {

using Bytes = std::vector<uint8_t>;

template <typename T>
using MarshalFn = TSS2_RC (*)(const T*, uint8_t[], size_t, size_t*);
template <typename T>
using UnmarshalFn = TSS2_RC (*)(const uint8_t[], size_t, size_t*, T*);

template <typename T>
Result<Bytes> Marshal(const T& value, MarshalFn<T> fn) {
  // Every TPM structure marshals to at most its in-memory size.
  Bytes out(sizeof(T));
  size_t offset = 0;
  TSS2_RC rc = fn(&value, out.data(), out.size(), &offset);
  if (rc != TSS2_RC_SUCCESS)
    return TssError(rc, "marshalling a TPM structure", errc::marshal_error);
  out.resize(offset);
  return out;
}

template <typename T>
Result<T> Unmarshal(const Bytes& in, UnmarshalFn<T> fn, const std::string& what) {
  T value{};
  size_t offset = 0;
  TSS2_RC rc = fn(in.data(), in.size(), &offset, &value);
  if (rc != TSS2_RC_SUCCESS) return TssError(rc, "unmarshalling " + what, errc::marshal_error);
  if (offset != in.size()) {
    return MakeError(
        errc::marshal_error,
        "unmarshalling " + what + ": " + std::to_string(in.size() - offset) + " trailing bytes");
  }
  return value;
}

}  // namespace attest::esys
