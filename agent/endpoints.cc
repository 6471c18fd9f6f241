#include "agent/endpoints.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <optional>

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
  failed_.assign(addresses_.size(), false);
  if (!addresses_.empty()) {
    current_ = std::uniform_int_distribution<size_t>(0, addresses_.size() - 1)(*rng_);
  }
}

std::string Endpoints::current_url() const {
  return addresses_.empty() ? std::string() : addresses_[current_].Url();
}

bool Endpoints::Rotate() {
  if (addresses_.empty()) return false;
  failed_[current_] = true;
  std::vector<size_t> fresh;
  for (size_t i = 0; i < addresses_.size(); ++i) {
    if (!failed_[i]) fresh.push_back(i);
  }
  if (!fresh.empty()) {
    current_ = fresh[std::uniform_int_distribution<size_t>(0, fresh.size() - 1)(*rng_)];
    return true;
  }
  // Every address failed since the last good answer: a new round after the
  // caller's backoff, not from the address that failed last.
  std::fill(failed_.begin(), failed_.end(), false);
  if (addresses_.size() > 1) {
    size_t next = std::uniform_int_distribution<size_t>(0, addresses_.size() - 2)(*rng_);
    current_ = next >= current_ ? next + 1 : next;
  }
  return false;
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
                                             std::string_view body, Resend resend,
                                             std::stop_token stop) {
  if (addresses_.empty()) {
    return MakeError(httpclient::errc::invalid_argument, "no address configured for this role");
  }
  // The current address first, then the others not failed lately, then the
  // rest, each group in random order: a failing address is not asked again
  // before the others.
  std::vector<size_t> order{current_}, stale;
  for (size_t i = 0; i < addresses_.size(); ++i) {
    if (i != current_) (failed_[i] ? stale : order).push_back(i);
  }
  std::shuffle(order.begin() + 1, order.end(), *rng_);
  std::shuffle(stale.begin(), stale.end(), *rng_);
  order.insert(order.end(), stale.begin(), stale.end());

  std::optional<httpclient::Response> answer;  // the last 5xx
  Error last;
  std::string dead_proxy;  // found unreachable by this request
  for (size_t n = 0; n < order.size(); ++n) {
    const size_t i = order[n];
    auto client = ClientFor(i);
    if (!client) return client.error();
    if (!dead_proxy.empty() && (*client)->proxy() == dead_proxy) {
      failed_[i] = true;  // unreachable as well
      continue;
    }
    auto r = (*client)->Post(path, content_type, body, stop);
    if (!r && r.error().code == httpclient::errc::cancelled) return r.error();
    if (r.ok() && r->status < 500) {
      current_ = i;
      // An answered challenge does not end the cycle (its evidence may still
      // fail there); the answer to the round's last request does.
      if (resend == Resend::kIdempotent) {
        failed_[i] = false;
      } else {
        std::fill(failed_.begin(), failed_.end(), false);
      }
      return r;
    }
    failed_[i] = true;
    if (r.ok()) {
      current_ = i;
      if (resend != Resend::kIdempotent) return r;
      if (n + 1 < order.size()) {
        spdlog::warn("{}{}: answered {}; trying another address of the block", addresses_[i].Url(),
                     path, r->status);
      }
      answer = std::move(r).value();
      continue;
    }
    const Error& e = r.error();
    const bool resent =
        httpclient::IsConnectionFailure(e) ||
        (resend == Resend::kIdempotent &&
         (e.code == httpclient::errc::timeout || e.code == httpclient::errc::transfer_failed));
    if (!resent) {
      current_ = i;  // it may have the request: Rotate() moves on from it
      return r.error();
    }
    // The caller logs the last failure; the messages name the method and URL.
    if (e.code == httpclient::errc::proxy_unreachable) {
      dead_proxy = (*client)->proxy();
      if (n + 1 < order.size()) {
        spdlog::warn("{}; addresses behind that proxy are not tried", e.message);
      }
    } else if (n + 1 < order.size()) {
      spdlog::warn("{}; trying another address of the block", e.message);
    }
    last = e;
  }
  if (answer) return std::move(*answer);
  return last;
}

}  // namespace attest::agent
