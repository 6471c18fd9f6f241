#include "verifier-workers/revocation.h"

#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/time_util.h>
#include <openssl/bio.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>

#include <cctype>
#include <fstream>
#include <sstream>
#include <vector>

#include "verifier-workers/errors.h"

namespace attest::worker {
namespace {

using crypto::OpenSslError;

// "ecdsa-p256-sha256", "ed25519", or empty for unsupported keys.
std::string AlgorithmOf(EVP_PKEY* key) {
  if (EVP_PKEY_is_a(key, "ED25519")) return "ed25519";
  if (EVP_PKEY_is_a(key, "EC")) {
    char group[64] = {0};
    size_t len = 0;
    if (EVP_PKEY_get_utf8_string_param(key, "group", group, sizeof group, &len) == 1 &&
        (std::string_view(group) == "prime256v1" || std::string_view(group) == "P-256")) {
      return "ecdsa-p256-sha256";
    }
  }
  return "";
}

crypto::BioPtr MemBio(std::string_view pem) {
  if (pem.size() > (1u << 20)) return nullptr;
  return crypto::BioPtr(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

}  // namespace

std::string RevocationSignedMessage(std::string_view event_bytes) {
  std::string m(kRevocationContext);
  m.append(event_bytes);
  return m;
}

std::string VerdictSignedMessage(std::string_view value) {
  std::string m(kVerdictContext);
  m.append(value);
  return m;
}

Result<std::shared_ptr<const RevocationSigner>> RevocationSigner::Load(const std::string& path,
                                                                       std::string key_id) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return MakeError(errc::crypto, "revocation key " + path + ": cannot open");
  std::stringstream ss;
  ss << in.rdbuf();
  auto r = FromPem(ss.str(), std::move(key_id));
  if (!r) return MakeError(errc::crypto, "revocation key " + path + ": " + r.error().message);
  return r;
}

Result<std::shared_ptr<const RevocationSigner>> RevocationSigner::FromPem(std::string_view pem,
                                                                          std::string key_id) {
  auto bio = MemBio(pem);
  if (!bio) return MakeError(errc::crypto, "PEM too large or unreadable");
  PkeyPtr key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
  if (!key) return MakeError(errc::crypto, "not a PEM private key: " + OpenSslError());
  std::string alg = AlgorithmOf(key.get());
  if (alg.empty()) return MakeError(errc::crypto, "key type must be ECDSA P-256 or Ed25519");
  return std::shared_ptr<const RevocationSigner>(
      new RevocationSigner(std::move(key), std::move(alg), std::move(key_id)));
}

Result<std::string> RevocationSigner::SignBytes(std::string_view data_in) const {
  crypto::MdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = algorithm_ == "ed25519" ? nullptr : EVP_sha256();
  if (!ctx || EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, key_.get()) != 1) {
    return MakeError(errc::crypto, "sign init: " + OpenSslError());
  }
  const auto* data = reinterpret_cast<const unsigned char*>(data_in.data());
  size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, data_in.size()) != 1) {
    return MakeError(errc::crypto, "sign: " + OpenSslError());
  }
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data,
                     data_in.size()) != 1) {
    return MakeError(errc::crypto, "sign: " + OpenSslError());
  }
  sig.resize(len);
  return sig;
}

Result<v1::SignedRevocation> RevocationSigner::Sign(const v1::RevocationEvent& event) const {
  // The key id and algorithm go inside the signed bytes: the envelope's
  // copies are unsigned lookup hints.
  v1::RevocationEvent signed_event = event;
  signed_event.set_key_id(key_id_);
  signed_event.set_signature_algorithm(algorithm_);
  v1::SignedRevocation out;
  if (!signed_event.SerializeToString(out.mutable_event())) {
    return MakeError(errc::crypto, "revocation: cannot serialize the event");
  }
  auto sig = SignBytes(RevocationSignedMessage(out.event()));
  if (!sig) return MakeError(errc::crypto, "revocation: " + sig.error().message);
  out.set_signature(std::move(*sig));
  out.set_signature_algorithm(algorithm_);
  out.set_key_id(key_id_);
  return out;
}

Result<v1::SignedVerdict> RevocationSigner::SignVerdict(std::string value,
                                                        std::string content_type) const {
  auto sig = SignBytes(VerdictSignedMessage(value));
  if (!sig) return MakeError(errc::crypto, "verdict: " + sig.error().message);
  v1::SignedVerdict out;
  out.set_verdict(std::move(value));
  out.set_content_type(std::move(content_type));
  out.set_signature_algorithm(algorithm_);
  out.set_key_id(key_id_);
  out.set_signature(std::move(*sig));
  return out;
}

Result<PkeyPtr> LoadPublicKeyPem(std::string_view pem) {
  auto bio = MemBio(pem);
  if (!bio) return MakeError(errc::bad_input, "PEM too large or unreadable");
  PkeyPtr key(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    ERR_clear_error();
    auto bio2 = MemBio(pem);
    key.reset(PEM_read_bio_PrivateKey(bio2.get(), nullptr, nullptr, nullptr));
  }
  if (!key) return MakeError(errc::bad_input, "not a PEM public key: " + OpenSslError());
  if (AlgorithmOf(key.get()).empty()) {
    return MakeError(errc::bad_input, "key type must be ECDSA P-256 or Ed25519");
  }
  return key;
}

Result<void> VerifySignature(std::string_view claimed, std::string_view signature,
                             std::string_view data, EVP_PKEY* key) {
  const std::string alg = AlgorithmOf(key);
  if (alg.empty()) return MakeError(errc::crypto, "unsupported key type");
  if (claimed != alg) {
    return MakeError(errc::crypto, "signature algorithm '" + std::string(claimed) +
                                       "' does not match the key (" + alg + ")");
  }
  if (signature.empty() || signature.size() > 1024) {
    return MakeError(errc::crypto, "signature missing or too long");
  }
  crypto::MdCtxPtr ctx(EVP_MD_CTX_new());
  const EVP_MD* md = alg == "ed25519" ? nullptr : EVP_sha256();
  if (!ctx || EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key) != 1) {
    return MakeError(errc::crypto, "verify init: " + OpenSslError());
  }
  int ok = EVP_DigestVerify(ctx.get(), reinterpret_cast<const unsigned char*>(signature.data()),
                            signature.size(), reinterpret_cast<const unsigned char*>(data.data()),
                            data.size());
  ERR_clear_error();
  if (ok != 1) return MakeError(errc::crypto, "signature does not verify");
  return Ok();
}

Result<void> VerifyRevocation(const v1::SignedRevocation& s, EVP_PKEY* key) {
  auto sig = VerifySignature(s.signature_algorithm(), s.signature(),
                             RevocationSignedMessage(s.event()), key);
  if (!sig) return sig;
  v1::RevocationEvent ev;
  if (!ev.ParseFromString(s.event())) {
    return MakeError(errc::crypto, "the signed event is not a RevocationEvent");
  }
  if (ev.key_id().empty()) return MakeError(errc::crypto, "the signed event names no key id");
  if (ev.key_id() != s.key_id()) {
    return MakeError(errc::crypto, "the signed event names another key id than the envelope");
  }
  if (ev.signature_algorithm() != s.signature_algorithm()) {
    return MakeError(errc::crypto,
                     "the signed event names another signature algorithm than the envelope");
  }
  return Ok();
}

Result<v1::Verdict> VerifyVerdict(const SignedVerdictRecord& r, EVP_PKEY* key) {
  if (r.signature.empty() && r.algorithm.empty() && r.key_id.empty()) {
    return MakeError(errc::crypto, "the verdict is not signed (no attest-sig header)");
  }
  auto sig = VerifySignature(r.algorithm, r.signature, VerdictSignedMessage(r.value), key);
  if (!sig) return sig.error();
  // Decoded only once authentic; the encoding as record_codec.h detects it.
  v1::Verdict v;
  const std::string_view type = r.content_type.substr(0, r.content_type.find(';'));
  const size_t first = r.value.find_first_not_of(" \t\r\n");
  const bool json = type == "application/json" ||
                    (type != "application/x-protobuf" && type != "application/protobuf" &&
                     first != std::string_view::npos && r.value[first] == '{');
  if (json) {
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    if (!google::protobuf::util::JsonStringToMessage(
             google::protobuf::StringPiece(r.value.data(), r.value.size()), &v, opts)
             .ok()) {
      return MakeError(errc::crypto, "the signed value is not a Verdict (JSON)");
    }
  } else if (r.value.size() > (1u << 30) ||
             !v.ParseFromArray(r.value.data(), static_cast<int>(r.value.size()))) {
    return MakeError(errc::crypto, "the signed value is not a Verdict (protobuf)");
  }
  if (v.signer_key_id().empty()) return MakeError(errc::crypto, "the verdict names no key id");
  if (v.signer_key_id() != r.key_id) {
    return MakeError(errc::crypto, "the verdict names another key id than its header");
  }
  return v;
}

std::string Base64Encode(std::string_view data) {
  std::string out(4 * ((data.size() + 2) / 3) + 1, '\0');
  const int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(data.data()),
                                static_cast<int>(data.size()));
  out.resize(n < 0 ? 0 : static_cast<size_t>(n));
  return out;
}

Result<std::string> Base64Decode(std::string_view text) {
  if (text.size() % 4 != 0 || text.size() > (1u << 20)) {
    return MakeError(errc::bad_input, "not base64 (length)");
  }
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    const bool pad =
        c == '=' && i + 2 >= text.size() && (i + 1 == text.size() || text[i + 1] == '=');
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '+' || c == '/' || pad)) {
      return MakeError(errc::bad_input, "not base64");
    }
  }
  std::string out(text.size() / 4 * 3, '\0');
  const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                reinterpret_cast<const unsigned char*>(text.data()),
                                static_cast<int>(text.size()));
  if (n < 0) return MakeError(errc::bad_input, "not base64");
  // EVP_DecodeBlock counts the padding as zero bytes.
  size_t len = static_cast<size_t>(n);
  if (!text.empty() && text.back() == '=') --len;
  if (text.size() >= 2 && text[text.size() - 2] == '=') --len;
  out.resize(len);
  return out;
}

RevocationMark MarkOf(const v1::RevocationEvent& e) {
  return RevocationMark{google::protobuf::util::TimeUtil::TimestampToMicroseconds(e.time()),
                        e.sequence()};
}

bool IsReplay(const v1::RevocationEvent& event, const RevocationMark& last) {
  const RevocationMark m = MarkOf(event);
  if (m.time_micros != last.time_micros) return m.time_micros < last.time_micros;
  return m.sequence <= last.sequence;
}

}  // namespace attest::worker
