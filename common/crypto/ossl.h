// OpenSSL 3 handles owned by RAII, and the one translation of OpenSSL's
// error queue into text, for every module that calls libcrypto.
//
//   crypto::PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
//   if (!key) return MakeError(errc::x, "not a PEM public key: " + crypto::OpenSslError());
//
// Thread-safety: the aliases are plain unique_ptrs. OpenSslError() reads and
// empties the calling thread's error queue (OpenSSL keeps one per thread).
#pragma once

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/params.h>
#include <openssl/x509.h>
#include <openssl/x509_vfy.h>

#include <memory>
#include <string>

namespace attest::crypto {

// Calls FreeFn (an OpenSSL *_free function; its result, if any, is ignored).
template <auto FreeFn>
struct Free {
  template <typename T>
  void operator()(T* p) const {
    FreeFn(p);
  }
};

using BioPtr = std::unique_ptr<BIO, Free<&BIO_free>>;
using BnPtr = std::unique_ptr<BIGNUM, Free<&BN_free>>;
using CipherCtxPtr = std::unique_ptr<EVP_CIPHER_CTX, Free<&EVP_CIPHER_CTX_free>>;
using EcdsaSigPtr = std::unique_ptr<ECDSA_SIG, Free<&ECDSA_SIG_free>>;
using MacPtr = std::unique_ptr<EVP_MAC, Free<&EVP_MAC_free>>;
using MacCtxPtr = std::unique_ptr<EVP_MAC_CTX, Free<&EVP_MAC_CTX_free>>;
using MdPtr = std::unique_ptr<EVP_MD, Free<&EVP_MD_free>>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, Free<&EVP_MD_CTX_free>>;
using ParamBldPtr = std::unique_ptr<OSSL_PARAM_BLD, Free<&OSSL_PARAM_BLD_free>>;
using ParamPtr = std::unique_ptr<OSSL_PARAM, Free<&OSSL_PARAM_free>>;
using PkeyPtr = std::unique_ptr<EVP_PKEY, Free<&EVP_PKEY_free>>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, Free<&EVP_PKEY_CTX_free>>;
using X509Ptr = std::unique_ptr<X509, Free<&X509_free>>;
using X509StorePtr = std::unique_ptr<X509_STORE, Free<&X509_STORE_free>>;
using X509StoreCtxPtr = std::unique_ptr<X509_STORE_CTX, Free<&X509_STORE_CTX_free>>;

// A STACK_OF(X509) that owns its certificates (sk_X509_pop_free is a macro).
struct X509StackFree {
  void operator()(STACK_OF(X509) * s) const { sk_X509_pop_free(s, X509_free); }
};
using X509StackPtr = std::unique_ptr<STACK_OF(X509), X509StackFree>;

// The calling thread's OpenSSL error queue as text, oldest first, "; "
// between entries ("unknown OpenSSL error" when it is empty), and the queue
// emptied, so a stale entry never shows up in an unrelated later message.
inline std::string OpenSslError() {
  std::string out;
  while (unsigned long e = ERR_get_error()) {
    char buf[256];
    ERR_error_string_n(e, buf, sizeof buf);
    if (!out.empty()) out += "; ";
    out += buf;
  }
  return out.empty() ? "unknown OpenSSL error" : out;
}

}  // namespace attest::crypto
