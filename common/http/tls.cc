#include "common/http/tls.h"

#include <openssl/err.h>
#include <openssl/x509.h>

#include <fmt/format.h>

#include "common/crypto/ossl.h"
#include "common/http/errors.h"

namespace attest::http::internal {

using crypto::OpenSslError;

Result<std::unique_ptr<boost::asio::ssl::context>> MakeServerContext(const ServerOptions& o) {
  namespace ssl = boost::asio::ssl;
  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native, TLS1_2_VERSION);
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
  ERR_clear_error();
  if (SSL_CTX_use_certificate_chain_file(native, o.cert_file.c_str()) != 1) {
    return MakeError(errc::tls_error, fmt::format("{}: cannot load certificate chain '{}': {}",
                                                  o.name, o.cert_file, OpenSslError()));
  }
  if (SSL_CTX_use_PrivateKey_file(native, o.key_file.c_str(), SSL_FILETYPE_PEM) != 1 ||
      SSL_CTX_check_private_key(native) != 1) {
    return MakeError(errc::tls_error, fmt::format("{}: cannot load private key '{}': {}", o.name,
                                                  o.key_file, OpenSslError()));
  }
  if (o.client_auth != ClientAuth::kOff) {
    if (o.client_ca_file.empty()) {
      return MakeError(errc::invalid_argument,
                       fmt::format("{}: client_auth needs a client CA file", o.name));
    }
    if (SSL_CTX_load_verify_locations(native, o.client_ca_file.c_str(), nullptr) != 1) {
      return MakeError(errc::tls_error, fmt::format("{}: cannot load client CA '{}': {}", o.name,
                                                    o.client_ca_file, OpenSslError()));
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(o.client_ca_file.c_str());
    if (names) SSL_CTX_set_client_CA_list(native, names);  // takes ownership
    int mode = SSL_VERIFY_PEER;
    if (o.client_auth == ClientAuth::kRequired) mode |= SSL_VERIFY_FAIL_IF_NO_PEER_CERT;
    SSL_CTX_set_verify(native, mode, nullptr);
    // Needed for session resumption when client certificates are verified.
    static const unsigned char kSidCtx[] = "attest-http";
    SSL_CTX_set_session_id_context(native, kSidCtx, sizeof kSidCtx - 1);
  }
  return ctx;
}

std::shared_ptr<const ClientCert> VerifiedPeer(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (!cert || SSL_get_verify_result(ssl) != X509_V_OK) return nullptr;
  auto out = std::make_shared<ClientCert>();
  crypto::BioPtr bio(BIO_new(BIO_s_mem()));
  if (bio && X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) >= 0) {
    char* data = nullptr;
    long len = BIO_get_mem_data(bio.get(), &data);
    if (data && len > 0) out->subject.assign(data, static_cast<size_t>(len));
  }
  int len = i2d_X509(cert, nullptr);
  if (len > 0) {
    out->der.resize(static_cast<size_t>(len));
    auto* p = reinterpret_cast<unsigned char*>(out->der.data());
    i2d_X509(cert, &p);
  }
  return out;
}

}  // namespace attest::http::internal
