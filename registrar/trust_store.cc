#include "registrar/trust_store.h"

#include <openssl/err.h>
#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include <algorithm>
#include <cctype>
#include <fstream>
#include <iterator>
#include <vector>

#include "common/crypto/ossl.h"
#include "common/tpm/marshal.h"
#include "common/tpm/tpm_crypto.h"
#include "registrar/errors.h"

namespace attest::registrar {
namespace {

using crypto::OpenSslError;
using crypto::X509Ptr;

constexpr size_t kMaxCertFileBytes = 1 << 20;

Result<std::vector<X509Ptr>> ReadCertFile(const std::filesystem::path& path) {
  std::error_code ec;
  auto size = std::filesystem::file_size(path, ec);
  if (ec || size > kMaxCertFileBytes) {
    return MakeError(errc::config_error, "EK trust store: cannot read " + path.string() +
                                             (ec ? ": " + ec.message() : ": file too large"));
  }
  std::ifstream in(path, std::ios::binary);
  std::string data((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  if (!in && !in.eof()) {
    return MakeError(errc::config_error, "EK trust store: cannot read " + path.string());
  }
  std::vector<X509Ptr> certs;
  if (data.find("-----BEGIN CERTIFICATE-----") != std::string::npos) {
    crypto::BioPtr bio(BIO_new_mem_buf(data.data(), static_cast<int>(data.size())));
    while (true) {
      X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr);
      if (!x) break;
      certs.emplace_back(x);
    }
    ERR_clear_error();  // the loop ends on "no start line"
  } else {
    const unsigned char* p = reinterpret_cast<const unsigned char*>(data.data());
    X509* x = d2i_X509(nullptr, &p, static_cast<long>(data.size()));
    if (x) certs.emplace_back(x);
  }
  if (certs.empty()) {
    return MakeError(errc::config_error, "EK trust store: " + path.string() +
                                             " holds no certificate: " + OpenSslError());
  }
  return certs;
}

bool SelfSigned(X509* x) {
  // Issuer == subject and the signature verifies with its own key.
  if (X509_NAME_cmp(X509_get_subject_name(x), X509_get_issuer_name(x)) != 0) return false;
  EVP_PKEY* key = X509_get0_pubkey(x);
  return key && X509_verify(x, key) == 1;
}

// TPM-specific critical extensions an EK certificate may carry.
bool TolerableCriticalExtension(const ASN1_OBJECT* obj) {
  char oid[80];
  if (OBJ_obj2txt(oid, sizeof oid, obj, 1) <= 0) return false;
  std::string_view s(oid);
  return s == "2.5.29.9"                 // subjectDirectoryAttributes (TPM specification)
         || s.starts_with("2.23.133.");  // TCG-defined extensions
}

int VerifyCallback(int ok, X509_STORE_CTX* ctx) {
  if (ok) return ok;
  if (X509_STORE_CTX_get_error(ctx) != X509_V_ERR_UNHANDLED_CRITICAL_EXTENSION) return ok;
  X509* cert = X509_STORE_CTX_get_current_cert(ctx);
  if (!cert) return ok;
  for (int i = 0; i < X509_get_ext_count(cert); ++i) {
    X509_EXTENSION* ext = X509_get_ext(cert, i);
    if (!X509_EXTENSION_get_critical(ext) || X509_supported_extension(ext)) continue;
    if (!TolerableCriticalExtension(X509_EXTENSION_get_object(ext))) return 0;
  }
  X509_STORE_CTX_set_error(ctx, X509_V_OK);
  return 1;
}

std::string SubjectOf(X509* x) {
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(x), buf, sizeof buf);
  return buf;
}

}  // namespace

EkTrustStore::EkTrustStore()
    : store_(X509_STORE_new(), crypto::Free<&X509_STORE_free>{}),
      untrusted_(sk_X509_new_null(), crypto::X509StackFree{}) {}

Result<EkTrustStore> EkTrustStore::Load(const std::filesystem::path& dir,
                                        bool check_validity_period) {
  EkTrustStore ts;
  if (!ts.store_ || !ts.untrusted_) {
    return MakeError(errc::internal, "EK trust store: out of memory");
  }
  ts.check_time_ = check_validity_period;
  std::error_code ec;
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file()) continue;
    std::string ext = entry.path().extension().string();
    std::transform(ext.begin(), ext.end(), ext.begin(), ::tolower);
    if (ext == ".pem" || ext == ".crt" || ext == ".cer" || ext == ".der") {
      files.push_back(entry.path());
    }
  }
  if (ec) {
    return MakeError(errc::config_error,
                     "EK trust store: cannot list " + dir.string() + ": " + ec.message());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::vector<X509Ptr> certs;
    ATTEST_ASSIGN_OR_RETURN(certs, ReadCertFile(f));
    for (auto& c : certs) {
      if (SelfSigned(c.get())) {
        if (X509_STORE_add_cert(ts.store_.get(), c.get()) != 1) {
          // A duplicate root (same cert in two files) is harmless.
          ERR_clear_error();
          continue;
        }
        ++ts.roots_;
      } else {
        if (!sk_X509_push(ts.untrusted_.get(), c.get())) {
          return MakeError(errc::internal, "EK trust store: out of memory");
        }
        (void)c.release();
        ++ts.intermediates_;
      }
    }
  }
  return ts;
}

Result<void> EkTrustStore::Verify(std::span<const uint8_t> cert_der,
                                  std::span<const uint8_t> ek_public) const {
  if (cert_der.empty() || cert_der.size() > 16384) {
    return MakeError(errc::bad_request, "ek_cert: expected 1..16384 bytes of DER");
  }
  const unsigned char* p = cert_der.data();
  X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(cert_der.size())));
  if (!cert) {
    return MakeError(errc::bad_request, "ek_cert: not a DER X.509 certificate: " + OpenSslError());
  }
  if (p != cert_der.data() + cert_der.size()) {
    return MakeError(errc::bad_request, "ek_cert: trailing bytes after the DER certificate");
  }
  auto pub = tpm::ParsePublic(ek_public);
  if (!pub) return MakeError(errc::bad_request, "ek_public: " + pub.error().message);
  auto ek_key = tpm::PublicToEvpPkey(pub->publicArea);
  if (!ek_key) return MakeError(errc::bad_request, "ek_public: " + ek_key.error().message);
  EVP_PKEY* cert_key = X509_get0_pubkey(cert.get());
  if (!cert_key || !tpm::SamePublicKey(cert_key, ek_key->get())) {
    ERR_clear_error();
    return MakeError(errc::forbidden,
                     "ek_cert: the certificate's public key is not ek_public (subject " +
                         SubjectOf(cert.get()) + ")");
  }

  crypto::X509StoreCtxPtr ctx(X509_STORE_CTX_new());
  if (!ctx || X509_STORE_CTX_init(ctx.get(), store_.get(), cert.get(), untrusted_.get()) != 1) {
    return MakeError(errc::internal, "ek_cert: cannot set up verification: " + OpenSslError());
  }
  X509_VERIFY_PARAM* param = X509_STORE_CTX_get0_param(ctx.get());
  if (!check_time_) X509_VERIFY_PARAM_set_flags(param, X509_V_FLAG_NO_CHECK_TIME);
  X509_STORE_CTX_set_verify_cb(ctx.get(), VerifyCallback);
  int rc = X509_verify_cert(ctx.get());
  if (rc != 1) {
    int err = X509_STORE_CTX_get_error(ctx.get());
    int depth = X509_STORE_CTX_get_error_depth(ctx.get());
    X509* at = X509_STORE_CTX_get_current_cert(ctx.get());
    ERR_clear_error();
    return MakeError(errc::forbidden, std::string("ek_cert does not chain to a trusted EK CA: ") +
                                          X509_verify_cert_error_string(err) + " at depth " +
                                          std::to_string(depth) + " (" +
                                          (at ? SubjectOf(at) : SubjectOf(cert.get())) + ")");
  }
  return Ok();
}

}  // namespace attest::registrar
