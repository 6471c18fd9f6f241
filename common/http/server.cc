#include "common/http/server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include <mutex>
#include <string>
#include <thread>

#include "common/base/escape.h"
#include "common/http/errors.h"
#include "common/http/server_impl.h"
#include "common/http/tls.h"

namespace attest::http {

Result<ClientAuth> ParseClientAuth(std::string_view text) {
  if (text == "off") return ClientAuth::kOff;
  if (text == "optional") return ClientAuth::kOptional;
  if (text == "required") return ClientAuth::kRequired;
  return MakeError(errc::invalid_argument,
                   fmt::format("client auth '{}': expected off, optional or required", text));
}

void Server::Impl::InitMetrics() {
  const std::string& p = options.metrics_prefix;
  requests_total = &registry->AddCounter(p + "_requests_total", "HTTP requests answered.",
                                         {"method", "route", "status"});
  auto& latency = registry->AddHistogram(p + "_request_duration_seconds",
                                         "Time from complete request headers to the response.",
                                         {"method", "route"});
  auto make = [&](std::string method, std::string label) {
    auto s = std::make_unique<RouteStats>();
    s->method = std::move(method);
    s->label = std::move(label);
    s->latency = &latency.With({s->method, s->label});
    for (auto& c : s->by_status) c.store(nullptr, std::memory_order_relaxed);
    return s;
  };
  for (const auto& r : router.routes()) route_stats.push_back(make(r.method, r.pattern));
  unmatched_stats = make("other", "unmatched");
  invalid_stats = make("other", "invalid");
  in_flight_gauge =
      &registry->AddGauge(p + "_requests_in_flight", "Requests being handled.").With({});
  connections_open =
      &registry->AddGauge(p + "_connections_open", "Open client connections.").With({});
  connections_rejected = &registry
                              ->AddCounter(p + "_connections_rejected_total",
                                           "Connections refused because of max_connections.")
                              .With({});
  handshake_failures =
      &registry->AddCounter(p + "_tls_handshake_failures_total", "Failed TLS handshakes.").With({});
  timeouts = &registry->AddCounter(p + "_timeouts_total",
                                   "Connections closed because the client was too slow or idle.",
                                   {"phase"});
  for (const char* phase : {"handshake", "idle", "header", "body", "write"}) {
    timeouts->With({phase});
  }
}

metrics::Counter& Server::Impl::StatusCounter(RouteStats& s, int status) {
  if (status < 0 || status >= static_cast<int>(s.by_status.size())) status = 599;
  auto& slot = s.by_status[static_cast<size_t>(status)];
  metrics::Counter* c = slot.load(std::memory_order_acquire);
  if (!c) {
    c = &requests_total->With({s.method, s.label, std::to_string(status)});
    slot.store(c, std::memory_order_release);
  }
  return *c;
}

void Server::Impl::Finish(RouteStats& s, const Response& r, Clock::time_point start,
                          std::string_view method, std::string_view target) {
  s.latency->Observe(std::chrono::duration<double>(Clock::now() - start).count());
  StatusCounter(s, r.status).Inc();
  in_flight_gauge->Dec();
  if (in_flight.fetch_sub(1) == 1 && draining.load()) sessions_cv.notify_all();
  if (r.status >= 400) {
    auto level = r.status >= 500 ? spdlog::level::err : spdlog::level::warn;
    // The target and a reason that quotes the body are the client's bytes:
    // never raw in a log line (docs/soc.md, escaping).
    spdlog::log(level, "{}: {} {} -> {} (route {}): {}", options.name,
                method.empty() ? "-" : TerminalSafe(method),
                target.empty() ? "-" : TerminalSafe(target), r.status, s.label,
                r.reason.empty() ? "-" : TerminalSafe(r.reason));
  }
}

bool Server::Impl::OnIoThread() const {
  auto me = std::this_thread::get_id();
  for (const auto& t : threads) {
    if (t.get_id() == me) return true;
  }
  return false;
}

void Server::Impl::DoAccept() {
  net::io_context& ctx = *contexts[next_context++ % contexts.size()];
  acceptor.async_accept(
      ctx, [this](beast::error_code ec, tcp::socket socket) { OnAccept(ec, std::move(socket)); });
}

void Server::Impl::OnAccept(beast::error_code ec, tcp::socket socket) {
  if (!acceptor.is_open() || ec == net::error::operation_aborted) return;
  if (ec) {
    // E.g. EMFILE: back off instead of spinning on the error.
    spdlog::error("{}: accept failed: {}", options.name, ec.message());
    accept_retry.expires_after(std::chrono::milliseconds(100));
    accept_retry.async_wait([this](beast::error_code e) {
      if (!e && acceptor.is_open()) DoAccept();
    });
    return;
  }
  beast::error_code ignored;
  if (draining.load()) {
    socket.close(ignored);
    return;
  }
  auto ep = socket.remote_endpoint(ignored);
  std::string peer = fmt::format("{}:{}", ep.address().to_string(), ep.port());
  socket.set_option(tcp::no_delay(true), ignored);
  std::shared_ptr<SessionBase> session;
  {
    std::lock_guard lock(sessions_mu);
    if (sessions.size() >= options.max_connections) {
      connections_rejected->Inc();
      spdlog::debug("{}: refusing {}: {} connections open", options.name, peer, sessions.size());
      socket.close(ignored);
      DoAccept();
      return;
    }
    uint64_t id = next_session_id++;
    session = MakeSession(this, id, std::move(socket), peer);
    sessions.emplace(id, session);
  }
  connections_open->Inc();
  session->Start();
  DoAccept();
}

void Server::Impl::RemoveSession(uint64_t id) {
  std::lock_guard lock(sessions_mu);
  if (sessions.erase(id) > 0) connections_open->Dec();
  if (sessions.empty()) sessions_cv.notify_all();
}

Server::Server(ServerOptions options, Router router, metrics::Registry* registry)
    : impl_(std::make_unique<Impl>(std::move(options), std::move(router), registry)) {
  impl_->core->impl = impl_.get();
}

Server::~Server() { Stop(std::chrono::milliseconds(0)); }

uint16_t Server::port() const { return impl_->port.load(); }

size_t Server::connections() const {
  std::lock_guard lock(impl_->sessions_mu);
  return impl_->sessions.size();
}

Result<void> Server::Start() {
  Impl& s = *impl_;
  if (s.started) return MakeError(errc::state_error, s.options.name + ": Start() called twice");
  if (s.options.io_threads < 1 || s.options.max_body_bytes == 0 ||
      s.options.max_header_bytes == 0 || s.options.max_connections == 0) {
    return MakeError(errc::invalid_argument,
                     s.options.name + ": io_threads, max_* options must be positive");
  }
  if (s.options.tls) {
    auto ctx = internal::MakeServerContext(s.options);
    if (!ctx) return ctx.error();
    s.tls = std::move(ctx.value());
  } else if (s.options.client_auth != ClientAuth::kOff) {
    return MakeError(errc::invalid_argument, s.options.name + ": client_auth needs TLS");
  }
  beast::error_code ec;
  auto address = net::ip::make_address(s.options.bind_address, ec);
  if (ec) {
    return MakeError(errc::invalid_argument,
                     fmt::format("{}: bad bind address '{}': {}", s.options.name,
                                 s.options.bind_address, ec.message()));
  }
  tcp::endpoint ep(address, s.options.port);
  auto fail = [&](const char* what) {
    return MakeError(errc::bind_error,
                     fmt::format("{}: {} {}:{}: {}", s.options.name, what, s.options.bind_address,
                                 s.options.port, ec.message()));
  };
  if (s.acceptor.open(ep.protocol(), ec)) return fail("cannot open socket for");
  if (s.acceptor.set_option(net::socket_base::reuse_address(true), ec)) return fail("setsockopt");
  if (s.acceptor.bind(ep, ec)) return fail("cannot bind");
  if (s.acceptor.listen(net::socket_base::max_listen_connections, ec)) return fail("cannot listen");
  s.port = s.acceptor.local_endpoint(ec).port();
  s.InitMetrics();
  s.started = true;
  for (auto& ctx : s.contexts) s.work.push_back(net::make_work_guard(*ctx));
  net::post(s.acceptor.get_executor(), [&s] { s.DoAccept(); });
  for (auto& ctx : s.contexts) {
    s.threads.emplace_back([&s, io = ctx.get()] {
      for (;;) {
        try {
          io->run();
          return;
        } catch (const std::exception& e) {
          spdlog::error("{}: I/O thread caught: {}", s.options.name, e.what());
        }
      }
    });
  }
  spdlog::info("{}: listening on {}:{} ({}, {} I/O threads)", s.options.name,
               s.options.bind_address, s.port.load(), s.options.tls ? "TLS" : "plain HTTP",
               s.options.io_threads);
  return Ok();
}

void Server::Stop(std::chrono::milliseconds drain) {
  Impl& s = *impl_;
  if (!s.started || s.stopped) return;
  if (s.OnIoThread()) {
    spdlog::error("{}: Stop() called from an I/O thread; only stopping the acceptor",
                  s.options.name);
    s.draining = true;
    net::post(s.acceptor.get_executor(), [&s] {
      beast::error_code ignored;
      s.acceptor.close(ignored);
    });
    return;
  }
  s.stopped = true;
  s.draining = true;
  net::post(s.acceptor.get_executor(), [&s] {
    beast::error_code ignored;
    s.acceptor.close(ignored);
    s.accept_retry.cancel();
  });
  std::vector<std::shared_ptr<SessionBase>> open;
  {
    std::lock_guard lock(s.sessions_mu);
    for (auto& [id, session] : s.sessions) open.push_back(session);
  }
  for (auto& session : open) session->Drain();
  open.clear();
  {
    auto deadline = Clock::now() + drain;
    std::unique_lock lock(s.sessions_mu);
    // Short waits: in-flight changes are signalled without this mutex.
    while (!(s.sessions.empty() && s.in_flight.load() == 0) && Clock::now() < deadline) {
      s.sessions_cv.wait_until(lock,
                               std::min(deadline, Clock::now() + std::chrono::milliseconds(20)));
    }
    if (!s.sessions.empty() || s.in_flight.load() != 0) {
      spdlog::warn("{}: drain deadline passed with {} connections and {} requests in flight",
                   s.options.name, s.sessions.size(), s.in_flight.load());
    }
  }
  s.work.clear();
  for (auto& ctx : s.contexts) ctx->stop();
  for (auto& t : s.threads) {
    if (t.joinable()) t.join();
  }
  {
    // From here responders are no-ops: they must not touch the io_context.
    std::unique_lock lock(s.core->mu);
    s.core->alive = false;
  }
  std::unordered_map<uint64_t, std::shared_ptr<SessionBase>> rest;
  {
    std::lock_guard lock(s.sessions_mu);
    rest.swap(s.sessions);
  }
  // Connections still open (the drain deadline passed) are closed now, not
  // when the handlers queued on the stopped io_context are destroyed.
  for (auto& [id, session] : rest) session->CloseNow();
  if (!rest.empty()) s.connections_open->Set(0);
  rest.clear();
  spdlog::info("{}: stopped", s.options.name);
}

}  // namespace attest::http
