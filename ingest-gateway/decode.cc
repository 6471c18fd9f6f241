#include "ingest-gateway/decode.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <limits>

#include "common/base/uuid.h"
#include "ingest-gateway/errors.h"

namespace attest::gateway {
namespace {

Error Bad(std::string message) { return MakeError(errc::bad_request, std::move(message)); }

// A shape error as the gateway answers it: 400 with the module's message.
Result<void> AsBadRequest(Result<void> r) {
  if (!r) return Bad(r.error().message);
  return Ok();
}

// The body's agent_uuid, canonical in place, must be the path's.
Result<void> CanonicalizeBodyUuid(std::string_view path_uuid, std::string* body_uuid) {
  auto uuid = ParseUuid(*body_uuid);
  if (!uuid) return Bad("agent_uuid: " + uuid.error().message);
  if (*uuid != path_uuid) {
    return Bad(
        fmt::format("agent_uuid {} in the body differs from {} in the path", *uuid, path_uuid));
  }
  *body_uuid = std::move(uuid).value();
  return Ok();
}

}  // namespace

Result<BodyFormat> FormatOf(std::string_view content_type) {
  if (content_type == kProtobufType || content_type == "application/protobuf") {
    return BodyFormat::kProtobuf;
  }
  if (content_type == kJsonType) return BodyFormat::kJson;
  std::string shown(content_type.substr(0, 100));
  return MakeError(errc::unsupported_media_type,
                   fmt::format("content type '{}' is not application/x-protobuf or "
                               "application/json",
                               shown.empty() ? "(none)" : shown));
}

BodyFormat ResponseFormat(std::string_view accept, BodyFormat request) {
  bool proto = accept.find("application/x-protobuf") != std::string_view::npos;
  bool json = accept.find("application/json") != std::string_view::npos;
  if (proto && !json) return BodyFormat::kProtobuf;
  if (json && !proto) return BodyFormat::kJson;
  return request;
}

std::string_view ContentTypeOf(BodyFormat f) {
  return f == BodyFormat::kJson ? kJsonType : kProtobufType;
}

Result<void> DecodeBody(BodyFormat f, std::string_view body, google::protobuf::Message* out) {
  if (body.empty()) return Ok();
  if (f == BodyFormat::kProtobuf) {
    if (body.size() > static_cast<size_t>(std::numeric_limits<int>::max()) ||
        !out->ParseFromArray(body.data(), static_cast<int>(body.size()))) {
      return Bad(fmt::format("body is not a valid {} (protobuf)", out->GetTypeName()));
    }
    return Ok();
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(body.data(), body.size()), out, options);
  if (!status.ok()) {
    std::string why(status.message().substr(0, 200));
    return Bad(fmt::format("body is not a valid {} (JSON): {}", out->GetTypeName(), why));
  }
  return Ok();
}

Result<std::string> EncodeBody(BodyFormat f, const google::protobuf::Message& m) {
  std::string out;
  if (f == BodyFormat::kProtobuf) {
    if (!m.SerializeToString(&out)) {
      return MakeError(errc::internal, "cannot serialize " + m.GetTypeName());
    }
    return out;
  }
  auto status = google::protobuf::util::MessageToJsonString(m, &out);
  if (!status.ok()) {
    return MakeError(errc::internal, "cannot encode " + m.GetTypeName() +
                                         " as JSON: " + std::string(status.message()));
  }
  return out;
}

Result<std::string> CanonicalUuid(std::string_view text) {
  auto uuid = ParseUuid(text);
  if (!uuid) return Bad(uuid.error().message);
  return uuid;
}

Result<void> CheckEvidence(std::string_view path_uuid, v1::Evidence* e, const ShapeLimits& limits) {
  ATTEST_RETURN_IF_ERROR(CanonicalizeBodyUuid(path_uuid, e->mutable_agent_uuid()));
  return AsBadRequest(evidence::CheckShape(*e, limits));
}

Result<void> CheckChallengeRequest(std::string_view path_uuid, v1::ChallengeRequest* request,
                                   const ShapeLimits& limits) {
  if (!request->agent_uuid().empty()) {
    ATTEST_RETURN_IF_ERROR(CanonicalizeBodyUuid(path_uuid, request->mutable_agent_uuid()));
  }
  if (request->has_capabilities()) {
    return AsBadRequest(evidence::CheckCapabilities(request->capabilities(), limits));
  }
  return Ok();
}

}  // namespace attest::gateway
