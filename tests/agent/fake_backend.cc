#include "tests/agent/fake_backend.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

#include <stdexcept>

#include "agent/tpm.h"
#include "attest/v1/registration.pb.h"
#include "common/checks/quote.h"
#include "common/credential/credential.h"
#include "common/tpm/marshal.h"

namespace attest::testing {
namespace {

constexpr char kProto[] = "application/x-protobuf";

std::string Random(size_t n) {
  std::string out(n, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) != 1) {
    throw std::runtime_error("RAND_bytes failed");
  }
  return out;
}

credential::Bytes B(const std::string& s) { return credential::Bytes(s.begin(), s.end()); }

http::Response Proto(int status, const google::protobuf::Message& m) {
  return http::Response::Binary(status, kProto, m.SerializeAsString());
}

}  // namespace

FakeBackend::FakeBackend(TestPki& pki, const std::string& name) {
  auto cert = pki.IssueServer(name);
  http::ServerOptions o;
  o.name = name;
  o.cert_file = cert.cert;
  o.key_file = cert.key;
  o.io_threads = 1;
  http::Router r;
  auto bind = [this](void (FakeBackend::*fn)(http::RequestPtr, http::Responder)) {
    return [this, fn](http::RequestPtr req, http::Responder res) { (this->*fn)(req, res); };
  };
  bool ok = r.Add("POST", "/v1/agents/{uuid}/register", bind(&FakeBackend::Register)).ok() &&
            r.Add("POST", "/v1/agents/{uuid}/activate", bind(&FakeBackend::Activate)).ok() &&
            r.Add("POST", "/v1/agents/{uuid}/challenges", bind(&FakeBackend::Challenge)).ok() &&
            r.Add("POST", "/v1/agents/{uuid}/evidence", bind(&FakeBackend::Evidence)).ok();
  if (!ok) throw std::runtime_error("FakeBackend: bad routes");
  server_ = std::make_unique<http::Server>(o, std::move(r), nullptr);
  if (auto s = server_->Start(); !s) throw std::runtime_error("FakeBackend: " + s.error().message);
}

FakeBackend::~FakeBackend() { server_->Stop(std::chrono::seconds(2)); }

void FakeBackend::TooEarly(int count, int retry_after_s) {
  std::lock_guard lock(mu_);
  too_early_ = count;
  retry_after_s_ = retry_after_s;
}
void FakeBackend::TokenSize(size_t bytes) {
  std::lock_guard lock(mu_);
  token_size_ = bytes;
}
void FakeBackend::SetImaOffset(uint64_t offset) {
  std::lock_guard lock(mu_);
  ima_offset_ = offset;
}
void FakeBackend::SetInterval(uint32_t seconds) {
  std::lock_guard lock(mu_);
  interval_s_ = seconds;
}
void FakeBackend::Forget(const std::string& uuid) {
  std::lock_guard lock(mu_);
  regs_.erase(uuid);
}

std::vector<FakeBackend::RequestRecord> FakeBackend::requests() const {
  std::lock_guard lock(mu_);
  return requests_;
}
int FakeBackend::Count(const std::string& route) const {
  std::lock_guard lock(mu_);
  int n = 0;
  for (const auto& r : requests_) n += r.route == route;
  return n;
}
std::map<std::string, FakeBackend::Registration> FakeBackend::registrations() const {
  std::lock_guard lock(mu_);
  return regs_;
}
std::vector<FakeBackend::ReceivedEvidence> FakeBackend::evidence() const {
  std::lock_guard lock(mu_);
  return evidence_;
}

void FakeBackend::Record(const std::string& route, int status) {
  requests_.push_back({std::chrono::steady_clock::now(), route, status});
}

void FakeBackend::Register(http::RequestPtr req, http::Responder res) {
  std::lock_guard lock(mu_);
  v1::RegisterRequest m;
  if (req->content_type() != kProto || !m.ParseFromString(req->body()) ||
      m.agent_uuid() != req->param("uuid")) {
    Record("register", 400);
    return res.Send(http::Problem(400, "not a RegisterRequest for this agent"));
  }
  auto name = credential::ObjectName(B(m.ak_public()));
  if (!name) {
    Record("register", 400);
    return res.Send(http::Problem(400, "ak_public: " + name.error().message));
  }
  Registration& r = regs_[m.agent_uuid()];
  if (!r.ek_public.empty() && r.ek_public != m.ek_public()) {
    Record("register", 409);
    return res.Send(http::Problem(409, "a known UUID with another EK"));
  }
  r.register_calls++;
  r.ek_public = m.ek_public();
  r.ek_cert = m.ek_cert();
  r.ak_public = m.ak_public();
  r.active = false;
  r.secret = Random(32);
  auto made = credential::MakeCredential(B(m.ek_public()), B(r.secret), *name);
  if (!made) {
    Record("register", 400);
    return res.Send(http::Problem(400, "ek_public: " + made.error().message));
  }
  v1::RegisterResponse out;
  out.set_credential_blob(std::string(made->credential_blob.begin(), made->credential_blob.end()));
  out.set_encrypted_secret(
      std::string(made->encrypted_secret.begin(), made->encrypted_secret.end()));
  Record("register", 200);
  res.Send(Proto(200, out));
}

void FakeBackend::Activate(http::RequestPtr req, http::Responder res) {
  std::lock_guard lock(mu_);
  v1::ActivateRequest m;
  if (!m.ParseFromString(req->body()) || m.agent_uuid() != req->param("uuid")) {
    Record("activate", 400);
    return res.Send(http::Problem(400, "not an ActivateRequest for this agent"));
  }
  auto it = regs_.find(m.agent_uuid());
  if (it == regs_.end()) {
    Record("activate", 404);
    return res.Send(http::Problem(404, "unknown agent"));
  }
  unsigned char tag[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  HMAC(EVP_sha256(), it->second.secret.data(), static_cast<int>(it->second.secret.size()),
       reinterpret_cast<const unsigned char*>(m.agent_uuid().data()), m.agent_uuid().size(), tag,
       &len);
  if (m.auth_tag() != std::string(reinterpret_cast<char*>(tag), len)) {
    Record("activate", 403);
    return res.Send(http::Problem(403, "auth_tag does not match"));
  }
  it->second.active = true;
  v1::ActivateResponse out;
  out.set_active(true);
  Record("activate", 200);
  res.Send(Proto(200, out));
}

void FakeBackend::Challenge(http::RequestPtr req, http::Responder res) {
  std::lock_guard lock(mu_);
  v1::ChallengeRequest m;
  std::string uuid(req->param("uuid"));
  if (!m.ParseFromString(req->body()) || m.agent_uuid() != uuid) {
    Record("challenges", 400);
    return res.Send(http::Problem(400, "not a ChallengeRequest for this agent"));
  }
  auto it = regs_.find(uuid);
  if (it == regs_.end() || !it->second.active) {
    Record("challenges", 404);
    return res.Send(http::Problem(404, "agent " + uuid + " is not registered"));
  }
  if (too_early_ > 0) {
    --too_early_;
    Record("challenges", 429);
    return res.Send(
        http::Problem(429, "too early").RetryAfter(std::chrono::seconds(retry_after_s_)));
  }
  v1::Challenge c;
  c.set_token(Random(token_size_));
  tokens_[c.token()] = uuid;
  auto* sel = c.add_pcr_selection();
  sel->set_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  for (uint32_t i : {0u, 1u, 2u, 3u, 4u, 5u, 6u, 7u, 10u}) sel->add_pcrs(i);
  c.set_quote_hash_algorithm(v1::HASH_ALGORITHM_SHA256);
  c.set_ima_offset(ima_offset_);
  c.set_interval_seconds(interval_s_);
  Record("challenges", 200);
  res.Send(Proto(200, c));
}

void FakeBackend::Evidence(http::RequestPtr req, http::Responder res) {
  std::lock_guard lock(mu_);
  v1::Evidence m;
  std::string uuid(req->param("uuid"));
  if (!m.ParseFromString(req->body()) || m.agent_uuid() != uuid) {
    Record("evidence", 400);
    return res.Send(http::Problem(400, "not an Evidence for this agent"));
  }
  auto reg = regs_.find(uuid);
  if (reg == regs_.end() || !reg->second.active) {
    Record("evidence", 404);
    return res.Send(http::Problem(404, "agent " + uuid + " is not registered"));
  }
  auto tok = tokens_.find(m.challenge_token());
  if (tok == tokens_.end() || tok->second != uuid) {
    Record("evidence", 401);
    return res.Send(http::Problem(401, "unknown challenge token"));
  }
  tokens_.erase(tok);
  ReceivedEvidence rec;
  rec.evidence = m;
  auto pub = tpm::ParsePublic(tpm::AsBytes(reg->second.ak_public));
  if (pub) {
    checks::QuoteInputs in;
    in.quote = tpm::Bytes(m.quote().attest().begin(), m.quote().attest().end());
    in.signature = tpm::Bytes(m.quote().signature().begin(), m.quote().signature().end());
    in.ak_public = pub->publicArea;
    in.nonce = tpm::Bytes(m.challenge_token().begin(), m.challenge_token().end());
    for (const auto& bank : m.quote().pcrs()) {
      auto& out = in.pcrs[agent::TpmHashAlg(bank.hash_algorithm())];
      for (const auto& [index, digest] : bank.values()) {
        out[index] = tpm::Bytes(digest.begin(), digest.end());
      }
    }
    auto result = checks::VerifyQuote(in);
    rec.quote_ok = result.ok();
    for (const auto& f : result.failures) rec.quote_failures += f.event_id + " ";
  } else {
    rec.quote_failures = "ak_public: " + pub.error().message;
  }
  ima_offset_ = m.ima().start_offset() + m.ima().entry_count();
  evidence_.push_back(std::move(rec));
  v1::EvidenceAccepted out;
  out.set_evidence_id("ev-" + std::to_string(evidence_.size()));
  out.set_next_attestation_seconds(interval_s_);
  Record("evidence", 202);
  res.Send(Proto(202, out));
}

}  // namespace attest::testing
