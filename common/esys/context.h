// RAII owners of the tpm2-tss handles: Tcti (TSS2_TCTI_CONTEXT from the TCTI
// loader), EsysContext (ESYS_CONTEXT plus the Tcti it talks through),
// FlushGuard (flushes a transient object or session at scope exit) and
// EsysPtr<T> (outputs that ESAPI allocates and the caller frees with Esys_Free).
//
// TCTI strings are the loader's "name:conf" form, e.g.
// "swtpm:host=127.0.0.1,port=2321" or "device:/dev/tpmrm0"; both go through the
// same code path. swtpm has no resource manager, so every transient handle must
// be flushed: wrap each one in a FlushGuard as soon as it exists.
//
// Thread-safety: an ESYS_CONTEXT is not thread-safe; use one EsysContext from
// one thread at a time. Distinct contexts are independent.
#pragma once

#include <tss2/tss2_esys.h>
#include <tss2/tss2_tctildr.h>

#include <memory>
#include <string>

#include "common/base/result.h"

namespace attest::esys {

struct EsysFreeDeleter {
  void operator()(void* p) const { Esys_Free(p); }
};
// Owner of a structure that ESAPI returned through a T** out-parameter.
template <typename T>
using EsysPtr = std::unique_ptr<T, EsysFreeDeleter>;

class Tcti {
 public:
  static Result<Tcti> Open(const std::string& conf);
  TSS2_TCTI_CONTEXT* get() const { return ctx_.get(); }

 private:
  struct Deleter {
    void operator()(TSS2_TCTI_CONTEXT* c) const { Tss2_TctiLdr_Finalize(&c); }
  };
  explicit Tcti(TSS2_TCTI_CONTEXT* c) : ctx_(c) {}
  std::unique_ptr<TSS2_TCTI_CONTEXT, Deleter> ctx_;
};

class EsysContext {
 public:
  // Loads the TCTI and initialises ESAPI. Does not send TPM2_Startup (the
  // platform, or swtpm's startup-clear flag, has done it).
  static Result<EsysContext> Open(const std::string& tcti_conf);
  ESYS_CONTEXT* get() const { return ctx_.get(); }

 private:
  struct Deleter {
    void operator()(ESYS_CONTEXT* c) const { Esys_Finalize(&c); }
  };
  EsysContext(Tcti tcti, ESYS_CONTEXT* c) : tcti_(std::move(tcti)), ctx_(c) {}
  Tcti tcti_;  // declared first: finalised after the ESYS context that uses it
  std::unique_ptr<ESYS_CONTEXT, Deleter> ctx_;
};

// Flushes a transient object or session handle when it goes out of scope
// (errors ignored: the handle may already be gone after a TPM reset).
class FlushGuard {
 public:
  FlushGuard(ESYS_CONTEXT* ctx, ESYS_TR handle) : ctx_(ctx), handle_(handle) {}
  ~FlushGuard() { Flush(); }
  FlushGuard(const FlushGuard&) = delete;
  FlushGuard& operator=(const FlushGuard&) = delete;
  FlushGuard(FlushGuard&& o) noexcept : ctx_(o.ctx_), handle_(o.release()) {}
  FlushGuard& operator=(FlushGuard&& o) noexcept {
    if (this != &o) {
      Flush();
      ctx_ = o.ctx_;
      handle_ = o.release();
    }
    return *this;
  }

  ESYS_TR get() const { return handle_; }
  // Stops guarding (e.g. the handle was made persistent or flushed by the TPM).
  ESYS_TR release() {
    ESYS_TR h = handle_;
    handle_ = ESYS_TR_NONE;
    return h;
  }
  void Flush() {
    if (ctx_ && handle_ != ESYS_TR_NONE) Esys_FlushContext(ctx_, handle_);
    handle_ = ESYS_TR_NONE;
  }

 private:
  ESYS_CONTEXT* ctx_;
  ESYS_TR handle_;
};

}  // namespace attest::esys
