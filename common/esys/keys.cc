#include "common/esys/keys.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <string>

#include "common/esys/errors.h"

namespace attest::esys {
namespace {

namespace fs = std::filesystem;

// PolicySecret(TPM_RH_ENDORSEMENT) with SHA-256: the authPolicy of the TCG
// default EK templates.
constexpr uint8_t kEkPolicy[32] = {0x83, 0x71, 0x97, 0x67, 0x44, 0x84, 0xB3, 0xF8, 0x1A, 0x90, 0xCC,
                                   0x8D, 0x46, 0xA5, 0xD7, 0x24, 0xFD, 0x52, 0xD7, 0x6E, 0x06, 0x52,
                                   0x0B, 0x64, 0xF2, 0xA1, 0xDA, 0x1B, 0x33, 0x14, 0x69, 0xAA};

constexpr char kAkMagic[4] = {'A', 'A', 'K', '1'};
constexpr size_t kMaxAkFile = 4096;

// TPM_RC_HANDLE (format 1, any handle number) from the TPM itself: the
// handle (e.g. an NV index) does not exist.
bool IsTpmHandleError(TSS2_RC rc) {
  return (rc & TSS2_RC_LAYER_MASK) == TSS2_TPM_RC_LAYER && (rc & TPM2_RC_FMT1) != 0 &&
         (rc & 0x3F) == (TPM2_RC_HANDLE & 0x3F);
}

// Fills public_bytes and name of a key whose handle and public area are set.
Result<void> Describe(const EsysContext& ctx, Key& key) {
  auto bytes = Marshal(key.public_area, Tss2_MU_TPM2B_PUBLIC_Marshal);
  if (!bytes) return bytes.error();
  key.public_bytes = std::move(bytes).value();
  TPM2B_NAME* name_raw = nullptr;
  TSS2_RC rc = Esys_TR_GetName(ctx.get(), key.handle.get(), &name_raw);
  EsysPtr<TPM2B_NAME> name(name_raw);
  if (rc != TSS2_RC_SUCCESS) return TssError(rc, "Esys_TR_GetName");
  key.name.assign(name->name, name->name + name->size);
  return Ok();
}

// The template fields of a public area (unique cleared), for comparisons.
Result<Bytes> TemplateBytes(TPM2B_PUBLIC pub) {
  pub.size = 0;
  pub.publicArea.unique = TPMU_PUBLIC_ID{};
  return Marshal(pub, Tss2_MU_TPM2B_PUBLIC_Marshal);
}

Result<Bytes> ReadSmallFile(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(errc::io_error, "cannot open AK file " + path.string());
  Bytes data(kMaxAkFile + 1);
  in.read(reinterpret_cast<char*>(data.data()), static_cast<std::streamsize>(data.size()));
  data.resize(static_cast<size_t>(in.gcount()));
  if (data.size() > kMaxAkFile) {
    return MakeError(errc::io_error, "AK file " + path.string() + " is too large");
  }
  return data;
}

// Writes via a 0600 temp file + fsync + rename, so a crash never leaves a
// truncated AK file behind and the private blob is never world-readable.
Result<void> WritePrivateFile(const fs::path& path, const Bytes& data) {
  fs::path tmp = path;
  tmp += ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    return MakeError(errc::io_error, "cannot create " + tmp.string() + ": " + std::strerror(errno));
  }
  ::fchmod(fd, 0600);  // in case the file existed with other permissions
  size_t done = 0;
  while (done < data.size()) {
    ssize_t n = ::write(fd, data.data() + done, data.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int err = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return MakeError(errc::io_error, "cannot write " + tmp.string() + ": " + std::strerror(err));
    }
    done += static_cast<size_t>(n);
  }
  bool synced = ::fsync(fd) == 0;
  ::close(fd);
  if (!synced || ::rename(tmp.c_str(), path.c_str()) != 0) {
    int err = errno;
    ::unlink(tmp.c_str());
    return MakeError(errc::io_error, "cannot save " + path.string() + ": " + std::strerror(err));
  }
  return Ok();
}

Result<Key> LoadAk(const EsysContext& ctx, const Key& ek, const TPM2B_PUBLIC& pub,
                   const TPM2B_PRIVATE& priv) {
  auto session = StartEkPolicySession(ctx);
  if (!session) return session.error();
  ESYS_TR handle = ESYS_TR_NONE;
  TSS2_RC rc = Esys_Load(ctx.get(), ek.handle.get(), session->get(), ESYS_TR_NONE, ESYS_TR_NONE,
                         &priv, &pub, &handle);
  if (rc != TSS2_RC_SUCCESS) return TssError(rc, "TPM2_Load of the AK under the EK");
  Key key{FlushGuard(ctx.get(), handle), pub, {}, {}};
  if (auto d = Describe(ctx, key); !d) return d.error();
  return key;
}

}  // namespace

TPM2B_PUBLIC EkTemplate(KeyType type) {
  TPM2B_PUBLIC t{};
  TPMT_PUBLIC& p = t.publicArea;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_ADMINWITHPOLICY |
                       TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_DECRYPT;
  p.authPolicy.size = sizeof kEkPolicy;
  std::memcpy(p.authPolicy.buffer, kEkPolicy, sizeof kEkPolicy);
  if (type == KeyType::kRsa2048) {
    p.type = TPM2_ALG_RSA;
    p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_AES;
    p.parameters.rsaDetail.symmetric.keyBits.aes = 128;
    p.parameters.rsaDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p.parameters.rsaDetail.scheme.scheme = TPM2_ALG_NULL;
    p.parameters.rsaDetail.keyBits = 2048;
    p.parameters.rsaDetail.exponent = 0;
    p.unique.rsa.size = 256;  // 256 zero bytes, as the profile specifies
  } else {
    p.type = TPM2_ALG_ECC;
    p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_AES;
    p.parameters.eccDetail.symmetric.keyBits.aes = 128;
    p.parameters.eccDetail.symmetric.mode.aes = TPM2_ALG_CFB;
    p.parameters.eccDetail.scheme.scheme = TPM2_ALG_NULL;
    p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
    p.unique.ecc.x.size = 32;  // 32 zero bytes each
    p.unique.ecc.y.size = 32;
  }
  return t;
}

TPM2_HANDLE EkCertNvIndex(KeyType type) {
  return type == KeyType::kRsa2048 ? 0x01c00002 : 0x01c0000a;
}

Result<FlushGuard> StartEkPolicySession(const EsysContext& ctx) {
  TPMT_SYM_DEF sym{};
  sym.algorithm = TPM2_ALG_NULL;
  ESYS_TR session = ESYS_TR_NONE;
  TSS2_RC rc =
      Esys_StartAuthSession(ctx.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                            ESYS_TR_NONE, nullptr, TPM2_SE_POLICY, &sym, TPM2_ALG_SHA256, &session);
  if (rc != TSS2_RC_SUCCESS) return TssError(rc, "TPM2_StartAuthSession (EK policy)");
  FlushGuard guard(ctx.get(), session);
  TPM2B_TIMEOUT* timeout = nullptr;
  TPMT_TK_AUTH* ticket = nullptr;
  rc = Esys_PolicySecret(ctx.get(), ESYS_TR_RH_ENDORSEMENT, session, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, nullptr, nullptr, nullptr, 0, &timeout, &ticket);
  EsysPtr<TPM2B_TIMEOUT> timeout_owner(timeout);
  EsysPtr<TPMT_TK_AUTH> ticket_owner(ticket);
  if (rc != TSS2_RC_SUCCESS) return TssError(rc, "TPM2_PolicySecret(TPM_RH_ENDORSEMENT)");
  return guard;
}

Result<Key> CreateEk(const EsysContext& ctx, KeyType type) {
  TPM2B_PUBLIC in_public = EkTemplate(type);
  TPM2B_SENSITIVE_CREATE in_sensitive{};
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcr{};
  ESYS_TR handle = ESYS_TR_NONE;
  TPM2B_PUBLIC* out_public = nullptr;
  TPM2B_CREATION_DATA* creation_data = nullptr;
  TPM2B_DIGEST* creation_hash = nullptr;
  TPMT_TK_CREATION* creation_ticket = nullptr;
  TSS2_RC rc =
      Esys_CreatePrimary(ctx.get(), ESYS_TR_RH_ENDORSEMENT, ESYS_TR_PASSWORD, ESYS_TR_NONE,
                         ESYS_TR_NONE, &in_sensitive, &in_public, &outside, &creation_pcr, &handle,
                         &out_public, &creation_data, &creation_hash, &creation_ticket);
  EsysPtr<TPM2B_PUBLIC> pub(out_public);
  EsysPtr<TPM2B_CREATION_DATA> cd(creation_data);
  EsysPtr<TPM2B_DIGEST> ch(creation_hash);
  EsysPtr<TPMT_TK_CREATION> ct(creation_ticket);
  if (rc != TSS2_RC_SUCCESS) return TssError(rc, "TPM2_CreatePrimary (EK)");
  Key key{FlushGuard(ctx.get(), handle), *pub, {}, {}};
  if (auto d = Describe(ctx, key); !d) return d.error();
  return key;
}

Result<Bytes> ReadEkCertificate(const EsysContext& ctx, KeyType type) {
  const TPM2_HANDLE index = EkCertNvIndex(type);
  ESYS_TR nv = ESYS_TR_NONE;
  TSS2_RC rc =
      Esys_TR_FromTPMPublic(ctx.get(), index, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv);
  if (rc != TSS2_RC_SUCCESS) {
    if (IsTpmHandleError(rc)) {
      char hex[16];
      std::snprintf(hex, sizeof hex, "0x%08x", index);
      return MakeError(errc::not_found, std::string("no EK certificate in NV index ") + hex);
    }
    return TssError(rc, "reading the public area of the EK certificate NV index");
  }
  // NV handles are closed (forgotten by ESAPI), not flushed.
  struct Closer {
    ESYS_CONTEXT* c;
    ESYS_TR* h;
    ~Closer() { Esys_TR_Close(c, h); }
  } closer{ctx.get(), &nv};

  TPM2B_NV_PUBLIC* nv_public_raw = nullptr;
  TPM2B_NAME* nv_name_raw = nullptr;
  rc = Esys_NV_ReadPublic(ctx.get(), nv, ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE, &nv_public_raw,
                          &nv_name_raw);
  EsysPtr<TPM2B_NV_PUBLIC> nv_public(nv_public_raw);
  EsysPtr<TPM2B_NAME> nv_name(nv_name_raw);
  if (rc != TSS2_RC_SUCCESS) return TssError(rc, "TPM2_NV_ReadPublic (EK certificate)");
  const uint16_t total = nv_public->nvPublic.dataSize;

  // Read in chunks no larger than the TPM's NV buffer.
  uint16_t chunk = 512;
  TPMI_YES_NO more = 0;
  TPMS_CAPABILITY_DATA* cap_raw = nullptr;
  rc = Esys_GetCapability(ctx.get(), ESYS_TR_NONE, ESYS_TR_NONE, ESYS_TR_NONE,
                          TPM2_CAP_TPM_PROPERTIES, TPM2_PT_NV_BUFFER_MAX, 1, &more, &cap_raw);
  EsysPtr<TPMS_CAPABILITY_DATA> cap(cap_raw);
  if (rc == TSS2_RC_SUCCESS && cap->data.tpmProperties.count == 1 &&
      cap->data.tpmProperties.tpmProperty[0].property == TPM2_PT_NV_BUFFER_MAX) {
    uint32_t v = cap->data.tpmProperties.tpmProperty[0].value;
    chunk = static_cast<uint16_t>(std::clamp<uint32_t>(v, 64, TPM2_MAX_NV_BUFFER_SIZE));
  }

  Bytes cert;
  cert.reserve(total);
  while (cert.size() < total) {
    uint16_t n = static_cast<uint16_t>(std::min<size_t>(chunk, total - cert.size()));
    TPM2B_MAX_NV_BUFFER* data_raw = nullptr;
    // The EK certificate index is readable with its own (empty) auth.
    rc = Esys_NV_Read(ctx.get(), nv, nv, ESYS_TR_PASSWORD, ESYS_TR_NONE, ESYS_TR_NONE, n,
                      static_cast<uint16_t>(cert.size()), &data_raw);
    EsysPtr<TPM2B_MAX_NV_BUFFER> data(data_raw);
    if (rc != TSS2_RC_SUCCESS) return TssError(rc, "TPM2_NV_Read (EK certificate)");
    if (data->size == 0 || data->size > n) {
      return MakeError(errc::mismatch, "TPM2_NV_Read returned an unexpected size");
    }
    cert.insert(cert.end(), data->buffer, data->buffer + data->size);
  }
  // Some TPMs pad the index: keep exactly the DER SEQUENCE (30 82 hi lo ...).
  if (cert.size() >= 4 && cert[0] == 0x30 && cert[1] == 0x82) {
    size_t der_len = 4 + ((size_t{cert[2]} << 8) | cert[3]);
    if (der_len <= cert.size()) cert.resize(der_len);
  }
  return cert;
}

Result<TPM2B_PUBLIC> AkTemplate(KeyType type, SigScheme scheme) {
  TPM2B_PUBLIC t{};
  TPMT_PUBLIC& p = t.publicArea;
  p.nameAlg = TPM2_ALG_SHA256;
  p.objectAttributes = TPMA_OBJECT_FIXEDTPM | TPMA_OBJECT_FIXEDPARENT |
                       TPMA_OBJECT_SENSITIVEDATAORIGIN | TPMA_OBJECT_USERWITHAUTH |
                       TPMA_OBJECT_RESTRICTED | TPMA_OBJECT_SIGN_ENCRYPT;
  if (type == KeyType::kRsa2048) {
    if (scheme != SigScheme::kRsaSsa && scheme != SigScheme::kRsaPss) {
      return MakeError(errc::invalid_argument, "an RSA AK signs with RSASSA or RSAPSS");
    }
    p.type = TPM2_ALG_RSA;
    p.parameters.rsaDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p.parameters.rsaDetail.scheme.scheme =
        scheme == SigScheme::kRsaSsa ? TPM2_ALG_RSASSA : TPM2_ALG_RSAPSS;
    p.parameters.rsaDetail.scheme.details.anySig.hashAlg = TPM2_ALG_SHA256;
    p.parameters.rsaDetail.keyBits = 2048;
    p.parameters.rsaDetail.exponent = 0;
  } else {
    if (scheme != SigScheme::kEcdsa) {
      return MakeError(errc::invalid_argument, "an ECC AK signs with ECDSA");
    }
    p.type = TPM2_ALG_ECC;
    p.parameters.eccDetail.symmetric.algorithm = TPM2_ALG_NULL;
    p.parameters.eccDetail.scheme.scheme = TPM2_ALG_ECDSA;
    p.parameters.eccDetail.scheme.details.ecdsa.hashAlg = TPM2_ALG_SHA256;
    p.parameters.eccDetail.curveID = TPM2_ECC_NIST_P256;
    p.parameters.eccDetail.kdf.scheme = TPM2_ALG_NULL;
  }
  return t;
}

Result<Key> LoadOrCreateAk(const EsysContext& ctx, const Key& ek, const fs::path& path,
                           KeyType type, SigScheme scheme) {
  auto tmpl = AkTemplate(type, scheme);
  if (!tmpl) return tmpl.error();
  auto want = TemplateBytes(*tmpl);
  if (!want) return want.error();

  std::error_code ec;
  if (fs::exists(path, ec)) {
    auto data = ReadSmallFile(path);
    if (!data) return data.error();
    if (data->size() < sizeof kAkMagic || std::memcmp(data->data(), kAkMagic, 4) != 0) {
      return MakeError(errc::marshal_error, "AK file " + path.string() + " has no AK header");
    }
    TPM2B_PUBLIC pub{};
    TPM2B_PRIVATE priv{};
    size_t off = sizeof kAkMagic;
    TSS2_RC rc = Tss2_MU_TPM2B_PUBLIC_Unmarshal(data->data(), data->size(), &off, &pub);
    if (rc == TSS2_RC_SUCCESS) {
      rc = Tss2_MU_TPM2B_PRIVATE_Unmarshal(data->data(), data->size(), &off, &priv);
    }
    if (rc != TSS2_RC_SUCCESS || off != data->size()) {
      return MakeError(errc::marshal_error, "AK file " + path.string() + " is corrupt");
    }
    auto have = TemplateBytes(pub);
    if (!have) return have.error();
    if (*have != *want) {
      return MakeError(errc::mismatch, "AK file " + path.string() +
                                           " holds an AK of another type or scheme than "
                                           "configured; refusing to replace the identity");
    }
    return LoadAk(ctx, ek, pub, priv);
  }

  auto session = StartEkPolicySession(ctx);
  if (!session) return session.error();
  TPM2B_SENSITIVE_CREATE in_sensitive{};
  TPM2B_DATA outside{};
  TPML_PCR_SELECTION creation_pcr{};
  TPM2B_PRIVATE* out_private = nullptr;
  TPM2B_PUBLIC* out_public = nullptr;
  TPM2B_CREATION_DATA* creation_data = nullptr;
  TPM2B_DIGEST* creation_hash = nullptr;
  TPMT_TK_CREATION* creation_ticket = nullptr;
  TSS2_RC rc = Esys_Create(ctx.get(), ek.handle.get(), session->get(), ESYS_TR_NONE, ESYS_TR_NONE,
                           &in_sensitive, &*tmpl, &outside, &creation_pcr, &out_private,
                           &out_public, &creation_data, &creation_hash, &creation_ticket);
  EsysPtr<TPM2B_PRIVATE> priv(out_private);
  EsysPtr<TPM2B_PUBLIC> pub(out_public);
  EsysPtr<TPM2B_CREATION_DATA> cd(creation_data);
  EsysPtr<TPM2B_DIGEST> ch(creation_hash);
  EsysPtr<TPMT_TK_CREATION> ct(creation_ticket);
  if (rc != TSS2_RC_SUCCESS) return TssError(rc, "TPM2_Create (AK under the EK)");
  session->Flush();

  auto pub_bytes = Marshal(*pub, Tss2_MU_TPM2B_PUBLIC_Marshal);
  if (!pub_bytes) return pub_bytes.error();
  auto priv_bytes = Marshal(*priv, Tss2_MU_TPM2B_PRIVATE_Marshal);
  if (!priv_bytes) return priv_bytes.error();
  Bytes file(kAkMagic, kAkMagic + sizeof kAkMagic);
  file.insert(file.end(), pub_bytes->begin(), pub_bytes->end());
  file.insert(file.end(), priv_bytes->begin(), priv_bytes->end());
  if (auto w = WritePrivateFile(path, file); !w) return w.error();
  return LoadAk(ctx, ek, *pub, *priv);
}

}  // namespace attest::esys
