#include "tools/attest-bench/tracker.h"

#include <algorithm>
#include <cmath>

namespace attest::bench {

Tracker::Tracker(const std::vector<std::string>& uuids) {
  index_.reserve(uuids.size());
  for (size_t i = 0; i < uuids.size(); ++i) index_.emplace(uuids[i], static_cast<uint32_t>(i));
}

bool Tracker::Accepted(const std::string& evidence_id, AgentRound who, int64_t sent_ns) {
  std::lock_guard lock(mu_);
  ++c_.accepted;
  Sent s{who, sent_ns, false};
  if (auto e = early_.find(evidence_id); e != early_.end()) {
    s.decided = true;
    ++c_.matched;
    c_.latencies_ms.push_back(static_cast<double>(e->second.received_ns - sent_ns) / 1e6);
    early_.erase(e);
  }
  auto [it, inserted] = sent_.emplace(evidence_id, s);
  if (!inserted) ++c_.duplicates;  // the gateway handed out one evidence_id twice
  return s.decided;
}

std::optional<AgentRound> Tracker::OnVerdict(const std::string& agent_uuid, uint64_t sequence,
                                             const std::string& evidence_id,
                                             const std::string& result, int64_t received_ns) {
  std::lock_guard lock(mu_);
  auto a = index_.find(agent_uuid);
  if (a == index_.end()) {
    ++c_.foreign;
    return std::nullopt;
  }
  ++c_.verdicts;
  ++c_.by_result[result];
  uint64_t key = uint64_t{a->second} << 32 | (sequence & 0xffffffffu);
  if (!sequences_.insert(key).second) {
    ++c_.duplicates;
    return std::nullopt;
  }
  if (evidence_id.empty()) {
    ++c_.no_evidence;
    return std::nullopt;
  }
  auto s = sent_.find(evidence_id);
  if (s == sent_.end()) {
    if (early_.contains(evidence_id)) {
      ++c_.duplicates;
    } else {
      early_.emplace(evidence_id, Early{received_ns});
    }
    return std::nullopt;
  }
  if (s->second.decided) {
    ++c_.duplicates;
    return std::nullopt;
  }
  s->second.decided = true;
  ++c_.matched;
  c_.latencies_ms.push_back(static_cast<double>(received_ns - s->second.sent_ns) / 1e6);
  return s->second.who;
}

uint64_t Tracker::Outstanding() const {
  std::lock_guard lock(mu_);
  return c_.accepted - c_.matched;
}

TrackerCounts Tracker::Snapshot() const {
  std::lock_guard lock(mu_);
  TrackerCounts out = c_;
  out.missing = c_.accepted - c_.matched;
  out.unexpected = early_.size();
  std::sort(out.latencies_ms.begin(), out.latencies_ms.end());
  return out;
}

double Percentile(const std::vector<double>& sorted, double p) {
  if (sorted.empty()) return 0;
  double rank = std::ceil(p * static_cast<double>(sorted.size()));
  size_t i = rank < 1 ? 0 : static_cast<size_t>(rank) - 1;
  return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace attest::bench
