#include "tests/harness/swtpm/swtpm.h"

#include <chrono>
#include <fstream>
#include <stdexcept>

namespace attest::testing {
namespace {

namespace fs = std::filesystem;

void WriteText(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::trunc);
  out << text;
  if (!out) throw std::runtime_error("Swtpm: cannot write " + path.string());
}

}  // namespace

Swtpm::Swtpm() : Swtpm(Options{}) {}

Swtpm::Swtpm(Options options) : options_(options), dir_("attest-swtpm") {
  fs::create_directories(dir() / "state");
  if (options_.ek_cert) Manufacture();
  port_ = FreePort(2);
  Start();
}

Swtpm::~Swtpm() { Stop(); }

std::string Swtpm::tcti() const { return "swtpm:host=127.0.0.1,port=" + std::to_string(port_); }

fs::path Swtpm::ca_cert_path() const {
  if (!options_.ek_cert) return {};
  return dir() / "ca" / "swtpm-localca-rootca-cert.pem";
}

fs::path Swtpm::issuer_cert_path() const {
  if (!options_.ek_cert) return {};
  return dir() / "ca" / "issuercert.pem";
}

void Swtpm::Manufacture() {
  // swtpm_setup reads its config (and swtpm_localca's) from /etc by default;
  // private copies keep the CA state in our temp dir.
  const fs::path ca = dir() / "ca";
  fs::create_directories(ca);
  WriteText(dir() / "swtpm_setup.conf",
            "create_certs_tool = /usr/bin/swtpm_localca\n"
            "create_certs_tool_config = " +
                (dir() / "swtpm-localca.conf").string() + "\n" + "create_certs_tool_options = " +
                (dir() / "swtpm-localca.options").string() + "\n" + "active_pcr_banks = sha256\n");
  WriteText(dir() / "swtpm-localca.conf",
            "statedir = " + ca.string() + "\n" + "signingkey = " + (ca / "signkey.pem").string() +
                "\n" + "issuercert = " + (ca / "issuercert.pem").string() + "\n" +
                "certserial = " + (ca / "certserial").string() + "\n");
  WriteText(dir() / "swtpm-localca.options",
            "--platform-manufacturer attest\n--platform-version 2.1\n--platform-model swtpm\n");
  std::string out;
  int rc = RunCommand({"swtpm_setup", "--tpm2", "--tpmstate", (dir() / "state").string(),
                       "--createek", "--create-ek-cert", "--create-platform-cert", "--config",
                       (dir() / "swtpm_setup.conf").string()},
                      &out);
  if (rc != 0)
    throw std::runtime_error("Swtpm: swtpm_setup failed (" + std::to_string(rc) + "): " + out);
}

void Swtpm::Start() {
  if (process_) return;
  const std::string log = (dir() / "swtpm.log").string();
  for (int attempt = 0; attempt < 5; ++attempt) {
    // Keep the ports across restarts when possible so tcti() stays the same.
    if (attempt > 0) port_ = FreePort(2);
    auto proc = std::make_unique<Subprocess>(
        std::vector<std::string>{
            "swtpm", "socket", "--tpm2", "--tpmstate", "dir=" + (dir() / "state").string(),
            "--server", "type=tcp,port=" + std::to_string(port_) + ",bindaddr=127.0.0.1", "--ctrl",
            "type=tcp,port=" + std::to_string(port_ + 1) + ",bindaddr=127.0.0.1", "--flags",
            "not-need-init,startup-clear"},
        log);
    bool up = WaitFor([&] { return !proc->Running() || (PortOpen(port_ + 1) && PortOpen(port_)); },
                      std::chrono::seconds(10));
    if (up && proc->Running()) {
      process_ = std::move(proc);
      return;
    }
    // Exited (port taken by someone else?) or hung: try other ports.
  }
  throw std::runtime_error("Swtpm: swtpm did not start; log:\n" + Log());
}

void Swtpm::Stop() {
  if (!process_) return;
  process_->Stop(15, std::chrono::seconds(5));
  process_.reset();
}

void Swtpm::Restart() {
  Stop();
  Start();
}

int Swtpm::RunTool(const std::vector<std::string>& argv, std::string* out) const {
  return RunCommand(argv, out, {"TPM2TOOLS_TCTI=" + tcti()});
}

std::string Swtpm::Log() const {
  try {
    return ReadFile(dir() / "swtpm.log");
  } catch (const std::exception&) {
    return "(no log)";
  }
}

}  // namespace attest::testing
