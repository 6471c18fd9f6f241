// A throwaway PKI for tests: a self-signed CA plus server and client
// certificates issued by it, written as PEM files into a directory the test
// owns (usually a TempDir). Keys are ECDSA P-256 (fast to generate).
//
//   TestPki pki(dir.path());
//   auto server = pki.IssueServer("gateway");   // SAN: DNS:localhost, IP:127.0.0.1
//   auto client = pki.IssueClient("agent-1");   // subject CN=agent-1
//   options.ca_file = pki.ca_cert();
//
// Errors throw std::runtime_error (test code). Thread-safety: none.
#pragma once

#include <filesystem>
#include <memory>
#include <string>
#include <vector>

namespace attest::testing {

struct IssuedCert {
  std::filesystem::path cert;  // PEM certificate
  std::filesystem::path key;   // PEM private key (PKCS#8, unencrypted)
};

class TestPki {
 public:
  // Creates <dir>/<ca_name>.pem and <dir>/<ca_name>.key ("ca" by default; give
  // another name to keep two independent CAs in one directory).
  explicit TestPki(std::filesystem::path dir, const std::string& ca_name = "ca",
                   const std::string& ca_common_name = "attest test CA");
  ~TestPki();
  TestPki(const TestPki&) = delete;
  TestPki& operator=(const TestPki&) = delete;

  const std::filesystem::path& ca_cert() const { return ca_.cert; }
  const std::filesystem::path& ca_key() const { return ca_.key; }

  // Server certificate CN=<name>, SAN DNS:localhost, IP:127.0.0.1 plus
  // `extra_dns`, EKU serverAuth. Files <dir>/<name>.pem and .key.
  IssuedCert IssueServer(const std::string& name, const std::vector<std::string>& extra_dns = {});
  // Client certificate CN=<name>, EKU clientAuth.
  IssuedCert IssueClient(const std::string& name);

 private:
  struct Impl;
  std::filesystem::path dir_;
  IssuedCert ca_;
  std::unique_ptr<Impl> impl_;
};

}  // namespace attest::testing
