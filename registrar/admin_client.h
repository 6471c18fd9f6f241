// Client of the registrar's control-plane API (/v1/admin/...), for attestctl
// and tests: libcurl over HTTPS with the registrar's CA, a bearer token or a
// client certificate. Bodies are sent and read in Protobuf's JSON mapping.
//
// Errors: no answer -> errc::unavailable; an answer with status >= 400 ->
// the errc of that status (HttpStatus() inverts it) whose message is the
// problem's detail, e.g. "403: the bearer token is not valid".
//
// Thread-safety: one AdminClient per thread (it owns a curl handle).
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "attest/v1/admin.pb.h"
#include "common/base/result.h"

namespace attest::registrar {

struct AdminClientOptions {
  std::string base_url;   // "https://registrar.example.com:8891"
  std::string ca_file;    // PEM CA of the registrar's certificate; empty: system store
  std::string token;      // bearer token; empty: none
  std::string cert_file;  // client certificate (PEM) for mTLS, with key_file
  std::string key_file;
  std::chrono::milliseconds timeout{30'000};
};

struct AdminReply {
  long status = 0;
  std::string body;
};

class AdminClient {
 public:
  static Result<AdminClient> Create(AdminClientOptions options);
  ~AdminClient();
  AdminClient(AdminClient&&) noexcept;
  AdminClient& operator=(AdminClient&&) noexcept;

  // Raw call: `method` "GET"/"PUT"/"PATCH"/"DELETE"; a non-empty body is sent
  // as application/json.
  Result<AdminReply> Call(const std::string& method, const std::string& path,
                          const std::string& json_body = "");

  Result<v1::ListAgentsResponse> List(v1::AgentState state = v1::AGENT_STATE_UNSPECIFIED,
                                      uint32_t page_size = 0, const std::string& page_token = "");
  Result<v1::AgentStatus> Show(const std::string& uuid);
  Result<v1::AgentStatus> Enrol(const std::string& uuid, const v1::EnrolRequest& req);
  Result<v1::AgentStatus> UpdatePolicies(const std::string& uuid,
                                         const v1::UpdatePoliciesRequest& req);
  Result<void> Remove(const std::string& uuid);

 private:
  struct Impl;
  explicit AdminClient(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace attest::registrar
