#include "ingest-gateway/decode.h"

#include <fmt/format.h>
#include <google/protobuf/util/json_util.h>

#include <limits>
#include <set>

#include "ingest-gateway/errors.h"

namespace attest::gateway {
namespace {

Error Bad(std::string message) { return MakeError(errc::bad_request, std::move(message)); }

// google.protobuf.Timestamp's valid range (0001-01-01 .. 9999-12-31).
bool ValidTimestamp(const google::protobuf::Timestamp& t) {
  return t.seconds() >= -62135596800 && t.seconds() <= 253402300799 && t.nanos() >= 0 &&
         t.nanos() <= 999'999'999;
}

Result<void> CheckCapabilities(const v1::AgentCapabilities& c, const ShapeLimits& limits) {
  if (static_cast<size_t>(c.hash_algorithms_size()) > limits.max_list_items ||
      static_cast<size_t>(c.signature_schemes_size()) > limits.max_list_items) {
    return Bad(fmt::format("capabilities: more than {} hash algorithms or signature schemes",
                           limits.max_list_items));
  }
  if (c.agent_version().size() > limits.max_version_chars) {
    return Bad(fmt::format("capabilities: agent_version longer than {} characters",
                           limits.max_version_chars));
  }
  if (c.has_boot_time() && !ValidTimestamp(c.boot_time())) {
    return Bad("capabilities: boot_time out of range");
  }
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
  auto bad = [&] {
    std::string shown(text.substr(0, 64));
    for (char& c : shown) {
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) c = '?';
    }
    return Bad(fmt::format("'{}' is not a UUID (8-4-4-4-12 hex digits)", shown));
  };
  if (text.size() != 36) return bad();
  std::string out(text);
  for (size_t i = 0; i < out.size(); ++i) {
    char& c = out[i];
    if (i == 8 || i == 13 || i == 18 || i == 23) {
      if (c != '-') return bad();
      continue;
    }
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return bad();
  }
  return out;
}

size_t DigestSize(int hash_algorithm) {
  switch (hash_algorithm) {
    case v1::HASH_ALGORITHM_SHA1:
      return 20;
    case v1::HASH_ALGORITHM_SHA256:
      return 32;
    case v1::HASH_ALGORITHM_SHA384:
      return 48;
    case v1::HASH_ALGORITHM_SHA512:
      return 64;
    case v1::HASH_ALGORITHM_SM3_256:
      return 32;
    default:
      return 0;
  }
}

Result<void> CheckEvidence(std::string_view path_uuid, v1::Evidence* e, const ShapeLimits& limits) {
  auto uuid = CanonicalUuid(e->agent_uuid());
  if (!uuid) return Bad("agent_uuid: " + uuid.error().message);
  if (*uuid != path_uuid) {
    return Bad(
        fmt::format("agent_uuid {} in the body differs from {} in the path", *uuid, path_uuid));
  }
  e->set_agent_uuid(*uuid);
  if (e->challenge_token().empty()) return Bad("challenge_token is missing");
  if (!e->has_quote()) return Bad("quote is missing");
  const v1::Quote& q = e->quote();
  if (q.attest().empty() || q.attest().size() > limits.max_attest_bytes) {
    return Bad(fmt::format("quote.attest: {} bytes, expected 1..{}", q.attest().size(),
                           limits.max_attest_bytes));
  }
  if (q.signature().empty() || q.signature().size() > limits.max_signature_bytes) {
    return Bad(fmt::format("quote.signature: {} bytes, expected 1..{}", q.signature().size(),
                           limits.max_signature_bytes));
  }
  if (q.pcrs_size() == 0 || static_cast<size_t>(q.pcrs_size()) > limits.max_banks) {
    return Bad(
        fmt::format("quote.pcrs: {} banks, expected 1..{}", q.pcrs_size(), limits.max_banks));
  }
  std::set<int> banks;
  for (const auto& bank : q.pcrs()) {
    size_t digest = DigestSize(bank.hash_algorithm());
    if (digest == 0) {
      return Bad(fmt::format("quote.pcrs: unsupported hash algorithm {}", bank.hash_algorithm()));
    }
    if (!banks.insert(bank.hash_algorithm()).second) {
      return Bad(fmt::format("quote.pcrs: bank {} given twice", bank.hash_algorithm()));
    }
    if (bank.values().empty()) return Bad("quote.pcrs: a bank without values");
    for (const auto& [index, value] : bank.values()) {
      if (index > 23) return Bad(fmt::format("quote.pcrs: PCR index {} out of 0..23", index));
      if (value.size() != digest) {
        return Bad(fmt::format("quote.pcrs: PCR {} of bank {} has {} bytes, expected {}", index,
                               bank.hash_algorithm(), value.size(), digest));
      }
    }
  }
  if (e->has_ima()) {
    const v1::ImaEntries& ima = e->ima();
    if (ima.entry_count() > limits.max_ima_entries) {
      return Bad(
          fmt::format("ima.entry_count {} above {}", ima.entry_count(), limits.max_ima_entries));
    }
    if (ima.start_offset() > std::numeric_limits<uint64_t>::max() - ima.entry_count()) {
      return Bad("ima: start_offset + entry_count overflows");
    }
    if (ima.entry_count() > 0 && ima.data().empty()) {
      return Bad("ima: entry_count > 0 without data");
    }
    if (!ima.data().empty() && ima.format() != v1::IMA_LOG_FORMAT_ASCII &&
        ima.format() != v1::IMA_LOG_FORMAT_BINARY) {
      return Bad("ima.format must be ASCII or BINARY when data is sent");
    }
    if (ima.template_hash_algorithm() != v1::HASH_ALGORITHM_UNSPECIFIED &&
        DigestSize(ima.template_hash_algorithm()) == 0) {
      return Bad("ima.template_hash_algorithm is not a supported algorithm");
    }
  }
  if (e->has_boot_time() && !ValidTimestamp(e->boot_time())) {
    return Bad("boot_time out of range");
  }
  if (e->has_capabilities()) {
    if (auto r = CheckCapabilities(e->capabilities(), limits); !r) return r;
  }
  return Ok();
}

Result<void> CheckChallengeRequest(std::string_view path_uuid, v1::ChallengeRequest* request,
                                   const ShapeLimits& limits) {
  if (!request->agent_uuid().empty()) {
    auto uuid = CanonicalUuid(request->agent_uuid());
    if (!uuid) return Bad("agent_uuid: " + uuid.error().message);
    if (*uuid != path_uuid) {
      return Bad(
          fmt::format("agent_uuid {} in the body differs from {} in the path", *uuid, path_uuid));
    }
    request->set_agent_uuid(*uuid);
  }
  if (request->has_capabilities()) return CheckCapabilities(request->capabilities(), limits);
  return Ok();
}

}  // namespace attest::gateway
