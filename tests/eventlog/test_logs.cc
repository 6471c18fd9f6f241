#include "tests/eventlog/test_logs.h"

#include <gtest/gtest.h>

#include <stdexcept>

#include "common/eventlog/replay.h"
#include "tests/harness/util/process.h"

namespace attest::eventlog::testing {

std::filesystem::path UefiDir() { return attest::testing::TestdataDir() / "keylime" / "uefi"; }

Bytes KeylimeLog() {
  std::string s = attest::testing::ReadFile(UefiDir() / "binary_bios_measurements");
  return Bytes(s.begin(), s.end());
}

Bytes MbLog() {
  auto b = Base64Decode(attest::testing::ReadFile(UefiDir() / "mb_log.b64"));
  if (!b) throw std::runtime_error("mb_log.b64 is not base64");
  return *b;
}

EventLog ParseOrDie(const Bytes& log) {
  auto parsed = ParseEventLog(log);
  if (!parsed) throw std::runtime_error("parse failed: " + parsed.error().ToString());
  return std::move(parsed).value();
}

void RecomputeDigests(Bytes& log, const Event& e) {
  size_t pos = e.offset + 12;  // PCR index, event type, digest count
  Bytes data(log.begin() + static_cast<std::ptrdiff_t>(e.data_offset),
             log.begin() + static_cast<std::ptrdiff_t>(e.data_offset + e.data.size()));
  for (const Digest& d : e.digests) {
    uint16_t alg_id = static_cast<uint16_t>(log.at(pos) | log.at(pos + 1) << 8);
    ASSERT_EQ(alg_id, d.alg_id);
    auto h = HashBytes(alg_id, data);
    ASSERT_TRUE(h.ok());
    std::copy(h->begin(), h->end(), log.begin() + static_cast<std::ptrdiff_t>(pos + 2));
    pos += 2 + d.value.size();
  }
}

}  // namespace attest::eventlog::testing
