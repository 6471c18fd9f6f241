// Time as text: the one formatter of UTC timestamps for people and JSON.
//
// Thread-safety: pure.
#pragma once

#include <time.h>

#include <cstdint>
#include <ctime>
#include <string>

namespace attest {

// "2026-12-04T22:30:00Z" (RFC 3339, UTC, whole seconds) for seconds since
// the epoch.
inline std::string Rfc3339Utc(int64_t epoch_seconds) {
  const time_t secs = static_cast<time_t>(epoch_seconds);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace attest
