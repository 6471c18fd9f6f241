// Building an rd_kafka_conf_t from property maps, shared by Producer and
// Consumer. `forced` are the settings our safety rests on (idempotence,
// acks=all, no auto-commit, ...): an `extra` property that tries to change
// one of them is a configuration error, not silently ignored.
//
// Thread-safety: pure functions.
#pragma once

#include <map>
#include <string>
#include <utility>
#include <vector>

#include "common/base/result.h"
#include "common/kafka/handles.h"

namespace attest::kafka {

using Properties = std::vector<std::pair<std::string, std::string>>;

// Creates a conf with `base` applied, then `extra`, then `forced`. Fails with
// invalid_config naming the key when librdkafka rejects a property or when
// `extra` sets a forced key to a different value.
Result<ConfPtr> BuildConf(const Properties& base, const std::map<std::string, std::string>& extra,
                          const Properties& forced, std::string_view client_kind);

}  // namespace attest::kafka
