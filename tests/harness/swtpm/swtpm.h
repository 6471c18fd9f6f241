// Swtpm: a software TPM 2.0 (swtpm socket mode) for tests, on free loopback
// ports, with its state in a temp dir. Optionally manufactured by swtpm_setup
// with an EK certificate (and platform certificate) issued by a local CA that
// lives in the same temp dir, so nothing global (/etc, /var/lib) is touched.
//
// The swtpm TCTI of tpm2-tss expects the control port at server port + 1;
// swtpm has no resource manager, so callers must flush their transient objects
// and sessions (Esys_FlushContext, `tpm2_flushcontext -t -s`).
//
// The destructor stops the process and removes the temp dir, also when a test
// fails. Constructor and Restart() throw std::runtime_error (with swtpm's log)
// when swtpm cannot be started.
//
// Thread-safety: none; use one Swtpm from one thread.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "tests/harness/util/process.h"

namespace attest::testing {

class Swtpm {
 public:
  struct Options {
    // Run swtpm_setup --createek --create-ek-cert --create-platform-cert with a
    // local CA before starting. swtpm 0.7 provisions an RSA 2048 EK certificate
    // at NV 0x01c00002 and an ECC *P-384* one at 0x01c00016 (not the P-256
    // index 0x01c0000a). Takes about a second (CA key generation).
    bool ek_cert = false;
  };

  Swtpm();
  explicit Swtpm(Options options);
  ~Swtpm();
  Swtpm(const Swtpm&) = delete;
  Swtpm& operator=(const Swtpm&) = delete;

  // TCTI configuration string for tpm2-tss / tpm2-tools.
  std::string tcti() const;
  int port() const { return port_; }
  const std::filesystem::path& dir() const { return dir_.path(); }

  // Root CA certificate (PEM) of the local CA that signed the EK certificate
  // (through an intermediate, see issuer_cert_path()); empty without ek_cert.
  std::filesystem::path ca_cert_path() const;
  std::filesystem::path issuer_cert_path() const;

  // A reboot: kills swtpm and starts it again on the same ports with the same
  // persistent state. Volatile state is lost (PCRs reset, transient objects
  // and sessions gone) and resetCount increments.
  void Restart();
  void Stop();
  void Start();
  bool running() const { return process_ != nullptr; }

  // Runs a tpm2-tools command with TPM2TOOLS_TCTI pointing at this TPM;
  // returns its exit code and appends its stdout+stderr to `out`.
  int RunTool(const std::vector<std::string>& argv, std::string* out = nullptr) const;

 private:
  void Manufacture();
  std::string Log() const;

  Options options_;
  TempDir dir_;  // declared first: removed after the process is stopped
  int port_ = 0;
  std::unique_ptr<Subprocess> process_;
};

}  // namespace attest::testing
