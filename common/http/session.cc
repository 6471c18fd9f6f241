// One client connection: TLS handshake, header and body reads with their
// timeouts, dispatch to the router, the response write, keep-alive and the
// linger before close (see server_impl.h for the threads).
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>

#include <optional>

#include "common/http/errors.h"
#include "common/http/server_impl.h"
#include "common/http/tls.h"

namespace attest::http {
namespace {

namespace bhttp = boost::beast::http;

std::string_view Truncated(std::string_view s, size_t n = 200) {
  return s.size() <= n ? s : s.substr(0, n);
}

bool IsParseError(const beast::error_code& ec) {
  return ec.category() == bhttp::make_error_code(bhttp::error::bad_method).category() &&
         ec != bhttp::error::end_of_stream && ec != bhttp::error::partial_message;
}

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

std::shared_ptr<SessionBase> MakeSession(Server::Impl* server, uint64_t id, tcp::socket&& socket,
                                         std::string peer) {
  if (server->tls) {
    return std::make_shared<Session<true>>(server, id, std::move(socket), std::move(peer));
  }
  return std::make_shared<Session<false>>(server, id, std::move(socket), std::move(peer));
}

}  // namespace attest::http
