#include "agent/endpoints.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <numeric>

namespace attest::agent {

httpclient::ClientOptions ClientOptionsFor(const AgentConfig& c, const ServerAddress& addr) {
  httpclient::ClientOptions o;
  o.base_url = addr.Url();
  o.ca_file = c.tls.ca_file;
  o.pinned_public_key = c.tls.pinned_public_key;
  o.client_cert_file = c.tls.client_cert;
  o.client_key_file = c.tls.client_key;
  // Empty config keys leave the environment (HTTPS_PROXY / NO_PROXY) in charge.
  if (!c.tls.proxy.empty()) o.proxy = c.tls.proxy;
  if (!c.tls.no_proxy.empty()) o.no_proxy = c.tls.no_proxy;
  o.connect_timeout = std::chrono::milliseconds(c.connect_timeout_ms);
  o.total_timeout = std::chrono::milliseconds(c.request_timeout_ms);
  return o;
}

Endpoints::Endpoints(std::vector<ServerAddress> addresses, const AgentConfig& config,
                     std::mt19937_64* rng)
    : addresses_(std::move(addresses)), config_(&config), rng_(rng) {
  clients_.resize(addresses_.size());
  if (!addresses_.empty()) {
    current_ = std::uniform_int_distribution<size_t>(0, addresses_.size() - 1)(*rng_);
  }
}

std::string Endpoints::current_url() const {
  return addresses_.empty() ? std::string() : addresses_[current_].Url();
}

void Endpoints::Rotate() {
  if (addresses_.size() < 2) return;
  size_t next = std::uniform_int_distribution<size_t>(0, addresses_.size() - 2)(*rng_);
  current_ = next >= current_ ? next + 1 : next;
}

Result<httpclient::Client*> Endpoints::ClientFor(size_t i) {
  if (!clients_[i]) {
    auto c = httpclient::Client::Create(ClientOptionsFor(*config_, addresses_[i]));
    if (!c) return c.error();
    clients_[i] = std::make_unique<httpclient::Client>(std::move(c).value());
  }
  return clients_[i].get();
}

Result<httpclient::Response> Endpoints::Post(std::string_view path, std::string_view content_type,
                                             std::string_view body) {
  if (addresses_.empty()) {
    return MakeError(httpclient::errc::invalid_argument, "no address configured for this role");
  }
  // Current address first, then the others in random order.
  std::vector<size_t> order(addresses_.size());
  std::iota(order.begin(), order.end(), size_t{0});
  std::swap(order[0], order[current_]);
  std::shuffle(order.begin() + 1, order.end(), *rng_);
  Error last;
  for (size_t i : order) {
    auto client = ClientFor(i);
    if (!client) return client.error();
    auto r = (*client)->Post(path, content_type, body);
    if (r.ok()) {
      current_ = i;
      return r;
    }
    if (!httpclient::IsConnectionFailure(r.error())) return r.error();
    spdlog::warn("{}{}: {}; trying another address of the block", addresses_[i].Url(), path,
                 r.error().message);
    last = r.error();
  }
  return last;
}

}  // namespace attest::agent
