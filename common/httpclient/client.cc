#include "common/httpclient/client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <ctime>
#include <mutex>

namespace attest::httpclient {
namespace {

class Category final : public std::error_category {
 public:
  const char* name() const noexcept override { return "attest.httpclient"; }
  std::string message(int c) const override {
    switch (static_cast<errc>(c)) {
      case errc::ok:
        return "ok";
      case errc::invalid_argument:
        return "invalid argument";
      case errc::connect_failed:
        return "connection failed";
      case errc::tls_error:
        return "TLS verification failed";
      case errc::timeout:
        return "timed out";
      case errc::transfer_failed:
        return "transfer failed";
      case errc::too_large:
        return "response too large";
      case errc::proxy_unreachable:
        return "proxy unreachable";
      case errc::cancelled:
        return "cancelled";
    }
    return "unknown error";
  }
};

bool IEquals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) ==
                  std::tolower(static_cast<unsigned char>(y));
         });
}

std::string_view Trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n')) {
    s.remove_suffix(1);
  }
  return s;
}

struct EasyFree {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistFree {
  void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};

struct UrlFree {
  void operator()(CURLU* u) const { curl_url_cleanup(u); }
};
struct CurlFree {
  void operator()(char* p) const { curl_free(p); }
};

// True once the request could have reached the server: curl got as far as
// sending it. CURLINFO_APPCONNECT_TIME (the TLS handshake) is 0 when a
// kept-alive connection is reused, which made a timeout there look like a
// server never reached; the pre-transfer time is set on every path.
bool Connected(CURL* c) {
  curl_off_t us = 0;
  curl_easy_getinfo(c, CURLINFO_PRETRANSFER_TIME_T, &us);
  return us > 0;
}

std::optional<std::string> Env(const char* name) {
  const char* v = std::getenv(name);
  return v ? std::optional<std::string>(v) : std::nullopt;
}

// The proxy the environment names for `scheme`, as libcurl 7.88 reads it:
// <scheme>_proxy, then its upper case except HTTP_PROXY (which CGI servers
// set from a request header), then all_proxy, ALL_PROXY. The first one set
// wins, even when empty.
std::string ProxyFromEnvironment(std::string_view scheme) {
  std::optional<std::string> p = Env(scheme == "https" ? "https_proxy" : "http_proxy");
  if (!p && scheme == "https") p = Env("HTTPS_PROXY");
  if (!p) p = Env("all_proxy");
  if (!p) p = Env("ALL_PROXY");
  return p.value_or("");
}

struct Target {
  std::string scheme, host;  // host: a name or an address (IPv6 without brackets)
  int port = 0;
};

Result<Target> ParseBaseUrl(const std::string& url) {
  std::unique_ptr<CURLU, UrlFree> u(curl_url());
  if (!u) return MakeError(errc::invalid_argument, "http client: curl_url failed");
  auto bad = [&] {
    return MakeError(errc::invalid_argument,
                     fmt::format("http client: base URL '{}' is not a valid URL", url));
  };
  if (curl_url_set(u.get(), CURLUPART_URL, url.c_str(), 0) != CURLUE_OK) return bad();
  Target t;
  for (auto [part, out] : {std::pair{CURLUPART_SCHEME, &t.scheme}, {CURLUPART_HOST, &t.host}}) {
    char* v = nullptr;
    if (curl_url_get(u.get(), part, &v, 0) != CURLUE_OK || !v) return bad();
    std::unique_ptr<char, CurlFree> owned(v);
    *out = Lower(v);
  }
  char* port = nullptr;
  if (curl_url_get(u.get(), CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) != CURLUE_OK || !port) {
    return bad();
  }
  std::unique_ptr<char, CurlFree> owned(port);
  auto p = ParsePort(port);
  if (!p) return bad();
  t.port = *p;
  if (t.host.size() > 1 && t.host.front() == '[') t.host = t.host.substr(1, t.host.size() - 2);
  if (auto zone = t.host.find('%'); zone != std::string::npos) t.host.resize(zone);
  return t;
}

void GlobalInit() {
  // curl_global_init is not thread-safe before 7.84; do it once.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

}  // namespace

const std::error_category& category() {
  static const Category instance;
  return instance;
}

bool IsConnectionFailure(const Error& e) {
  return e.code == errc::connect_failed || e.code == errc::proxy_unreachable;
}

std::string RedactProxy(std::string_view proxy) {
  size_t start = proxy.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  // Up to the last '@': a password written with a raw '@' or '/' in it
  // ("p@ss", "pa/ss") is hidden whole, whatever libcurl makes of it.
  size_t at = proxy.rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(proxy);
  return std::string(proxy.substr(0, start)) + "***@" + std::string(proxy.substr(at + 1));
}

std::string_view Response::header(std::string_view name) const {
  for (const auto& [k, v] : headers) {
    if (IEquals(k, name)) return v;
  }
  return {};
}

std::optional<std::chrono::seconds> Response::retry_after() const {
  std::string_view v = header("Retry-After");
  if (v.empty()) return std::nullopt;
  if (std::all_of(v.begin(), v.end(), [](char c) { return c >= '0' && c <= '9'; })) {
    if (v.size() > 9) return std::nullopt;
    return std::chrono::seconds(std::stol(std::string(v)));
  }
  time_t when = curl_getdate(std::string(v).c_str(), nullptr);
  if (when < 0) return std::nullopt;
  time_t now = std::time(nullptr);
  return std::chrono::seconds(when > now ? when - now : 0);
}

struct Client::Impl {
  ClientOptions options;
  Target target;      // from options.base_url
  std::string proxy;  // the proxy in use, "" when direct
  std::unique_ptr<CURL, EasyFree> easy;
  Response current;
  bool too_large = false;
  long connects = 0;
  char errbuf[CURL_ERROR_SIZE] = {0};

  static size_t OnBody(char* data, size_t size, size_t n, void* user) {
    auto* self = static_cast<Impl*>(user);
    size_t len = size * n;
    if (self->current.body.size() + len > self->options.max_response_bytes) {
      self->too_large = true;
      return 0;  // aborts the transfer
    }
    self->current.body.append(data, len);
    return len;
  }

  static size_t OnHeader(char* data, size_t size, size_t n, void* user) {
    auto* self = static_cast<Impl*>(user);
    std::string_view line(data, size * n);
    // A new status line (after 100 Continue or a proxy's CONNECT answer)
    // starts the headers over: only the final response's headers count.
    if (line.substr(0, 5) == "HTTP/") {
      self->current.headers.clear();
      return size * n;
    }
    size_t colon = line.find(':');
    if (colon != std::string_view::npos && self->current.headers.size() < 200) {
      self->current.headers.emplace_back(std::string(Trim(line.substr(0, colon))),
                                         std::string(Trim(line.substr(colon + 1))));
    }
    return size * n;
  }

  Result<void> Configure();
  std::optional<Error> ProxyFailure(CURLcode rc, long opened, std::string_view method,
                                    const std::string& url, const char* detail);
  // libcurl calls it about once a second even while nothing moves.
  static int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    return static_cast<const std::stop_token*>(user)->stop_requested() ? 1 : 0;
  }

  std::unique_ptr<curl_slist, SlistFree> Prepare(const std::string& url,
                                                 const std::string* content_type,
                                                 std::string_view body,
                                                 const std::stop_token& stop);
  Error Failure(CURLcode rc, long opened, std::string_view method, const std::string& url);
  Result<Response> Perform(std::string_view path, const std::string* content_type,
                           std::string_view body, const std::stop_token& stop);
};

Result<void> Client::Impl::Configure() {
  CURL* c = easy.get();
  curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf);
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
  curl_easy_setopt(c, CURLOPT_USERAGENT, options.user_agent.c_str());
  curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS,
                   static_cast<long>(options.connect_timeout.count()));
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(options.total_timeout.count()));
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
  curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
  curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
  curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &Impl::OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, this);
  curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, &Impl::OnHeader);
  curl_easy_setopt(c, CURLOPT_HEADERDATA, this);
  if (!options.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, options.ca_file.c_str());
  if (!options.pinned_public_key.empty()) {
    curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, options.pinned_public_key.c_str());
  }
  if (!options.client_cert_file.empty()) {
    if (options.client_key_file.empty()) {
      return MakeError(errc::invalid_argument,
                       "http client: client_cert_file needs client_key_file");
    }
    curl_easy_setopt(c, CURLOPT_SSLCERT, options.client_cert_file.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, options.client_key_file.c_str());
  }
  // Agents sit behind firewalls: always tunnel through the proxy (CONNECT),
  // never let it see or rewrite the request.
  curl_easy_setopt(c, CURLOPT_HTTPPROXYTUNNEL, 1L);
  // Decided here (Create), not by libcurl: "" keeps libcurl from reading the
  // environment's proxies and no_proxy again.
  curl_easy_setopt(c, CURLOPT_PROXY, proxy.c_str());
  curl_easy_setopt(c, CURLOPT_NOPROXY, "");
  return Ok();
}

// A failure before the tunnel through the proxy was open, said as such, or
// nullopt when the tunnel was open (the server's own failure follows).
std::optional<Error> Client::Impl::ProxyFailure(CURLcode rc, long opened, std::string_view method,
                                                const std::string& url, const char* detail) {
  const std::string p = RedactProxy(proxy);
  // No connection opened: the one libcurl tried was the proxy's.
  if (rc == CURLE_COULDNT_RESOLVE_PROXY ||
      (opened == 0 && (rc == CURLE_COULDNT_CONNECT || rc == CURLE_OPERATION_TIMEDOUT))) {
    return MakeError(errc::proxy_unreachable,
                     fmt::format("proxy {} is unreachable: {}; {} {} was not sent to the server", p,
                                 detail, method, url));
  }
  long code = 0;
  curl_easy_getinfo(easy.get(), CURLINFO_HTTP_CONNECTCODE, &code);
  const std::string hostport = target.host.find(':') != std::string::npos
                                   ? fmt::format("[{}]:{}", target.host, target.port)
                                   : fmt::format("{}:{}", target.host, target.port);
  if (code != 0 && (code < 200 || code > 299)) {
    // Typically the proxy could not reach the server (tinyproxy: 500), or
    // its rules refuse the port (403).
    return MakeError(
        errc::connect_failed,
        fmt::format("{} {}: proxy {} answered CONNECT {} with {}", method, url, p, hostport, code));
  }
  if (code == 0 && opened > 0) {
    // The proxy took the connection and closed it or stayed silent: it may
    // still be trying to reach the server.
    return MakeError(errc::connect_failed,
                     fmt::format("{} {}: proxy {} did not answer CONNECT {}: {}", method, url, p,
                                 hostport, detail));
  }
  return std::nullopt;
}

// Sets the URL, headers and body of the next transfer; the returned list
// must outlive it.
std::unique_ptr<curl_slist, SlistFree> Client::Impl::Prepare(const std::string& url,
                                                             const std::string* content_type,
                                                             std::string_view body,
                                                             const std::stop_token& stop) {
  CURL* c = easy.get();
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  std::unique_ptr<curl_slist, SlistFree> headers;
  auto add = [&](const std::string& h) {
    curl_slist* next = curl_slist_append(headers.get(), h.c_str());
    if (next) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  add("Expect:");  // no 100-continue round trip
  if (content_type) {
    add("Content-Type: " + *content_type);
    curl_easy_setopt(c, CURLOPT_POST, 1L);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  } else {
    curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  current = Response{};
  too_large = false;
  errbuf[0] = 0;
  if (stop.stop_possible()) {
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, &Impl::OnProgress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &stop);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
  }
  return headers;
}

// The error of a failed transfer, said from the caller's side: whether the
// proxy or the server failed, and whether the request may have been sent.
Error Client::Impl::Failure(CURLcode rc, long opened, std::string_view method,
                            const std::string& url) {
  CURL* c = easy.get();
  // libcurl quotes a proxy URL it cannot use ("Unsupported proxy syntax in
  // 'http://user:password@...'"): its words never carry the credentials.
  std::string detail = errbuf[0] ? errbuf : curl_easy_strerror(rc);
  if (!proxy.empty()) {
    const std::string redacted = RedactProxy(proxy);
    for (size_t at = detail.find(proxy); at != std::string::npos;
         at = detail.find(proxy, at + redacted.size())) {
      detail.replace(at, proxy.size(), redacted);
    }
  }
  if (rc == CURLE_ABORTED_BY_CALLBACK) {
    return MakeError(errc::cancelled, fmt::format("{} {}: cancelled (stopping)", method, url));
  }
  if (!proxy.empty() && !Connected(c)) {
    if (auto e = ProxyFailure(rc, opened, method, url, detail.c_str())) return *e;
  }
  std::string what = fmt::format("{} {}: {}", method, url, detail);
  errc code = errc::transfer_failed;
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
      code = errc::connect_failed;
      break;
    case CURLE_RECV_ERROR:
    case CURLE_SEND_ERROR:
    case CURLE_GOT_NOTHING:
      code = Connected(c) ? errc::transfer_failed : errc::connect_failed;
      break;
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
    case CURLE_SSL_CACERT_BADFILE:
    case CURLE_SSL_CERTPROBLEM:
      code = errc::tls_error;
      break;
    case CURLE_OPERATION_TIMEDOUT:
      // Timed out before the connection was made: the server was not reached.
      code = Connected(c) ? errc::timeout : errc::connect_failed;
      break;
    case CURLE_WRITE_ERROR:
      if (too_large) {
        code = errc::too_large;
        what = fmt::format("{}: response body exceeds {} bytes", url, options.max_response_bytes);
      }
      break;
    default:
      break;
  }
  return MakeError(code, std::move(what));
}

Result<Response> Client::Impl::Perform(std::string_view path, const std::string* content_type,
                                       std::string_view body, const std::stop_token& stop) {
  CURL* c = easy.get();
  std::string url = options.base_url;
  if (!url.empty() && url.back() == '/' && !path.empty() && path.front() == '/') url.pop_back();
  url += path;
  auto headers = Prepare(url, content_type, body, stop);
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_NOPROGRESS, 1L);
  curl_easy_setopt(c, CURLOPT_XFERINFODATA, nullptr);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, nullptr);
  long opened = 0;
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &opened);
  connects += opened;
  if (rc == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &current.status);
    return std::move(current);
  }
  return Failure(rc, opened, content_type ? "POST" : "GET", url);
}

Result<Client> Client::Create(ClientOptions options) {
  GlobalInit();
  if (options.base_url.rfind("https://", 0) != 0 && options.base_url.rfind("http://", 0) != 0) {
    return MakeError(errc::invalid_argument,
                     fmt::format("http client: base URL '{}' must start with https:// or http://",
                                 options.base_url));
  }
  auto target = ParseBaseUrl(options.base_url);
  if (!target) return target.error();
  if (options.no_proxy) {
    if (auto v = ValidateNoProxy(*options.no_proxy); !v) return v.error();
  }
  auto impl = std::make_unique<Impl>();
  impl->proxy = options.proxy ? *options.proxy : ProxyFromEnvironment(target->scheme);
  if (!impl->proxy.empty()) {
    std::string no_proxy = options.no_proxy
                               ? *options.no_proxy
                               : Env("no_proxy").value_or(Env("NO_PROXY").value_or(""));
    if (NoProxyMatches(no_proxy, target->host, target->port)) impl->proxy.clear();
  }
  impl->target = std::move(target).value();
  impl->options = std::move(options);
  impl->easy.reset(curl_easy_init());
  if (!impl->easy) return MakeError(errc::invalid_argument, "http client: curl_easy_init failed");
  if (auto r = impl->Configure(); !r) return r.error();
  return Client(std::move(impl));
}

Client::Client(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Client::~Client() = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;

Result<Response> Client::Post(std::string_view path, std::string_view content_type,
                              std::string_view body, std::stop_token stop) {
  std::string ct(content_type);
  return impl_->Perform(path, &ct, body, stop);
}

Result<Response> Client::Get(std::string_view path, std::stop_token stop) {
  return impl_->Perform(path, nullptr, {}, stop);
}

const ClientOptions& Client::options() const { return impl_->options; }
const std::string& Client::proxy() const { return impl_->proxy; }
long Client::connections_opened() const { return impl_->connects; }

}  // namespace attest::httpclient
