#include "registrar/registrar.h"

#include <openssl/crypto.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <spdlog/spdlog.h>

#include <cctype>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <set>
#include <thread>

#include "attest/v1/admin.pb.h"
#include "attest/v1/registration.pb.h"
#include "common/credential/credential.h"
#include "common/db/pool.h"
#include "common/http/server.h"
#include "common/kafka/partitioner.h"
#include "common/metrics/metrics.h"
#include "common/tpm/marshal.h"
#include "common/tpm/tpm_crypto.h"
#include "registrar/admin_auth.h"
#include "registrar/bulk.h"
#include "registrar/codec.h"
#include "registrar/errors.h"
#include "registrar/policy_check.h"
#include "registrar/store.h"
#include "registrar/trust_store.h"

namespace attest::registrar {
namespace {

using http::RequestPtr;
using http::Responder;
using http::Response;

Bytes ToBytes(const std::string& s) { return Bytes(s.begin(), s.end()); }
std::string ToStr(const Bytes& b) { return std::string(b.begin(), b.end()); }

// The path UUID, canonical, equal to the body's when the body names one.
Result<std::string> AgentUuid(const http::Request& req, const std::string& body_uuid,
                              bool body_required) {
  std::string path;
  ATTEST_ASSIGN_OR_RETURN(path, CanonicalUuid(req.param("uuid")));
  if (body_uuid.empty() && !body_required) return path;
  auto body = CanonicalUuid(body_uuid);
  if (!body || *body != path) {
    return MakeError(errc::bad_request, "agent_uuid in the body (\"" + body_uuid.substr(0, 64) +
                                            "\") is not the UUID of the path");
  }
  return path;
}

// Value of `key` in a query string ("a=1&b=2"), without percent-decoding
// (the admin API's parameters are UUIDs, numbers and state names).
std::string QueryParam(std::string_view query, std::string_view key) {
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view part = query.substr(0, amp);
    auto eq = part.find('=');
    if (part.substr(0, eq) == key)
      return eq == std::string_view::npos ? "" : std::string(part.substr(eq + 1));
    if (amp == std::string_view::npos) break;
    query.remove_prefix(amp + 1);
  }
  return {};
}

}  // namespace

struct Registrar::Impl {
  RegistrarConfig config;
  int32_t evidence_partitions = 0;
  EkTrustStore trust;
  bool have_trust_store = false;
  AdminAuth auth;
  metrics::Registry registry;
  std::unique_ptr<db::Pool> pool;
  std::unique_ptr<http::Server> server;
  metrics::CounterFamily* registrations = nullptr;
  metrics::CounterFamily* activations = nullptr;

  std::mutex cleanup_mu;
  std::condition_variable cleanup_cv;
  bool cleanup_stop = false;
  std::thread cleanup_thread;

  // Runs fn(conn) on a database worker and sends what it returns; 503 when
  // the queue is full or the database unreachable.
  template <typename F>
  void Defer(const Responder& res, F fn) {
    auto queued = pool->Submit([res, fn = std::move(fn)](Result<db::Connection*> conn) mutable {
      if (!conn) {
        res.Send(ProblemFor(MakeError(errc::unavailable, conn.error().ToString())));
        return;
      }
      res.Send(fn(**conn));
    });
    if (!queued) res.Send(ProblemFor(MakeError(errc::unavailable, "database work queue is full")));
  }

  // Admin handlers: authenticate on the I/O thread (no I/O needed), then defer.
  template <typename F>
  void Admin(const RequestPtr& req, const Responder& res, F fn) {
    auto who = auth.Check(*req);
    if (!who) {
      Response r = ProblemFor(who.error());
      if (HttpStatus(who.error()) == 401) r.Header("WWW-Authenticate", "Bearer realm=\"attest\"");
      res.Send(std::move(r));
      return;
    }
    Defer(res, [req, fn = std::move(fn), actor = *who](db::Connection& c) mutable {
      return fn(c, *req, actor);
    });
  }

  Response DoRegister(db::Connection& conn, const http::Request& req) {
    auto r = Register(conn, req);
    registrations->With({r.status == 200 ? "ok" : std::to_string(r.status)}).Inc();
    return r;
  }

  Response Register(db::Connection& conn, const http::Request& req) {
    v1::RegisterRequest in;
    if (auto p = ParseBody(req, &in); !p) return ProblemFor(p.error());
    auto uuid = AgentUuid(req, in.agent_uuid(), true);
    if (!uuid) return ProblemFor(uuid.error());
    auto fail = [](std::string what) {
      return ProblemFor(MakeError(errc::bad_request, std::move(what)));
    };

    auto ek = tpm::ParsePublic(tpm::AsBytes(in.ek_public()));
    if (!ek) return fail("ek_public: " + ek.error().ToString());
    auto ek_alg = ek->publicArea.type;
    if (ek_alg != TPM2_ALG_RSA && ek_alg != TPM2_ALG_ECC) {
      return fail("ek_public: not an RSA or ECC key");
    }
    auto ak = tpm::ParsePublic(tpm::AsBytes(in.ak_public()));
    if (!ak) return fail("ak_public: " + ak.error().ToString());
    if (auto c = tpm::CheckAttestationKeyAttributes(ak->publicArea); !c) {
      return fail("ak_public: " + c.error().ToString());
    }
    if (auto k = tpm::PublicToEvpPkey(ak->publicArea); !k) {
      return fail("ak_public: " + k.error().ToString());
    }

    if (!in.ek_cert().empty()) {
      if (!have_trust_store) {
        return ProblemFor(MakeError(errc::forbidden,
                                    "ek_cert cannot be checked: this registrar has no EK trust "
                                    "store configured"));
      }
      if (auto v = trust.Verify(tpm::AsBytes(in.ek_cert()), tpm::AsBytes(in.ek_public())); !v) {
        return ProblemFor(v.error());
      }
    } else if (config.require_ek_cert) {
      return ProblemFor(MakeError(errc::forbidden,
                                  "ek_cert is required: this registrar only accepts TPMs whose EK "
                                  "certificate chains to its trust store"));
    }

    auto ak_name = credential::ObjectName(ToBytes(in.ak_public()));
    if (!ak_name) return fail("ak_public: " + ak_name.error().ToString());
    Bytes secret(32);
    if (RAND_bytes(secret.data(), static_cast<int>(secret.size())) != 1) {
      return ProblemFor(MakeError(errc::internal, "RAND_bytes failed"));
    }
    auto made = credential::MakeCredential(ToBytes(in.ek_public()), secret, *ak_name);
    if (!made) {
      OPENSSL_cleanse(secret.data(), secret.size());
      if (made.error().code == credential::errc::bad_public_key ||
          made.error().code == credential::errc::invalid_argument) {
        return fail("ek_public: " + made.error().ToString());
      }
      return ProblemFor(MakeError(errc::internal, made.error().ToString()));
    }
    // Only SHA-256(HMAC(secret, uuid)) is stored: activation compares the
    // hash of the presented tag, and a database reader learns nothing that
    // lets it activate (docs/registrar.md).
    uint8_t tag[32];
    unsigned int tag_len = 0;
    HMAC(EVP_sha256(), secret.data(), static_cast<int>(secret.size()),
         reinterpret_cast<const uint8_t*>(uuid->data()), uuid->size(), tag, &tag_len);
    OPENSSL_cleanse(secret.data(), secret.size());
    NewRegistration reg;
    reg.uuid = *uuid;
    reg.ek_public = ToBytes(in.ek_public());
    reg.ek_cert = ToBytes(in.ek_cert());
    reg.ak_public = ToBytes(in.ak_public());
    reg.ak_name = *ak_name;
    reg.tag_sha256.resize(32);
    SHA256(tag, tag_len, reg.tag_sha256.data());
    OPENSSL_cleanse(tag, sizeof tag);
    reg.ttl_seconds = config.pending_ttl.count();
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

  Response Activate(db::Connection& conn, const http::Request& req) {
    v1::ActivateRequest in;
    if (auto p = ParseBody(req, &in); !p) return ProblemFor(p.error());
    auto uuid = AgentUuid(req, in.agent_uuid(), true);
    if (!uuid) return ProblemFor(uuid.error());
    if (in.auth_tag().size() != 32) {
      return ProblemFor(MakeError(errc::bad_request, "auth_tag must be 32 bytes (HMAC-SHA256)"));
    }
    Bytes tag_hash(32);
    SHA256(reinterpret_cast<const uint8_t*>(in.auth_tag().data()), in.auth_tag().size(),
           tag_hash.data());
    auto r = ActivateRegistration(conn, *uuid, tag_hash);
    activations->With({r ? "ok" : std::to_string(HttpStatus(r.error()))}).Inc();
    if (!r) return ProblemFor(r.error());
    spdlog::info("registrar: agent {} activated", *uuid);
    v1::ActivateResponse out;
    out.set_active(true);
    return Encode(200, out, ResponseEncoding(req));
  }

  Response Registration(db::Connection& conn, const http::Request& req) {
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

  Response List(db::Connection& conn, const http::Request& req) {
    std::string state_text = QueryParam(req.query(), "state");
    v1::AgentState state = v1::AGENT_STATE_UNSPECIFIED;
    if (!state_text.empty()) {
      std::string upper;
      for (char c : state_text)
        upper += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
      if (!upper.starts_with("AGENT_STATE_")) upper = "AGENT_STATE_" + upper;
      if (!v1::AgentState_Parse(upper, &state)) {
        return ProblemFor(MakeError(
            errc::bad_request, "state: unknown agent state \"" + state_text.substr(0, 40) + "\""));
      }
    }
    uint32_t page_size = 100;
    if (std::string ps = QueryParam(req.query(), "page_size"); !ps.empty()) {
      char* end = nullptr;
      unsigned long v = std::strtoul(ps.c_str(), &end, 10);
      if (*end != '\0' || v < 1 || v > 1000) {
        return ProblemFor(MakeError(errc::bad_request, "page_size: expected 1..1000"));
      }
      page_size = static_cast<uint32_t>(v);
    }
    std::string token = QueryParam(req.query(), "page_token");
    if (!token.empty()) {
      auto t = CanonicalUuid(token);
      if (!t) return ProblemFor(MakeError(errc::bad_request, "page_token: not a page token"));
      token = *t;
    }
    auto out = ListAgents(conn, state, page_size, token);
    if (!out) return ProblemFor(out.error());
    return Encode(200, *out, ResponseEncoding(req));
  }

  Response Show(db::Connection& conn, const http::Request& req) {
    auto uuid = CanonicalUuid(req.param("uuid"));
    if (!uuid) return ProblemFor(uuid.error());
    auto s = LoadAgentStatus(conn, *uuid, true);
    if (!s) return ProblemFor(s.error());
    return Encode(200, *s, ResponseEncoding(req));
  }

  Response StatusAfterChange(db::Connection& conn, const http::Request& req,
                             const std::string& uuid) {
    auto s = LoadAgentStatus(conn, uuid, true);
    if (!s) return ProblemFor(s.error());
    return Encode(200, *s, ResponseEncoding(req));
  }

  Response DoEnrol(db::Connection& conn, const http::Request& req, const std::string& actor) {
    v1::EnrolRequest in;
    if (auto p = ParseBody(req, &in); !p) return ProblemFor(p.error());
    auto uuid = AgentUuid(req, in.agent_uuid(), false);
    if (!uuid) return ProblemFor(uuid.error());
    if (in.interval_seconds() < 1 || in.interval_seconds() > 86400) {
      return ProblemFor(MakeError(errc::bad_request, "interval_seconds: expected 1..86400"));
    }
    if (in.grace_factor() != 0 && !(in.grace_factor() >= 1 && in.grace_factor() <= 1000)) {
      return ProblemFor(
          MakeError(errc::bad_request, "grace_factor: expected 0 (default) or 1..1000"));
    }
    EnrolInput e;
    e.uuid = *uuid;
    e.interval_seconds = in.interval_seconds();
    e.grace_factor = in.grace_factor();
    e.partition = kafka::PartitionFor(*uuid, evidence_partitions);
    e.actor = actor;
    if (!in.ek_sha256().empty()) {
      for (char ch : in.ek_sha256()) {
        e.ek_sha256 += static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
      }
      if (e.ek_sha256.size() != 64 ||
          e.ek_sha256.find_first_not_of("0123456789abcdef") != std::string::npos) {
        return ProblemFor(MakeError(errc::bad_request, "ek_sha256: expected 64 hex digits"));
      }
    }
    const std::pair<v1::PolicyKind, const std::string*> given[] = {
        {v1::POLICY_KIND_PCR, &in.pcr_policy()},
        {v1::POLICY_KIND_RUNTIME, &in.runtime_policy()},
        {v1::POLICY_KIND_MEASURED_BOOT, &in.measured_boot_policy()}};
    for (const auto& [kind, body] : given) {
      if (!body->empty()) {
        if (auto v = ValidatePolicy(kind, *body); !v) return ProblemFor(v.error());
      }
      e.policies.push_back({kind, *body});
    }
    if (auto r = Enrol(conn, e); !r) {
      if (r.error().code == errc::conflict) {
        spdlog::warn("registrar: enrolment of agent {} by {} refused: {}", *uuid, actor,
                     r.error().message);
      }
      return ProblemFor(r.error());
    }
    spdlog::info("registrar: agent {} enrolled by {}{}", *uuid, actor,
                 e.ek_sha256.empty() ? "" : " (EK pinned)");
    return StatusAfterChange(conn, req, *uuid);
  }

  Response DoUpdate(db::Connection& conn, const http::Request& req, const std::string& actor) {
    v1::UpdatePoliciesRequest in;
    if (auto p = ParseBody(req, &in); !p) return ProblemFor(p.error());
    auto uuid = AgentUuid(req, in.agent_uuid(), false);
    if (!uuid) return ProblemFor(uuid.error());
    if (in.interval_seconds() > 86400) {
      return ProblemFor(MakeError(errc::bad_request, "interval_seconds: expected 0 or 1..86400"));
    }
    if (in.policies_size() == 0 && in.interval_seconds() == 0) {
      return ProblemFor(MakeError(errc::bad_request, "nothing to update"));
    }
    EnrolInput e;
    e.uuid = *uuid;
    e.interval_seconds = in.interval_seconds();
    e.actor = actor;
    std::set<int> seen;
    for (const auto& p : in.policies()) {
      if (!seen.insert(p.kind()).second) {
        return ProblemFor(MakeError(errc::bad_request, "policies: a kind is given twice"));
      }
      if (p.kind() == v1::POLICY_KIND_UNSPECIFIED) {
        return ProblemFor(MakeError(errc::bad_request, "policies: kind is not specified"));
      }
      if (!p.body().empty()) {
        if (auto v = ValidatePolicy(p.kind(), p.body()); !v) return ProblemFor(v.error());
      }
      e.policies.push_back({p.kind(), p.body()});
    }
    if (auto r = UpdatePolicies(conn, e); !r) return ProblemFor(r.error());
    spdlog::info("registrar: policies of agent {} updated by {}", *uuid, actor);
    return StatusAfterChange(conn, req, *uuid);
  }

  Response DoBulk(db::Connection& conn, const http::Request& req, const std::string& actor) {
    auto in = ParseBulkRequest(req.body(), evidence_partitions);
    if (!in) return ProblemFor(in.error());
    in->actor = actor;
    auto out = BulkEnrol(conn, *in);
    if (!out) return ProblemFor(out.error());
    spdlog::info("registrar: bulk enrolment by {}: {} enrolled, {} already registered", actor,
                 out->enrolled, out->existing);
    return Response::Binary(200, "application/json", BulkOutcomeJson(*out));
  }

  Response DoRemove(db::Connection& conn, const http::Request& req, const std::string& actor) {
    auto uuid = CanonicalUuid(req.param("uuid"));
    if (!uuid) return ProblemFor(uuid.error());
    if (auto r = RemoveAgent(conn, *uuid); !r) return ProblemFor(r.error());
    spdlog::info("registrar: agent {} removed by {}", *uuid, actor);
    return Response::Text(204, "");
  }

  Result<void> BuildServer() {
    http::Router router;
    auto add = [&](const char* method, const char* path, http::Handler h) -> Result<void> {
      return router.Add(method, path, std::move(h));
    };
    ATTEST_RETURN_IF_ERROR(
        add("POST", "/v1/agents/{uuid}/register", [this](RequestPtr q, Responder r) {
          Defer(r, [this, q](db::Connection& c) { return DoRegister(c, *q); });
        }));
    ATTEST_RETURN_IF_ERROR(
        add("POST", "/v1/agents/{uuid}/activate", [this](RequestPtr q, Responder r) {
          Defer(r, [this, q](db::Connection& c) { return Activate(c, *q); });
        }));
    ATTEST_RETURN_IF_ERROR(
        add("GET", "/v1/agents/{uuid}/registration", [this](RequestPtr q, Responder r) {
          Defer(r, [this, q](db::Connection& c) { return Registration(c, *q); });
        }));
    ATTEST_RETURN_IF_ERROR(add("GET", "/v1/admin/agents", [this](RequestPtr q, Responder r) {
      Admin(q, r, [this](db::Connection& c, const http::Request& req, const std::string&) {
        return List(c, req);
      });
    }));
    ATTEST_RETURN_IF_ERROR(add("GET", "/v1/admin/agents/{uuid}", [this](RequestPtr q, Responder r) {
      Admin(q, r, [this](db::Connection& c, const http::Request& req, const std::string&) {
        return Show(c, req);
      });
    }));
    ATTEST_RETURN_IF_ERROR(
        add("PUT", "/v1/admin/agents/{uuid}/enrolment", [this](RequestPtr q, Responder r) {
          Admin(q, r, [this](db::Connection& c, const http::Request& req, const std::string& a) {
            return DoEnrol(c, req, a);
          });
        }));
    ATTEST_RETURN_IF_ERROR(
        add("PATCH", "/v1/admin/agents/{uuid}/policies", [this](RequestPtr q, Responder r) {
          Admin(q, r, [this](db::Connection& c, const http::Request& req, const std::string& a) {
            return DoUpdate(c, req, a);
          });
        }));
    ATTEST_RETURN_IF_ERROR(add("POST", "/v1/admin/agents:bulk", [this](RequestPtr q, Responder r) {
      // Off unless configured: bulk identities skip the EK check, so a
      // leaked admin token must not be enough to plant agents.
      if (!config.bulk_enrolment) {
        spdlog::warn("registrar: bulk enrolment refused: admin.bulk_enrolment is off");
        r.Send(ProblemFor(MakeError(errc::not_found,
                                    "bulk enrolment is disabled on this registrar "
                                    "(admin.bulk_enrolment = false)")));
        return;
      }
      Admin(q, r, [this](db::Connection& c, const http::Request& req, const std::string& a) {
        return DoBulk(c, req, a);
      });
    }));
    ATTEST_RETURN_IF_ERROR(
        add("DELETE", "/v1/admin/agents/{uuid}", [this](RequestPtr q, Responder r) {
          Admin(q, r, [this](db::Connection& c, const http::Request& req, const std::string& a) {
            return DoRemove(c, req, a);
          });
        }));
    ATTEST_RETURN_IF_ERROR(add(
        "GET", "/healthz", [](RequestPtr, Responder r) { r.Send(Response::Text(200, "ok\n")); }));
    ATTEST_RETURN_IF_ERROR(add("GET", "/readyz", [this](RequestPtr, Responder r) {
      Defer(r, [](db::Connection& c) {
        if (auto p = Ping(c); !p) return ProblemFor(p.error());
        return Response::Text(200, "ready\n");
      });
    }));
    ATTEST_RETURN_IF_ERROR(add("GET", "/metrics", [this](RequestPtr, Responder r) {
      r.Send(
          Response::Binary(200, std::string(metrics::Registry::kContentType), registry.Render()));
    }));

    http::ServerOptions o;
    o.name = "registrar";
    o.bind_address = config.listen_address;
    o.port = config.port;
    o.io_threads = config.io_threads;
    o.cert_file = config.tls_cert;
    o.key_file = config.tls_key;
    if (!config.admin_client_ca.empty()) {
      o.client_ca_file = config.admin_client_ca;
      o.client_auth = http::ClientAuth::kOptional;
    }
    o.max_body_bytes = config.max_body_bytes;
    o.metrics_prefix = "registrar_http";
    server = std::make_unique<http::Server>(std::move(o), std::move(router), &registry);
    return Ok();
  }

  void CleanupLoop() {
    std::unique_lock lock(cleanup_mu);
    while (!cleanup_cv.wait_for(lock, config.cleanup_interval, [&] { return cleanup_stop; })) {
      (void)pool->Submit([](Result<db::Connection*> conn) {
        if (!conn) return;
        auto c = CleanupExpired(**conn);
        if (!c) {
          spdlog::warn("registrar: cleanup: {}", c.error().ToString());
        } else if (c->expired_pending > 0 || c->expired_offers > 0) {
          spdlog::info("registrar: removed {} expired pending registrations, cleared {} offers",
                       c->expired_pending, c->expired_offers);
        }
      });
    }
  }
};

Registrar::Registrar(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Registrar::~Registrar() { Stop(std::chrono::milliseconds(0)); }

Result<std::unique_ptr<Registrar>> Registrar::Create(RegistrarConfig config,
                                                     int32_t evidence_partitions) {
  if (evidence_partitions < 1) {
    return MakeError(
        errc::config_error,
        "evidence partition count " + std::to_string(evidence_partitions) + ": must be at least 1");
  }
  auto impl = std::make_unique<Impl>();
  impl->config = std::move(config);
  impl->evidence_partitions = evidence_partitions;
  const auto& c = impl->config;
  if (!c.ek_trust_store.empty()) {
    auto ts = EkTrustStore::Load(c.ek_trust_store);
    if (!ts) return ts.error();
    impl->trust = std::move(ts).value();
    impl->have_trust_store = true;
    spdlog::info("registrar: EK trust store {}: {} roots, {} intermediates", c.ek_trust_store,
                 impl->trust.roots(), impl->trust.intermediates());
    if (impl->trust.roots() == 0) {
      spdlog::warn("registrar: EK trust store {} has no root certificate", c.ek_trust_store);
    }
  }
  if (c.bulk_enrolment) {
    spdlog::warn(
        "registrar: bulk enrolment is on: admins can enrol identities without an EK "
        "check (POST /v1/admin/agents:bulk)");
  }
  auto auth = AdminAuth::Load(c.admin_token_file, !c.admin_client_ca.empty());
  if (!auth) return auth.error();
  impl->auth = std::move(auth).value();
  impl->registrations = &impl->registry.AddCounter("registrar_registrations_total",
                                                   "Registration requests by result.", {"result"});
  impl->activations = &impl->registry.AddCounter("registrar_activations_total",
                                                 "Activation requests by result.", {"result"});
  ATTEST_RETURN_IF_ERROR(impl->BuildServer());
  return std::unique_ptr<Registrar>(new Registrar(std::move(impl)));
}

Result<void> Registrar::Start() {
  Impl& i = *impl_;
  i.pool = std::make_unique<db::Pool>(db::Pool::Options{.conninfo = i.config.db_conninfo,
                                                        .connections = i.config.db_pool_size,
                                                        .queue_limit = i.config.db_queue_limit,
                                                        .prepare = &PrepareStatements,
                                                        .name = "registrar"});
  auto& queue =
      i.registry.AddGauge("registrar_db_queue_depth", "Requests waiting for a database worker.");
  auto& depth = queue.With({});
  db::Pool* pool = i.pool.get();
  i.registry.AddCollector([&depth, pool] { depth.Set(static_cast<double>(pool->queued())); });
  if (auto r = i.server->Start(); !r) return r;
  i.cleanup_thread = std::thread([&i] { i.CleanupLoop(); });
  spdlog::info("registrar: listening on {}:{}", i.config.listen_address, i.server->port());
  return Ok();
}

uint16_t Registrar::port() const { return impl_->server->port(); }

void Registrar::Stop(std::chrono::milliseconds drain) {
  Impl& i = *impl_;
  {
    std::lock_guard lock(i.cleanup_mu);
    i.cleanup_stop = true;
  }
  i.cleanup_cv.notify_all();
  if (i.cleanup_thread.joinable()) i.cleanup_thread.join();
  if (i.server) i.server->Stop(drain);
  if (i.pool) i.pool->Stop();
}

}  // namespace attest::registrar
