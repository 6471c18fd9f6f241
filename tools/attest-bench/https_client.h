// One keep-alive HTTPS connection for attest-bench (Boost.Beast over
// OpenSSL), driven by C++20 coroutines on an asio io_context: a simulated
// agent's requests go out one after the other on it, as a real agent's do.
// The connection is (re)opened lazily; any transport error closes it and is
// returned, the next request reconnects.
//
// Thread-safety: a connection belongs to one coroutine at a time on its
// io_context's thread; the ssl::context is shared (read-only after setup).
#pragma once

// Boost 1.74's awaitable.hpp uses std::exchange without including <utility>.
#include <utility>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>

#include <chrono>
#include <memory>
#include <optional>
#include <string>

#include "common/base/result.h"

namespace attest::bench {

struct Endpoint {
  std::string host;  // name for SNI and the Host header
  std::string port;
  // "https://host:port" -> Endpoint; invalid_argument when malformed.
  static Result<Endpoint> Parse(const std::string& url, const std::string& default_port);
};

struct HttpReply {
  int status = 0;
  std::string body;
  int retry_after_seconds = -1;  // -1: no Retry-After header
};

// TLS client context trusting `ca_file` (PEM), verifying the peer's name.
Result<std::shared_ptr<boost::asio::ssl::context>> MakeClientTls(const std::string& ca_file);

class HttpsConnection {
 public:
  HttpsConnection(boost::asio::io_context& io, std::shared_ptr<boost::asio::ssl::context> tls,
                  Endpoint endpoint, std::chrono::milliseconds timeout);

  // Sends one request (protobuf body) and reads the whole answer.
  boost::asio::awaitable<Result<HttpReply>> Post(
      const std::string& target, std::string body,
      const std::string& content_type = "application/x-protobuf");
  void Close();
  uint64_t connects() const { return connects_; }

 private:
  boost::asio::awaitable<Result<void>> Connect();

  boost::asio::io_context& io_;
  std::shared_ptr<boost::asio::ssl::context> tls_;
  Endpoint endpoint_;
  std::chrono::milliseconds timeout_;
  std::optional<boost::beast::ssl_stream<boost::beast::tcp_stream>> stream_;
  boost::beast::flat_buffer buffer_;
  uint64_t connects_ = 0;
};

}  // namespace attest::bench
