#include "registrar/registration_handlers.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include "attest/v1/registration.pb.h"
#include "common/credential/credential.h"
#include "common/tpm/marshal.h"
#include "common/tpm/tpm_crypto.h"
#include "registrar/codec.h"
#include "registrar/errors.h"
#include "registrar/store.h"

namespace attest::registrar {
namespace {

using http::RequestPtr;
using http::Responder;
using http::Response;

Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }
std::string ToStr(const Bytes& b) { return std::string(b.begin(), b.end()); }

Error BadRequest(std::string what) { return MakeError(errc::bad_request, std::move(what)); }

// A fresh secret wrapped for the TPM that holds `ek_public` and the AK named
// `ak_name`, and SHA-256(HMAC-SHA256(secret, uuid)) in `tag_sha256`. Only the
// hash is stored: activation compares the hash of the presented tag, and a
// database reader learns nothing that lets it activate (docs/registrar.md).
Result<credential::MadeCredential> MakeOffer(const std::string& ek_public, const Bytes& ak_name,
                                             const std::string& uuid, Bytes* tag_sha256) {
  Bytes secret(32);
  if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
    return MakeError(errc::internal, "RAND_bytes failed");
  }
  auto made = credential::MakeCredential(ToBytes(ek_public), secret, ak_name);
  if (!made) {
    OPENSSL_cleanse(secret.data(), secret.size());
    if (made.error().code == credential::errc::bad_public_key ||
        made.error().code == credential::errc::invalid_argument) {
      return BadRequest("ek_public: " + made.error().ToString());
    }
    return MakeError(errc::internal, made.error().ToString());
  }
  uint8_t tag[32];
  unsigned int tag_len = 0;
  HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
       reinterpret_cast<const uint8_t*>(uuid.data()), uuid.size(), tag, &tag_len);
  OPENSSL_cleanse(secret.data(), secret.size());
  tag_sha256->resize(32);
  SHA256(tag, tag_len, tag_sha256->data());
  OPENSSL_cleanse(tag, sizeof tag);
  return made;
}

}  // namespace

RegistrationHandlers::RegistrationHandlers(const RegistrarConfig& config, const EkTrustStore* trust,
                                           const DbDispatch& db, metrics::Registry& registry)
    : config_(config),
      trust_(trust),
      db_(db),
      registrations_(registry.AddCounter("registrar_registrations_total",
                                         "Registration requests by result.", {"result"})),
      activations_(registry.AddCounter("registrar_activations_total",
                                       "Activation requests by result.", {"result"})) {}

Result<void> RegistrationHandlers::AddRoutes(http::Router& router) {
  ATTEST_RETURN_IF_ERROR(
      router.Add("POST", "/v1/agents/{uuid}/register", [this](RequestPtr q, Responder r) {
        db_.Defer(r, [this, q](db::Connection& c) { return Register(c, *q); });
      }));
  ATTEST_RETURN_IF_ERROR(
      router.Add("POST", "/v1/agents/{uuid}/activate", [this](RequestPtr q, Responder r) {
        db_.Defer(r, [this, q](db::Connection& c) { return Activate(c, *q); });
      }));
  return router.Add("GET", "/v1/agents/{uuid}/registration", [this](RequestPtr q, Responder r) {
    db_.Defer(r, [this, q](db::Connection& c) { return Registration(c, *q); });
  });
}

Response RegistrationHandlers::Register(db::Connection& conn, const http::Request& req) {
  auto r = RegisterUncounted(conn, req);
  registrations_.With({r.status == 200 ? "ok" : std::to_string(r.status)}).Inc();
  return r;
}

Result<void> RegistrationHandlers::CheckKeys(const v1::RegisterRequest& in) const {
  auto ek = tpm::ParsePublic(tpm::AsBytes(in.ek_public()));
  if (!ek) return BadRequest("ek_public: " + ek.error().ToString());
  auto ek_alg = ek->publicArea.type;
  if (ek_alg != TPM2_ALG_RSA && ek_alg != TPM2_ALG_ECC) {
    return BadRequest("ek_public: not an RSA or ECC key");
  }
  auto ak = tpm::ParsePublic(tpm::AsBytes(in.ak_public()));
  if (!ak) return BadRequest("ak_public: " + ak.error().ToString());
  if (auto c = tpm::CheckAttestationKeyAttributes(ak->publicArea); !c) {
    return BadRequest("ak_public: " + c.error().ToString());
  }
  if (auto k = tpm::PublicToEvpPkey(ak->publicArea); !k) {
    return BadRequest("ak_public: " + k.error().ToString());
  }
  if (!in.ek_cert().empty()) {
    if (trust_ == nullptr) {
      return MakeError(errc::forbidden,
                       "ek_cert cannot be checked: this registrar has no EK trust store "
                       "configured");
    }
    return trust_->Verify(tpm::AsBytes(in.ek_cert()), tpm::AsBytes(in.ek_public()));
  }
  if (config_.require_ek_cert) {
    return MakeError(errc::forbidden,
                     "ek_cert is required: this registrar only accepts TPMs whose EK "
                     "certificate chains to its trust store");
  }
  return Ok();
}

Response RegistrationHandlers::RegisterUncounted(db::Connection& conn, const http::Request& req) {
  v1::RegisterRequest in;
  if (auto p = ParseBody(req, &in); !p) return ProblemFor(p.error());
  auto uuid = AgentUuid(req, in.agent_uuid(), true);
  if (!uuid) return ProblemFor(uuid.error());
  if (auto k = CheckKeys(in); !k) return ProblemFor(k.error());

  auto ak_name = credential::ObjectName(ToBytes(in.ak_public()));
  if (!ak_name) return ProblemFor(BadRequest("ak_public: " + ak_name.error().ToString()));
  NewRegistration reg;
  auto made = MakeOffer(in.ek_public(), *ak_name, *uuid, &reg.tag_sha256);
  if (!made) return ProblemFor(made.error());
  reg.uuid = *uuid;
  reg.ek_public = ToBytes(in.ek_public());
  reg.ek_cert = ToBytes(in.ek_cert());
  reg.ak_public = ToBytes(in.ak_public());
  reg.ak_name = *ak_name;
  reg.ttl_seconds = config_.pending_ttl.count();
  auto stored = StoreRegistration(conn, reg);
  if (!stored) {
    if (stored.error().code == errc::conflict) {
      spdlog::warn("registrar: registration of agent {} refused: {}", *uuid,
                   stored.error().message);
    }
    return ProblemFor(stored.error());
  }

  v1::RegisterResponse out;
  out.set_credential_blob(ToStr(made->credential_blob));
  out.set_encrypted_secret(ToStr(made->encrypted_secret));
  out.mutable_expires_at()->set_seconds(static_cast<int64_t>(stored->expires_at));
  out.set_already_active(stored->already_active);
  spdlog::info("registrar: agent {} registered{}", *uuid,
               stored->already_active ? " again (already active)" : " (pending activation)");
  return Encode(200, out, ResponseEncoding(req));
}

Response RegistrationHandlers::Activate(db::Connection& conn, const http::Request& req) {
  v1::ActivateRequest in;
  if (auto p = ParseBody(req, &in); !p) return ProblemFor(p.error());
  auto uuid = AgentUuid(req, in.agent_uuid(), true);
  if (!uuid) return ProblemFor(uuid.error());
  if (in.auth_tag().size() != 32) {
    return ProblemFor(BadRequest("auth_tag must be 32 bytes (HMAC-SHA256)"));
  }
  Bytes tag_hash(32);
  SHA256(reinterpret_cast<const uint8_t*>(in.auth_tag().data()), in.auth_tag().size(),
         tag_hash.data());
  auto r = ActivateRegistration(conn, *uuid, tag_hash);
  activations_.With({r ? "ok" : std::to_string(HttpStatus(r.error()))}).Inc();
  if (!r) return ProblemFor(r.error());
  spdlog::info("registrar: agent {} activated", *uuid);
  v1::ActivateResponse out;
  out.set_active(true);
  return Encode(200, out, ResponseEncoding(req));
}

Response RegistrationHandlers::Registration(db::Connection& conn, const http::Request& req) {
  auto uuid = CanonicalUuid(req.param("uuid"));
  if (!uuid) return ProblemFor(uuid.error());
  auto s = LoadAgentStatus(conn, *uuid, false);
  if (!s) return ProblemFor(s.error());
  v1::AgentStatus out;  // registration facts only
  out.set_agent_uuid(s->agent_uuid());
  out.set_registered(true);
  out.set_active(s->active());
  *out.mutable_registered_at() = s->registered_at();
  return Encode(200, out, ResponseEncoding(req));
}

}  // namespace attest::registrar
