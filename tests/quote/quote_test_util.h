// Helpers shared by the quote tests: reading the Keylime vector files.
#pragma once

#include <gtest/gtest.h>
#include <tss2/tss2_tpm2_types.h>

#include <filesystem>
#include <string>

#include "common/checks/quote.h"
#include "common/tpm/marshal.h"
#include "tests/harness/util/process.h"

namespace attest::testing {

inline tpm::Bytes ReadBytes(const std::filesystem::path& p) {
  std::string s = ReadFile(p);
  return tpm::Bytes(s.begin(), s.end());
}

inline bool HasEvent(const checks::QuoteResult& r, const std::string& id) {
  for (const auto& f : r.failures) {
    if (f.event_id == id) return true;
  }
  return false;
}

// All failures, one per line, for assertion messages.
inline std::string Ids(const checks::QuoteResult& r) {
  std::string out;
  for (const auto& f : r.failures) out += f.event_id + " " + checks::ContextJson(f.context) + "\n";
  return out;
}

// A signing scheme for parameterised tests: key type and curve, scheme, hash.
struct Scheme {
  const char* name;
  bool rsa;
  TPMI_ECC_CURVE curve;
  TPMI_ALG_SIG_SCHEME sig;
  TPMI_ALG_HASH hash;
};
inline std::string SchemeName(const ::testing::TestParamInfo<Scheme>& info) {
  return info.param.name;
}

inline std::filesystem::path KeylimeQuoteDir() { return TestdataDir() / "keylime" / "quote"; }

}  // namespace attest::testing
