#include "common/http/message.h"

#include <boost/beast/http/status.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>

namespace attest::http {

Request::Request(BeastRequest raw, std::vector<std::pair<std::string, std::string>> params,
                 std::string route, std::shared_ptr<const ClientCert> client_cert, std::string peer)
    : raw_(std::move(raw)),
      params_(std::move(params)),
      route_(std::move(route)),
      client_cert_(std::move(client_cert)),
      peer_(std::move(peer)) {}

std::string_view Request::path() const {
  std::string_view t(raw_.target().data(), raw_.target().size());
  return t.substr(0, t.find('?'));
}

std::string_view Request::query() const {
  std::string_view t(raw_.target().data(), raw_.target().size());
  size_t q = t.find('?');
  return q == std::string_view::npos ? std::string_view{} : t.substr(q + 1);
}

std::string_view Request::header(std::string_view name) const {
  auto it = raw_.find(boost::beast::string_view(name.data(), name.size()));
  if (it == raw_.end()) return {};
  return {it->value().data(), it->value().size()};
}

std::string Request::content_type() const {
  std::string_view v = header("Content-Type");
  v = v.substr(0, v.find(';'));
  while (!v.empty() && (v.back() == ' ' || v.back() == '\t')) v.remove_suffix(1);
  while (!v.empty() && (v.front() == ' ' || v.front() == '\t')) v.remove_prefix(1);
  std::string out(v);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view Request::param(std::string_view name) const {
  for (const auto& [k, v] : params_) {
    if (k == name) return v;
  }
  return {};
}

Response Response::Text(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "text/plain; charset=utf-8";
  r.body = std::move(body);
  return r;
}

Response Response::Json(int status, std::string body) {
  Response r;
  r.status = status;
  r.content_type = "application/json";
  r.body = std::move(body);
  return r;
}

Response Response::Binary(int status, std::string content_type, std::string body) {
  Response r;
  r.status = status;
  r.content_type = std::move(content_type);
  r.body = std::move(body);
  return r;
}

Response& Response::Header(std::string name, std::string value) {
  headers.emplace_back(std::move(name), std::move(value));
  return *this;
}

Response& Response::RetryAfter(std::chrono::milliseconds delay) {
  auto secs = std::max<int64_t>(1, (delay.count() + 999) / 1000);
  return Header("Retry-After", std::to_string(secs));
}

Response Problem(int status, std::string_view detail, std::string_view title,
                 std::string_view type) {
  if (title.empty()) {
    auto phrase = boost::beast::http::obsolete_reason(
        static_cast<boost::beast::http::status>(static_cast<unsigned>(status)));
    title = std::string_view(phrase.data(), phrase.size());
  }
  nlohmann::json j = {{"type", std::string(type)},
                      {"title", std::string(title)},
                      {"status", status},
                      {"detail", std::string(detail)}};
  Response r;
  r.status = status;
  r.content_type = "application/problem+json";
  // Replace invalid UTF-8 instead of throwing: details may quote client input.
  r.body = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  r.reason = std::string(detail);
  return r;
}

void Responder::Send(Response response) const { state_->Send(std::move(response)); }
bool Responder::sent() const { return state_->sent(); }

void Responder::State::Send(Response&& r) {
  if (sent_.exchange(true, std::memory_order_acq_rel)) return;
  SendFn fn = std::move(send_);
  send_ = nullptr;
  if (fn) fn(std::move(r));
}

Responder::State::~State() {
  if (!sent_.load(std::memory_order_acquire) && send_) {
    Send(Problem(500, "the handler dropped the request without a response"));
  }
}

}  // namespace attest::http
