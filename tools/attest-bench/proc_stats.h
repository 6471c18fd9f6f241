// CPU time and memory of service processes from /proc (Linux): utime+stime
// of /proc/PID/stat (all threads, in seconds) and the resident set (VmRSS,
// and the peak VmHWM) of /proc/PID/status.
//
// Thread-safety: ProcWatch is driven by one thread (Sample from a timer).
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

namespace attest::bench {

struct ProcSample {
  double cpu_seconds = 0;
  double rss_mb = 0;
  double hwm_mb = 0;
};

// nullopt when the process is gone or /proc is unreadable. With `tree`, CPU
// and RSS are summed over the process and all its descendants (PostgreSQL's
// backends), CPU including reaped children (cutime+cstime).
std::optional<ProcSample> ReadProc(pid_t pid, bool tree = false);

struct WatchedProcess {
  std::string name;
  pid_t pid = 0;
  bool tree = false;
  std::optional<ProcSample> start, last;
  double max_rss_mb = 0;
  bool vanished = false;  // the process exited (or restarted) during the run
};

class ProcWatch {
 public:
  void Add(std::string name, pid_t pid, bool tree = false);
  void Start();   // first sample
  void Sample();  // periodic: max RSS, last CPU
  const std::vector<WatchedProcess>& processes() const { return procs_; }

 private:
  std::vector<WatchedProcess> procs_;
};

}  // namespace attest::bench
