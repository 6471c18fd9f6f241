// Network doubles for the failover tests (tests/httpclient, tests/agent), on
// loopback ports chosen at run time:
//   HalfOpenListener  listen() with a full backlog and no accept(): connection
//                     attempts get no SYN-ACK (a host whose server is hung).
//   SilentListener    accepts TCP connections and never sends a byte (no TLS
//                     handshake, no answer).
//   ConnectProxy      an HTTP CONNECT proxy that records every target it is
//                     asked for; it can also refuse tunnels (403) or close
//                     connections without answering.
// Header-only; every object stops its threads and closes its sockets in its
// destructor.
//
// Thread-safety: the accessors may be called from any thread.
#pragma once

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

namespace attest::testing {

class Fd {
 public:
  Fd() = default;
  explicit Fd(int fd) : fd_(fd) {}
  ~Fd() { reset(); }
  Fd(Fd&& o) noexcept : fd_(o.release()) {}
  Fd& operator=(Fd&& o) noexcept {
    if (this != &o) {
      reset();
      fd_ = o.release();
    }
    return *this;
  }
  int get() const { return fd_; }
  int release() {
    int f = fd_;
    fd_ = -1;
    return f;
  }
  void reset() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

 private:
  int fd_ = -1;
};

inline sockaddr_in Loopback(int port) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(static_cast<uint16_t>(port));
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  return a;
}

// A listening socket on 127.0.0.1 and a free port.
inline Fd Listen(int backlog, int* port) {
  Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
  sockaddr_in a = Loopback(0);
  if (fd.get() < 0 || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      ::listen(fd.get(), backlog) != 0) {
    throw std::runtime_error("cannot listen on 127.0.0.1");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&a), &len);
  *port = ntohs(a.sin_port);
  return fd;
}

class HalfOpenListener {
 public:
  HalfOpenListener() : listen_(Listen(0, &port_)) {
    // Backlog 0 holds one connection (Linux: full above the backlog); two
    // more attempts make sure it is full, so the kernel drops further SYNs.
    for (int i = 0; i < 3; ++i) {
      Fd c(::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0));
      sockaddr_in a = Loopback(port_);
      (void)::connect(c.get(), reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers_.push_back(std::move(c));
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  int port() const { return port_; }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }

 private:
  int port_ = 0;
  Fd listen_;
  std::vector<Fd> fillers_;
};

// Base of the servers below: an accept loop on its own thread, stopped
// through a pipe that every poll() also watches.
class LoopbackServer {
 public:
  LoopbackServer() : listen_(Listen(64, &port_)) {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) throw std::runtime_error("pipe2");
    stop_r_ = Fd(p[0]);
    stop_w_ = Fd(p[1]);
  }
  virtual ~LoopbackServer() = default;
  int port() const { return port_; }
  int connections() const { return connections_; }

 protected:
  void StartAccepting() {
    acceptor_ = std::thread([this] {
      while (true) {
        pollfd fds[2] = {{listen_.get(), POLLIN, 0}, {stop_r_.get(), POLLIN, 0}};
        if (::poll(fds, 2, -1) < 0 || (fds[1].revents & POLLIN)) return;
        Fd c(::accept4(listen_.get(), nullptr, nullptr, SOCK_CLOEXEC));
        if (c.get() < 0) continue;
        ++connections_;
        std::lock_guard lock(mu_);
        workers_.emplace_back([this, c = std::move(c)]() mutable { Serve(std::move(c)); });
      }
    });
  }
  // Derived destructors call this first: the workers use derived members.
  void StopAll() {
    if (stopped_.exchange(true)) return;
    char x = 1;
    (void)!::write(stop_w_.get(), &x, 1);
    if (acceptor_.joinable()) acceptor_.join();
    std::lock_guard lock(mu_);
    for (auto& w : workers_) w.join();
    workers_.clear();
  }
  // Waits for `fd` to be readable; false when stopping.
  bool WaitReadable(int fd) {
    pollfd fds[2] = {{fd, POLLIN, 0}, {stop_r_.get(), POLLIN, 0}};
    return ::poll(fds, 2, -1) > 0 && !(fds[1].revents & POLLIN);
  }
  virtual void Serve(Fd conn) = 0;
  int stop_fd() const { return stop_r_.get(); }

 private:
  int port_ = 0;
  Fd listen_, stop_r_, stop_w_;
  std::atomic<int> connections_{0};
  std::atomic<bool> stopped_{false};
  std::mutex mu_;
  std::thread acceptor_;
  std::vector<std::thread> workers_;
};

class SilentListener : public LoopbackServer {
 public:
  SilentListener() { StartAccepting(); }
  ~SilentListener() override { StopAll(); }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port()); }

 private:
  void Serve(Fd conn) override {
    // Reads and ignores what comes (a ClientHello), never answers.
    char buf[4096];
    while (WaitReadable(conn.get()) && ::read(conn.get(), buf, sizeof buf) > 0) {
    }
  }
};

class ConnectProxy : public LoopbackServer {
 public:
  enum class Mode {
    kForward,      // 200 and a tunnel; 502 when the target refuses
    kRefuse,       // 403 to every CONNECT
    kCloseAtOnce,  // accepts and closes without reading
  };
  explicit ConnectProxy(Mode mode = Mode::kForward) : mode_(mode) { StartAccepting(); }
  ~ConnectProxy() override { StopAll(); }
  std::string url() const { return "http://127.0.0.1:" + std::to_string(port()); }
  // "host:port" of every CONNECT received, in order.
  std::vector<std::string> targets() const {
    std::lock_guard lock(targets_mu_);
    return targets_;
  }

 private:
  void Serve(Fd conn) override {
    if (mode_ == Mode::kCloseAtOnce) return;
    std::string head;
    char buf[4096];
    while (head.find("\r\n\r\n") == std::string::npos && head.size() < 8192) {
      if (!WaitReadable(conn.get())) return;
      ssize_t n = ::read(conn.get(), buf, sizeof buf);
      if (n <= 0) return;
      head.append(buf, static_cast<size_t>(n));
    }
    // "CONNECT host:port HTTP/1.1"
    if (head.rfind("CONNECT ", 0) != 0) return;
    std::string target = head.substr(8, head.find(' ', 8) - 8);
    {
      std::lock_guard lock(targets_mu_);
      targets_.push_back(target);
    }
    if (mode_ == Mode::kRefuse) {
      Send(conn.get(), "HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    // Every name leads to loopback (localhost, gw.test, ...): the test
    // servers all listen there. Only the port is used.
    int port = std::stoi(target.substr(target.rfind(':') + 1));
    Fd up(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in a = Loopback(port);
    if (::connect(up.get(), reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
      Send(conn.get(), "HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n");
      return;
    }
    Send(conn.get(), "HTTP/1.1 200 Connection established\r\n\r\n");
    // The bytes after the CONNECT head, if any, belong to the tunnel.
    std::string rest = head.substr(head.find("\r\n\r\n") + 4);
    if (!rest.empty()) Send(up.get(), rest);
    while (true) {
      pollfd fds[3] = {{conn.get(), POLLIN, 0}, {up.get(), POLLIN, 0}, {stop_fd(), POLLIN, 0}};
      if (::poll(fds, 3, -1) <= 0 || (fds[2].revents & POLLIN)) return;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = ::read(fds[i].fd, buf, sizeof buf);
        if (n <= 0) return;
        if (!Send(fds[1 - i].fd, std::string(buf, static_cast<size_t>(n)))) return;
      }
    }
  }
  static bool Send(int fd, const std::string& s) {
    size_t off = 0;
    while (off < s.size()) {
      ssize_t n = ::send(fd, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<size_t>(n);
    }
    return true;
  }

  Mode mode_;
  mutable std::mutex targets_mu_;
  std::vector<std::string> targets_;
};

}  // namespace attest::testing
