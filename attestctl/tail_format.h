// Filtering and one-line rendering of verdicts and revocations for
// `attestctl verdicts tail` (text for people, JSON lines for SIEMs).
//
// Text:
//   <time> <agent> seq=<n> <result> state=<STATE> [reboot] [failures: id (path), ...]
//       [signature=<check>]   (with --verdict-key)
//   <time> <agent> seq=<n> revoked reason=<r> events=<id,...> key=<id> signature=<check>
// JSON: a verdict is its Protobuf JSON mapping (plus "signatureCheck" with
//   --verdict-key); a revocation is
//   {"revocation": <RevocationEvent>, "keyId", "signatureAlgorithm",
//    "signatureCheck": "valid"|"invalid"|"unchecked"}.
//
// Thread-safety: pure functions; TailFilter is immutable once filled.
#pragma once

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <cctype>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <stdexcept>
#include <string>

#include "attest/v1/verdict.pb.h"
#include "attestctl/record_codec.h"
#include "common/base/uuid.h"

namespace attest::ctl {

enum class SignatureCheck { kUnchecked, kValid, kInvalid };

// "VERDICT_RESULT_LOG_REQUESTED" -> "log_requested": the --result spelling.
inline std::string ResultName(v1::VerdictResult r) {
  std::string name = v1::VerdictResult_Name(r);
  const std::string prefix = "VERDICT_RESULT_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return name.empty() ? std::to_string(static_cast<int>(r)) : name;
}

// "AGENT_STATE_FAILED" -> "FAILED", as the enrolments table spells it.
inline std::string StateName(v1::AgentState s) {
  std::string name = v1::AgentState_Name(s);
  const std::string prefix = "AGENT_STATE_";
  if (name.rfind(prefix, 0) == 0) name = name.substr(prefix.size());
  return name.empty() ? std::to_string(static_cast<int>(s)) : name;
}

struct TailFilter {
  std::set<std::string> agents;   // lower-case UUIDs; empty: all
  std::set<std::string> results;  // ResultName spellings; empty: all

  bool MatchesAgent(const std::string& uuid) const {
    if (agents.empty()) return true;
    auto id = ParseUuid(uuid);
    return id.ok() && agents.count(*id) > 0;
  }
  bool MatchesVerdict(const v1::Verdict& v) const {
    return MatchesAgent(v.agent_uuid()) &&
           (results.empty() || results.count(ResultName(v.result())) > 0);
  }
  // A revocation always follows a fail: --result selects verdicts only.
  bool MatchesRevocation(const v1::RevocationEvent& e) const {
    return MatchesAgent(e.agent_uuid());
  }
};

// The record's own time, else the Kafka timestamp, else "-".
inline std::string TimeText(const google::protobuf::Timestamp& t, int64_t kafka_ms) {
  using google::protobuf::util::TimeUtil;
  if (t.seconds() != 0 || t.nanos() != 0) return TimeUtil::ToString(t);
  if (kafka_ms >= 0) return TimeUtil::ToString(TimeUtil::MillisecondsToTimestamp(kafka_ms));
  return "-";
}

// "event_id (path)" when the failure's JSON context names a path.
inline std::string FailureText(const v1::Failure& f) {
  std::string out = f.event_id().empty() ? "(no event id)" : f.event_id();
  const auto ctx = nlohmann::json::parse(f.context(), nullptr, false);
  if (ctx.is_object()) {
    auto it = ctx.find("path");
    if (it != ctx.end() && it->is_string()) out += " (" + it->get<std::string>() + ")";
  }
  return out;
}

inline std::string CheckName(SignatureCheck c);

inline std::string VerdictText(const v1::Verdict& v, int64_t kafka_ms,
                               SignatureCheck check = SignatureCheck::kUnchecked) {
  std::string line = TimeText(v.time(), kafka_ms) + " " + v.agent_uuid() +
                     " seq=" + std::to_string(v.sequence()) + " " + ResultName(v.result()) +
                     " state=" + StateName(v.state());
  if (v.reboot()) line += " reboot";
  for (int i = 0; i < v.failures_size(); ++i) {
    line += (i == 0 ? " failures: " : ", ") + FailureText(v.failures(i));
  }
  if (check != SignatureCheck::kUnchecked) line += " signature=" + CheckName(check);
  return line;
}

inline std::string CheckName(SignatureCheck c) {
  switch (c) {
    case SignatureCheck::kValid:
      return "valid";
    case SignatureCheck::kInvalid:
      return "invalid";
    default:
      return "unchecked";
  }
}

inline std::string RevocationText(const DecodedRevocation& r, SignatureCheck check,
                                  int64_t kafka_ms) {
  const auto& e = r.event;
  std::string events;
  for (const auto& id : e.event_ids()) events += (events.empty() ? "" : ",") + id;
  return TimeText(e.time(), kafka_ms) + " " + e.agent_uuid() +
         " seq=" + std::to_string(e.sequence()) + " revoked reason=" + e.reason() +
         " events=" + (events.empty() ? "-" : events) + " key=" + r.signed_event.key_id() +
         " signature=" + CheckName(check);
}

inline std::string VerdictJson(const v1::Verdict& v,
                               SignatureCheck check = SignatureCheck::kUnchecked) {
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(v, &out);
  if (check == SignatureCheck::kUnchecked) return out;
  nlohmann::json j = nlohmann::json::parse(out, nullptr, false);
  if (!j.is_object()) j = nlohmann::json::object();
  j["signatureCheck"] = CheckName(check);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

inline std::string RevocationJson(const DecodedRevocation& r, SignatureCheck check) {
  std::string event;
  (void)google::protobuf::util::MessageToJsonString(r.event, &event);
  nlohmann::json j;
  j["revocation"] = nlohmann::json::parse(event, nullptr, false);
  j["keyId"] = r.signed_event.key_id();
  j["signatureAlgorithm"] = r.signed_event.signature_algorithm();
  j["signatureCheck"] = CheckName(check);
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

// A small file (a PEM key), at most 1 MiB; throws std::runtime_error.
inline std::string ReadFileLimited(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("cannot open file");
  std::string data;
  char buf[4096];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    data.append(buf, static_cast<size_t>(in.gcount()));
    if (data.size() > (1u << 20)) throw std::runtime_error("larger than 1 MiB");
  }
  if (in.bad()) throw std::runtime_error("read failed");
  return data;
}

}  // namespace attest::ctl
