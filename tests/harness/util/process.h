// Test-harness utilities: child processes, free loopback ports, temp dirs.
// Every object cleans up in its destructor, so a fixture stops its servers
// even when a test fails or throws.
//
// Thread-safety: none; use each object from one thread.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

namespace attest::testing {

// A port on 127.0.0.1 that was free a moment ago (bound and closed), chosen
// at random below the kernel's ephemeral range so that no outgoing
// connection takes it before the caller's server binds it. `count`
// consecutive ports when count > 1 (for swtpm's port+1).
int FreePort(int count = 1);

// A directory under $TMPDIR removed (recursively) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "attest-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

// A child process started with execvp; killed (SIGTERM, then SIGKILL after a
// grace period) and reaped on destruction. stdout+stderr go to `log_file`
// when given, else are inherited.
class Subprocess {
 public:
  Subprocess(std::vector<std::string> argv, const std::string& log_file = "",
             const std::vector<std::string>& extra_env = {});
  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  bool Running();
  // Sends `sig`, waits up to `grace` for exit, then SIGKILL. Returns the wait
  // status (or -1 if already reaped).
  int Stop(int sig = 15, std::chrono::milliseconds grace = std::chrono::seconds(10));
  void Kill() { Stop(9, std::chrono::milliseconds(0)); }
  // Waits for exit up to `timeout`; returns the exit code, or -1 on timeout
  // or death by signal.
  int Wait(std::chrono::milliseconds timeout);

 private:
  pid_t pid_ = -1;
  int status_ = -1;
};

// Runs a command to completion; returns its exit code (or -1 on signal) and
// appends its combined stdout+stderr to `output` when non-null.
int RunCommand(const std::vector<std::string>& argv, std::string* output = nullptr,
               const std::vector<std::string>& extra_env = {});

// Polls `ready` every 50 ms until it returns true or `timeout` passes.
bool WaitFor(const std::function<bool()>& ready, std::chrono::milliseconds timeout);

// True when something accepts TCP connections on 127.0.0.1:port.
bool PortOpen(int port);

// Directory of the shared test vectors (../shared/testdata from the source
// tree, or $ATTEST_TESTDATA_DIR).
std::filesystem::path TestdataDir();

// Reads a whole file; throws std::runtime_error when it cannot.
std::string ReadFile(const std::filesystem::path& path);

}  // namespace attest::testing
