// Containment for the pipeline's stages: an exception escaping a stage's work
// (std::bad_alloc on a huge policy or batch, a bug) fails that batch or sweep
// with errc::database, which the loop rolls back and retries like a lost
// connection; it never reaches a thread's top and ends the process. Before
// the pipeline split these stages ran inside the database guard, which did
// the same.
//
// Thread-safety: stateless.
#pragma once

#include <exception>
#include <string>
#include <string_view>
#include <utility>

#include "common/base/result.h"
#include "verifier-workers/errors.h"

namespace attest::worker {

template <typename F>
Result<void> Contained(std::string_view context, F&& fn) {
  try {
    return std::forward<F>(fn)();
  } catch (const std::exception& e) {
    return MakeError(errc::database, std::string(context) + ": " + e.what());
  } catch (...) {
    return MakeError(errc::database, std::string(context) + ": unknown exception");
  }
}

}  // namespace attest::worker
