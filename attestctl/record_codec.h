// Decoding of the records the workers publish on attestation.verdicts and
// attestation.revocations, shared by `attestctl revocation verify` and
// `attestctl verdicts tail` so both read the two encodings the same way.
//
// A record is Protobuf (content-type application/x-protobuf) or Protobuf's
// JSON mapping (application/json). With no or an unknown content type, a
// value whose first non-blank byte is '{' is taken as JSON.
//
// Thread-safety: pure functions.
#pragma once

#include <google/protobuf/util/json_util.h>

#include <string>
#include <string_view>

#include "attest/v1/verdict.pb.h"
#include "common/base/errors.h"
#include "common/base/result.h"

namespace attest::ctl {

// Far above what a worker publishes; bounds the parser's work on bad input.
inline constexpr size_t kMaxRecordBytes = 16u << 20;

enum class Encoding { kProtobuf, kJson };

inline Encoding DetectEncoding(std::string_view data, std::string_view content_type) {
  // Parameters (";charset=utf-8") do not change the encoding.
  const std::string_view type = content_type.substr(0, content_type.find(';'));
  if (type == "application/json") return Encoding::kJson;
  if (type == "application/x-protobuf" || type == "application/protobuf") {
    return Encoding::kProtobuf;
  }
  const size_t first = data.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && data[first] == '{' ? Encoding::kJson
                                                               : Encoding::kProtobuf;
}

// Parses `data` into `msg` in the detected encoding. Unknown JSON fields are
// ignored (a newer worker may add fields); `what` names the message type in
// the error.
template <typename Message>
Result<Message> DecodeRecord(std::string_view data, std::string_view content_type,
                             std::string_view what) {
  Message msg;
  if (data.size() > kMaxRecordBytes) {
    return MakeError(base::errc::invalid_value,
                     std::string(what) + " record larger than " + std::to_string(kMaxRecordBytes));
  }
  if (DetectEncoding(data, content_type) == Encoding::kJson) {
    google::protobuf::util::JsonParseOptions opts;
    opts.ignore_unknown_fields = true;
    auto st = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(data.data(), data.size()), &msg, opts);
    if (!st.ok()) {
      return MakeError(base::errc::parse_error,
                       "not a " + std::string(what) + " (JSON): " + st.ToString());
    }
  } else if (!msg.ParseFromArray(data.data(), static_cast<int>(data.size()))) {
    return MakeError(base::errc::parse_error, "not a " + std::string(what) + " (protobuf)");
  }
  return msg;
}

inline Result<v1::Verdict> DecodeVerdict(std::string_view data, std::string_view content_type) {
  return DecodeRecord<v1::Verdict>(data, content_type, "Verdict");
}

struct DecodedRevocation {
  v1::SignedRevocation signed_event;
  v1::RevocationEvent event;  // parsed from signed_event.event()
};

inline Result<DecodedRevocation> DecodeRevocation(std::string_view data,
                                                  std::string_view content_type) {
  DecodedRevocation out;
  ATTEST_ASSIGN_OR_RETURN(
      out.signed_event, DecodeRecord<v1::SignedRevocation>(data, content_type, "SignedRevocation"));
  if (!out.event.ParseFromString(out.signed_event.event())) {
    return MakeError(base::errc::parse_error, "the event is not a RevocationEvent");
  }
  return out;
}

}  // namespace attest::ctl
