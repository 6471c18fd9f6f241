// HTTPS client for the agent on libcurl: one easy handle reused across
// requests (keep-alive), server CA pinning, optional client certificate,
// proxies (HTTP CONNECT), timeouts.
//
// Proxy resolution, decided once per Client (one base URL) by this code, not
// by libcurl, so that an error can say whether the proxy or the server
// failed: `proxy` set in the options overrides the environment (an empty
// string means "no proxy at all"); unset, https_proxy / HTTPS_PROXY (http_proxy
// for http:// URLs), then all_proxy / ALL_PROXY apply, as in libcurl.
// `no_proxy` set in the options overrides no_proxy / NO_PROXY; a base URL that
// matches it (NoProxyMatches) goes direct, whichever source the proxy came
// from.
//
// Errors: an HTTP answer of any status is a Response, not an error. Errors
// mean no answer: IsConnectionFailure() says the server was not reached (DNS,
// refused, the proxy down or refusing the tunnel, TLS handshake, connect
// timeout), so the caller may send the request to another address; other
// codes mean the request may have reached the server (timeout or reset after
// sending).
//
// Thread-safety: a Client is not thread-safe; use one per thread.
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <stop_token>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "common/base/result.h"
#include "common/httpclient/no_proxy.h"  // NoProxyMatches, ValidateNoProxy

namespace attest::httpclient {

enum class errc {
  ok = 0,
  invalid_argument = 1,  // bad options or URL
  connect_failed = 2,    // server not reached (also: the proxy could not reach it)
  tls_error = 3,         // certificate verification / pinning failed
  timeout = 4,           // total timeout after the connection was made
  transfer_failed = 5,   // connection broke during the exchange
  too_large = 6,         // response body above max_response_bytes
  // The proxy itself was not reached (resolve, refused, connect timeout) or
  // closed the connection without answering the CONNECT: no server was tried.
  proxy_unreachable = 7,
  cancelled = 8,  // the caller's stop_token asked to stop; the outcome is unknown
};
const std::error_category& category();
inline std::error_code make_error_code(errc e) { return {static_cast<int>(e), category()}; }

struct ClientOptions {
  std::string base_url;  // "https://gw1.example.com:8881"; paths are appended
  std::string ca_file;   // PEM CA bundle trusted for the server; empty: system store
  // CURLOPT_PINNEDPUBLICKEY: "sha256//<base64>;..." or a PEM/DER public key file.
  std::string pinned_public_key;
  std::string client_cert_file;  // PEM; with client_key_file for mTLS
  std::string client_key_file;
  std::optional<std::string> proxy;  // "http://proxy:3128"; "" disables proxies
  // "localhost,.internal" (see NoProxyMatches); "" bypasses nothing. A
  // malformed entry here is an error at Create (in the environment: ignored).
  std::optional<std::string> no_proxy;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds total_timeout{30'000};
  size_t max_response_bytes = 16 << 20;
  std::string user_agent = "attest-agent";
};

struct Response {
  long status = 0;
  std::vector<std::pair<std::string, std::string>> headers;  // of the final response
  std::string body;

  // First header of that name (case-insensitive), or empty.
  std::string_view header(std::string_view name) const;
  // Retry-After as delta-seconds or HTTP-date; nullopt when absent or invalid.
  std::optional<std::chrono::seconds> retry_after() const;
};

// The server was not reached: connect_failed or proxy_unreachable.
bool IsConnectionFailure(const Error& e);

// A proxy URL without its user:password, for logs.
std::string RedactProxy(std::string_view proxy);

class Client {
 public:
  static Result<Client> Create(ClientOptions options);
  ~Client();
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;

  // A stop requested on `stop` ends the request within about a second
  // (errc::cancelled), whatever the timeouts: a service stopping does not
  // wait out a server that never answers.
  Result<Response> Post(std::string_view path, std::string_view content_type, std::string_view body,
                        std::stop_token stop = {});
  Result<Response> Get(std::string_view path, std::stop_token stop = {});

  const ClientOptions& options() const;
  // The proxy this client's requests go through ("" when direct), decided at
  // Create from the options and the environment.
  const std::string& proxy() const;
  // Connections opened so far by this client (keep-alive reuse opens none).
  long connections_opened() const;

 private:
  struct Impl;
  explicit Client(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace attest::httpclient

template <>
struct std::is_error_code_enum<attest::httpclient::errc> : std::true_type {};
