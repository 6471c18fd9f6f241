// no_proxy lists as the HTTP client reads them: which hosts bypass the
// proxy. Pure functions of their arguments (no environment, no DNS), safe to
// call from any thread.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/base/result.h"

namespace attest::httpclient {

// Whether `host` (a name, an IPv4 address or an IPv6 address without
// brackets) and `port` match a no_proxy list: entries separated by commas
// and/or blanks; "*" matches every host; a name matches itself and its
// subdomains, case-insensitively, with leading and trailing dots ignored
// (".example.com" and "example.com" both match "a.example.com"); an IP
// address matches the same address or a CIDR range ("10.0.0.0/8",
// "fd00::/8"); names are never resolved, so "localhost" does not match
// "127.0.0.1". An entry may end in ":port" ("gw.example.com:8881",
// "10.0.0.5:8881", "[fd00::5]:8881"), then only that port matches (libcurl
// 7.88 itself ignores such entries). Malformed entries match nothing.
bool NoProxyMatches(std::string_view no_proxy, std::string_view host, int port);
// The first malformed entry of a no_proxy list, as an error
// (errc::invalid_argument) naming it.
Result<void> ValidateNoProxy(std::string_view no_proxy);

// Shared with the base-URL parsing of client.cc.
// ASCII lower case.
std::string Lower(std::string_view s);
// A decimal port 1..65535 and nothing else, or nullopt.
std::optional<int> ParsePort(std::string_view s);

}  // namespace attest::httpclient
