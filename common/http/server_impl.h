// Internal to common/http: the server's state (Server::Impl) and the
// connection sessions that server.cc (accept, start, stop, metrics) and
// session.cc (one connection's reads, dispatch and writes) share.
//
// Threads: a session runs on the one io_context it was accepted onto; the
// session table, in_flight and the metrics are shared by all I/O threads and
// the thread calling Start/Stop (the table under sessions_mu, the rest
// atomic). Core outlives the server for responders still held by handlers.
#pragma once

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/error.hpp>

#include <array>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "common/http/server.h"
#include "common/metrics/metrics.h"

namespace attest::http {

namespace beast = boost::beast;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

// Counters per route, cached so the hot path takes no lock once a
// (route, status) series exists.
struct RouteStats {
  std::string method;
  std::string label;
  metrics::Histogram* latency = nullptr;
  std::array<std::atomic<metrics::Counter*>, 600> by_status{};
};

class SessionBase;

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

// A session for an accepted connection (TLS when server->tls is set), not
// started yet.
std::shared_ptr<SessionBase> MakeSession(Server::Impl* server, uint64_t id, tcp::socket&& socket,
                                         std::string peer);

}  // namespace attest::http
