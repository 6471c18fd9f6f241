// A blocking test client over a raw socket (optionally TLS, no certificate
// verification) for what a well-behaved HTTP client will not do: send bytes
// slowly, send malformed requests, hang up early. Reads time out (SO_RCVTIMEO)
// so a test cannot hang. Throws std::runtime_error when it cannot connect.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

namespace attest::testing {

class RawClient {
 public:
  RawClient(int port, bool tls, std::chrono::milliseconds read_timeout = std::chrono::seconds(5));
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  // False once the connection is broken.
  bool Write(std::string_view data);
  // Reads one HTTP response (headers + Content-Length body); empty on
  // EOF/timeout before a full response.
  std::string ReadResponse();
  // True when the peer closed (EOF or reset) within the read timeout.
  bool ReadEof();
  void Close();

 private:
  int Read(char* buf, int n);
  int fd_ = -1;
  struct Tls;
  std::unique_ptr<Tls> tls_;
  std::string pending_;
};

}  // namespace attest::testing
