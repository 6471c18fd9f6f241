// Request decoding of the gateway, pure and separately fuzzed: content-type
// dispatch, Protobuf / JSON decoding, UUID canonicalization and the shape
// checks on Evidence and ChallengeRequest. Errors are gateway errc codes with
// their HTTP meaning (400 bad_request, 415 unsupported_media_type).
//
// The gateway does not parse TPM structures: it bounds sizes and counts so a
// worker never receives an absurd record, and leaves the meaning to the
// verifier.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "attest/v1/attestation.pb.h"
#include "common/base/result.h"

namespace google::protobuf {
class Message;
}

namespace attest::gateway {

enum class BodyFormat { kProtobuf, kJson };

inline constexpr std::string_view kProtobufType = "application/x-protobuf";
inline constexpr std::string_view kJsonType = "application/json";

// From a request's Content-Type (lower-cased, without parameters):
// application/x-protobuf (also application/protobuf) or application/json;
// anything else is unsupported_media_type.
Result<BodyFormat> FormatOf(std::string_view content_type);
// The answer's format: the Accept header when it names one of ours, else the
// request's.
BodyFormat ResponseFormat(std::string_view accept, BodyFormat request);
std::string_view ContentTypeOf(BodyFormat f);

// Parses `body` into `out` (JSON: Protobuf's JSON mapping, unknown fields
// ignored). An empty body is the empty message.
Result<void> DecodeBody(BodyFormat f, std::string_view body, google::protobuf::Message* out);
Result<std::string> EncodeBody(BodyFormat f, const google::protobuf::Message& m);

// The canonical (lower-case, 8-4-4-4-12 hex) form of a UUID, or bad_request.
Result<std::string> CanonicalUuid(std::string_view text);

struct ShapeLimits {
  size_t max_attest_bytes = 2048;     // TPMS_ATTEST
  size_t max_signature_bytes = 1024;  // TPMT_SIGNATURE (RSA-4096 is 518)
  size_t max_banks = 5;
  size_t max_list_items = 16;  // capabilities lists
  size_t max_version_chars = 256;
  uint64_t max_ima_entries = 10'000'000;
};

// Checks an Evidence against the path's canonical UUID: body UUID equal,
// token present, quote present and bounded, PCR banks distinct with
// in-range indexes and digest-sized values, IMA section consistent,
// timestamps valid. Canonicalizes evidence->agent_uuid in place.
Result<void> CheckEvidence(std::string_view path_uuid, v1::Evidence* evidence,
                           const ShapeLimits& limits = {});

// Same for a ChallengeRequest (an empty body UUID is allowed).
Result<void> CheckChallengeRequest(std::string_view path_uuid, v1::ChallengeRequest* request,
                                   const ShapeLimits& limits = {});

// Digest size of a hash algorithm, 0 for UNSPECIFIED or unknown values.
size_t DigestSize(int hash_algorithm);

}  // namespace attest::gateway
