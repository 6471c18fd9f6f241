#include "tests/http/raw_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <signal.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <stdexcept>

namespace attest::testing {

struct RawClient::Tls {
  SSL_CTX* ctx = nullptr;
  SSL* ssl = nullptr;
  ~Tls() {
    if (ssl) SSL_free(ssl);
    if (ctx) SSL_CTX_free(ctx);
  }
};

RawClient::RawClient(int port, bool tls, std::chrono::milliseconds read_timeout) {
  // SSL_write on a socket the server closed must fail, not kill the test.
  ::signal(SIGPIPE, SIG_IGN);
  fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd_ < 0) throw std::runtime_error("socket failed");
  timeval tv{};
  tv.tv_sec = static_cast<time_t>(read_timeout.count() / 1000);
  tv.tv_usec = static_cast<suseconds_t>((read_timeout.count() % 1000) * 1000);
  ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(static_cast<uint16_t>(port));
  if (::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd_);
    throw std::runtime_error("connect failed");
  }
  if (tls) {
    tls_ = std::make_unique<Tls>();
    tls_->ctx = SSL_CTX_new(TLS_client_method());
    tls_->ssl = SSL_new(tls_->ctx);
    SSL_set_fd(tls_->ssl, fd_);
    if (SSL_connect(tls_->ssl) != 1) {
      ::close(fd_);
      throw std::runtime_error("TLS handshake failed");
    }
  }
}

RawClient::~RawClient() { Close(); }

void RawClient::Close() {
  if (fd_ < 0) return;
  tls_.reset();
  ::close(fd_);
  fd_ = -1;
}

bool RawClient::Write(std::string_view data) {
  if (fd_ < 0) return false;
  while (!data.empty()) {
    int n = tls_ ? SSL_write(tls_->ssl, data.data(), static_cast<int>(data.size()))
                 : static_cast<int>(::send(fd_, data.data(), data.size(), MSG_NOSIGNAL));
    if (n <= 0) return false;
    data.remove_prefix(static_cast<size_t>(n));
  }
  return true;
}

int RawClient::Read(char* buf, int n) {
  if (fd_ < 0) return -1;
  return tls_ ? SSL_read(tls_->ssl, buf, n) : static_cast<int>(::recv(fd_, buf, n, 0));
}

std::string RawClient::ReadResponse() {
  char buf[4096];
  while (true) {
    size_t end = pending_.find("\r\n\r\n");
    if (end != std::string::npos) {
      size_t body = 0;
      size_t cl = pending_.find("Content-Length: ");
      if (cl != std::string::npos && cl < end)
        body = std::strtoul(pending_.c_str() + cl + 16, nullptr, 10);
      if (pending_.size() >= end + 4 + body) {
        std::string out = pending_.substr(0, end + 4 + body);
        pending_.erase(0, end + 4 + body);
        return out;
      }
    }
    int n = Read(buf, sizeof buf);
    if (n <= 0) return {};
    pending_.append(buf, static_cast<size_t>(n));
  }
}

bool RawClient::ReadEof() {
  char buf[4096];
  while (true) {
    int n = Read(buf, sizeof buf);
    if (n > 0) continue;
    if (n == 0) return true;
    if (tls_) {
      // WANT_READ: the receive timeout expired with the connection open.
      return SSL_get_error(tls_->ssl, n) != SSL_ERROR_WANT_READ;
    }
    return errno != EAGAIN && errno != EWOULDBLOCK;
  }
}

}  // namespace attest::testing
