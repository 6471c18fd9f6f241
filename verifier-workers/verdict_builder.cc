#include "verifier-workers/verdict_builder.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "verifier-workers/findings.h"

namespace attest::worker {
namespace {

using nlohmann::json;
namespace pbu = google::protobuf::util;

v1::Severity SeverityOf(checks::Severity s) {
  switch (s) {
    case checks::Severity::kInfo:
    case checks::Severity::kNotice:
      return v1::SEVERITY_INFO;
    case checks::Severity::kWarning:
      return v1::SEVERITY_WARNING;
    default:
      return v1::SEVERITY_CRITICAL;
  }
}

void SetTime(google::protobuf::Timestamp* ts, Clock::time_point t) {
  auto us = std::chrono::duration_cast<std::chrono::microseconds>(t.time_since_epoch()).count();
  *ts = pbu::TimeUtil::MicrosecondsToTimestamp(us);
}

// A finding at the edge: its context as JSON object text.
struct RenderedFinding {
  std::string_view event_id;
  v1::Severity severity;
  std::string context;
};

std::string FailuresJson(const std::vector<RenderedFinding>& fs) {
  if (fs.empty()) return "[]";  // a pass: no JSON document to build
  json arr = json::array();
  for (const auto& f : fs) {
    json ctx = json::parse(f.context, nullptr, false);
    if (ctx.is_discarded()) ctx = json{{"message", f.context}};
    arr.push_back({{"type", v1::Severity_Name(f.severity)},
                   {"event_id", f.event_id},
                   {"context", std::move(ctx)}});
  }
  return arr.dump(-1, ' ', false, json::error_handler_t::replace);
}

// A verdict and its revocation must each stay one Kafka message (the
// worker's producer keeps librdkafka's 1 MB default) whatever an agent sends:
// an authentic list of 28,000 unknown files would give 56,000 findings. The
// first ones are kept (they name the first violations) and one more says how
// many were left out.
constexpr size_t kMaxFindings = 64;
constexpr size_t kMaxFindingsBytes = 256 * 1024;

std::vector<RenderedFinding> Render(const std::vector<Finding>& fs) {
  std::vector<RenderedFinding> out;
  size_t bytes = 0;
  for (const Finding& f : fs) {
    if (out.size() == kMaxFindings) break;
    std::string text = checks::ContextJson(f.context);
    if (bytes + text.size() + f.event_id.size() > kMaxFindingsBytes) break;
    bytes += text.size() + f.event_id.size();
    out.push_back(RenderedFinding{f.event_id, f.severity, std::move(text)});
  }
  if (out.size() == fs.size()) return out;
  const size_t omitted = fs.size() - out.size();
  out.push_back(
      RenderedFinding{findings::kFindingsTruncated, v1::SEVERITY_WARNING,
                      checks::ContextJson({{"message", "more findings than a verdict carries"},
                                           {"omitted", omitted}})});
  return out;
}

v1::Verdict BuildVerdict(const Context& ctx, const AgentRow& row, const VerdictInput& in,
                         const std::vector<RenderedFinding>& fs) {
  v1::Verdict v;
  v.set_agent_uuid(row.agent_id);
  v.set_sequence(static_cast<uint64_t>(row.sequence));
  v.set_result(in.result);
  for (const auto& f : fs) {
    auto* pf = v.add_failures();
    pf->set_event_id(std::string(f.event_id));
    pf->set_severity(f.severity);
    pf->set_context(f.context);
  }
  auto* t = v.mutable_timings();
  SetTime(t->mutable_evidence_received(), in.received);
  SetTime(t->mutable_verified(), in.now);
  t->set_verification_micros(static_cast<uint64_t>(std::max<int64_t>(in.verify_micros, 0)));
  auto* pv = v.mutable_policy_versions();
  const AgentPolicyRefs& pol = in.policies;
  if (pol.pcr) pv->set_pcr(static_cast<uint64_t>(pol.pcr->version));
  if (pol.runtime) pv->set_runtime(static_cast<uint64_t>(pol.runtime->version));
  if (pol.mb) pv->set_measured_boot(static_cast<uint64_t>(pol.mb->version));
  v.set_evidence_id(std::string(in.evidence_id));
  v.set_previous_state(ToProto(in.previous_state));
  v.set_state(ToProto(row.state));
  v.set_reboot(in.reboot);
  v.set_worker_id(ctx.worker_id);
  SetTime(v.mutable_time(), in.now);
  v.set_backend_id(ctx.backend_id);
  if (ctx.sign_verdicts && ctx.signer != nullptr) v.set_signer_key_id(ctx.signer->key_id());
  return v;
}

// The signed revocation of a transition to FAILED; nullopt if signing failed.
std::optional<OutboxRecord> Revocation(const Context& ctx, const AgentRow& row,
                                       Clock::time_point now,
                                       const std::vector<RenderedFinding>& fs) {
  v1::RevocationEvent ev;
  ev.set_agent_uuid(row.agent_id);
  ev.set_sequence(static_cast<uint64_t>(row.sequence));
  ev.set_reason(fs.empty() ? "attestation failed" : std::string(fs.front().event_id));
  std::vector<std::string_view> ids;  // each id once: the event stays small
  for (const auto& f : fs) {
    if (std::find(ids.begin(), ids.end(), f.event_id) == ids.end()) ids.push_back(f.event_id);
  }
  for (auto id : ids) ev.add_event_ids(std::string(id));
  SetTime(ev.mutable_time(), now);
  ev.set_worker_id(ctx.worker_id);
  ev.set_backend_id(ctx.backend_id);
  auto signed_ev = ctx.signer->Sign(ev);
  if (!signed_ev) return std::nullopt;
  OutboxRecord rec;
  rec.topic = ctx.revocation_topic;
  rec.key = row.agent_id;
  rec.partition = row.partition;
  if (ctx.encoding == Encoding::kJson) {
    rec.content_type = "application/json";
    (void)pbu::MessageToJsonString(*signed_ev, &rec.payload);
  } else {
    rec.content_type = "application/x-protobuf";
    signed_ev->SerializeToString(&rec.payload);
  }
  return rec;
}

void FillHistory(const AgentRow& row, const VerdictInput& in,
                 const std::vector<RenderedFinding>& fs, HistoryRecord& h) {
  h.agent_id = row.agent_id;
  h.sequence = row.sequence;
  h.result = in.result;
  h.state = row.state;
  h.failures_json = FailuresJson(fs);
  h.pcr_policy_id = row.pcr_policy_id;
  h.runtime_policy_id = row.runtime_policy_id;
  h.mb_policy_id = row.mb_policy_id;
  if (row.vstate.clock) {
    h.quote_clock = static_cast<int64_t>(row.vstate.clock->clock);
    h.quote_reset_count = row.vstate.clock->reset_count;
    h.quote_restart_count = row.vstate.clock->restart_count;
  }
  h.ima_entries = in.ima_entries;
  if (in.ref) {
    h.kafka_partition = in.ref->partition;
    h.kafka_offset = in.ref->offset;
  }
  if (in.verify_micros > 0) h.verify_micros = in.verify_micros;
}

}  // namespace

Finding MakeFinding(std::string_view id, std::string_view message) {
  return Finding{std::string(id), v1::SEVERITY_CRITICAL, {{"message", message}}};
}

Finding ToFinding(const checks::Failure& f) {
  return Finding{f.event_id, SeverityOf(f.severity), f.context};
}

Outcome Finish(const Context& ctx, AgentRow& row, VerdictInput in) {
  const std::vector<RenderedFinding> fs = Render(in.findings);
  Outcome out;
  out.result = in.result;
  out.verify_micros = in.verify_micros;
  row.sequence += 1;
  row.dirty = true;
  out.outbox.push_back(EncodeVerdict(ctx, BuildVerdict(ctx, row, in, fs), row.partition));
  // A transition to FAILED is revoked (once: a failed agent stays failed).
  if (in.result == v1::VERDICT_RESULT_FAIL && in.previous_state != EnrolmentState::kFailed &&
      row.state == EnrolmentState::kFailed && ctx.signer != nullptr) {
    if (auto rec = Revocation(ctx, row, in.now, fs)) out.outbox.push_back(std::move(*rec));
  }
  FillHistory(row, in, fs, out.history);
  return out;
}

OutboxRecord EncodeVerdict(const Context& ctx, const v1::Verdict& verdict, int32_t partition) {
  OutboxRecord rec;
  rec.topic = ctx.verdict_topic;
  rec.key = verdict.agent_uuid();
  rec.partition = partition;
  if (ctx.encoding == Encoding::kJson) {
    rec.content_type = "application/json";
    (void)pbu::MessageToJsonString(verdict, &rec.payload);
  } else {
    rec.content_type = "application/x-protobuf";
    verdict.SerializeToString(&rec.payload);
  }
  // Signed over the exact value consumers decode; the relay moves the
  // signature into headers. Should signing fail (no memory), the verdict
  // goes out without headers: verifying consumers see it as unsigned.
  if (ctx.sign_verdicts && ctx.signer != nullptr) {
    auto sv = ctx.signer->SignVerdict(rec.payload, rec.content_type);
    if (sv) {
      rec.content_type = std::string(kSignedVerdictContentType);
      sv->SerializeToString(&rec.payload);
    }
  }
  return rec;
}

}  // namespace attest::worker
