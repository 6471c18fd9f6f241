// Authentication of the control-plane (/v1/admin/...) requests: a bearer
// token read from a file at start-up, and/or a client certificate that the
// TLS layer verified against the admin CA (the server runs mTLS in optional
// mode, so agents connect without certificates). A certificate from another
// CA fails the TLS handshake itself.
//
// Check(): a verified client certificate, or `Authorization: Bearer <token>`
// equal to the file's token (compared in constant time over SHA-256 digests,
// so neither content nor length leaks). No credentials: unauthorized (401);
// a wrong token or scheme: forbidden (403).
//
// Thread-safety: immutable after Load(); Check() from any thread.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>

#include "common/base/result.h"
#include "common/http/message.h"

namespace attest::registrar {

class AdminAuth {
 public:
  // `token_file` may be empty (certificates only); the token is the file's
  // content without trailing whitespace and must have >= 16 characters.
  static Result<AdminAuth> Load(const std::string& token_file, bool client_certs);

  // The caller's name for audit (created_by): "token" or the cert subject.
  Result<std::string> Check(const http::Request& req) const;

 private:
  std::optional<std::array<uint8_t, 32>> token_sha256_;
  bool client_certs_ = false;
};

}  // namespace attest::registrar
