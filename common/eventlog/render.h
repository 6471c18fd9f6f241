// JSON and human-readable renderings of parsed logs, replayed PCRs and
// failures, shared by attestctl and the verifier's diagnostics. Pure; all
// output is valid UTF-8 (non-UTF-8 bytes appear as hex).
#pragma once

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/eventlog/event_log.h"
#include "common/eventlog/replay.h"

namespace attest::eventlog {

nlohmann::json EventToJson(const Event& e);
nlohmann::json EventLogToJson(const EventLog& log);
// {"pcrs": {"sha256": {"0": "<hex>", ...}, "sha1": {...}}}
nlohmann::json PcrsToJson(const PcrValues& pcrs);
nlohmann::json FailuresToJson(const std::vector<Failure>& failures);

// One line per event ("#12 PCR7 EV_EFI_VARIABLE_DRIVER_CONFIG ...").
std::string EventSummary(const Event& e);

}  // namespace attest::eventlog
