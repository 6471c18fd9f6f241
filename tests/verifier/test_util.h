// Helpers for the verifier tests: IMA lists from the Keylime vectors, PCR-10
// replay to compute what a TPM would hold, and failure lookups.
#pragma once

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/ima/log.h"
#include "common/ima/replay.h"
#include "common/verifier/verifier.h"
#include "tests/harness/util/process.h"

namespace attest::verifier::test {

inline std::filesystem::path KeylimeDir() { return attest::testing::TestdataDir() / "keylime"; }

inline ima::Log KeylimeImaLog() {
  auto log = ima::ParseAscii(
      attest::testing::ReadFile(KeylimeDir() / "ima" / "rust-keylime-ascii_runtime_measurements"));
  EXPECT_TRUE(log.ok()) << log.error().message;
  return log.ok() ? std::move(*log) : ima::Log{};
}

// Entries [from, to) of `log` as an ascii list.
inline std::string AsciiSlice(const ima::Log& log, size_t from, size_t to) {
  ima::Log part;
  part.template_hash_alg = log.template_hash_alg;
  part.entries.assign(log.entries.begin() + static_cast<std::ptrdiff_t>(from),
                      log.entries.begin() + static_cast<std::ptrdiff_t>(to));
  return ima::WriteAscii(part);
}

// PCR 10 of `bank` after extending entries [0, n) from zero.
inline tpm::Bytes ImaPcr(const ima::Log& log, size_t n, ima::HashAlg bank = ima::HashAlg::kSha256) {
  const ima::HashAlg banks[] = {bank};
  auto st = ima::ReplayState::Initial(banks);
  (void)ima::Replay(st, std::span(log.entries).first(n), {});
  auto v = st.Pcr(bank)->view();
  return tpm::Bytes(v.begin(), v.end());
}

inline const Failure* Find(const Verdict& v, std::string_view id) {
  for (const auto& f : v.failures) {
    if (f.event_id == id) return &f;
  }
  return nullptr;
}

inline nlohmann::json Context(const Failure& f) {
  return nlohmann::json::parse(checks::ContextJson(f.context));
}

inline std::string Describe(const Verdict& v) {
  std::string out = std::string(OutcomeName(v.result)) + "\n";
  for (const auto& f : v.failures)
    out += "  " + f.event_id + " " + checks::ContextJson(f.context) + "\n";
  return out;
}

}  // namespace attest::verifier::test
