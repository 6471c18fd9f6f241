#include "tools/attest-bench/https_client.h"

#include <openssl/ssl.h>

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <charconv>

#include "tools/attest-bench/errors.h"

namespace attest::bench {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::use_awaitable;

Result<Endpoint> Endpoint::Parse(const std::string& url, const std::string& default_port) {
  std::string rest = url;
  if (rest.starts_with("https://")) {
    rest = rest.substr(8);
  } else if (rest.find("://") != std::string::npos) {
    return MakeError(errc::invalid_argument, "URL " + url + ": only https:// is supported");
  }
  if (auto slash = rest.find('/'); slash != std::string::npos) rest.resize(slash);
  Endpoint e;
  auto colon = rest.rfind(':');
  if (colon == std::string::npos) {
    e.host = rest;
    e.port = default_port;
  } else {
    e.host = rest.substr(0, colon);
    e.port = rest.substr(colon + 1);
  }
  int port = 0;
  auto [p, ec] = std::from_chars(e.port.data(), e.port.data() + e.port.size(), port);
  if (e.host.empty() || ec != std::errc() || p != e.port.data() + e.port.size() || port < 1 ||
      port > 65535) {
    return MakeError(errc::invalid_argument, "URL " + url + ": expected https://host:port");
  }
  return e;
}

Result<std::shared_ptr<asio::ssl::context>> MakeClientTls(const std::string& ca_file) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  boost::system::error_code ec;
  ctx->set_verify_mode(asio::ssl::verify_peer, ec);
  if (!ca_file.empty()) {
    ctx->load_verify_file(ca_file, ec);
  } else {
    ctx->set_default_verify_paths(ec);
  }
  if (ec) return MakeError(errc::invalid_argument, "CA file " + ca_file + ": " + ec.message());
  // Resumed sessions keep reconnects (after a gateway restart) cheap.
  SSL_CTX_set_session_cache_mode(ctx->native_handle(), SSL_SESS_CACHE_CLIENT);
  return ctx;
}

HttpsConnection::HttpsConnection(asio::io_context& io, std::shared_ptr<asio::ssl::context> tls,
                                 Endpoint endpoint, std::chrono::milliseconds timeout)
    : io_(io), tls_(std::move(tls)), endpoint_(std::move(endpoint)), timeout_(timeout) {}

void HttpsConnection::Close() {
  if (!stream_) return;
  boost::system::error_code ec;
  beast::get_lowest_layer(*stream_).socket().close(ec);
  stream_.reset();
  buffer_.clear();
}

asio::awaitable<Result<void>> HttpsConnection::Connect() {
  Close();
  stream_.emplace(io_, *tls_);
  auto& s = *stream_;
  if (!SSL_set_tlsext_host_name(s.native_handle(), endpoint_.host.c_str())) {
    co_return MakeError(errc::transport, "SNI for " + endpoint_.host);
  }
  s.set_verify_callback(asio::ssl::host_name_verification(endpoint_.host));
  asio::ip::tcp::resolver resolver(io_);
  boost::system::error_code rec, cec, hec;
  auto results = co_await resolver.async_resolve(endpoint_.host, endpoint_.port,
                                                 asio::redirect_error(use_awaitable, rec));
  if (rec) co_return MakeError(errc::transport, "resolve " + endpoint_.host + ": " + rec.message());
  beast::get_lowest_layer(s).expires_after(timeout_);
  co_await beast::get_lowest_layer(s).async_connect(results,
                                                    asio::redirect_error(use_awaitable, cec));
  if (cec) {
    Close();
    co_return MakeError(errc::transport,
                        "connect " + endpoint_.host + ":" + endpoint_.port + ": " + cec.message());
  }
  beast::get_lowest_layer(s).socket().set_option(asio::ip::tcp::no_delay(true));
  co_await s.async_handshake(asio::ssl::stream_base::client,
                             asio::redirect_error(use_awaitable, hec));
  if (hec) {
    Close();
    co_return MakeError(errc::transport, "TLS handshake with " + endpoint_.host + ":" +
                                             endpoint_.port + ": " + hec.message());
  }
  ++connects_;
  co_return Ok();
}

asio::awaitable<Result<HttpReply>> HttpsConnection::Post(const std::string& target,
                                                         std::string body,
                                                         const std::string& content_type) {
  if (!stream_) {
    auto c = co_await Connect();
    if (!c) co_return c.error();
  }
  auto& s = *stream_;
  http::request<http::string_body> req{http::verb::post, target, 11};
  req.set(http::field::host, endpoint_.host);
  req.set(http::field::content_type, content_type);
  req.set(http::field::user_agent, "attest-bench");
  req.keep_alive(true);
  req.body() = std::move(body);
  req.prepare_payload();
  beast::get_lowest_layer(s).expires_after(timeout_);
  boost::system::error_code wec, rec;
  co_await http::async_write(s, req, asio::redirect_error(use_awaitable, wec));
  if (wec) {
    Close();
    co_return MakeError(errc::transport, "write " + target + ": " + wec.message());
  }
  http::response_parser<http::string_body> parser;
  parser.body_limit(1 << 20);
  co_await http::async_read(s, buffer_, parser, asio::redirect_error(use_awaitable, rec));
  if (rec) {
    Close();
    co_return MakeError(errc::transport, "read " + target + ": " + rec.message());
  }
  beast::get_lowest_layer(s).expires_never();
  auto res = parser.release();
  HttpReply reply;
  reply.status = static_cast<int>(res.result_int());
  if (auto it = res.find(http::field::retry_after); it != res.end()) {
    int v = 0;
    auto sv = it->value();
    auto [p, ec] = std::from_chars(sv.data(), sv.data() + sv.size(), v);
    if (ec == std::errc() && v >= 0) reply.retry_after_seconds = std::min(v, 3600);
    (void)p;
  }
  reply.body = std::move(res.body());
  if (!res.keep_alive()) Close();
  co_return reply;
}

}  // namespace attest::bench
