#include "common/base/listen_address.h"

#include <arpa/inet.h>

#include <charconv>

#include "common/base/errors.h"

namespace attest {
namespace {

Error Bad(std::string what) { return MakeError(base::errc::invalid_value, std::move(what)); }

std::string Quoted(std::string_view text) {
  // Enough to recognise the value in an error, bounded for hostile input.
  return "\"" + std::string(text.substr(0, 64)) + (text.size() > 64 ? "...\"" : "\"");
}

}  // namespace

std::string ListenAddress::ToString() const {
  const bool v6 = host.find(':') != std::string::npos;
  return (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

Result<std::string> ParseListenHost(std::string_view text) {
  if (text.empty()) return Bad("the host is empty (use 0.0.0.0 or :: for every address)");
  std::string host(text);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  // The server binds with an IP literal only (no name lookup at start-up).
  unsigned char buf[16];
  const bool v6 = host.find(':') != std::string::npos;
  if (inet_pton(v6 ? AF_INET6 : AF_INET, host.c_str(), buf) != 1) {
    return Bad("host " + Quoted(text) + " is not an IPv4 or IPv6 address");
  }
  return host;
}

Result<ListenAddress> ParseListenAddress(std::string_view text) {
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0) {
    return Bad(Quoted(text) + ": expected host:port, e.g. 0.0.0.0:8881 or [::]:8881");
  }
  std::string_view host_text = text.substr(0, colon);
  // An IPv6 host without brackets ("::1:80") is ambiguous: refuse it.
  if (host_text.find(':') != std::string_view::npos &&
      !(host_text.front() == '[' && host_text.back() == ']')) {
    return Bad(Quoted(text) + ": an IPv6 host goes in brackets, e.g. [::1]:8881");
  }
  ListenAddress out;
  ATTEST_ASSIGN_OR_RETURN(out.host, ParseListenHost(host_text));
  const std::string_view port_text = text.substr(colon + 1);
  uint32_t port = 0;
  auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (port_text.empty() || ec != std::errc() || end != port_text.data() + port_text.size() ||
      port > 65535) {
    return Bad(Quoted(text) + ": port must be 0..65535");
  }
  out.port = static_cast<uint16_t>(port);
  return out;
}

Result<ListenAddress> ListenAddressKey(const ConfigFile& f, std::string_view key,
                                       std::string_view fallback) {
  std::string text;
  ATTEST_ASSIGN_OR_RETURN(text, f.String(key, std::string(fallback)));
  auto address = ParseListenAddress(text);
  if (!address) return f.Invalid(key, address.error().message);
  return address;
}

}  // namespace attest
