#include "agent/server_address.h"

#include <arpa/inet.h>

#include <cctype>
#include <charconv>

#include "common/base/errors.h"

namespace attest::agent {
namespace {

// The address as written, for an error, without what may be a password:
// everything from the scheme to the last '@' ("user:secret@host").
std::string Shown(std::string_view text) {
  size_t start = text.find("://");
  start = start == std::string_view::npos ? 0 : start + 3;
  const size_t at = text.rfind('@');
  if (at == std::string_view::npos || at < start) return std::string(text);
  return std::string(text.substr(0, start)) + "***@" + std::string(text.substr(at + 1));
}

Error Bad(std::string_view text, std::string_view why) {
  return MakeError(base::errc::invalid_value,
                   "address \"" + Shown(text) + "\": " + std::string(why));
}

bool ValidHostChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
         c == '.' || c == '_';
}

}  // namespace

std::string ServerAddress::Url() const {
  bool v6 = host.find(':') != std::string::npos;
  return scheme + "://" + (v6 ? "[" + host + "]" : host) + ":" + std::to_string(port);
}

std::string ServerAddress::Endpoint() const {
  std::string h = host;
  if (h.find(':') != std::string::npos) {
    in6_addr a{};
    char buf[INET6_ADDRSTRLEN] = {0};
    if (inet_pton(AF_INET6, h.c_str(), &a) == 1) {
      // An IPv4-mapped address ("::ffff:10.0.0.5") reaches the IPv4 server.
      if (IN6_IS_ADDR_V4MAPPED(&a) && inet_ntop(AF_INET, &a.s6_addr[12], buf, sizeof buf)) {
        return std::string(buf) + ":" + std::to_string(port);
      }
      if (inet_ntop(AF_INET6, &a, buf, sizeof buf)) h = buf;
    }
    return "[" + h + "]:" + std::to_string(port);
  }
  if (!h.empty() && h.back() == '.') h.pop_back();
  // libcurl reads the numeric forms inet_aton knows ("127.1", "0x7f.0.0.1",
  // "0177.0.0.1", "2130706433") as the IPv4 address they encode: compare
  // that address. Host names are not resolved ("localhost" is a name).
  in_addr v4{};
  char buf[INET_ADDRSTRLEN] = {0};
  if (inet_aton(h.c_str(), &v4) != 0 && inet_ntop(AF_INET, &v4, buf, sizeof buf)) h = buf;
  return h + ":" + std::to_string(port);
}

Result<ServerAddress> ParseServerAddress(std::string_view text, uint16_t default_port) {
  if (text.find('@') != std::string_view::npos) {
    return Bad(text, "user information (user:password@) is not supported in a server address");
  }
  ServerAddress out;
  std::string_view rest = text;
  if (auto pos = rest.find("://"); pos != std::string_view::npos) {
    out.scheme = std::string(rest.substr(0, pos));
    if (out.scheme != "https" && out.scheme != "http") {
      return Bad(text, "scheme must be https or http");
    }
    rest.remove_prefix(pos + 3);
  } else {
    out.scheme = "https";
  }
  if (!rest.empty() && rest.back() == '/') rest.remove_suffix(1);
  if (rest.find('/') != std::string_view::npos) return Bad(text, "a path is not allowed");

  std::string_view port_text;
  if (!rest.empty() && rest.front() == '[') {
    auto close = rest.find(']');
    if (close == std::string_view::npos) return Bad(text, "unterminated '[' in IPv6 address");
    out.host = std::string(rest.substr(1, close - 1));
    std::string_view after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') return Bad(text, "expected ':' after ']'");
      port_text = after.substr(1);
      if (port_text.empty()) return Bad(text, "empty port");
    }
    for (char& c : out.host) {
      if (!(std::isxdigit(static_cast<unsigned char>(c)) || c == ':' || c == '.')) {
        return Bad(text, "invalid IPv6 address");
      }
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  } else {
    auto colon = rest.rfind(':');
    if (colon != std::string_view::npos) {
      port_text = rest.substr(colon + 1);
      rest = rest.substr(0, colon);
      if (port_text.empty()) return Bad(text, "empty port");
    }
    out.host = std::string(rest);
    for (char& c : out.host) {
      if (!ValidHostChar(c)) return Bad(text, "invalid character in host name");
      c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (out.host.empty()) return Bad(text, "empty host");

  if (port_text.empty()) {
    out.port = default_port;
  } else {
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), value);
    if (ec != std::errc() || ptr != port_text.data() + port_text.size() || value == 0 ||
        value > 65535) {
      return Bad(text, "port must be a number in [1, 65535]");
    }
    out.port = static_cast<uint16_t>(value);
  }
  return out;
}

}  // namespace attest::agent
