// The registrar with software TPM identities (fast): activation, refusals
// that must leave the database unchanged, two replicas, expiry, the admin
// API and its authentication.
#include <google/protobuf/util/json_util.h>
#include <openssl/sha.h>

#include <pqxx/pqxx>

#include "attest/v1/admin.pb.h"
#include "common/tpm/marshal.h"
#include "registrar/errors.h"
#include "tests/registrar/fixture.h"

namespace attest::registrar::testing {
namespace {

const std::string kPcrPolicy = R"({"sha256": {"0": [")" + std::string(64, '0') + R"("]}})";
const std::string kMbPolicy = R"({"version": 1, "kernel_cmdlines": ["ro quiet"]})";

class RegistrarSoftTest : public RegistrarTest {
 protected:
  void SetUp() override {
    RegistrarTest::SetUp();
    auto id = SoftIdentity::Generate();
    ASSERT_TRUE(id.ok()) << id.error().ToString();
    id_ = std::make_unique<SoftIdentity>(std::move(id).value());
    server_ = Start(Config());
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    if (server_) server_->Stop(std::chrono::seconds(2));
  }
  uint16_t port() const { return server_->port(); }

  std::unique_ptr<SoftIdentity> id_;
  std::unique_ptr<Registrar> server_;
};

TEST_F(RegistrarSoftTest, RegistersActivatesAndIsIdempotent) {
  auto c = Agent(port());
  v1::RegisterResponse resp;
  auto r = Register(c, *id_, kUuid, &resp);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_FALSE(resp.already_active());
  EXPECT_EQ(Scalar(std::string("SELECT state FROM registrations WHERE agent_id = '") + kUuid + "'"),
            "pending");
  auto secret = id_->Activate(Bytes(resp.credential_blob()), Bytes(resp.encrypted_secret()));
  ASSERT_TRUE(secret.ok()) << secret.error().ToString();
  auto a = Activate(c, kUuid, Str(SoftIdentity::AuthTag(*secret, kUuid)));
  ASSERT_EQ(a.status, 200) << a.body;
  v1::ActivateResponse ar;
  ASSERT_TRUE(ar.ParseFromString(a.body));
  EXPECT_TRUE(ar.active());
  EXPECT_EQ(Scalar(std::string("SELECT state FROM registrations WHERE agent_id = '") + kUuid + "'"),
            "active");
  // The secret itself is not stored, only SHA-256 of the expected tag.
  EXPECT_EQ(Scalar(std::string("SELECT octet_length(activation_secret_sha256) FROM registrations")),
            "32");

  // Same identity again: already active, with a fresh credential it can prove.
  v1::RegisterResponse again;
  ASSERT_EQ(Register(c, *id_, kUuid, &again).status, 200);
  EXPECT_TRUE(again.already_active());
  auto secret2 = id_->Activate(Bytes(again.credential_blob()), Bytes(again.encrypted_secret()));
  ASSERT_TRUE(secret2.ok());
  EXPECT_NE(*secret2, *secret);
  EXPECT_EQ(Activate(c, kUuid, Str(SoftIdentity::AuthTag(*secret2, kUuid))).status, 200);
  EXPECT_EQ(Scalar("SELECT state FROM registrations"), "active");

  // Registration status (agent endpoint), JSON.
  auto g = c.Get(std::string("/v1/agents/") + kUuid + "/registration");
  ASSERT_TRUE(g.ok());
  EXPECT_EQ(g->status, 200);
  EXPECT_NE(g->body.find("\"active\":true"), std::string::npos) << g->body;
  auto unknown = c.Get("/v1/agents/00000000-0000-0000-0000-000000000001/registration");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);
}

TEST_F(RegistrarSoftTest, JsonBodiesWork) {
  auto c = Agent(port());
  std::string b64ek, b64ak;
  // Protobuf's JSON mapping: bytes as base64.
  v1::RegisterRequest req;
  req.set_agent_uuid(kUuid);
  req.set_ek_public(Str(id_->ek_public()));
  req.set_ak_public(Str(id_->ak_public()));
  std::string json;
  ASSERT_TRUE(google::protobuf::util::MessageToJsonString(req, &json).ok());
  auto r = c.Post(std::string("/v1/agents/") + kUuid + "/register", "application/json", json);
  ASSERT_TRUE(r.ok());
  ASSERT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(r->header("Content-Type"), "application/json");
  v1::RegisterResponse resp;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(r->body, &resp).ok());
  EXPECT_FALSE(resp.credential_blob().empty());
}

TEST_F(RegistrarSoftTest, RefusalsLeaveTheDatabaseUnchanged) {
  auto c = Agent(port());
  v1::RegisterResponse resp;
  ASSERT_EQ(Register(c, *id_, kUuid, &resp).status, 200);
  const std::string before = Snapshot();
  const std::string path = std::string("/v1/agents/") + kUuid;

  // Wrong auth_tag.
  EXPECT_EQ(Activate(c, kUuid, std::string(32, 'x')).status, 403);
  EXPECT_EQ(Snapshot(), before);
  // A tag of the wrong size.
  EXPECT_EQ(Activate(c, kUuid, "short").status, 400);

  // A second EK for the same UUID.
  auto other = SoftIdentity::Generate();
  ASSERT_TRUE(other.ok());
  auto r = Register(c, *other, kUuid);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_NE(r.body.find("different EK"), std::string::npos) << r.body;
  EXPECT_EQ(Snapshot(), before);

  // An AK that is not restricted (new UUID: nothing may be inserted either).
  auto unrestricted = SoftIdentity::Generate(false);
  ASSERT_TRUE(unrestricted.ok());
  const std::string uuid2 = "d432fbb3-d2f1-4a97-9ef7-75bd81c00002";
  r = Register(c, *unrestricted, uuid2);
  EXPECT_EQ(r.status, 400) << r.body;
  EXPECT_NE(r.body.find("restricted"), std::string::npos) << r.body;
  EXPECT_EQ(Snapshot(), before);

  struct Case {
    const char* name;
    std::string content_type;
    std::string body;
    long status;
  };
  v1::RegisterRequest good;
  good.set_agent_uuid(kUuid);
  good.set_ek_public(Str(id_->ek_public()));
  good.set_ak_public(Str(id_->ak_public()));
  v1::RegisterRequest mismatch = good;
  mismatch.set_agent_uuid(uuid2);
  v1::RegisterRequest bad_ek = good;
  bad_ek.set_ek_public("\x00\x10garbage");
  std::string unknown_pb = good.SerializeAsString() + std::string("\xa0\x06\x01", 3);  // field 100
  const std::vector<Case> cases = {
      {"not protobuf", "application/x-protobuf", "\xff\xff\xff\xff", 400},
      {"not JSON", "application/json", "{not json", 400},
      {"unknown JSON field", "application/json",
       std::string(R"({"agentUuid":")") + kUuid + R"(","bogus":1})", 400},
      {"unknown protobuf field", "application/x-protobuf", unknown_pb, 400},
      {"wrong content type", "text/plain", good.SerializeAsString(), 415},
      {"UUID mismatch", "application/x-protobuf", mismatch.SerializeAsString(), 400},
      {"malformed EK", "application/x-protobuf", bad_ek.SerializeAsString(), 400},
      {"oversized", "application/x-protobuf", std::string(100 * 1024, 'a'), 413},
  };
  for (const auto& k : cases) {
    auto reply = c.Post(path + "/register", k.content_type, k.body);
    if (!reply.ok()) {
      // 413 may close the connection before the client sent everything.
      ADD_FAILURE() << k.name << ": " << reply.error().ToString();
      c = Agent(port());
      continue;
    }
    EXPECT_EQ(reply->status, k.status) << k.name << ": " << reply->body;
    if (reply->status >= 400) {
      EXPECT_EQ(reply->header("Content-Type"), "application/problem+json") << k.name;
    }
    EXPECT_EQ(Snapshot(), before) << k.name;
  }
  // A malformed UUID in the path.
  auto bad_uuid =
      c.Post("/v1/agents/not-a-uuid/register", "application/x-protobuf", good.SerializeAsString());
  ASSERT_TRUE(bad_uuid.ok());
  EXPECT_EQ(bad_uuid->status, 400);
  EXPECT_EQ(Snapshot(), before);

  // The right tag still works after all that.
  auto secret = id_->Activate(Bytes(resp.credential_blob()), Bytes(resp.encrypted_secret()));
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(Activate(c, kUuid, Str(SoftIdentity::AuthTag(*secret, kUuid))).status, 200);
}

TEST_F(RegistrarSoftTest, ExpiredOfferIsGoneAndFreesTheUuid) {
  auto c = Agent(port());
  v1::RegisterResponse resp;
  ASSERT_EQ(Register(c, *id_, kUuid, &resp).status, 200);
  {
    auto conn = Connect();
    pqxx::work tx(*conn);
    tx.exec("UPDATE registrations SET activation_expires_at = now() - interval '1 second'");
    tx.commit();
  }
  const std::string before = Snapshot();
  auto secret = id_->Activate(Bytes(resp.credential_blob()), Bytes(resp.encrypted_secret()));
  ASSERT_TRUE(secret.ok());
  auto a = Activate(c, kUuid, Str(SoftIdentity::AuthTag(*secret, kUuid)));
  EXPECT_EQ(a.status, 410) << a.body;
  EXPECT_EQ(Snapshot(), before);
  // An expired, never proven registration does not hold the UUID.
  auto other = SoftIdentity::Generate();
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(Register(c, *other, kUuid).status, 200);
}

TEST_F(RegistrarSoftTest, TwoReplicasServeOneAgentAlternately) {
  auto second = Start(Config());
  ASSERT_NE(second, nullptr);
  auto a = Agent(port());
  auto b = Agent(second->port());
  v1::RegisterResponse resp;
  ASSERT_EQ(Register(a, *id_, kUuid, &resp).status, 200);
  auto secret = id_->Activate(Bytes(resp.credential_blob()), Bytes(resp.encrypted_secret()));
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(Activate(b, kUuid, Str(SoftIdentity::AuthTag(*secret, kUuid))).status, 200);
  // And the other way round: register at B (already active), prove at A.
  v1::RegisterResponse again;
  ASSERT_EQ(Register(b, *id_, kUuid, &again).status, 200);
  EXPECT_TRUE(again.already_active());
  auto secret2 = id_->Activate(Bytes(again.credential_blob()), Bytes(again.encrypted_secret()));
  ASSERT_TRUE(secret2.ok());
  EXPECT_EQ(Activate(a, kUuid, Str(SoftIdentity::AuthTag(*secret2, kUuid))).status, 200);
  // A second EK is refused by both.
  auto other = SoftIdentity::Generate();
  ASSERT_TRUE(other.ok());
  EXPECT_EQ(Register(a, *other, kUuid).status, 409);
  EXPECT_EQ(Register(b, *other, kUuid).status, 409);
  second->Stop(std::chrono::seconds(2));
}

TEST_F(RegistrarSoftTest, AdminEnrolUpdateRemove) {
  Enrolable(port(), *id_, kUuid);
  auto admin = Admin(port());
  v1::EnrolRequest enrol;
  enrol.set_pcr_policy(kPcrPolicy);
  enrol.set_runtime_policy(
      attest::testing::ReadFile(attest::testing::TestdataDir() / "keylime/ima/policy-sha256"));
  enrol.set_measured_boot_policy(kMbPolicy);
  enrol.set_interval_seconds(30);
  auto st = admin.Enrol(kUuid, enrol);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_EQ(st->state(), v1::AGENT_STATE_ENROLLED);
  EXPECT_EQ(st->interval_seconds(), 30u);
  EXPECT_EQ(st->policy_versions().pcr(), 1u);
  EXPECT_EQ(st->policy_versions().runtime(), 1u);
  EXPECT_EQ(st->policy_versions().measured_boot(), 1u);
  EXPECT_EQ(Scalar("SELECT count(*) FROM policies"), "3");
  EXPECT_EQ(Scalar("SELECT partition FROM enrolments"), std::to_string(st->partition()));

  // Update: a new PCR policy version, the others unchanged.
  v1::UpdatePoliciesRequest up;
  auto* p = up.add_policies();
  p->set_kind(v1::POLICY_KIND_PCR);
  p->set_body(R"({"sha256": {"7": [")" + std::string(64, 'a') + R"("]}})");
  st = admin.UpdatePolicies(kUuid, up);
  ASSERT_TRUE(st.ok()) << st.error().ToString();
  EXPECT_EQ(st->policy_versions().pcr(), 2u);
  EXPECT_EQ(st->policy_versions().runtime(), 1u);
  EXPECT_EQ(Scalar("SELECT max(version) FROM policies WHERE kind = 'pcr'"), "2");
  EXPECT_EQ(Scalar("SELECT v.version FROM enrolments e JOIN policies v "
                   "ON v.policy_id = e.pcr_policy_id"),
            "2");

  // A malformed policy is refused with the parser's message; nothing changes.
  const std::string before = Snapshot();
  up.mutable_policies(0)->set_body(R"({"sha256": {"0": ["abcd"]}})");
  auto bad = admin.UpdatePolicies(kUuid, up);
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.error().code, errc::bad_request) << bad.error().ToString();
  EXPECT_NE(bad.error().message.find("PCR policy"), std::string::npos) << bad.error().message;
  v1::EnrolRequest bad_mb = enrol;
  bad_mb.set_measured_boot_policy(R"({"version": 2})");
  EXPECT_EQ(admin.Enrol(kUuid, bad_mb).error().code, errc::bad_request);
  EXPECT_EQ(Snapshot(), before);

  // Re-enrolling a FAILED agent resets it to ENROLLED.
  {
    auto conn = Connect();
    pqxx::work tx(*conn);
    // Failed by quote.tpm_rollback (issue 17.4): the TPM's stored counters.
    tx.exec(
        "UPDATE enrolments SET state = 'FAILED', state_reason = 'quote.tpm_rollback', "
        "quote_clock = 90000, quote_reset_count = 5, quote_restart_count = 1");
    tx.commit();
  }
  ASSERT_EQ(admin.Show(kUuid)->state(), v1::AGENT_STATE_FAILED);
  st = admin.Enrol(kUuid, enrol);
  ASSERT_TRUE(st.ok());
  EXPECT_EQ(st->state(), v1::AGENT_STATE_ENROLLED);
  EXPECT_EQ(st->policy_versions().pcr(), 3u);
  // The re-enrolment clears them: the restored TPM is judged from its next quote.
  EXPECT_EQ(Scalar("SELECT (quote_clock IS NULL AND quote_reset_count IS NULL AND "
                   "quote_restart_count IS NULL)::text FROM enrolments"),
            "true");

  auto list = admin.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->agents_size(), 1);
  EXPECT_EQ(list->agents(0).agent_uuid(), kUuid);
  EXPECT_EQ(admin.List(v1::AGENT_STATE_PASS)->agents_size(), 0);

  ASSERT_TRUE(admin.Remove(kUuid).ok());
  EXPECT_EQ(Scalar("SELECT count(*) FROM registrations"), "0");
  EXPECT_EQ(Scalar("SELECT count(*) FROM policies"), "0");
  EXPECT_EQ(Scalar("SELECT count(*) FROM enrolments"), "0");
  EXPECT_EQ(admin.Remove(kUuid).error().code, errc::not_found);
  // After removal another TPM may take the UUID.
  auto other = SoftIdentity::Generate();
  ASSERT_TRUE(other.ok());
  Enrolable(port(), *other, kUuid);
}

TEST_F(RegistrarSoftTest, EnrolNeedsAnActiveRegistration) {
  auto admin = Admin(port());
  v1::EnrolRequest enrol;
  enrol.set_interval_seconds(30);
  EXPECT_EQ(admin.Enrol(kUuid, enrol).error().code, errc::not_found);
  auto c = Agent(port());
  ASSERT_EQ(Register(c, *id_, kUuid).status, 200);
  const std::string before = Snapshot();
  EXPECT_EQ(admin.Enrol(kUuid, enrol).error().code, errc::conflict);
  enrol.set_interval_seconds(0);
  EXPECT_EQ(admin.Enrol(kUuid, enrol).error().code, errc::bad_request);
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(RegistrarSoftTest, AdminCallsNeedCredentials) {
  Enrolable(port(), *id_, kUuid);
  const std::string before = Snapshot();
  auto none = Admin(port(), "");
  for (auto [method, path] : std::vector<std::pair<std::string, std::string>>{
           {"GET", "/v1/admin/agents"},
           {"GET", std::string("/v1/admin/agents/") + kUuid},
           {"DELETE", std::string("/v1/admin/agents/") + kUuid}}) {
    auto r = none.Call(method, path);
    ASSERT_TRUE(r.ok());
    EXPECT_EQ(r->status, 401) << method << " " << path;
  }
  auto r = none.Call("PUT", std::string("/v1/admin/agents/") + kUuid + "/enrolment",
                     R"({"intervalSeconds": 10})");
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 401);
  auto wrong = Admin(port(), "not-the-token-at-all-000000");
  r = wrong.Call("DELETE", std::string("/v1/admin/agents/") + kUuid);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 403);
  EXPECT_EQ(wrong.List().error().code, errc::forbidden);
  EXPECT_EQ(Snapshot(), before);

  // A client certificate from the admin CA is enough.
  AdminClientOptions o;
  o.base_url = "https://127.0.0.1:" + std::to_string(port());
  o.ca_file = pki_->ca_cert().string();
  o.cert_file = admin_cert_->cert.string();
  o.key_file = admin_cert_->key.string();
  auto cert_client = AdminClient::Create(o);
  ASSERT_TRUE(cert_client.ok());
  auto list = cert_client->List();
  ASSERT_TRUE(list.ok()) << list.error().ToString();
  EXPECT_EQ(list->agents_size(), 1);
  // A certificate of another CA does not get through the handshake.
  o.cert_file = server_cert_->cert.string();
  o.key_file = server_cert_->key.string();
  auto foreign = AdminClient::Create(o);
  ASSERT_TRUE(foreign.ok());
  auto fr = foreign->List();
  ASSERT_FALSE(fr.ok());
  EXPECT_EQ(Snapshot(), before);
}

TEST_F(RegistrarSoftTest, HealthReadinessMetrics) {
  auto c = Agent(port());
  auto h = c.Get("/healthz");
  ASSERT_TRUE(h.ok());
  EXPECT_EQ(h->status, 200);
  auto ready = c.Get("/readyz");
  ASSERT_TRUE(ready.ok());
  EXPECT_EQ(ready->status, 200);
  Enrolable(port(), *id_, kUuid);
  auto m = c.Get("/metrics");
  ASSERT_TRUE(m.ok());
  EXPECT_NE(m->body.find("registrar_registrations_total{result=\"ok\"} 1"), std::string::npos)
      << m->body;
  EXPECT_NE(m->body.find("registrar_activations_total{result=\"ok\"} 1"), std::string::npos);
}

// Attack (issue 17.7): a pending registration's AK replaced by a re-send.
// The EK is public, so anyone could void the real agent's activation offer.
TEST_F(RegistrarSoftTest, PendingAkIsNotReplacedByAResend) {
  auto c = Agent(port());
  v1::RegisterResponse first;
  ASSERT_EQ(Register(c, *id_, kUuid, &first).status, 200);
  const std::string before = Snapshot();

  auto attacker = id_->WithNewAk();  // same (public) EK, the attacker's AK
  ASSERT_TRUE(attacker.ok()) << attacker.error().ToString();
  auto r = Register(c, *attacker, kUuid);
  EXPECT_EQ(r.status, 409) << r.body;
  EXPECT_EQ(r.header("Content-Type"), "application/problem+json");
  EXPECT_NE(r.body.find("pending registration with a different AK"), std::string::npos) << r.body;
  EXPECT_EQ(Snapshot(), before);

  // The same AK re-sent is idempotent: a fresh offer for the same keys.
  v1::RegisterResponse again;
  ASSERT_EQ(Register(c, *id_, kUuid, &again).status, 200);
  EXPECT_FALSE(again.already_active());
  EXPECT_EQ(Scalar("SELECT encode(ak_public, 'hex') FROM registrations"),
            tpm::ToHex(id_->ak_public()));
  auto secret = id_->Activate(Bytes(again.credential_blob()), Bytes(again.encrypted_secret()));
  ASSERT_TRUE(secret.ok());
  EXPECT_EQ(Activate(c, kUuid, Str(SoftIdentity::AuthTag(*secret, kUuid))).status, 200);

  // Once expired, a pending registration no longer holds the UUID: another
  // AK may take it (the TPM still has to prove it holds both).
  const std::string uuid2 = "d432fbb3-d2f1-4a97-9ef7-75bd81c00002";
  ASSERT_EQ(Register(c, *id_, uuid2).status, 200);
  {
    auto conn = Connect();
    pqxx::work tx(*conn);
    tx.exec(
        "UPDATE registrations SET activation_expires_at = now() - interval '1 second' "
        "WHERE agent_id = '" +
        uuid2 + "'");
    tx.commit();
  }
  EXPECT_EQ(Register(c, *attacker, uuid2).status, 200);
}

// The status carries SHA-256 of the registered EK's TPM2B_PUBLIC, and an
// enrolment pinned to another EK is refused without writing anything.
TEST_F(RegistrarSoftTest, StatusShowsEkHashAndEnrolmentPinsIt) {
  Enrolable(port(), *id_, kUuid);
  uint8_t d[32];
  SHA256(id_->ek_public().data(), id_->ek_public().size(), d);
  const std::string ek_hash = tpm::ToHex(std::vector<uint8_t>(d, d + 32));
  auto admin = Admin(port());
  auto shown = admin.Show(kUuid);
  ASSERT_TRUE(shown.ok()) << shown.error().ToString();
  EXPECT_EQ(shown->ek_sha256(), ek_hash);
  auto list = admin.List();
  ASSERT_TRUE(list.ok());
  ASSERT_EQ(list->agents_size(), 1);
  EXPECT_EQ(list->agents(0).ek_sha256(), ek_hash);

  const std::string before = Snapshot();
  v1::EnrolRequest enrol;
  enrol.set_interval_seconds(30);
  enrol.set_ek_sha256(std::string(64, 'a'));  // the EK the operator expected
  auto refused = admin.Enrol(kUuid, enrol);
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, errc::conflict);
  EXPECT_NE(refused.error().message.find(ek_hash), std::string::npos) << refused.error().message;
  enrol.set_ek_sha256("not-hex");
  EXPECT_EQ(admin.Enrol(kUuid, enrol).error().code, errc::bad_request);
  EXPECT_EQ(Snapshot(), before);

  std::string upper;
  for (char ch : ek_hash) upper += static_cast<char>(std::toupper(ch));
  enrol.set_ek_sha256(upper);  // hex in either case
  auto ok = admin.Enrol(kUuid, enrol);
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_EQ(ok->state(), v1::AGENT_STATE_ENROLLED);
}

// Attack (issue 17.7): bulk enrolment takes identities without an EK check;
// with only the admin token it planted agents on any registrar. Off by default.
TEST_F(RegistrarSoftTest, BulkEnrolmentIsOffUnlessConfigured) {
  const std::string body = std::string(R"({"ek_public": ")") + tpm::ToHex(id_->ek_public()) +
                           R"(", "agents": [{"uuid": ")" + kUuid + R"(", "ak_public": ")" +
                           tpm::ToHex(id_->ak_public()) + R"("}]})";
  const std::string before = Snapshot();
  auto off = Admin(port()).Call("POST", "/v1/admin/agents:bulk", body);
  ASSERT_TRUE(off.ok());
  EXPECT_EQ(off->status, 404) << off->body;
  EXPECT_NE(off->body.find("admin.bulk_enrolment"), std::string::npos) << off->body;
  EXPECT_EQ(Snapshot(), before);

  auto config = Config();
  config.bulk_enrolment = true;
  auto on = Start(config);
  ASSERT_NE(on, nullptr);
  auto r = Admin(on->port()).Call("POST", "/v1/admin/agents:bulk", body);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->status, 200) << r->body;
  EXPECT_EQ(Scalar("SELECT state FROM registrations"), "active");
  // Still behind the admin credentials when on.
  auto anon = Admin(on->port(), "").Call("POST", "/v1/admin/agents:bulk", body);
  ASSERT_TRUE(anon.ok());
  EXPECT_EQ(anon->status, 401);
  on->Stop(std::chrono::seconds(2));
}

TEST(RegistrarConfigTest, BulkEnrolmentDefaultsOff) {
  const std::string base =
      "[server]\ncert='c'\nkey='k'\n[database]\nconninfo='x'\n[ek]\nrequire_cert=false\n"
      "[kafka]\nbootstrap_servers='k:9092'\n[admin]\ntoken_file='t'\n";
  auto f = ConfigFile::Parse(base, "<test>");
  ASSERT_TRUE(f.ok());
  auto c = ParseRegistrarConfig(*f);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_FALSE(c->bulk_enrolment);
  auto on = ConfigFile::Parse(base + "bulk_enrolment = true\n", "<test>");
  ASSERT_TRUE(on.ok());
  ASSERT_TRUE(ParseRegistrarConfig(*on).ok());
  EXPECT_TRUE(ParseRegistrarConfig(*on)->bulk_enrolment);
  auto wrong = ConfigFile::Parse(base + "bulk_enrolment = \"yes\"\n", "<test>");
  ASSERT_TRUE(wrong.ok());
  auto bad = ParseRegistrarConfig(*wrong);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("admin.bulk_enrolment"), std::string::npos)
      << bad.error().message;
}

// Issue 19.4: a key the registrar does not read is an error, not a setting
// silently ignored.
TEST(RegistrarConfigTest, UnknownKeysAndKeysInTheWrongTableAreErrors) {
  const std::string base =
      "[server]\ncert='c'\nkey='k'\n[database]\nconninfo='x'\n[ek]\nrequire_cert=false\n"
      "[kafka]\nbootstrap_servers='k:9092'\n[admin]\ntoken_file='t'\n";
  auto f = ConfigFile::Parse(base + "evidence_topic = 'e'\n", "registrar.toml");
  ASSERT_TRUE(f.ok());
  auto c = ParseRegistrarConfig(*f);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "registrar.toml:12:1: key 'admin.evidence_topic': unknown key; 'evidence_topic' "
            "belongs in [kafka]");
  f = ConfigFile::Parse(base + "[registration]\npending_ttl_second = 60\n", "registrar.toml");
  ASSERT_TRUE(f.ok());
  c = ParseRegistrarConfig(*f);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().message,
            "registrar.toml:13:1: key 'registration.pending_ttl_second': unknown key; did you "
            "mean 'pending_ttl_seconds'?");
}

TEST(RegistrarConfigTest, ParsesAndValidates) {
  auto f = ConfigFile::Parse(R"(
[server]
cert = "c.pem"
key = "k.pem"
[database]
conninfo = "host=db"
[ek]
trust_store = "/etc/attest/ek-ca"
[admin]
token_file = "/etc/attest/admin.token"
[kafka]
bootstrap_servers = "k1:9092,k2:9092"
evidence_partitions = 24
)",
                             "<test>");
  ASSERT_TRUE(f.ok());
  auto c = ParseRegistrarConfig(*f);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->port, 8891);
  EXPECT_TRUE(c->require_ek_cert);
  EXPECT_EQ(c->kafka_bootstrap, "k1:9092,k2:9092");
  EXPECT_EQ(c->kafka_evidence_topic, "attestation.evidence");
  EXPECT_EQ(c->expected_evidence_partitions, 24);
  EXPECT_EQ(c->kafka_startup_timeout, std::chrono::milliseconds(60'000));

  // The partition count comes from Kafka now: without a cluster to read it
  // from the registrar cannot start.
  auto no_kafka = ConfigFile::Parse(
      "[server]\ncert='c'\nkey='k'\n[database]\nconninfo='x'\n[ek]\nrequire_cert=false\n"
      "[admin]\ntoken_file='t'\n[kafka]\nevidence_partitions = 12\n",
      "<test>");
  ASSERT_TRUE(no_kafka.ok());
  auto missing = ParseRegistrarConfig(*no_kafka);
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.error().message.find("kafka.bootstrap_servers"), std::string::npos);

  auto no_store = ConfigFile::Parse(
      "[server]\ncert='c'\nkey='k'\n[database]\nconninfo='x'\n[admin]\ntoken_file='t'\n", "<test>");
  ASSERT_TRUE(no_store.ok());
  auto bad = ParseRegistrarConfig(*no_store);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("ek.trust_store"), std::string::npos);
  auto no_admin = ConfigFile::Parse(
      "[server]\ncert='c'\nkey='k'\n[database]\nconninfo='x'\n[ek]\nrequire_cert=false\n",
      "<test>");
  ASSERT_TRUE(no_admin.ok());
  EXPECT_FALSE(ParseRegistrarConfig(*no_admin).ok());
}

}  // namespace
}  // namespace attest::registrar::testing
