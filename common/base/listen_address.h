// A service's listen address: an IP literal and a port, as the listen keys of
// the services' configuration files give them ("0.0.0.0:8881", "[::1]:9464",
// or, for the registrar, a host key and a port key apart). Parsed strictly at
// configuration time so a typo is exit code 2 with the key's name, never a
// bind failure or an exception later.
//
// Thread-safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/base/config.h"
#include "common/base/result.h"

namespace attest {

struct ListenAddress {
  std::string host;   // an IPv4 or IPv6 literal, without brackets ("::1")
  uint16_t port = 0;  // 0: any free port (tests)

  // "host:port", IPv6 hosts in brackets: "[::1]:9464".
  std::string ToString() const;
};

// An IPv4 or IPv6 literal; "[::1]" is accepted and returned as "::1". Errors
// (base::errc::invalid_value) say what is wrong, without a key name.
Result<std::string> ParseListenHost(std::string_view text);

// "host:port" with an IPv6 host in brackets ("[::]:8881"); port 0..65535.
Result<ListenAddress> ParseListenAddress(std::string_view text);

// The string key `key` of `f` parsed as "host:port" (ParseListenAddress);
// errors are f.Invalid(key, ...), so they name the file and the key.
Result<ListenAddress> ListenAddressKey(const ConfigFile& f, std::string_view key,
                                       std::string_view fallback);

}  // namespace attest
