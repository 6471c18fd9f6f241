// The gateway's request decoding as the routes run it: byte 0 picks the
// content type and the route, the rest is the body. Content-type dispatch ->
// Protobuf or JSON decoding -> shape checks -> token verification (and the
// response encoding of what was decoded). Also the PCR list parser of the
// configuration on the same bytes.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include <google/protobuf/stubs/logging.h>

#include "attest/v1/attestation.pb.h"
#include "common/token/token.h"
#include "ingest-gateway/config.h"
#include "ingest-gateway/decode.h"

namespace {

using namespace attest;

const token::KeySet& Keys() {
  static const token::KeySet keys =
      std::move(token::KeySet::FromSecrets({std::string(32, 'k'), std::string(32, 'p')})).value();
  return keys;
}

constexpr std::string_view kPathUuid = "0f8fad5b-d9cb-469f-a165-70867728950e";

}  // namespace

// libprotobuf logs every malformed UTF-8 string; the gateway sends those
// logs to debug, the fuzzer drops them (they only slow it down).
extern "C" int LLVMFuzzerInitialize(int*, char***) {
  google::protobuf::SetLogHandler(nullptr);
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  const uint8_t selector = data[0];
  std::string_view body(reinterpret_cast<const char*>(data + 1), size - 1);
  static constexpr std::string_view kTypes[] = {"application/x-protobuf", "application/json",
                                                "application/protobuf", "text/plain"};
  auto format = gateway::FormatOf(kTypes[selector & 3]);
  const auto now = std::chrono::system_clock::time_point(std::chrono::seconds(1'700'000'000));

  if (format) {
    if (selector & 4) {
      v1::ChallengeRequest req;
      if (gateway::DecodeBody(*format, body, &req).ok() &&
          gateway::CheckChallengeRequest(kPathUuid, &req).ok()) {
        (void)gateway::EncodeBody(gateway::BodyFormat::kJson, req);
      }
    } else {
      v1::Evidence e;
      if (gateway::DecodeBody(*format, body, &e).ok()) {
        auto uuid = gateway::CanonicalUuid(e.agent_uuid());
        if (gateway::CheckEvidence(uuid ? *uuid : std::string(kPathUuid), &e).ok()) {
          (void)token::Verify(Keys(), e.challenge_token(), e.agent_uuid(), now);
        }
        (void)gateway::EncodeBody(gateway::BodyFormat::kJson, e);
      }
    }
  }
  // Raw token parsing and verification on the body bytes themselves.
  (void)token::Parse(body);
  (void)token::Verify(Keys(), body, kPathUuid, now);
  (void)gateway::CanonicalUuid(body);
  if (body.size() < 256) (void)gateway::ParsePcrList(body);
  return 0;
}
