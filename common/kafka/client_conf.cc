#include "common/kafka/client_conf.h"

#include "common/kafka/errors.h"

namespace attest::kafka {
namespace {

Result<void> Set(rd_kafka_conf_t* conf, const std::string& key, const std::string& value,
                 std::string_view client_kind) {
  char errstr[512] = {0};
  if (rd_kafka_conf_set(conf, key.c_str(), value.c_str(), errstr, sizeof errstr) !=
      RD_KAFKA_CONF_OK) {
    return MakeError(errc::invalid_config, std::string(client_kind) + " property '" + key +
                                               "' = '" + value + "': " + errstr);
  }
  return Ok();
}

}  // namespace

Result<ConfPtr> BuildConf(const Properties& base, const std::map<std::string, std::string>& extra,
                          const Properties& forced, std::string_view client_kind) {
  for (const auto& [key, value] : forced) {
    auto it = extra.find(key);
    if (it != extra.end() && it->second != value) {
      return MakeError(errc::invalid_config, std::string(client_kind) + " property '" + key +
                                                 "' must be '" + value + "' (got '" + it->second +
                                                 "'): the pipeline's guarantees depend on it");
    }
  }
  ConfPtr conf(rd_kafka_conf_new());
  for (const auto& [key, value] : base) {
    if (auto r = Set(conf.get(), key, value, client_kind); !r) return r.error();
  }
  for (const auto& [key, value] : extra) {
    if (auto r = Set(conf.get(), key, value, client_kind); !r) return r.error();
  }
  for (const auto& [key, value] : forced) {
    if (auto r = Set(conf.get(), key, value, client_kind); !r) return r.error();
  }
  return conf;
}

}  // namespace attest::kafka
