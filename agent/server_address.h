// Backend addresses of the agent's [[servers]] blocks:
// "[scheme://]host[:port]" with scheme http or https (default https) and a
// per-role default port (registrar 8891, gateway 8881). IPv6 literals are
// written in brackets ("[::1]:8881"). Host names are kept lower-case (DNS
// and certificate names are case-insensitive).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/base/result.h"

namespace attest::agent {

inline constexpr uint16_t kDefaultRegistrarPort = 8891;
inline constexpr uint16_t kDefaultGatewayPort = 8881;

struct ServerAddress {
  std::string scheme;  // "https" or "http"
  std::string host;    // without brackets
  uint16_t port = 0;

  // "https://host:port" (brackets around IPv6 hosts), the base URL for libcurl.
  std::string Url() const;
  // "host:port" normalised for comparing servers: the host without a
  // trailing dot, an IPv6 literal in its canonical form ("[::1]:8881" for
  // "[0:0::1]"), an IPv4 address in dotted decimal whatever form libcurl
  // reads it in ("127.1", "[::ffff:127.0.0.1]"), the default port filled
  // in; the scheme left out (one port is one server whatever the scheme).
  // Names are not resolved.
  std::string Endpoint() const;
  bool operator==(const ServerAddress&) const = default;
};

Result<ServerAddress> ParseServerAddress(std::string_view text, uint16_t default_port);

}  // namespace attest::agent
