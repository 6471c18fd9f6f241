#include "tools/attest-bench/proc_stats.h"

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

namespace attest::bench {

namespace {

struct StatLine {
  pid_t ppid = 0;
  unsigned long long utime = 0, stime = 0, cutime = 0, cstime = 0;
};

std::optional<StatLine> ReadStat(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!stat || !std::getline(stat, line)) return std::nullopt;
  // Fields after "(comm)": the command may contain spaces and parentheses.
  auto close = line.rfind(')');
  if (close == std::string::npos) return std::nullopt;
  std::istringstream rest(line.substr(close + 1));
  std::string field;
  StatLine s;
  // rest starts at field 3 (state); ppid 4, utime 14, stime 15, cutime 16, cstime 17.
  for (int i = 3; i <= 17 && rest >> field; ++i) {
    unsigned long long v = std::strtoull(field.c_str(), nullptr, 10);
    if (i == 4) s.ppid = static_cast<pid_t>(v);
    if (i == 14) s.utime = v;
    if (i == 15) s.stime = v;
    if (i == 16) s.cutime = v;
    if (i == 17) s.cstime = v;
  }
  return s;
}

double RssMb(pid_t pid, double* hwm) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  double rss = 0;
  while (std::getline(status, line)) {
    auto kb = [&](const char* key) {
      return std::strtod(line.c_str() + std::char_traits<char>::length(key), nullptr) / 1024.0;
    };
    if (line.starts_with("VmRSS:")) rss = kb("VmRSS:");
    if (hwm && line.starts_with("VmHWM:")) *hwm = kb("VmHWM:");
  }
  return rss;
}

// `root` and its descendants, from one scan of /proc.
std::vector<pid_t> Tree(pid_t root) {
  std::vector<std::pair<pid_t, pid_t>> all;  // pid, ppid
  for (const auto& e : std::filesystem::directory_iterator("/proc")) {
    const std::string name = e.path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    pid_t pid = static_cast<pid_t>(std::stol(name));
    if (auto st = ReadStat(pid)) all.emplace_back(pid, st->ppid);
  }
  std::vector<pid_t> out{root};
  for (size_t i = 0; i < out.size(); ++i) {
    for (const auto& [pid, ppid] : all) {
      if (ppid == out[i]) out.push_back(pid);
    }
  }
  return out;
}

}  // namespace

std::optional<ProcSample> ReadProc(pid_t pid, bool tree) {
  auto root = ReadStat(pid);
  if (!root) return std::nullopt;
  long ticks = sysconf(_SC_CLK_TCK);
  const double tick = 1.0 / static_cast<double>(ticks > 0 ? ticks : 100);
  ProcSample s;
  if (tree) {
    for (pid_t p : Tree(pid)) {
      auto st = p == pid ? root : ReadStat(p);
      if (!st) continue;
      s.cpu_seconds += static_cast<double>(st->utime + st->stime + st->cutime + st->cstime) * tick;
      s.rss_mb += RssMb(p, nullptr);
    }
    s.hwm_mb = s.rss_mb;
    return s;
  }
  s.cpu_seconds = static_cast<double>(root->utime + root->stime) * tick;
  s.rss_mb = RssMb(pid, &s.hwm_mb);
  return s;
}

void ProcWatch::Add(std::string name, pid_t pid, bool tree) {
  procs_.push_back(
      WatchedProcess{std::move(name), pid, tree, std::nullopt, std::nullopt, 0, false});
}

void ProcWatch::Start() {
  for (auto& p : procs_) {
    p.start = p.last = ReadProc(p.pid, p.tree);
    if (!p.start) p.vanished = true;
    if (p.start) p.max_rss_mb = p.start->rss_mb;
  }
}

void ProcWatch::Sample() {
  for (auto& p : procs_) {
    auto s = ReadProc(p.pid, p.tree);
    if (!s) {
      p.vanished = true;
      continue;
    }
    // CPU going backwards means the PID was reused by a new process.
    if (p.last && s->cpu_seconds < p.last->cpu_seconds) p.vanished = true;
    p.last = s;
    p.max_rss_mb = std::max(p.max_rss_mb, s->rss_mb);
  }
}

}  // namespace attest::bench
