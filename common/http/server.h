// Asynchronous HTTP/1.1 server (Boost.Beast + Asio) with TLS by default.
//
//   Router router;
//   router.Add("POST", "/v1/agents/{uuid}/evidence", [](RequestPtr req, Responder res) {
//     ... later, from any thread: res.Send(Response::Text(202, "accepted"));
//   });
//   Server server(options, std::move(router), &registry);
//   if (auto r = server.Start(); !r) ...;   // server.port() is the bound port
//   ...
//   server.Stop(std::chrono::seconds(10));   // drain, then close
//
// Behaviour: keep-alive; one request at a time per connection; bodies larger
// than max_body_bytes get 413 (checked on Content-Length before the body is
// read, and while reading chunked bodies); a client that does not complete the
// request headers within header_timeout, the body within request_timeout, or
// sends nothing for idle_timeout between requests is disconnected. Every
// response with status >= 400 is logged once (route, status, reason) and
// every response is counted in the metrics registry:
//   <prefix>_requests_total{method,route,status}
//   <prefix>_request_duration_seconds{method,route}   (histogram)
//   <prefix>_requests_in_flight, <prefix>_connections_open,
//   <prefix>_connections_rejected_total, <prefix>_timeouts_total{phase},
//   <prefix>_tls_handshake_failures_total
// Unmatched requests use route="unmatched", unparsable ones route="invalid".
//
// Thread-safety: Start/Stop/port may be called from any thread but not
// concurrently with each other. Stop() must not be called from a handler or
// an I/O thread (it waits for them); a dedicated signal thread is fine.
// Handlers run on I/O threads and must not block: hand slow work elsewhere
// and complete the Responder later.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "common/base/result.h"
#include "common/http/message.h"
#include "common/http/router.h"

namespace attest::metrics {
class Registry;
}

namespace attest::http {

enum class ClientAuth {
  kOff,       // no client certificate requested
  kOptional,  // requested; verified against client_ca_file when sent
  kRequired,  // handshake fails without a valid client certificate
};

// "off" | "optional" | "required".
Result<ClientAuth> ParseClientAuth(std::string_view text);

struct ServerOptions {
  std::string name = "http";  // for log lines
  std::string bind_address = "127.0.0.1";
  uint16_t port = 0;  // 0: ephemeral, read it back with Server::port()
  int io_threads = 2;

  bool tls = true;             // false: plain HTTP (metrics listener, tests)
  std::string cert_file;       // PEM chain, leaf first
  std::string key_file;        // PEM private key
  std::string client_ca_file;  // PEM CA(s) for client certificates
  ClientAuth client_auth = ClientAuth::kOff;

  size_t max_body_bytes = 1 << 20;
  size_t max_header_bytes = 16 << 10;
  size_t max_connections = 10000;
  std::chrono::milliseconds header_timeout{10'000};   // TLS handshake, request headers
  std::chrono::milliseconds request_timeout{30'000};  // body read, response write
  std::chrono::milliseconds idle_timeout{60'000};     // keep-alive wait for the next request

  std::string metrics_prefix = "http";
};

class Server {
 public:
  // `registry` may be null (metrics are then kept privately); it must outlive
  // the server.
  Server(ServerOptions options, Router router, metrics::Registry* registry);
  ~Server();  // Stop(0) if still running
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Loads TLS material, binds, listens and starts the I/O threads.
  Result<void> Start();
  // The bound port (valid after Start()).
  uint16_t port() const;
  // Stops accepting, closes idle connections, waits up to `drain` for
  // in-flight requests to be answered and written, then closes everything and
  // joins the I/O threads. Responders completed afterwards are no-ops.
  void Stop(std::chrono::milliseconds drain);
  // Open connections right now.
  size_t connections() const;

  struct Impl;  // implementation detail (named by the connection code)

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace attest::http
