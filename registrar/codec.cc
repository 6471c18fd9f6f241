#include "registrar/codec.h"

#include <google/protobuf/util/json_util.h>

#include "common/base/uuid.h"
#include "registrar/errors.h"

namespace attest::registrar {

namespace pbu = google::protobuf::util;

Result<void> ParseBody(const http::Request& req, google::protobuf::Message* msg) {
  const std::string type = req.content_type();
  const std::string& body = req.body();
  if (type == kProtobufType) {
    // ParseFromString accepts unknown fields (kept as unknown); a body with
    // fields this server does not know is refused like in JSON.
    if (!msg->ParseFromString(body)) {
      return MakeError(errc::bad_request, "body is not a valid " + msg->GetTypeName());
    }
    const auto* refl = msg->GetReflection();
    if (!refl->GetUnknownFields(*msg).empty()) {
      return MakeError(errc::bad_request, "body has fields unknown to " + msg->GetTypeName());
    }
    return Ok();
  }
  if (type == kJsonType) {
    pbu::JsonParseOptions opts;
    opts.ignore_unknown_fields = false;
    auto st = pbu::JsonStringToMessage(body, msg, opts);
    if (!st.ok()) {
      return MakeError(errc::bad_request, "body is not a valid " + msg->GetTypeName() +
                                              " in JSON: " + std::string(st.message()));
    }
    return Ok();
  }
  return MakeError(errc::unsupported_media,
                   "content type \"" + type.substr(0, 100) +
                       "\" is not supported; use application/x-protobuf or application/json");
}

Encoding ResponseEncoding(const http::Request& req) {
  std::string_view accept = req.header("Accept");
  if (accept.find(kProtobufType) != std::string_view::npos) return Encoding::kProtobuf;
  if (accept.find(kJsonType) != std::string_view::npos) return Encoding::kJson;
  return req.content_type() == kProtobufType ? Encoding::kProtobuf : Encoding::kJson;
}

http::Response Encode(int status, const google::protobuf::Message& msg, Encoding enc) {
  if (enc == Encoding::kProtobuf) {
    return http::Response::Binary(status, std::string(kProtobufType), msg.SerializeAsString());
  }
  std::string out;
  pbu::JsonPrintOptions opts;
  opts.preserve_proto_field_names = false;
  auto st = pbu::MessageToJsonString(msg, &out, opts);
  if (!st.ok()) return http::Problem(500, "cannot encode the response");
  return http::Response::Json(status, std::move(out));
}

http::Response ProblemFor(const Error& e) {
  int status = HttpStatus(e);
  if (status >= 500) {
    http::Response r = http::Problem(
        status, status == 503 ? "a dependency is unavailable, retry later" : "internal error");
    r.reason = e.ToString();  // the log line gets the real cause
    if (status == 503) r.RetryAfter(std::chrono::seconds(5));
    return r;
  }
  return http::Problem(status, e.ToString());
}

Result<std::string> CanonicalUuid(std::string_view text) {
  auto uuid = ParseUuid(text);
  if (!uuid) return MakeError(errc::bad_request, uuid.error().message);
  return uuid;
}

}  // namespace attest::registrar
