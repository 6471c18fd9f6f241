#include "registrar/admin_client.h"

#include <curl/curl.h>
#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "registrar/errors.h"

namespace attest::registrar {
namespace {

namespace pbu = google::protobuf::util;

constexpr size_t kMaxReplyBytes = 64 << 20;

struct CurlDeleter {
  void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
  void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

size_t OnBody(char* data, size_t size, size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  if (out->size() + size * n > kMaxReplyBytes) return 0;
  out->append(data, size * n);
  return size * n;
}

errc FromStatus(long status) {
  switch (status) {
    case 400:
      return errc::bad_request;
    case 401:
      return errc::unauthorized;
    case 403:
      return errc::forbidden;
    case 404:
      return errc::not_found;
    case 409:
      return errc::conflict;
    case 410:
      return errc::gone;
    case 415:
      return errc::unsupported_media;
    case 503:
      return errc::unavailable;
    default:
      return status >= 500 ? errc::internal : errc::bad_request;
  }
}

Error FromReply(const AdminReply& r) {
  std::string detail = r.body.substr(0, 500);
  auto j = nlohmann::json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("detail") && j["detail"].is_string()) {
    detail = j["detail"].get<std::string>();
  }
  return MakeError(FromStatus(r.status), std::to_string(r.status) + ": " + detail);
}

template <typename M>
Result<M> Decode(const AdminReply& r) {
  if (r.status < 200 || r.status >= 300) return FromReply(r);
  M m;
  pbu::JsonParseOptions o;
  o.ignore_unknown_fields = true;  // a newer registrar may add fields
  if (!pbu::JsonStringToMessage(r.body, &m, o).ok()) {
    return MakeError(errc::internal, "the registrar's answer is not a " + m.GetTypeName());
  }
  return m;
}

std::string ToJson(const google::protobuf::Message& m) {
  std::string out;
  (void)pbu::MessageToJsonString(m, &out);
  return out;
}

}  // namespace

struct AdminClient::Impl {
  AdminClientOptions options;
  std::unique_ptr<CURL, CurlDeleter> curl;
};

AdminClient::AdminClient(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
AdminClient::~AdminClient() = default;
AdminClient::AdminClient(AdminClient&&) noexcept = default;
AdminClient& AdminClient::operator=(AdminClient&&) noexcept = default;

Result<AdminClient> AdminClient::Create(AdminClientOptions options) {
  if (options.base_url.empty()) return MakeError(errc::bad_request, "registrar URL is empty");
  while (!options.base_url.empty() && options.base_url.back() == '/') options.base_url.pop_back();
  if (options.cert_file.empty() != options.key_file.empty()) {
    return MakeError(errc::bad_request, "a client certificate needs both --cert and --key");
  }
  auto impl = std::make_unique<Impl>();
  impl->options = std::move(options);
  impl->curl.reset(curl_easy_init());
  if (!impl->curl) return MakeError(errc::internal, "curl_easy_init failed");
  return AdminClient(std::move(impl));
}

Result<AdminReply> AdminClient::Call(const std::string& method, const std::string& path,
                                     const std::string& json_body) {
  CURL* c = impl_->curl.get();
  const auto& o = impl_->options;
  curl_easy_reset(c);
  std::string url = o.base_url + path;
  AdminReply reply;
  curl_easy_setopt(c, CURLOPT_URL, url.c_str());
  curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
  curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(o.timeout.count()));
  curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(c, CURLOPT_WRITEDATA, &reply.body);
  curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
  if (!o.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, o.ca_file.c_str());
  if (!o.cert_file.empty()) {
    curl_easy_setopt(c, CURLOPT_SSLCERT, o.cert_file.c_str());
    curl_easy_setopt(c, CURLOPT_SSLKEY, o.key_file.c_str());
  }
  std::unique_ptr<curl_slist, SlistDeleter> headers;
  auto add = [&](const std::string& h) {
    curl_slist* next = curl_slist_append(headers.get(), h.c_str());
    if (next) {
      (void)headers.release();
      headers.reset(next);
    }
  };
  add("Accept: application/json");
  if (!o.token.empty()) add("Authorization: Bearer " + o.token);
  if (!json_body.empty()) {
    add("Content-Type: application/json");
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, json_body.data());
    curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, static_cast<long>(json_body.size()));
  }
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
  CURLcode rc = curl_easy_perform(c);
  curl_easy_setopt(c, CURLOPT_HTTPHEADER, nullptr);
  if (rc != CURLE_OK) {
    return MakeError(errc::unavailable,
                     "registrar " + o.base_url + " not reached: " + curl_easy_strerror(rc));
  }
  curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &reply.status);
  return reply;
}

Result<v1::ListAgentsResponse> AdminClient::List(v1::AgentState state, uint32_t page_size,
                                                 const std::string& page_token) {
  std::string q;
  auto add = [&](const std::string& kv) { q += (q.empty() ? "?" : "&") + kv; };
  if (state != v1::AGENT_STATE_UNSPECIFIED) add("state=" + v1::AgentState_Name(state));
  if (page_size) add("page_size=" + std::to_string(page_size));
  if (!page_token.empty()) add("page_token=" + page_token);
  AdminReply r;
  ATTEST_ASSIGN_OR_RETURN(r, Call("GET", "/v1/admin/agents" + q));
  return Decode<v1::ListAgentsResponse>(r);
}

Result<v1::AgentStatus> AdminClient::Show(const std::string& uuid) {
  AdminReply r;
  ATTEST_ASSIGN_OR_RETURN(r, Call("GET", "/v1/admin/agents/" + uuid));
  return Decode<v1::AgentStatus>(r);
}

Result<v1::AgentStatus> AdminClient::Enrol(const std::string& uuid, const v1::EnrolRequest& req) {
  AdminReply r;
  ATTEST_ASSIGN_OR_RETURN(r, Call("PUT", "/v1/admin/agents/" + uuid + "/enrolment", ToJson(req)));
  return Decode<v1::AgentStatus>(r);
}

Result<v1::AgentStatus> AdminClient::UpdatePolicies(const std::string& uuid,
                                                    const v1::UpdatePoliciesRequest& req) {
  AdminReply r;
  ATTEST_ASSIGN_OR_RETURN(r, Call("PATCH", "/v1/admin/agents/" + uuid + "/policies", ToJson(req)));
  return Decode<v1::AgentStatus>(r);
}

Result<void> AdminClient::Remove(const std::string& uuid) {
  AdminReply r;
  ATTEST_ASSIGN_OR_RETURN(r, Call("DELETE", "/v1/admin/agents/" + uuid));
  if (r.status != 204 && r.status != 200) return FromReply(r);
  return Ok();
}

}  // namespace attest::registrar
