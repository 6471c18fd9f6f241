// libFuzzer target: UEFI event log parsing, replay, rendering and the
// reference-state generator/checker. Base64 input (like mb_log.b64) is
// decoded first, as attestctl does. Invariants checked: a generated
// reference state survives its JSON round trip and accepts the log it came
// from whenever the log's contents decode and match their digests.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/eventlog/event_log.h"
#include "common/eventlog/policy.h"
#include "common/eventlog/render.h"
#include "common/eventlog/replay.h"

using namespace attest::eventlog;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::span<const uint8_t> in(data, size);
  Bytes decoded;
  static constexpr uint8_t kMagic[8] = {0, 0, 0, 0, 3, 0, 0, 0};
  if (size >= 8 && !std::equal(kMagic, kMagic + 8, data)) {
    if (auto b = Base64Decode(std::string_view(reinterpret_cast<const char*>(data), size))) {
      decoded = std::move(*b);
      in = decoded;
    }
  }
  ParseLimits limits;
  limits.max_log_bytes = 4u << 20;
  auto log = ParseEventLog(in, limits);
  if (!log) return 0;
  auto pcrs = Replay(*log);
  if (pcrs && !ComparePcrs(*pcrs, *pcrs, {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 14}).empty())
    std::abort();
  (void)EventLogToJson(*log).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  for (const auto& e : log->events) (void)EventSummary(e);

  ReferenceState ref = GenerateReferenceState(*log);
  auto reparsed = ParseReferenceState(SerializeReferenceState(ref));
  if (!reparsed) std::abort();  // the generator must emit what the parser accepts
  auto failures = CheckReferenceState(*log, *reparsed, VerifiedPcrs::Offline());
  bool clean = VerifyEventDigests(*log).empty();
  for (const auto& e : log->events) clean = clean && e.decode_error.empty();
  // With no bank we can hash, the generated digest_alg is absent from the log.
  bool known_bank = false;
  for (const auto& a : log->spec.algorithms) known_bank = known_bank || HashAlgSize(a.alg_id) != 0;
  clean = clean && known_bank;
  // A log whose structure the PFP (or GRUB, for PCR 8) does not allow fails
  // whatever reference state it is checked against.
  clean = clean && CheckPcrUsage(*log).empty() && CheckTextEvents(*log, 8, ev::kIpl).empty();
  if (clean && !failures.empty()) std::abort();
  return 0;
}
