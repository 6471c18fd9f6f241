// Shared fixture of the registrar tests: a migrated PostgreSQL database per
// test (MigratedPostgresTest), a TLS PKI for the server and an admin CA for
// client certificates, an admin token file, and in-process registrar
// instances on free ports. Helpers speak the agent protocol over HTTPS.
#pragma once

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <string>

#include "attest/v1/registration.pb.h"
#include "common/httpclient/client.h"
#include "registrar/admin_client.h"
#include "registrar/config.h"
#include "registrar/registrar.h"
#include "registrar/soft_identity.h"
#include "tests/harness/pki/pki.h"
#include "tests/harness/postgres/postgres_server.h"
#include "tests/harness/util/process.h"

namespace attest::registrar::testing {

using attest::testing::IssuedCert;
using attest::testing::TempDir;
using attest::testing::TestPki;

inline constexpr char kToken[] = "s3cret-admin-token-0123456789";
inline constexpr char kUuid[] = "d432fbb3-d2f1-4a97-9ef7-75bd81c00000";

class RegistrarTest : public attest::testing::MigratedPostgresTest {
 protected:
  static void SetUpTestSuite();
  static void TearDownTestSuite();

  // A config for this test's database; `trust_dir` empty: require_ek_cert off.
  RegistrarConfig Config(const std::string& trust_dir = "") const;
  // Creates and starts a registrar; fails the test when it cannot.
  std::unique_ptr<Registrar> Start(const RegistrarConfig& c) const;

  httpclient::Client Agent(uint16_t port) const;
  AdminClient Admin(uint16_t port, const std::string& token = kToken) const;

  // A digest of every row of registrations, policies and enrolments.
  std::string Snapshot() const;
  std::string Scalar(const std::string& sql) const;

  // Agent protocol steps with a software identity.
  httpclient::Response Register(httpclient::Client& c, const SoftIdentity& id,
                                const std::string& uuid, v1::RegisterResponse* out = nullptr);
  httpclient::Response Activate(httpclient::Client& c, const std::string& uuid,
                                const std::string& tag);
  // Register + activate; asserts success.
  void Enrolable(uint16_t port, const SoftIdentity& id, const std::string& uuid);

  static TempDir* dir_;
  static TestPki* pki_;
  static TestPki* admin_pki_;
  static IssuedCert* server_cert_;
  static IssuedCert* admin_cert_;
  static std::string* token_file_;
};

std::string Str(const std::vector<uint8_t>& b);
std::vector<uint8_t> Bytes(const std::string& s);

}  // namespace attest::registrar::testing
