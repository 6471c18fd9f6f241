// Request/response bodies of the registrar (docs/api.md): Protobuf
// (application/x-protobuf) or Protobuf's JSON mapping (application/json).
// JSON parsing is strict: unknown fields are a 400, like any malformed body.
// The answer uses the Accept header when it names one of the two types,
// else the request's content type, else JSON (GET without body).
//
// Thread-safety: pure functions.
#pragma once

#include <google/protobuf/message.h>

#include <string>
#include <string_view>

#include "common/base/result.h"
#include "common/http/message.h"

namespace attest::registrar {

inline constexpr std::string_view kProtobufType = "application/x-protobuf";
inline constexpr std::string_view kJsonType = "application/json";

enum class Encoding { kProtobuf, kJson };

// Parses the request body into `msg`: 415 for another content type, 400 for
// a body that is not the message (errors of errc).
Result<void> ParseBody(const http::Request& req, google::protobuf::Message* msg);

// The encoding the response should use.
Encoding ResponseEncoding(const http::Request& req);

// 200-class response with `msg` encoded as `enc`.
http::Response Encode(int status, const google::protobuf::Message& msg, Encoding enc);

// The problem response for an error (status from HttpStatus()); 5xx details
// are replaced by a generic text so internals do not leak (the log has them).
http::Response ProblemFor(const Error& e);

// The canonical form of a UUID (common/base/uuid.h: either case in, lower
// case out) or errc::bad_request.
Result<std::string> CanonicalUuid(std::string_view text);

}  // namespace attest::registrar
