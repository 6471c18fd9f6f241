// no_proxy lists: parsing and matching (see NoProxyMatches in no_proxy.h).
#include "common/httpclient/no_proxy.h"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstdint>
#include <cstring>

#include "common/httpclient/client.h"

namespace attest::httpclient {

std::string Lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

std::optional<int> ParsePort(std::string_view s) {
  int port = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), port);
  if (ec != std::errc() || end != s.data() + s.size() || port < 1 || port > 65535) {
    return std::nullopt;
  }
  return port;
}

namespace {

// One no_proxy entry, parsed (see NoProxyMatches in no_proxy.h).
struct NoProxyEntry {
  enum Kind { kAll, kName, kIpv4, kIpv6 } kind = kAll;
  std::string name;                // kName: lower case, no leading/trailing dot
  std::array<uint8_t, 16> addr{};  // kIpv4 (4 bytes), kIpv6 (16)
  int bits = 0;                    // prefix length of addr
  int port = 0;                    // 0: any port
};

// "a.b.c.d", "a.b.c.d/n", "v6", "v6/n" into `e`.
bool ParseAddress(std::string_view text, NoProxyEntry& e) {
  std::string_view addr = text;
  std::optional<int> bits;
  if (size_t slash = text.find('/'); slash != std::string_view::npos) {
    addr = text.substr(0, slash);
    std::string_view b = text.substr(slash + 1);
    int n = -1;
    auto [end, ec] = std::from_chars(b.data(), b.data() + b.size(), n);
    if (ec != std::errc() || end != b.data() + b.size() || b.empty()) return false;
    bits = n;
  }
  std::string a(addr);
  if (::inet_pton(AF_INET, a.c_str(), e.addr.data()) == 1) {
    e.kind = NoProxyEntry::kIpv4;
    e.bits = bits.value_or(32);
    return e.bits >= 0 && e.bits <= 32;
  }
  if (::inet_pton(AF_INET6, a.c_str(), e.addr.data()) == 1) {
    e.kind = NoProxyEntry::kIpv6;
    e.bits = bits.value_or(128);
    return e.bits >= 0 && e.bits <= 128;
  }
  return false;
}

bool IsName(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
  });
}

std::optional<NoProxyEntry> ParseNoProxyEntry(std::string_view t) {
  NoProxyEntry e;
  if (t == "*") return e;
  std::string_view host = t;
  if (t.front() == '[') {  // [v6] or [v6]:port
    size_t close = t.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    host = t.substr(1, close - 1);
    std::string_view rest = t.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return std::nullopt;
      auto port = ParsePort(rest.substr(1));
      if (!port) return std::nullopt;
      e.port = *port;
    }
    if (!ParseAddress(host, e) || e.kind != NoProxyEntry::kIpv6) return std::nullopt;
    return e;
  }
  // One colon: host:port. More: an IPv6 address (no port without brackets).
  size_t colon = t.find(':');
  if (colon != std::string_view::npos && t.find(':', colon + 1) == std::string_view::npos) {
    auto port = ParsePort(t.substr(colon + 1));
    if (!port) return std::nullopt;
    e.port = *port;
    host = t.substr(0, colon);
  }
  if (host.empty()) return std::nullopt;
  if (ParseAddress(host, e)) return e;
  if (host.find('/') != std::string_view::npos || host.find(':') != std::string_view::npos) {
    return std::nullopt;  // a malformed address or range
  }
  while (!host.empty() && host.front() == '.') host.remove_prefix(1);
  while (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (!IsName(host)) return std::nullopt;
  e.kind = NoProxyEntry::kName;
  e.name = Lower(host);
  return e;
}

// The entries of a list separated by commas and/or blanks.
std::vector<std::string_view> SplitNoProxy(std::string_view list) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < list.size()) {
    while (i < list.size() && (list[i] == ',' || list[i] == ' ' || list[i] == '\t')) ++i;
    size_t start = i;
    while (i < list.size() && list[i] != ',' && list[i] != ' ' && list[i] != '\t') ++i;
    if (i > start) out.push_back(list.substr(start, i - start));
  }
  return out;
}

bool PrefixMatches(const std::array<uint8_t, 16>& a, const std::array<uint8_t, 16>& b, int bits) {
  int full = bits / 8, rest = bits % 8;
  if (std::memcmp(a.data(), b.data(), static_cast<size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = static_cast<uint8_t>(0xff << (8 - rest));
  return (a[full] & mask) == (b[full] & mask);
}

}  // namespace

bool NoProxyMatches(std::string_view no_proxy, std::string_view host, int port) {
  NoProxyEntry h;
  const bool is_address =
      ParseAddress(host, h) && h.bits == (h.kind == NoProxyEntry::kIpv4 ? 32 : 128);
  std::string name = Lower(host);
  while (!name.empty() && name.back() == '.') name.pop_back();
  for (std::string_view t : SplitNoProxy(no_proxy)) {
    auto e = ParseNoProxyEntry(t);
    if (!e) continue;
    if (e->kind == NoProxyEntry::kAll) return true;
    if (e->port != 0 && e->port != port) continue;
    if (e->kind == NoProxyEntry::kName) {
      if (is_address) continue;
      if (name == e->name) return true;
      if (name.size() > e->name.size() && name.ends_with(e->name) &&
          name[name.size() - e->name.size() - 1] == '.') {
        return true;
      }
      continue;
    }
    if (is_address && e->kind == h.kind && PrefixMatches(e->addr, h.addr, e->bits)) return true;
  }
  return false;
}

Result<void> ValidateNoProxy(std::string_view no_proxy) {
  for (std::string_view t : SplitNoProxy(no_proxy)) {
    if (!ParseNoProxyEntry(t)) {
      return MakeError(errc::invalid_argument,
                       fmt::format("no_proxy entry '{}' is not '*', a host name, an IP address or "
                                   "a CIDR range (a name or an address may end in :port; an IPv6 "
                                   "address with a port goes in brackets)",
                                   t));
    }
  }
  return Ok();
}

}  // namespace attest::httpclient
