// Raw bytes -> Beast's request parser (with the server's limits) -> router ->
// Request accessors and a problem response, as the server does per request.
#include <boost/asio/buffer.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "common/http/message.h"
#include "common/http/router.h"

namespace {

namespace bhttp = boost::beast::http;
using attest::http::Request;
using attest::http::RequestPtr;
using attest::http::Responder;
using attest::http::Response;
using attest::http::Router;

Router MakeRouter() {
  Router r;
  auto echo = [](RequestPtr req, Responder res) {
    std::string out(req->param("uuid"));
    out += req->content_type();
    out += req->header("Retry-After");
    out += req->query();
    res.Send(Response::Text(202, out));
  };
  (void)r.Add("POST", "/v1/agents/{uuid}/evidence", echo);
  (void)r.Add("POST", "/v1/agents/{uuid}/challenges", echo);
  (void)r.Add("GET", "/v1/agents/{uuid}", echo);
  (void)r.Add("DELETE", "/v1/agents/{uuid}", echo);
  (void)r.Add("GET", "/healthz", echo);
  (void)r.Add("GET", "/metrics", echo);
  return r;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const Router router = MakeRouter();
  bhttp::request_parser<bhttp::string_body> parser;
  parser.header_limit(16 << 10);
  parser.body_limit(64 << 10);
  parser.eager(true);
  boost::beast::error_code ec;
  boost::asio::const_buffer buf(data, size);
  while (buf.size() > 0 && !parser.is_done()) {
    size_t n = parser.put(buf, ec);
    if (ec == bhttp::error::need_more) {
      ec = {};
      if (n == 0) break;
    }
    if (ec) break;
    buf += n;
  }
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) {
    (void)attest::http::Problem(400, "malformed HTTP request: " + ec.message());
    return 0;
  }
  auto raw = parser.release();
  std::string target(raw.target());
  std::string method(raw.method_string());
  auto match = router.Find(method, std::string_view(target).substr(0, target.find('?')));
  if (match.kind != Router::Match::Kind::kFound) {
    // Client bytes end up in the JSON detail: invalid UTF-8 must not throw.
    (void)attest::http::Problem(404, "no route for " + target);
    return 0;
  }
  auto request = std::make_shared<Request>(std::move(raw), std::move(match.params),
                                           match.route->pattern, nullptr, "fuzz");
  int status = 0;
  Responder responder(std::make_shared<Responder::State>([&](Response&& r) { status = r.status; }));
  match.route->handler(request, responder);
  if (status != 202) __builtin_trap();
  return 0;
}
