// Helpers shared by the IMA tests: test-vector paths and loading.
#pragma once

#include <filesystem>
#include <string>

#include "common/ima/log.h"
#include "common/ima/policy.h"
#include "tests/harness/util/process.h"

namespace attest::ima::test {

inline std::filesystem::path KeylimeDir() { return attest::testing::TestdataDir() / "keylime"; }
inline std::filesystem::path ImaDir() { return KeylimeDir() / "ima"; }
inline std::filesystem::path ConformanceDir() { return KeylimeDir() / "ima-conformance"; }

inline Log LoadLog(const std::filesystem::path& p) {
  auto log = Parse(attest::testing::ReadFile(p));
  if (!log) throw std::runtime_error(p.string() + ": " + log.error().message);
  return std::move(log).value();
}

inline RuntimePolicy LoadPolicy(const std::filesystem::path& p) {
  auto pol = RuntimePolicy::Parse(attest::testing::ReadFile(p));
  if (!pol) throw std::runtime_error(p.string() + ": " + pol.error().message);
  return std::move(pol).value();
}

}  // namespace attest::ima::test
