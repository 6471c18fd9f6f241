#include "bench/gateway/load.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <algorithm>
#include <atomic>
#include <memory>
#include <mutex>
#include <thread>

namespace attest::bench {
namespace {

namespace beast = boost::beast;
namespace bhttp = beast::http;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using Clock = std::chrono::steady_clock;

struct Shared {
  const LoadSpec* spec;
  int expected;
  Clock::time_point measure_from;
  Clock::time_point stop_at;
  std::mutex mu;
  std::vector<double> latencies_ms;
  uint64_t errors = 0;
  uint64_t unexpected = 0;
  int status_seen = 0;
};

class Conn : public std::enable_shared_from_this<Conn> {
 public:
  Conn(net::io_context& ioc, ssl::context& ctx, Shared* shared)
      : stream_(ioc, ctx), shared_(shared) {
    req_.method_string(shared->spec->method);
    req_.target(shared->spec->target);
    req_.version(11);
    req_.set(bhttp::field::host, "127.0.0.1");
    req_.keep_alive(true);
    if (!shared->spec->content_type.empty()) {
      req_.set(bhttp::field::content_type, shared->spec->content_type);
    }
    req_.body() = shared->spec->body;
    req_.prepare_payload();
  }

  void Start() {
    tcp::endpoint ep(net::ip::make_address("127.0.0.1"),
                     static_cast<uint16_t>(shared_->spec->port));
    beast::get_lowest_layer(stream_).async_connect(
        ep, [self = shared_from_this()](beast::error_code ec) {
          if (ec) return self->Fail();
          beast::get_lowest_layer(self->stream_).socket().set_option(tcp::no_delay(true));
          self->stream_.async_handshake(ssl::stream_base::client, [self](beast::error_code ec2) {
            if (ec2) return self->Fail();
            self->Send();
          });
        });
  }

 private:
  void Fail() {
    std::lock_guard lock(shared_->mu);
    ++shared_->errors;
  }

  void Send() {
    if (Clock::now() >= shared_->stop_at) return;
    start_ = Clock::now();
    bhttp::async_write(stream_, req_, [self = shared_from_this()](beast::error_code ec, size_t) {
      if (ec) return self->Fail();
      self->res_ = {};
      bhttp::async_read(self->stream_, self->buffer_, self->res_,
                        [self](beast::error_code ec2, size_t) { self->OnRead(ec2); });
    });
  }

  void OnRead(beast::error_code ec) {
    if (ec) return Fail();
    auto end = Clock::now();
    if (start_ >= shared_->measure_from && end <= shared_->stop_at) {
      double ms = std::chrono::duration<double, std::milli>(end - start_).count();
      std::lock_guard lock(shared_->mu);
      shared_->latencies_ms.push_back(ms);
      int status = static_cast<int>(res_.result_int());
      shared_->status_seen = status;
      if (status != shared_->expected) ++shared_->unexpected;
    }
    Send();
  }

  beast::ssl_stream<beast::tcp_stream> stream_;
  Shared* shared_;
  bhttp::request<bhttp::string_body> req_;
  bhttp::response<bhttp::string_body> res_;
  beast::flat_buffer buffer_;
  Clock::time_point start_;
};

}  // namespace

LoadResult RunLoad(const LoadSpec& spec, int expected_status) {
  ssl::context ctx(ssl::context::tls_client);
  ctx.set_verify_mode(ssl::verify_none);  // loopback benchmark against our own test certificate
  Shared shared;
  shared.spec = &spec;
  shared.expected = expected_status;
  auto now = Clock::now();
  shared.measure_from = now + spec.warmup;
  shared.stop_at = shared.measure_from + spec.duration;
  shared.latencies_ms.reserve(1 << 20);

  std::vector<std::unique_ptr<net::io_context>> iocs;
  for (int t = 0; t < std::max(1, spec.threads); ++t)
    iocs.push_back(std::make_unique<net::io_context>(1));
  for (int i = 0; i < spec.connections; ++i) {
    std::make_shared<Conn>(*iocs[static_cast<size_t>(i) % iocs.size()], ctx, &shared)->Start();
  }
  std::vector<std::thread> threads;
  for (auto& ioc : iocs) threads.emplace_back([&ioc] { ioc->run(); });
  for (auto& t : threads) t.join();

  LoadResult r;
  auto& lat = shared.latencies_ms;
  r.requests = lat.size();
  r.errors = shared.errors;
  r.unexpected_status = shared.unexpected;
  r.status_seen = shared.status_seen;
  r.seconds = std::chrono::duration<double>(spec.duration).count();
  if (!lat.empty()) {
    std::sort(lat.begin(), lat.end());
    r.p50_ms = lat[lat.size() / 2];
    r.p99_ms = lat[std::min(lat.size() - 1, lat.size() * 99 / 100)];
  }
  return r;
}

}  // namespace attest::bench
