// Helpers shared by the quote tests: reading the Keylime vector files.
#pragma once

#include <filesystem>
#include <string>

#include "common/tpm/marshal.h"
#include "common/verify/quote.h"
#include "tests/harness/util/process.h"

namespace attest::testing {

inline tpm::Bytes ReadBytes(const std::filesystem::path& p) {
  std::string s = ReadFile(p);
  return tpm::Bytes(s.begin(), s.end());
}

inline bool HasEvent(const verify::QuoteResult& r, const std::string& id) {
  for (const auto& f : r.failures) {
    if (f.event_id == id) return true;
  }
  return false;
}

// All failures, one per line, for assertion messages.
inline std::string Ids(const verify::QuoteResult& r) {
  std::string out;
  for (const auto& f : r.failures) out += f.event_id + " " + f.context + "\n";
  return out;
}

inline std::filesystem::path KeylimeQuoteDir() { return TestdataDir() / "keylime" / "quote"; }

}  // namespace attest::testing
