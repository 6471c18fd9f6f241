// Request, Response and Responder: what route handlers see.
//
// Handlers are asynchronous: they receive the request and a Responder and may
// call Responder::Send() later, from any thread. Send() is safe after the
// client went away or the server stopped (it is then a no-op).
//
// Thread-safety: Request is immutable for the server once handed to the
// handler (the handler may move its body out). Response is a plain value.
// Responder is copyable and thread-safe; the first Send() wins.
#pragma once

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace attest::http {

using BeastRequest = boost::beast::http::request<boost::beast::http::string_body>;

// The verified client certificate of an mTLS connection.
struct ClientCert {
  std::string subject;  // RFC 2253, e.g. "CN=agent-1,O=attest tests"
  std::string der;      // the raw certificate (DER)
};

class Request {
 public:
  Request(BeastRequest raw, std::vector<std::pair<std::string, std::string>> params,
          std::string route, std::shared_ptr<const ClientCert> client_cert, std::string peer);

  std::string_view method() const {
    return {raw_.method_string().data(), raw_.method_string().size()};
  }
  boost::beast::http::verb verb() const { return raw_.method(); }
  std::string_view target() const { return {raw_.target().data(), raw_.target().size()}; }
  std::string_view path() const;   // target without the query
  std::string_view query() const;  // after '?', or empty
  // First header of that name (case-insensitive), or empty.
  std::string_view header(std::string_view name) const;
  // Content-Type without parameters, lower-cased ("application/json").
  std::string content_type() const;
  const std::string& body() const { return raw_.body(); }
  std::string& mutable_body() { return raw_.body(); }
  // A path parameter of the route ("uuid" for "/v1/agents/{uuid}"), or empty.
  std::string_view param(std::string_view name) const;
  const std::vector<std::pair<std::string, std::string>>& params() const { return params_; }
  // The matched route pattern ("/v1/agents/{uuid}/evidence").
  const std::string& route() const { return route_; }
  // The verified client certificate, or nullptr when the client sent none
  // (or TLS / mTLS is off).
  const ClientCert* client_cert() const { return client_cert_.get(); }
  const std::string& peer() const { return peer_; }  // "127.0.0.1:54321"
  const BeastRequest& raw() const { return raw_; }

 private:
  BeastRequest raw_;
  std::vector<std::pair<std::string, std::string>> params_;
  std::string route_;
  std::shared_ptr<const ClientCert> client_cert_;
  std::string peer_;
};

using RequestPtr = std::shared_ptr<Request>;

struct Response {
  int status = 200;
  std::string content_type;  // empty with a body: text/plain
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  // Why this is an error, for the server's log line (not sent to the client).
  std::string reason;
  bool close = false;  // close the connection after this response

  static Response Text(int status, std::string body);
  static Response Json(int status, std::string body);
  static Response Binary(int status, std::string content_type, std::string body);
  Response& Header(std::string name, std::string value);
  // Retry-After in whole seconds (rounded up, at least 1).
  Response& RetryAfter(std::chrono::milliseconds delay);
};

// RFC 7807 problem response: JSON {"type","title","status","detail"} with
// Content-Type application/problem+json. `title` defaults to the status's
// reason phrase, `type` to "about:blank". `detail` is also the log reason.
Response Problem(int status, std::string_view detail, std::string_view title = {},
                 std::string_view type = "about:blank");

class Responder {
 public:
  // Called exactly once with the response (the server owns the how/where).
  using SendFn = std::function<void(Response&&)>;
  class State;

  explicit Responder(std::shared_ptr<State> state) : state_(std::move(state)) {}

  // Sends the response; later calls are ignored. Thread-safe; a no-op when
  // the connection is gone. If every copy of a Responder is dropped without
  // Send(), the server answers 500.
  void Send(Response response) const;
  bool sent() const;

 private:
  std::shared_ptr<State> state_;
};

class Responder::State {
 public:
  explicit State(SendFn send) : send_(std::move(send)) {}
  ~State();
  State(const State&) = delete;
  State& operator=(const State&) = delete;
  void Send(Response&& r);
  bool sent() const { return sent_.load(std::memory_order_acquire); }

 private:
  SendFn send_;
  std::atomic<bool> sent_{false};
};

using Handler = std::function<void(RequestPtr request, Responder responder)>;

}  // namespace attest::http
