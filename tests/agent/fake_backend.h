// FakeBackend: one [[servers]] block's registrar and gateway in one HTTPS
// server (common/http), for the agent tests. It does the real protocol work a
// backend does: MakeCredential (common/credential) for the agent's EK and AK
// name, the HMAC-SHA256(secret, uuid) activation check, random challenge
// tokens, and verification of each evidence's quote with common/checks
// (VerifyQuote with the registered AK and the challenge token as the nonce).
// It keeps no database: state lives in this object and tests inspect it.
//
// Knobs: answer the next challenges with 429 + Retry-After, hand out an
// oversized token, forget an agent's registration (the agent then gets 404).
//
// Thread-safety: handlers run on the server's I/O threads; every accessor
// takes the mutex, so tests may call them from the test thread at any time.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "attest/v1/attestation.pb.h"
#include "common/http/server.h"
#include "tests/harness/pki/pki.h"

namespace attest::testing {

class FakeBackend {
 public:
  struct RequestRecord {
    std::chrono::steady_clock::time_point at;  // when the handler ran
    std::string route;                         // "register", "activate", "challenges", "evidence"
    int status = 0;
  };
  struct Registration {
    std::string ek_public, ek_cert, ak_public;
    std::string secret;
    bool active = false;
    int register_calls = 0;
  };
  struct ReceivedEvidence {
    v1::Evidence evidence;
    bool quote_ok = false;
    std::string quote_failures;  // event ids, when !quote_ok
  };

  // Serves HTTPS with a certificate of `pki` on a free loopback port.
  FakeBackend(TestPki& pki, const std::string& name);
  ~FakeBackend();

  int port() const { return static_cast<int>(server_->port()); }
  std::string url() const { return "https://127.0.0.1:" + std::to_string(port()); }

  // Next `count` challenges get 429 with Retry-After: `retry_after_s`.
  void TooEarly(int count, int retry_after_s);
  // Next challenges carry a token of `bytes` bytes.
  void TokenSize(size_t bytes);
  // Challenge fields.
  void SetImaOffset(uint64_t offset);
  void SetInterval(uint32_t seconds);
  // Removes the agent's registration (the "operator deleted it" case).
  void Forget(const std::string& uuid);

  std::vector<RequestRecord> requests() const;
  int Count(const std::string& route) const;
  std::map<std::string, Registration> registrations() const;
  std::vector<ReceivedEvidence> evidence() const;

 private:
  void Register(http::RequestPtr req, http::Responder res);
  void Activate(http::RequestPtr req, http::Responder res);
  void Challenge(http::RequestPtr req, http::Responder res);
  void Evidence(http::RequestPtr req, http::Responder res);
  void Record(const std::string& route, int status);  // mu_ held

  mutable std::mutex mu_;
  std::map<std::string, Registration> regs_;
  std::vector<RequestRecord> requests_;
  std::vector<ReceivedEvidence> evidence_;
  std::map<std::string, std::string> tokens_;  // token -> uuid
  int too_early_ = 0;
  int retry_after_s_ = 1;
  size_t token_size_ = 32;
  uint64_t ima_offset_ = 0;
  uint32_t interval_s_ = 1;
  std::unique_ptr<http::Server> server_;
};

}  // namespace attest::testing
