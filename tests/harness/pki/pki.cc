#include "tests/harness/pki/pki.h"

#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdio>
#include <stdexcept>

namespace attest::testing {
namespace {

struct PkeyFree {
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct X509Free {
  void operator()(X509* p) const { X509_free(p); }
};
struct FileClose {
  void operator()(FILE* f) const { std::fclose(f); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using X509Ptr = std::unique_ptr<X509, X509Free>;

[[noreturn]] void Fail(const std::string& what) {
  unsigned long e = ERR_get_error();
  char buf[256] = {0};
  if (e != 0) ERR_error_string_n(e, buf, sizeof buf);
  throw std::runtime_error("TestPki: " + what + (e ? std::string(": ") + buf : ""));
}

PkeyPtr NewKey() {
  PkeyPtr key(EVP_EC_gen("P-256"));
  if (!key) Fail("EVP_EC_gen");
  return key;
}

void AddExt(X509* cert, X509* issuer, int nid, const std::string& value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, issuer, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str());
  if (!ext) Fail("extension " + value);
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
}

X509Ptr NewCert(EVP_PKEY* key, const std::string& cn, X509* issuer, EVP_PKEY* issuer_key,
                long serial) {
  X509Ptr cert(X509_new());
  if (!cert) Fail("X509_new");
  X509_set_version(cert.get(), 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert.get()), serial);
  X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert.get()), 60L * 60 * 24 * 365);
  X509_set_pubkey(cert.get(), key);
  X509_NAME* name = X509_get_subject_name(cert.get());
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("attest tests"), -1, -1, 0);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
  X509* iss = issuer ? issuer : cert.get();
  X509_set_issuer_name(cert.get(), X509_get_subject_name(iss));
  AddExt(cert.get(), iss, NID_subject_key_identifier, "hash");
  if (issuer) AddExt(cert.get(), iss, NID_authority_key_identifier, "keyid:always");
  (void)issuer_key;
  return cert;
}

void Sign(X509* cert, EVP_PKEY* key) {
  if (X509_sign(cert, key, EVP_sha256()) <= 0) Fail("X509_sign");
}

void WritePem(const std::filesystem::path& path, X509* cert, EVP_PKEY* key) {
  std::unique_ptr<FILE, FileClose> f(std::fopen(path.c_str(), "w"));
  if (!f) throw std::runtime_error("TestPki: cannot write " + path.string());
  bool ok = cert ? PEM_write_X509(f.get(), cert) == 1
                 : PEM_write_PrivateKey(f.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1;
  if (!ok) Fail("PEM write " + path.string());
}

}  // namespace

struct TestPki::Impl {
  PkeyPtr ca_key;
  X509Ptr ca_cert;
  long next_serial = 2;

  IssuedCert Issue(const std::filesystem::path& dir, const std::string& name, bool server,
                   const std::vector<std::string>& extra_dns) {
    PkeyPtr key = NewKey();
    X509Ptr cert = NewCert(key.get(), name, ca_cert.get(), ca_key.get(), next_serial++);
    AddExt(cert.get(), ca_cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    AddExt(cert.get(), ca_cert.get(), NID_key_usage, "critical,digitalSignature,keyEncipherment");
    if (server) {
      std::string san = "DNS:localhost,IP:127.0.0.1";
      for (const auto& d : extra_dns) san += ",DNS:" + d;
      AddExt(cert.get(), ca_cert.get(), NID_subject_alt_name, san);
      AddExt(cert.get(), ca_cert.get(), NID_ext_key_usage, "serverAuth");
    } else {
      AddExt(cert.get(), ca_cert.get(), NID_ext_key_usage, "clientAuth");
    }
    Sign(cert.get(), ca_key.get());
    IssuedCert out{dir / (name + ".pem"), dir / (name + ".key")};
    WritePem(out.cert, cert.get(), nullptr);
    WritePem(out.key, nullptr, key.get());
    return out;
  }
};

TestPki::TestPki(std::filesystem::path dir, const std::string& ca_name,
                 const std::string& ca_common_name)
    : dir_(std::move(dir)), impl_(std::make_unique<Impl>()) {
  std::filesystem::create_directories(dir_);
  impl_->ca_key = NewKey();
  impl_->ca_cert = NewCert(impl_->ca_key.get(), ca_common_name, nullptr, nullptr, 1);
  AddExt(impl_->ca_cert.get(), impl_->ca_cert.get(), NID_basic_constraints, "critical,CA:TRUE");
  AddExt(impl_->ca_cert.get(), impl_->ca_cert.get(), NID_key_usage, "critical,keyCertSign,cRLSign");
  Sign(impl_->ca_cert.get(), impl_->ca_key.get());
  ca_ = {dir_ / (ca_name + ".pem"), dir_ / (ca_name + ".key")};
  WritePem(ca_.cert, impl_->ca_cert.get(), nullptr);
  WritePem(ca_.key, nullptr, impl_->ca_key.get());
}

TestPki::~TestPki() = default;

IssuedCert TestPki::IssueServer(const std::string& name,
                                const std::vector<std::string>& extra_dns) {
  return impl_->Issue(dir_, name, true, extra_dns);
}

IssuedCert TestPki::IssueClient(const std::string& name) {
  return impl_->Issue(dir_, name, false, {});
}

}  // namespace attest::testing
