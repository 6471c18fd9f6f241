// Registration of a TPM identity on swtpm: the EK certificate swtpm_setup
// issued with a local CA (root + intermediate) is accepted when that CA is in
// the trust store and refused with a clear reason when it is not; an ECC EK
// without certificate registers only with require_ek_cert = false. The
// agent side is played with common/esys (CreateEk, ReadEkCertificate,
// LoadOrCreateAk, ActivateCredential).
#include <filesystem>
#include <fstream>

#include "common/esys/context.h"
#include "common/esys/errors.h"
#include "common/esys/keys.h"
#include "common/esys/quote.h"
#include "common/tpm/marshal.h"
#include "registrar/errors.h"
#include "registrar/trust_store.h"
#include "tests/harness/swtpm/swtpm.h"
#include "tests/registrar/fixture.h"

namespace attest::registrar::testing {
namespace {

namespace fs = std::filesystem;

class RegistrarSwtpmTest : public RegistrarTest {
 protected:
  static void SetUpTestSuite() {
    RegistrarTest::SetUpTestSuite();
    tpm_ = new attest::testing::Swtpm(attest::testing::Swtpm::Options{.ek_cert = true});
    // Trust store with the swtpm CA (root and intermediate), and one with
    // only the real vendor CAs.
    swtpm_store_ = new TempDir("registrar-ekca");
    fs::copy_file(tpm_->ca_cert_path(), swtpm_store_->path() / "swtpm-root.pem");
    fs::copy_file(tpm_->issuer_cert_path(), swtpm_store_->path() / "swtpm-intermediate.pem");
  }
  static void TearDownTestSuite() {
    delete swtpm_store_;
    delete tpm_;
    swtpm_store_ = nullptr;
    tpm_ = nullptr;
    RegistrarTest::TearDownTestSuite();
  }

  struct Identity {
    esys::Key ek;
    esys::Key ak;
    std::string ek_cert;
  };

  // Registers this TPM's identity; `out` gets the response on 200.
  httpclient::Response RegisterTpm(httpclient::Client& c, const esys::EsysContext& ctx,
                                   const Identity& id, v1::RegisterResponse* out) {
    v1::RegisterRequest req;
    req.set_agent_uuid(kUuid);
    req.set_ek_public(Str(id.ek.public_bytes));
    req.set_ek_cert(id.ek_cert);
    req.set_ak_public(Str(id.ak.public_bytes));
    auto r = c.Post(std::string("/v1/agents/") + kUuid + "/register", "application/x-protobuf",
                    req.SerializeAsString());
    if (!r) throw std::runtime_error(r.error().ToString());
    if (r->status == 200) {
      EXPECT_TRUE(out->ParseFromString(r->body));
    }
    (void)ctx;
    return *r;
  }

  // Creates the EK (and reads its certificate) and the AK on the swtpm.
  Identity MakeIdentity(const esys::EsysContext& ctx, esys::KeyType type, const fs::path& ak_file) {
    auto ek = esys::CreateEk(ctx, type);
    if (!ek) throw std::runtime_error(ek.error().ToString());
    std::string cert;
    auto der = esys::ReadEkCertificate(ctx, type);
    if (der) cert = Str(*der);
    auto ak = esys::LoadOrCreateAk(
        ctx, *ek, ak_file, type,
        type == esys::KeyType::kRsa2048 ? esys::SigScheme::kRsaSsa : esys::SigScheme::kEcdsa);
    if (!ak) throw std::runtime_error(ak.error().ToString());
    return Identity{std::move(ek).value(), std::move(ak).value(), cert};
  }

  static attest::testing::Swtpm* tpm_;
  static TempDir* swtpm_store_;
};

attest::testing::Swtpm* RegistrarSwtpmTest::tpm_ = nullptr;
TempDir* RegistrarSwtpmTest::swtpm_store_ = nullptr;

TEST_F(RegistrarSwtpmTest, EkCertFromTrustedCaRegistersAndActivates) {
  auto server = Start(Config(swtpm_store_->path().string()));
  ASSERT_NE(server, nullptr);
  TempDir state("registrar-agent");
  auto ctx = esys::EsysContext::Open(tpm_->tcti());
  ASSERT_TRUE(ctx.ok()) << ctx.error().ToString();
  Identity id = MakeIdentity(*ctx, esys::KeyType::kRsa2048, state.path() / "ak.bin");
  ASSERT_FALSE(id.ek_cert.empty()) << "swtpm_setup provisioned no RSA EK certificate";

  auto c = Agent(server->port());
  v1::RegisterResponse resp;
  auto r = RegisterTpm(c, *ctx, id, &resp);
  ASSERT_EQ(r.status, 200) << r.body;
  auto secret = esys::ActivateCredential(*ctx, id.ak, id.ek, Bytes(resp.credential_blob()),
                                         Bytes(resp.encrypted_secret()));
  ASSERT_TRUE(secret.ok()) << secret.error().ToString();
  auto a = Activate(c, kUuid, Str(SoftIdentity::AuthTag(*secret, kUuid)));
  EXPECT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(Scalar("SELECT state FROM registrations"), "active");
  EXPECT_EQ(Scalar("SELECT octet_length(ek_cert) FROM registrations"),
            std::to_string(id.ek_cert.size()));

  // The certificate of this TPM does not fit another EK.
  auto ecc_ek = esys::CreateEk(*ctx, esys::KeyType::kEccP256);
  ASSERT_TRUE(ecc_ek.ok());
  auto store = EkTrustStore::Load(swtpm_store_->path());
  ASSERT_TRUE(store.ok());
  EXPECT_TRUE(store->Verify(tpm::AsBytes(id.ek_cert), id.ek.public_bytes).ok());
  auto wrong = store->Verify(tpm::AsBytes(id.ek_cert), ecc_ek->public_bytes);
  ASSERT_FALSE(wrong.ok());
  EXPECT_NE(wrong.error().message.find("not ek_public"), std::string::npos);
  server->Stop(std::chrono::seconds(2));
}

TEST_F(RegistrarSwtpmTest, EkCertFromUnknownCaIsRefused) {
  // The vendor store (real TPM CAs) does not know swtpm's local CA.
  auto server = Start(Config((attest::testing::TestdataDir() / "tpm_cert_store").string()));
  ASSERT_NE(server, nullptr);
  TempDir state("registrar-agent");
  auto ctx = esys::EsysContext::Open(tpm_->tcti());
  ASSERT_TRUE(ctx.ok());
  Identity id = MakeIdentity(*ctx, esys::KeyType::kRsa2048, state.path() / "ak.bin");
  auto c = Agent(server->port());
  v1::RegisterResponse resp;
  const std::string before = Snapshot();
  auto r = RegisterTpm(c, *ctx, id, &resp);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("does not chain to a trusted EK CA"), std::string::npos) << r.body;
  EXPECT_EQ(Snapshot(), before);

  // Only the root in the store (intermediate missing): refused as well.
  TempDir root_only("registrar-rootonly");
  fs::copy_file(tpm_->ca_cert_path(), root_only.path() / "root.pem");
  auto s2 = EkTrustStore::Load(root_only.path());
  ASSERT_TRUE(s2.ok());
  EXPECT_EQ(s2->Verify(tpm::AsBytes(id.ek_cert), id.ek.public_bytes).error().code, errc::forbidden);

  // Without the certificate a registrar that requires one refuses too.
  id.ek_cert.clear();
  r = RegisterTpm(c, *ctx, id, &resp);
  EXPECT_EQ(r.status, 403) << r.body;
  EXPECT_NE(r.body.find("ek_cert is required"), std::string::npos) << r.body;
  EXPECT_EQ(Snapshot(), before);
  server->Stop(std::chrono::seconds(2));
}

TEST_F(RegistrarSwtpmTest, EccEkWithoutCertNeedsOptOut) {
  auto server = Start(Config());  // require_ek_cert = false
  ASSERT_NE(server, nullptr);
  TempDir state("registrar-agent");
  auto ctx = esys::EsysContext::Open(tpm_->tcti());
  ASSERT_TRUE(ctx.ok());
  Identity id = MakeIdentity(*ctx, esys::KeyType::kEccP256, state.path() / "ak.bin");
  EXPECT_TRUE(id.ek_cert.empty());  // swtpm provisions P-384, not P-256
  auto c = Agent(server->port());
  v1::RegisterResponse resp;
  auto r = RegisterTpm(c, *ctx, id, &resp);
  ASSERT_EQ(r.status, 200) << r.body;
  auto secret = esys::ActivateCredential(*ctx, id.ak, id.ek, Bytes(resp.credential_blob()),
                                         Bytes(resp.encrypted_secret()));
  ASSERT_TRUE(secret.ok()) << secret.error().ToString();
  EXPECT_EQ(Activate(c, kUuid, Str(SoftIdentity::AuthTag(*secret, kUuid))).status, 200);
  server->Stop(std::chrono::seconds(2));
}

TEST(EkTrustStoreTest, VendorStoreLoads) {
  auto store = EkTrustStore::Load(attest::testing::TestdataDir() / "tpm_cert_store");
  ASSERT_TRUE(store.ok()) << store.error().ToString();
  EXPECT_GT(store->roots(), 5u);
  EXPECT_GT(store->intermediates(), 10u);
  EXPECT_EQ(store->roots() + store->intermediates(), 51u);
  // Garbage in the store is a start-up error naming the file.
  TempDir bad("registrar-badstore");
  std::ofstream(bad.path() / "junk.pem") << "not a certificate";
  auto r = EkTrustStore::Load(bad.path());
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("junk.pem"), std::string::npos);
}

}  // namespace
}  // namespace attest::registrar::testing
