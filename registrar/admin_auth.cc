#include "registrar/admin_auth.h"

#include <openssl/crypto.h>
#include <openssl/sha.h>

#include <cctype>
#include <fstream>

#include "registrar/errors.h"

namespace attest::registrar {
namespace {

std::array<uint8_t, 32> Sha256(std::string_view s) {
  std::array<uint8_t, 32> out{};
  SHA256(reinterpret_cast<const unsigned char*>(s.data()), s.size(), out.data());
  return out;
}

}  // namespace

Result<AdminAuth> AdminAuth::Load(const std::string& token_file, bool client_certs) {
  AdminAuth a;
  a.client_certs_ = client_certs;
  if (!token_file.empty()) {
    std::ifstream in(token_file, std::ios::binary);
    if (!in) return MakeError(errc::config_error, "admin token file " + token_file + " unreadable");
    std::string token(4096, '\0');
    in.read(token.data(), static_cast<std::streamsize>(token.size()));
    token.resize(static_cast<size_t>(in.gcount()));
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back()))) {
      token.pop_back();
    }
    if (token.size() < 16) {
      return MakeError(errc::config_error,
                       "admin token in " + token_file + " is shorter than 16 characters");
    }
    a.token_sha256_ = Sha256(token);
    OPENSSL_cleanse(token.data(), token.size());
  }
  return a;
}

Result<std::string> AdminAuth::Check(const http::Request& req) const {
  if (client_certs_ && req.client_cert()) return "cert:" + req.client_cert()->subject;
  std::string_view auth = req.header("Authorization");
  if (auth.empty()) {
    return MakeError(errc::unauthorized,
                     "the admin API needs a bearer token or an admin client certificate");
  }
  constexpr std::string_view kBearer = "Bearer ";
  if (!token_sha256_ || auth.size() <= kBearer.size() ||
      auth.substr(0, kBearer.size()) != kBearer) {
    return MakeError(errc::forbidden, "unsupported or unusable Authorization header");
  }
  auto presented = Sha256(auth.substr(kBearer.size()));
  if (CRYPTO_memcmp(presented.data(), token_sha256_->data(), presented.size()) != 0) {
    return MakeError(errc::forbidden, "the bearer token is not valid");
  }
  return std::string("token");
}

}  // namespace attest::registrar
