#include "common/httpclient/client.h"

#include <curl/curl.h>
#include <fmt/format.h>

#include <algorithm>
#include <cctype>
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

// True once the request could have reached the server: the TLS handshake
// (https) or the connection (http) completed.
bool Connected(CURL* c) {
  char* scheme = nullptr;
  curl_easy_getinfo(c, CURLINFO_SCHEME, &scheme);
  curl_off_t us = 0;
  bool tls = scheme && (std::string_view(scheme) == "https" || std::string_view(scheme) == "HTTPS");
  curl_easy_getinfo(c, tls ? CURLINFO_APPCONNECT_TIME_T : CURLINFO_PRETRANSFER_TIME_T, &us);
  return us > 0;
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

bool IsConnectionFailure(const Error& e) { return e.code == errc::connect_failed; }

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
  Result<Response> Perform(std::string_view path, const std::string* content_type,
                           std::string_view body);
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
  if (options.proxy) curl_easy_setopt(c, CURLOPT_PROXY, options.proxy->c_str());
  if (options.no_proxy) curl_easy_setopt(c, CURLOPT_NOPROXY, options.no_proxy->c_str());
  return Ok();
}

Result<Response> Client::Impl::Perform(std::string_view path, const std::string* content_type,
                                       std::string_view body) {
  CURL* c = easy.get();
  std::string url = options.base_url;
  if (!url.empty() && url.back() == '/' && !path.empty() && path.front() == '/') url.pop_back();
  url += path;
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
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  curl_easy_setopt(c, CURLOPT_POSTFIELDS, nullptr);
  long opened = 0;
  curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &opened);
  connects += opened;
  if (rc == CURLE_OK) {
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &current.status);
    return std::move(current);
  }
  std::string what = fmt::format("POST {}: {}", url, errbuf[0] ? errbuf : curl_easy_strerror(rc));
  if (!content_type) what.replace(0, 4, "GET");
  errc code = errc::transfer_failed;
  switch (rc) {
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SSL_CONNECT_ERROR:
      code = errc::connect_failed;
      break;
    case CURLE_RECV_ERROR:  // also a proxy refusing the CONNECT
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

Result<Client> Client::Create(ClientOptions options) {
  GlobalInit();
  if (options.base_url.rfind("https://", 0) != 0 && options.base_url.rfind("http://", 0) != 0) {
    return MakeError(errc::invalid_argument,
                     fmt::format("http client: base URL '{}' must start with https:// or http://",
                                 options.base_url));
  }
  auto impl = std::make_unique<Impl>();
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
                              std::string_view body) {
  std::string ct(content_type);
  return impl_->Perform(path, &ct, body);
}

Result<Response> Client::Get(std::string_view path) { return impl_->Perform(path, nullptr, {}); }

const ClientOptions& Client::options() const { return impl_->options; }
long Client::connections_opened() const { return impl_->connects; }

}  // namespace attest::httpclient
