#include "registrar/registrar.h"

#include <spdlog/spdlog.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "common/base/listen_address.h"
#include "common/db/pool.h"
#include "common/http/ops_routes.h"
#include "common/http/server.h"
#include "common/metrics/metrics.h"
#include "registrar/admin_auth.h"
#include "registrar/admin_handlers.h"
#include "registrar/codec.h"
#include "registrar/errors.h"
#include "registrar/handlers.h"
#include "registrar/registration_handlers.h"
#include "registrar/store.h"
#include "registrar/trust_store.h"

namespace attest::registrar {

using http::RequestPtr;
using http::Responder;
using http::Response;

struct Registrar::Impl {
  RegistrarConfig config;
  int32_t evidence_partitions = 0;
  EkTrustStore trust;
  bool have_trust_store = false;
  metrics::Registry registry;
  DbDispatch db;  // its pool is attached by Start()
  std::optional<RegistrationHandlers> registration;
  std::optional<AdminHandlers> admin;
  std::unique_ptr<db::Pool> pool;
  std::unique_ptr<http::Server> server;

  std::mutex cleanup_mu;
  std::condition_variable cleanup_cv;
  bool cleanup_stop = false;
  std::thread cleanup_thread;

  Result<void> BuildServer() {
    http::Router router;
    ATTEST_RETURN_IF_ERROR(registration->AddRoutes(router));
    ATTEST_RETURN_IF_ERROR(admin->AddRoutes(router));
    http::OpsHandlers ops;
    ops.ready = [this](RequestPtr, Responder r) {
      db.Defer(r, [](db::Connection& c) {
        if (auto p = Ping(c); !p) return ProblemFor(p.error());
        return Response::Text(200, "ready\n");
      });
    };
    ops.metrics = &registry;
    ATTEST_RETURN_IF_ERROR(http::AddOpsRoutes(router, std::move(ops)));

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
  Impl& i = *impl;
  i.registration.emplace(i.config, i.have_trust_store ? &i.trust : nullptr, i.db, i.registry);
  i.admin.emplace(i.config, i.evidence_partitions, std::move(auth).value(), i.db);
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
  i.db.Attach(pool);
  i.registry.AddCollector([&depth, pool] { depth.Set(static_cast<double>(pool->queued())); });
  if (auto r = i.server->Start(); !r) return r;
  i.cleanup_thread = std::thread([&i] { i.CleanupLoop(); });
  spdlog::info("registrar: listening on {}",
               ListenAddress{i.config.listen_address, i.server->port()}.ToString());
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
