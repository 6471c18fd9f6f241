#include "tools/simtpm/sim_ima.h"

#include <openssl/sha.h>

#include "common/ima/log.h"
#include "common/ima/policy.h"
#include "common/tpm/errors.h"

namespace attest::simtpm {

Result<ImaPool> ImaPool::Create(size_t size) {
  if (size < 1 || size > 100'000) {
    return MakeError(tpm::errc::unsupported, "simtpm: IMA pool size must be 1..100000");
  }
  ImaPool pool;
  ima::Log log;
  log.template_hash_alg = ima::HashAlg::kSha1;
  ima::Hasher h;
  for (size_t i = 0; i < size; ++i) {
    const std::string path = "/usr/bin/attest-bench-" + std::to_string(i);
    uint8_t digest[32];
    SHA256(reinterpret_cast<const uint8_t*>(path.data()), path.size(), digest);
    auto e = ima::MakeEntry(ima::Template::kImaNg, "sha256", digest, path);
    if (!e) return e.error();
    e->template_hash = ima::ComputeTemplateHash(h, ima::HashAlg::kSha1, *e);
    std::array<uint8_t, 32> ext{};
    SHA256(reinterpret_cast<const uint8_t*>(e->data.data()), e->data.size(), ext.data());
    pool.extend_.push_back(ext);
    ima::Log one;
    one.template_hash_alg = log.template_hash_alg;
    one.entries.push_back(*e);
    pool.lines_.push_back(ima::WriteAscii(one));
    log.entries.push_back(std::move(*e));
  }
  pool.policy_ = ima::GeneratePolicy(log).ToJson();
  return pool;
}

std::string ImaPool::AsciiRange(uint64_t from, uint64_t to) const {
  std::string out;
  if (to <= from) return out;
  out.reserve(static_cast<size_t>(to - from) * 100);
  for (uint64_t i = from; i < to; ++i) out += lines_[i % lines_.size()];
  return out;
}

void ImaPool::Extend(std::array<uint8_t, 32>& pcr10, uint64_t from, uint64_t to) const {
  uint8_t buf[64];
  for (uint64_t i = from; i < to; ++i) {
    std::copy(pcr10.begin(), pcr10.end(), buf);
    const auto& d = extend_[i % extend_.size()];
    std::copy(d.begin(), d.end(), buf + 32);
    SHA256(buf, sizeof buf, pcr10.data());
  }
}

}  // namespace attest::simtpm
