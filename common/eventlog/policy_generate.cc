// A reference state from a known-good log.
#include <openssl/x509.h>

#include <algorithm>
#include <memory>

#include "common/crypto/ossl.h"
#include "common/eventlog/policy.h"
#include "common/eventlog/policy_events.h"

namespace attest::eventlog {
namespace {

using namespace policy_detail;

std::string CertSubject(const Bytes& der) {
  const unsigned char* p = der.data();
  crypto::X509Ptr cert(d2i_X509(nullptr, &p, static_cast<long>(der.size())));
  if (!cert) return "";
  char buf[256];
  X509_NAME_oneline(X509_get_subject_name(cert.get()), buf, sizeof buf);
  return buf;
}

void AddUnique(std::vector<RefEntry>& list, RefEntry e) {
  if (!Contains(list, e.value)) list.push_back(std::move(e));
}

}  // namespace

ReferenceState GenerateReferenceState(const EventLog& log) {
  ReferenceState ref;
  // sha256 when the log has it, else the first bank we can name in JSON.
  ref.digest_alg = alg::kSha256;
  if (std::none_of(log.spec.algorithms.begin(), log.spec.algorithms.end(),
                   [](const AlgorithmSize& a) { return a.alg_id == alg::kSha256; })) {
    for (const auto& a : log.spec.algorithms) {
      if (HashAlgSize(a.alg_id) != 0) {
        ref.digest_alg = a.alg_id;
        break;
      }
    }
  }
  ref.pk.emplace();
  ref.kek.emplace();
  ref.db.emplace();
  ref.dbx_required.emplace();
  ref.scrtm_versions.emplace();
  ref.firmware_blobs.emplace();
  ref.boot_applications.emplace();
  ref.kernel_cmdlines.emplace();
  const std::vector<bool> after = AfterSeparator(log);
  for (const Event& e : log.events) {
    const bool firmware_config = e.index < after.size() && !after[e.index];
    // The last measurement is the state at boot, as in CheckReferenceState.
    if (IsSecureBootVariable(e) && firmware_config) {
      ref.secureboot_required = e.variable->data == Bytes{1};
    }
    for (auto [var, list] : {std::pair{"PK", &ref.pk},
                             {"KEK", &ref.kek},
                             {"db", &ref.db},
                             {"dbx", &ref.dbx_required}}) {
      if (!IsKeyVariable(e, var) || !firmware_config || !e.variable->signature_lists) continue;
      for (const auto& sl : *e.variable->signature_lists) {
        for (const auto& sig : sl.signatures) {
          std::string note = sl.type == guid::kCertX509 ? CertSubject(sig.data) : std::string();
          AddUnique(**list, {SignatureDigest(sl, sig), note});
        }
      }
    }
    const Digest* d = e.DigestFor(ref.digest_alg);
    if (IsScrtmVersion(e) && e.text) AddUnique(*ref.scrtm_versions, {*e.text, ""});
    if (IsFirmwareCode(e) && d) {
      AddUnique(*ref.firmware_blobs,
                {ToHex(d->value), e.blob ? e.blob->description : EventTypeName(e.type)});
    }
    if (IsBootApplication(e) && d) {
      AddUnique(*ref.boot_applications,
                {ToHex(d->value), e.image ? e.image->device_path_text : ""});
    }
  }
  for (auto& c : AllCmdlineEvents(log)) AddUnique(*ref.kernel_cmdlines, {c.cmdline, ""});
  return ref;
}

}  // namespace attest::eventlog
