// The evidence request body the gateway benchmarks send: a protobuf Evidence
// of ~1.2 KB (quote-sized attest/signature, 9 SHA-256 PCRs, 4 IMA entries)
// answering a challenge token issued for `uuid` with `keys`' current key.
// The gateway keeps no per-challenge state, so one body can be sent again
// and again until the token expires (make token.ttl_seconds long).
#pragma once

#include <string>

#include "common/base/result.h"
#include "common/token/token.h"

namespace attest::bench {

Result<std::string> EvidenceBody(const token::KeySet& keys, const std::string& uuid);

}  // namespace attest::bench
