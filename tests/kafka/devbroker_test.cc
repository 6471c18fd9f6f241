// attest-devbroker through its fixture: flags, topics as a plain librdkafka
// client sees them in metadata, restart, and the SIGUSR1/SIGUSR2 fault switch.
#include <gtest/gtest.h>
#include <librdkafka/rdkafka.h>

#include <map>

#include "common/kafka/handles.h"
#include "tests/harness/broker/dev_broker.h"
#include "tests/harness/util/process.h"
#include "tools/devbroker/dev_broker.h"

namespace attest::testing {
namespace {

int FirstPort(const std::string& bootstrap) {
  const auto colon = bootstrap.find(':');
  return std::stoi(bootstrap.substr(colon + 1, bootstrap.find(',') - colon - 1));
}

// topic -> partition count, from a metadata request by a bare librdkafka client.
std::map<std::string, int> Topics(const std::string& bootstrap) {
  kafka::ConfPtr conf(rd_kafka_conf_new());
  char err[512];
  EXPECT_EQ(rd_kafka_conf_set(conf.get(), "bootstrap.servers", bootstrap.c_str(), err, sizeof err),
            RD_KAFKA_CONF_OK);
  kafka::KafkaPtr rk(rd_kafka_new(RD_KAFKA_PRODUCER, conf.get(), err, sizeof err));
  if (!rk) return {};
  conf.release();
  const rd_kafka_metadata_t* md = nullptr;
  std::map<std::string, int> out;
  if (rd_kafka_metadata(rk.get(), 1, nullptr, &md, 10000) != RD_KAFKA_RESP_ERR_NO_ERROR) return out;
  for (int i = 0; i < md->topic_cnt; ++i) out[md->topics[i].topic] = md->topics[i].partition_cnt;
  rd_kafka_metadata_destroy(md);
  return out;
}

TEST(DevBrokerCli, BadFlagsExitWithTwo) {
  const std::string bin = DevBroker::BinaryPath();
  EXPECT_EQ(RunCommand({bin, "--brokers", "0"}), 2);
  EXPECT_EQ(RunCommand({bin, "--partitions", "x"}), 2);
  EXPECT_EQ(RunCommand({bin, "--topic", "no-count"}), 2);
  EXPECT_EQ(RunCommand({bin, "--topic", "t:0"}), 2);
  EXPECT_EQ(RunCommand({bin, "--no-such-flag"}), 2);
}

TEST(DevBrokerCli, ParsesTopicSpecs) {
  auto ok = devbroker::ParseTopicSpec("a.b:7");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->name, "a.b");
  EXPECT_EQ(ok->partitions, 7);
  EXPECT_FALSE(devbroker::ParseTopicSpec(":3").ok());
  EXPECT_FALSE(devbroker::ParseTopicSpec("t:").ok());
  EXPECT_FALSE(devbroker::ParseTopicSpec("t:3x").ok());
  EXPECT_FALSE(devbroker::ParseTopicSpec("t:10001").ok());
}

TEST(DevBroker, CreatesPipelineTopicsWithRequestedPartitions) {
  DevBroker broker(DevBrokerOptions{
      .brokers = 2, .partitions = 5, .topics = {"attestation.verdicts:3", "extra.topic:2"}});
  EXPECT_EQ(std::count(broker.bootstrap().begin(), broker.bootstrap().end(), ','), 1);
  auto topics = Topics(broker.bootstrap());
  EXPECT_EQ(topics["attestation.evidence"], 5);
  EXPECT_EQ(topics["attestation.verdicts"], 3);
  EXPECT_EQ(topics["attestation.revocations"], 5);
  EXPECT_EQ(topics["extra.topic"], 2);
}

TEST(DevBroker, StopStartAndBrokersDownUp) {
  DevBroker broker;
  const int port = FirstPort(broker.bootstrap());
  EXPECT_TRUE(PortOpen(port));

  broker.BrokersDown();
  EXPECT_TRUE(WaitFor([&] { return !PortOpen(port); }, std::chrono::seconds(5))) << broker.Log();
  broker.BrokersUp();
  EXPECT_TRUE(WaitFor([&] { return PortOpen(port); }, std::chrono::seconds(5))) << broker.Log();

  broker.Stop();
  EXPECT_FALSE(broker.Running());
  EXPECT_TRUE(WaitFor([&] { return !PortOpen(port); }, std::chrono::seconds(5)));
  broker.Start();
  EXPECT_TRUE(broker.Running());
  EXPECT_TRUE(PortOpen(FirstPort(broker.bootstrap())));
  EXPECT_EQ(Topics(broker.bootstrap())["attestation.evidence"], 12);
}

}  // namespace
}  // namespace attest::testing
