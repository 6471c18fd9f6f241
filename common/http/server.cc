#include "common/http/server.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <array>
#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <shared_mutex>
#include <thread>
#include <unordered_map>

#include "common/base/escape.h"
#include "common/http/errors.h"
#include "common/http/tls.h"
#include "common/metrics/metrics.h"

namespace attest::http {

namespace beast = boost::beast;
namespace bhttp = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

Result<ClientAuth> ParseClientAuth(std::string_view text) {
  if (text == "off") return ClientAuth::kOff;
  if (text == "optional") return ClientAuth::kOptional;
  if (text == "required") return ClientAuth::kRequired;
  return MakeError(errc::invalid_argument,
                   fmt::format("client auth '{}': expected off, optional or required", text));
}

namespace {

// Counters per route, cached so the hot path takes no lock once a
// (route, status) series exists.
struct RouteStats {
  std::string method;
  std::string label;
  metrics::Histogram* latency = nullptr;
  std::array<std::atomic<metrics::Counter*>, 600> by_status{};
};

std::string_view Truncated(std::string_view s, size_t n = 200) {
  return s.size() <= n ? s : s.substr(0, n);
}

bool IsParseError(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

class SessionBase;

}  // namespace

// Shared with responders, which can outlive the server: `alive` (under an
// exclusive lock at shutdown) says whether `impl` and its io_context may
// still be used.
struct Core {
  std::shared_mutex mu;
  bool alive = true;
  Server::Impl* impl = nullptr;
};

struct Server::Impl {
  Impl(ServerOptions o, Router r, metrics::Registry* reg)
      : options(std::move(o)),
        router(std::move(r)),
        registry(reg ? reg : &own_registry),
        contexts(MakeContexts(options.io_threads)),
        acceptor(contexts.front()->get_executor()),
        accept_retry(acceptor.get_executor()) {}

  void InitMetrics();
  metrics::Counter& StatusCounter(RouteStats& s, int status);
  void Finish(RouteStats& s, const Response& r, Clock::time_point start, std::string_view method,
              std::string_view target);
  void DoAccept();
  void OnAccept(beast::error_code ec, tcp::socket socket);
  void RemoveSession(uint64_t id);
  bool OnIoThread() const;

  ServerOptions options;
  Router router;
  metrics::Registry own_registry;
  metrics::Registry* registry;

  // One io_context per I/O thread, each run by its thread alone: a
  // connection lives on one context, so its handlers need no strand and no
  // thread hands work to another through a shared scheduler. The acceptor
  // lives on the first; connections are spread round-robin.
  static std::vector<std::unique_ptr<net::io_context>> MakeContexts(int n) {
    std::vector<std::unique_ptr<net::io_context>> out;
    for (int i = 0; i < std::max(1, n); ++i) out.push_back(std::make_unique<net::io_context>(1));
    return out;
  }
  std::vector<std::unique_ptr<net::io_context>> contexts;
  size_t next_context = 0;  // acceptor's thread only
  std::vector<net::executor_work_guard<net::io_context::executor_type>> work;
  std::unique_ptr<ssl::context> tls;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;
  std::atomic<uint16_t> port{0};
  std::vector<std::thread> threads;
  std::shared_ptr<Core> core = std::make_shared<Core>();
  std::atomic<bool> draining{false};
  bool started = false;
  bool stopped = false;

  mutable std::mutex sessions_mu;
  std::condition_variable sessions_cv;
  std::unordered_map<uint64_t, std::shared_ptr<SessionBase>> sessions;
  uint64_t next_session_id = 1;
  std::atomic<int64_t> in_flight{0};

  std::vector<std::unique_ptr<RouteStats>> route_stats;  // by Router::Route::index
  std::unique_ptr<RouteStats> unmatched_stats;
  std::unique_ptr<RouteStats> invalid_stats;
  metrics::CounterFamily* requests_total = nullptr;
  metrics::Gauge* in_flight_gauge = nullptr;
  metrics::Gauge* connections_open = nullptr;
  metrics::Counter* connections_rejected = nullptr;
  metrics::Counter* handshake_failures = nullptr;
  metrics::CounterFamily* timeouts = nullptr;
};

namespace {

class SessionBase : public std::enable_shared_from_this<SessionBase> {
 public:
  virtual ~SessionBase() = default;
  virtual void Start() = 0;
  // Posted to the session's I/O context by Stop(): close now if idle, else after
  // the current response.
  virtual void Drain() = 0;
  // Delivers the response of the current request (any thread).
  virtual void Deliver(Response&& r) = 0;
  // Closes the socket at once; only when no I/O thread runs any more.
  virtual void CloseNow() = 0;
};

template <bool kTls>
class Session final : public SessionBase {
 public:
  using Stream = std::conditional_t<kTls, beast::ssl_stream<beast::tcp_stream>, beast::tcp_stream>;

  Session(Server::Impl* server, uint64_t id, tcp::socket&& socket, std::string peer)
      : server_(server),
        id_(id),
        stream_(MakeStream(server, std::move(socket))),
        peer_(std::move(peer)) {}

  void Start() override {
    net::dispatch(stream_.get_executor(), [self = Self()] { self->DoStart(); });
  }

  void Drain() override {
    net::post(stream_.get_executor(), [self = Self()] {
      self->draining_ = true;
      if (!self->busy_) self->Close();
    });
  }

  void CloseNow() override {
    closed_ = true;
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().socket().close(ignored);
  }

  void Deliver(Response&& r) override {
    net::dispatch(stream_.get_executor(),
                  [self = Self(), r = std::move(r)]() mutable { self->Write(std::move(r)); });
  }

 private:
  static Stream MakeStream(Server::Impl* server, tcp::socket&& socket) {
    if constexpr (kTls)
      return Stream(std::move(socket), *server->tls);
    else
      return Stream(std::move(socket));
  }
  std::shared_ptr<Session> Self() { return std::static_pointer_cast<Session>(shared_from_this()); }
  beast::tcp_stream& Lowest() { return beast::get_lowest_layer(stream_); }
  const ServerOptions& opts() const { return server_->options; }

  void Timeout(const char* phase) { server_->timeouts->With({phase}).Inc(); }

  void DoStart() {
    if constexpr (kTls) {
      Lowest().expires_after(opts().header_timeout);
      stream_.async_handshake(ssl::stream_base::server,
                              [self = Self()](beast::error_code ec) { self->OnHandshake(ec); });
    } else {
      ReadNext();
    }
  }

  void OnHandshake(beast::error_code ec) {
    if (ec) {
      if (ec == beast::error::timeout) Timeout("handshake");
      server_->handshake_failures->Inc();
      spdlog::debug("{}: TLS handshake with {} failed: {}", opts().name, peer_, ec.message());
      return Close();
    }
    if constexpr (kTls) client_cert_ = internal::VerifiedPeer(stream_.native_handle());
    ReadNext();
  }

  void ReadNext() {
    if (draining_ || server_->draining.load()) return Close();
    parser_.emplace();
    parser_->header_limit(static_cast<std::uint32_t>(opts().max_header_bytes));
    parser_->body_limit(opts().max_body_bytes);
    if (buffer_.size() > 0) return ReadHeader();
    // Wait for the first byte with the (long) idle timeout, then give the
    // client header_timeout for the whole header.
    Lowest().expires_after(opts().idle_timeout);
    stream_.async_read_some(buffer_.prepare(4096), [self = Self()](beast::error_code ec, size_t n) {
      self->OnFirstBytes(ec, n);
    });
  }

  void OnFirstBytes(beast::error_code ec, size_t n) {
    if (ec) {
      if (ec == beast::error::timeout) Timeout("idle");
      return Close();
    }
    buffer_.commit(n);
    ReadHeader();
  }

  void ReadHeader() {
    header_started_ = Clock::now();
    Lowest().expires_after(opts().header_timeout);
    bhttp::async_read_header(stream_, buffer_, *parser_,
                             [self = Self()](beast::error_code ec, size_t) { self->OnHeader(ec); });
  }

  // Errors while reading a request: answer when the client can still read
  // the answer, else just close.
  void OnReadError(beast::error_code ec, const char* phase) {
    if (ec == beast::error::timeout) {
      Timeout(phase);
      spdlog::info("{}: closing {}: {} not received within the timeout", opts().name, peer_, phase);
      return Close();
    }
    if (ec == bhttp::error::body_limit) {
      return Early(413, fmt::format("request body exceeds {} bytes", opts().max_body_bytes));
    }
    if (ec == bhttp::error::header_limit) {
      return Early(431, fmt::format("request header exceeds {} bytes", opts().max_header_bytes));
    }
    if (IsParseError(ec)) return Early(400, "malformed HTTP request: " + ec.message());
    Close();  // EOF, reset, aborted: nothing to answer
  }

  void OnHeader(beast::error_code ec) {
    if (ec) return OnReadError(ec, "header");
    start_ = header_started_;
    auto& req = parser_->get();
    auto len = parser_->content_length();
    if (len && *len > opts().max_body_bytes) {
      return Early(413,
                   fmt::format("Content-Length {} exceeds {} bytes", *len, opts().max_body_bytes));
    }
    if (!parser_->is_done() && beast::iequals(req[bhttp::field::expect], "100-continue")) {
      continue_ = std::make_unique<bhttp::response<bhttp::empty_body>>(bhttp::status::continue_,
                                                                       req.version());
      Lowest().expires_after(opts().request_timeout);
      return bhttp::async_write(stream_, *continue_, [self = Self()](beast::error_code ec, size_t) {
        if (ec) return self->Close();
        self->ReadBody();
      });
    }
    ReadBody();
  }

  void ReadBody() {
    if (parser_->is_done()) return OnBody({});
    Lowest().expires_after(opts().request_timeout);
    bhttp::async_read(stream_, buffer_, *parser_,
                      [self = Self()](beast::error_code ec, size_t) { self->OnBody(ec); });
  }

  void OnBody(beast::error_code ec) {
    if (ec) return OnReadError(ec, "body");
    Lowest().expires_never();
    keep_alive_ = parser_->get().keep_alive();
    BeastRequest raw = parser_->release();
    parser_.reset();
    Dispatch(std::move(raw));
  }

  void Dispatch(BeastRequest raw) {
    busy_ = true;
    server_->in_flight.fetch_add(1);
    server_->in_flight_gauge->Inc();
    std::string_view target(raw.target().data(), raw.target().size());
    std::string_view path = target.substr(0, target.find('?'));
    std::string_view method(raw.method_string().data(), raw.method_string().size());
    auto match = server_->router.Find(method, path);
    if (match.kind != Router::Match::Kind::kFound) {
      auto responder = MakeResponder(*server_->unmatched_stats, method, target);
      if (match.kind == Router::Match::Kind::kMethodNotAllowed) {
        Response r = Problem(405, fmt::format("method {} not allowed", Truncated(method, 20)));
        r.Header("Allow", match.allow);
        responder.Send(std::move(r));
      } else {
        responder.Send(Problem(404, "no such resource"));
      }
      return;
    }
    const Router::Route& route = *match.route;
    Responder responder = MakeResponder(*server_->route_stats[route.index], method, target);
    auto request = std::make_shared<Request>(std::move(raw), std::move(match.params), route.pattern,
                                             client_cert_, peer_);
    try {
      route.handler(std::move(request), responder);
    } catch (const std::exception& e) {
      responder.Send(Problem(500, std::string("handler failed: ") + e.what()));
    } catch (...) {
      responder.Send(Problem(500, "handler failed"));
    }
  }

  // The responder does the accounting (metrics, log, in-flight) even when
  // the connection is gone, then hands the response to this session if it
  // still exists.
  Responder MakeResponder(RouteStats& stats, std::string_view method, std::string_view target) {
    std::weak_ptr<SessionBase> weak = shared_from_this();
    auto send = [core = server_->core, weak, stats = &stats, start = start_,
                 method = std::string(Truncated(method, 20)),
                 target = std::string(Truncated(target))](Response&& r) {
      std::shared_lock lock(core->mu);
      if (!core->alive) return;
      core->impl->Finish(*stats, r, start, method, target);
      if (auto s = weak.lock()) s->Deliver(std::move(r));
    };
    return Responder(std::make_shared<Responder::State>(std::move(send)));
  }

  // An error found while reading: the request is not dispatched, the
  // connection closes after the answer (the rest of the input is unread).
  void Early(int status, std::string detail) {
    busy_ = true;
    server_->in_flight.fetch_add(1);
    server_->in_flight_gauge->Inc();
    std::string method, target;
    if (parser_ && parser_->is_header_done()) {
      method = std::string(parser_->get().method_string());
      auto t = parser_->get().target();
      target = std::string(Truncated(std::string_view(t.data(), t.size())));
    }
    if (status != 413 || !parser_ || !parser_->is_header_done()) start_ = Clock::now();
    keep_alive_ = false;
    Response r = Problem(status, detail);
    r.close = true;
    RouteStats& stats =
        status == 400 || status == 431 ? *server_->invalid_stats : *server_->unmatched_stats;
    MakeResponder(stats, method, target).Send(std::move(r));
  }

  void Write(Response&& r) {
    if (closed_) return;
    res_ = {};
    res_.version(11);
    res_.result(static_cast<unsigned>(r.status));
    if (!r.body.empty() || !r.content_type.empty()) {
      res_.set(bhttp::field::content_type,
               r.content_type.empty() ? "text/plain; charset=utf-8" : r.content_type);
    }
    for (const auto& [name, value] : r.headers) {
      // Never let a handler split the response.
      if (name.find_first_of("\r\n:") != std::string::npos ||
          value.find_first_of("\r\n") != std::string::npos) {
        continue;
      }
      res_.insert(name, value);
    }
    res_.body() = std::move(r.body);
    bool keep = keep_alive_ && !r.close && !draining_ && !server_->draining.load();
    res_.keep_alive(keep);
    res_.prepare_payload();
    Lowest().expires_after(opts().request_timeout);
    bhttp::async_write(stream_, res_, [self = Self(), keep](beast::error_code ec, size_t) {
      self->OnWrite(ec, keep);
    });
  }

  void OnWrite(beast::error_code ec, bool keep) {
    res_ = {};
    if (ec) {
      if (ec == beast::error::timeout) Timeout("write");
      return Close();
    }
    busy_ = false;
    if (!keep) return Linger();
    ReadNext();
  }

  // After a final response on a connection we close: stop sending, then
  // discard what the client still sends for a moment so the kernel does not
  // reset the connection (which could destroy the response in flight).
  void Linger() {
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_send, ignored);
    Lowest().expires_after(std::chrono::seconds(2));
    scratch_ = std::make_unique<char[]>(kScratch);
    LingerRead();
  }

  void LingerRead() {
    Lowest().async_read_some(net::buffer(scratch_.get(), kScratch),
                             [self = Self()](beast::error_code ec, size_t n) {
                               self->lingered_ += n;
                               if (ec || self->lingered_ > (4u << 20)) return self->Close();
                               self->LingerRead();
                             });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    auto self = Self();  // RemoveSession may drop the last other reference
    beast::error_code ignored;
    Lowest().socket().shutdown(tcp::socket::shutdown_both, ignored);
    Lowest().close();
    server_->RemoveSession(id_);
  }

  Server::Impl* server_;
  uint64_t id_;
  Stream stream_;
  std::string peer_;
  beast::flat_buffer buffer_;
  std::optional<bhttp::request_parser<bhttp::string_body>> parser_;
  bhttp::response<bhttp::string_body> res_;
  std::unique_ptr<bhttp::response<bhttp::empty_body>> continue_;
  std::shared_ptr<const ClientCert> client_cert_;
  static constexpr size_t kScratch = 16384;
  std::unique_ptr<char[]> scratch_;  // only while lingering
  size_t lingered_ = 0;
  Clock::time_point start_ = Clock::now();
  Clock::time_point header_started_ = Clock::now();
  bool keep_alive_ = false;
  bool busy_ = false;
  bool draining_ = false;
  bool closed_ = false;
};

}  // namespace

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
    if (tls)
      session = std::make_shared<Session<true>>(this, id, std::move(socket), peer);
    else
      session = std::make_shared<Session<false>>(this, id, std::move(socket), peer);
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
