#include "tests/registrar/fixture.h"

#include <fstream>
#include <pqxx/pqxx>

namespace attest::registrar::testing {

TempDir* RegistrarTest::dir_ = nullptr;
TestPki* RegistrarTest::pki_ = nullptr;
TestPki* RegistrarTest::admin_pki_ = nullptr;
IssuedCert* RegistrarTest::server_cert_ = nullptr;
IssuedCert* RegistrarTest::admin_cert_ = nullptr;
std::string* RegistrarTest::token_file_ = nullptr;

std::string Str(const std::vector<uint8_t>& b) { return std::string(b.begin(), b.end()); }
std::vector<uint8_t> Bytes(const std::string& s) {
  return std::vector<uint8_t>(s.begin(), s.end());
}

void RegistrarTest::SetUpTestSuite() {
  MigratedPostgresTest::SetUpTestSuite();
  if (dir_) return;
  dir_ = new TempDir("registrar-test");
  pki_ = new TestPki(dir_->path());
  admin_pki_ = new TestPki(dir_->path(), "admin-ca", "attest admin CA");
  server_cert_ = new IssuedCert(pki_->IssueServer("registrar"));
  admin_cert_ = new IssuedCert(admin_pki_->IssueClient("operator-1"));
  token_file_ = new std::string((dir_->path() / "admin.token").string());
  std::ofstream(*token_file_) << kToken << "\n";
}

void RegistrarTest::TearDownTestSuite() {
  delete token_file_;
  delete admin_cert_;
  delete server_cert_;
  delete admin_pki_;
  delete pki_;
  delete dir_;  // removes the PEM files and the token
  token_file_ = nullptr;
  admin_cert_ = server_cert_ = nullptr;
  admin_pki_ = pki_ = nullptr;
  dir_ = nullptr;
}

RegistrarConfig RegistrarTest::Config(const std::string& trust_dir) const {
  RegistrarConfig c;
  c.listen_address = "127.0.0.1";
  c.port = 0;
  c.tls_cert = server_cert_->cert.string();
  c.tls_key = server_cert_->key.string();
  c.db_conninfo = conninfo();
  c.db_pool_size = 2;
  c.ek_trust_store = trust_dir;
  c.require_ek_cert = !trust_dir.empty();
  c.admin_token_file = *token_file_;
  c.admin_client_ca = admin_pki_->ca_cert().string();
  c.max_body_bytes = 64 * 1024;
  return c;
}

std::unique_ptr<Registrar> RegistrarTest::Start(const RegistrarConfig& c) const {
  auto r = Registrar::Create(c, /*evidence_partitions=*/12);
  if (!r) {
    ADD_FAILURE() << r.error().ToString();
    return nullptr;
  }
  if (auto s = (*r)->Start(); !s) {
    ADD_FAILURE() << s.error().ToString();
    return nullptr;
  }
  return std::move(r).value();
}

httpclient::Client RegistrarTest::Agent(uint16_t port) const {
  httpclient::ClientOptions o;
  o.base_url = "https://127.0.0.1:" + std::to_string(port);
  o.ca_file = pki_->ca_cert().string();
  o.proxy = "";
  auto c = httpclient::Client::Create(o);
  if (!c) throw std::runtime_error(c.error().ToString());
  return std::move(c).value();
}

AdminClient RegistrarTest::Admin(uint16_t port, const std::string& token) const {
  AdminClientOptions o;
  o.base_url = "https://127.0.0.1:" + std::to_string(port);
  o.ca_file = pki_->ca_cert().string();
  o.token = token;
  auto c = AdminClient::Create(o);
  if (!c) throw std::runtime_error(c.error().ToString());
  return std::move(c).value();
}

std::string RegistrarTest::Scalar(const std::string& sql) const {
  auto conn = Connect();
  pqxx::work tx(*conn);
  auto r = tx.exec(sql);
  if (r.empty() || r[0][0].is_null()) return "";
  return r[0][0].as<std::string>();
}

std::string RegistrarTest::Snapshot() const {
  return Scalar(
      "SELECT md5(coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM registrations "
      "t), "
      "'') || '#' || coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM policies t), "
      "'') || '#' || coalesce((SELECT string_agg(t::text, '|' ORDER BY t::text) FROM enrolments "
      "t), ''))");
}

httpclient::Response RegistrarTest::Register(httpclient::Client& c, const SoftIdentity& id,
                                             const std::string& uuid, v1::RegisterResponse* out) {
  v1::RegisterRequest req;
  req.set_agent_uuid(uuid);
  req.set_ek_public(Str(id.ek_public()));
  req.set_ak_public(Str(id.ak_public()));
  auto r =
      c.Post("/v1/agents/" + uuid + "/register", "application/x-protobuf", req.SerializeAsString());
  if (!r) throw std::runtime_error(r.error().ToString());
  if (out && r->status == 200) {
    EXPECT_TRUE(out->ParseFromString(r->body));
  }
  return *r;
}

httpclient::Response RegistrarTest::Activate(httpclient::Client& c, const std::string& uuid,
                                             const std::string& tag) {
  v1::ActivateRequest req;
  req.set_agent_uuid(uuid);
  req.set_auth_tag(tag);
  auto r =
      c.Post("/v1/agents/" + uuid + "/activate", "application/x-protobuf", req.SerializeAsString());
  if (!r) throw std::runtime_error(r.error().ToString());
  return *r;
}

void RegistrarTest::Enrolable(uint16_t port, const SoftIdentity& id, const std::string& uuid) {
  auto c = Agent(port);
  v1::RegisterResponse resp;
  auto r = Register(c, id, uuid, &resp);
  ASSERT_EQ(r.status, 200) << r.body;
  auto secret = id.Activate(Bytes(resp.credential_blob()), Bytes(resp.encrypted_secret()));
  ASSERT_TRUE(secret.ok()) << secret.error().ToString();
  auto a = Activate(c, uuid, Str(SoftIdentity::AuthTag(*secret, uuid)));
  ASSERT_EQ(a.status, 200) << a.body;
}

}  // namespace attest::registrar::testing
