#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "tools/attest-bench/run.h"

namespace attest::bench {
namespace {

nlohmann::json StatusMap(const std::map<int, uint64_t>& m) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& [status, n] : m) j[status == 0 ? "transport" : std::to_string(status)] = n;
  return j;
}

uint64_t Sum(const std::map<int, uint64_t>& m) {
  uint64_t s = 0;
  for (const auto& [k, v] : m) s += v;
  return s;
}

}  // namespace

std::string RunReportJson(const RunReport& r, const RunOptions& o) {
  const auto& t = r.tracker;
  const auto& l = t.latencies_ms;
  nlohmann::json procs = nlohmann::json::array();
  for (const auto& p : r.processes) {
    nlohmann::json j = {{"name", p.name}, {"pid", p.pid}, {"vanished", p.vanished}};
    if (p.start && p.last) {
      double cpu = p.last->cpu_seconds - p.start->cpu_seconds;
      j["cpu_seconds"] = cpu;
      j["cpu_ms_per_attestation"] =
          t.accepted > 0 ? cpu * 1000.0 / static_cast<double>(t.accepted) : 0.0;
      j["cpu_cores"] = r.seconds + r.drain_seconds > 0 ? cpu / (r.seconds + r.drain_seconds) : 0.0;
      j["rss_mb"] = p.last->rss_mb;
      j["max_rss_mb"] = p.max_rss_mb;
    }
    procs.push_back(std::move(j));
  }
  nlohmann::json by_result = nlohmann::json::object();
  for (const auto& [k, v] : t.by_result) by_result[k] = v;
  nlohmann::json j = {{"config",
                       {{"agents", r.agents},
                        {"gateways", o.gateways},
                        {"rate", o.flat_out ? 0.0 : o.rate},
                        {"flat_out", o.flat_out},
                        {"duration_s", std::chrono::duration<double>(o.duration).count()},
                        {"connections", o.connections},
                        {"threads", o.threads},
                        {"ima_entries_per_round", o.ima_entries_per_round}}},
                      {"seconds", r.seconds},
                      {"drain_seconds", r.drain_seconds},
                      {"rounds", r.rounds},
                      {"accepted", t.accepted},
                      {"attestations_per_s", r.attestations_per_second()},
                      {"refused", StatusMap(r.refused)},
                      {"refused_total", Sum(r.refused)},
                      {"challenge_refused", StatusMap(r.challenge_refused)},
                      {"throttled", StatusMap(r.throttled)},
                      {"retries", r.retries},
                      {"transport_errors", r.transport_errors},
                      {"protocol_errors", r.protocol_errors},
                      {"connects", r.connects},
                      {"verdicts", t.verdicts},
                      {"verdicts_by_result", by_result},
                      {"matched", t.matched},
                      {"missing", t.missing},
                      {"duplicates", t.duplicates},
                      {"unexpected", t.unexpected},
                      {"no_evidence_verdicts", t.no_evidence},
                      {"foreign_verdicts", t.foreign},
                      {"verdict_timeouts", r.verdict_timeouts},
                      {"latency_ms",
                       {{"count", l.size()},
                        {"p50", Percentile(l, 0.50)},
                        {"p90", Percentile(l, 0.90)},
                        {"p99", Percentile(l, 0.99)},
                        {"max", l.empty() ? 0.0 : l.back()}}},
                      {"processes", procs}};
  return j.dump(2);
}

std::string RunReportText(const RunReport& r) {
  const auto& t = r.tracker;
  const auto& l = t.latencies_ms;
  std::string out = fmt::format(
      "agents {}  load {:.1f} s  drain {:.1f} s\n"
      "accepted {} ({:.0f} attestations/s)  refused {}  challenge refused {}  throttled {}  "
      "retries {}  transport errors {}  protocol errors {}\n"
      "verdicts {}  matched {}  missing {}  duplicates {}  unexpected {}  without evidence {}\n"
      "latency ms (evidence sent -> verdict consumed): p50 {:.1f}  p90 {:.1f}  p99 {:.1f}  max "
      "{:.1f}\n",
      r.agents, r.seconds, r.drain_seconds, t.accepted, r.attestations_per_second(), Sum(r.refused),
      Sum(r.challenge_refused), Sum(r.throttled), r.retries, r.transport_errors, r.protocol_errors,
      t.verdicts, t.matched, t.missing, t.duplicates, t.unexpected, t.no_evidence,
      Percentile(l, 0.5), Percentile(l, 0.9), Percentile(l, 0.99), l.empty() ? 0.0 : l.back());
  out += "verdicts by result:";
  for (const auto& [k, v] : t.by_result) out += fmt::format(" {} {}", k, v);
  out += "\n";
  for (const auto& p : r.processes) {
    if (!p.start || !p.last) {
      out += fmt::format("{:<16} pid {:<8} (not readable)\n", p.name, p.pid);
      continue;
    }
    double cpu = p.last->cpu_seconds - p.start->cpu_seconds;
    out += fmt::format(
        "{:<16} pid {:<8} cpu {:7.2f} s  {:6.3f} ms/attestation  rss {:7.1f} MB  "
        "max {:7.1f} MB{}\n",
        p.name, p.pid, cpu, t.accepted ? cpu * 1000.0 / static_cast<double>(t.accepted) : 0.0,
        p.last->rss_mb, p.max_rss_mb, p.vanished ? "  (exited/restarted)" : "");
  }
  return out;
}

}  // namespace attest::bench
