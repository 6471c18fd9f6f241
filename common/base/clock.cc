#include "common/base/clock.h"

#include <condition_variable>
#include <mutex>

namespace attest {

bool SystemClock::SleepUntil(MonotonicTime deadline, std::stop_token stop) const {
  // condition_variable_any wakes on request_stop(); nothing else notifies it.
  std::mutex mu;
  std::condition_variable_any cv;
  std::unique_lock lock(mu);
  return !cv.wait_until(lock, stop, deadline, [] { return false; }) && !stop.stop_requested();
}

}  // namespace attest
