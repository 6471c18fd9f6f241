// Request decoding of the gateway, pure and separately fuzzed: content-type
// dispatch, Protobuf / JSON decoding, and the checks on Evidence and
// ChallengeRequest: the path UUID against the body's (common/base/uuid.h) and
// the shape the workers agree to (common/evidence/evidence.h). Errors are
// gateway errc codes with their HTTP meaning (400 bad_request, 415
// unsupported_media_type); the evidence module's code of a shape error is
// kept in the message only.
//
// Thread-safety: pure functions.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "attest/v1/attestation.pb.h"
#include "common/base/result.h"
#include "common/evidence/evidence.h"

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

// The canonical form of a UUID (common/base/uuid.h: either case in,
// lower case out), or bad_request.
Result<std::string> CanonicalUuid(std::string_view text);

// The shape limits: the evidence module's (evidence::Limits; defaults for a
// 2 MiB body), IMA and UEFI log bounded by server.max_body_bytes.
using ShapeLimits = evidence::Limits;

// Checks an Evidence against the path's canonical UUID: body UUID equal
// (either case), then evidence::CheckShape. Canonicalizes
// evidence->agent_uuid in place.
Result<void> CheckEvidence(std::string_view path_uuid, v1::Evidence* evidence,
                           const ShapeLimits& limits = {});

// Same for a ChallengeRequest (an empty body UUID is allowed; capabilities
// as evidence::CheckCapabilities).
Result<void> CheckChallengeRequest(std::string_view path_uuid, v1::ChallengeRequest* request,
                                   const ShapeLimits& limits = {});

}  // namespace attest::gateway
