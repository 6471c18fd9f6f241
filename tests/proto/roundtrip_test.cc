// Every message of schemas/proto/attest/v1 survives a binary and a JSON round
// trip with every field set, and every enum starts with *_UNSPECIFIED = 0.
// Messages are found through the descriptor pool, so a new message is covered
// without editing this file.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/util/json_util.h>
#include <google/protobuf/util/message_differencer.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "attest/v1/admin.pb.h"
#include "attest/v1/attestation.pb.h"
#include "attest/v1/common.pb.h"
#include "attest/v1/registration.pb.h"
#include "attest/v1/verdict.pb.h"

namespace attest {
namespace {

namespace pb = google::protobuf;

std::vector<const pb::FileDescriptor*> ProtoFiles() {
  // Naming one message per file links its generated code into the pool.
  return {attest::v1::Problem::descriptor()->file(), attest::v1::Evidence::descriptor()->file(),
          attest::v1::Verdict::descriptor()->file(),
          attest::v1::RegisterRequest::descriptor()->file(),
          attest::v1::EnrolRequest::descriptor()->file()};
}

std::vector<const pb::Descriptor*> AllMessages() {
  std::vector<const pb::Descriptor*> out;
  for (const auto* file : ProtoFiles()) {
    for (int i = 0; i < file->message_type_count(); ++i) out.push_back(file->message_type(i));
  }
  return out;
}

// Sets every field of `msg` to a distinct, JSON-representable value.
void Fill(pb::Message* msg, int* counter, int depth = 0) {
  const pb::Descriptor* d = msg->GetDescriptor();
  const pb::Reflection* r = msg->GetReflection();
  if (d->full_name() == "google.protobuf.Timestamp") {
    r->SetInt64(msg, d->FindFieldByName("seconds"), 1700000000 + ++*counter);
    r->SetInt32(msg, d->FindFieldByName("nanos"), 1000 * ++*counter);
    return;
  }
  for (int i = 0; i < d->field_count(); ++i) {
    const pb::FieldDescriptor* f = d->field(i);
    if (f->is_map()) {
      for (int k = 0; k < 2; ++k) Fill(r->AddMessage(msg, f), counter, depth + 1);
      continue;
    }
    int n = f->is_repeated() ? 2 : 1;
    for (int k = 0; k < n; ++k) {
      int c = ++*counter;
      switch (f->cpp_type()) {
        case pb::FieldDescriptor::CPPTYPE_INT32:
          f->is_repeated() ? r->AddInt32(msg, f, -c) : r->SetInt32(msg, f, -c);
          break;
        case pb::FieldDescriptor::CPPTYPE_INT64:
          f->is_repeated() ? r->AddInt64(msg, f, -c) : r->SetInt64(msg, f, -c);
          break;
        case pb::FieldDescriptor::CPPTYPE_UINT32:
          f->is_repeated() ? r->AddUInt32(msg, f, c) : r->SetUInt32(msg, f, c);
          break;
        case pb::FieldDescriptor::CPPTYPE_UINT64:
          f->is_repeated() ? r->AddUInt64(msg, f, c) : r->SetUInt64(msg, f, c);
          break;
        case pb::FieldDescriptor::CPPTYPE_DOUBLE:
          f->is_repeated() ? r->AddDouble(msg, f, c + 0.5) : r->SetDouble(msg, f, c + 0.5);
          break;
        case pb::FieldDescriptor::CPPTYPE_FLOAT:
          f->is_repeated() ? r->AddFloat(msg, f, c + 0.5f) : r->SetFloat(msg, f, c + 0.5f);
          break;
        case pb::FieldDescriptor::CPPTYPE_BOOL:
          f->is_repeated() ? r->AddBool(msg, f, true) : r->SetBool(msg, f, true);
          break;
        case pb::FieldDescriptor::CPPTYPE_ENUM: {
          const pb::EnumDescriptor* e = f->enum_type();
          const pb::EnumValueDescriptor* v = e->value(1 + c % (e->value_count() - 1));
          f->is_repeated() ? r->AddEnum(msg, f, v) : r->SetEnum(msg, f, v);
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_STRING: {
          std::string v = f->type() == pb::FieldDescriptor::TYPE_BYTES
                              ? std::string("\x00\xff\x80", 3) + std::to_string(c)
                              : "value-" + std::to_string(c);
          f->is_repeated() ? r->AddString(msg, f, v) : r->SetString(msg, f, v);
          break;
        }
        case pb::FieldDescriptor::CPPTYPE_MESSAGE:
          if (depth < 4) {
            Fill(f->is_repeated() ? r->AddMessage(msg, f) : r->MutableMessage(msg, f), counter,
                 depth + 1);
          }
          break;
      }
    }
  }
}

class RoundTrip : public ::testing::TestWithParam<const pb::Descriptor*> {};

TEST_P(RoundTrip, BinaryAndJson) {
  const pb::Message* proto = pb::MessageFactory::generated_factory()->GetPrototype(GetParam());
  std::unique_ptr<pb::Message> original(proto->New());
  int counter = 0;
  Fill(original.get(), &counter);
  ASSERT_GT(counter, 0);

  std::string wire;
  ASSERT_TRUE(original->SerializeToString(&wire));
  std::unique_ptr<pb::Message> from_wire(proto->New());
  ASSERT_TRUE(from_wire->ParseFromString(wire));
  EXPECT_TRUE(pb::util::MessageDifferencer::Equals(*original, *from_wire))
      << original->DebugString() << "\nvs\n"
      << from_wire->DebugString();

  std::string json;
  ASSERT_TRUE(pb::util::MessageToJsonString(*original, &json).ok());
  std::unique_ptr<pb::Message> from_json(proto->New());
  auto status = pb::util::JsonStringToMessage(json, from_json.get());
  ASSERT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  EXPECT_TRUE(pb::util::MessageDifferencer::Equals(*original, *from_json)) << json;
}

INSTANTIATE_TEST_SUITE_P(AllMessages, RoundTrip, ::testing::ValuesIn(AllMessages()),
                         [](const auto& info) { return std::string(info.param->name()); });

TEST(Schema, EnumsStartWithUnspecifiedZero) {
  int enums = 0;
  for (const auto* file : ProtoFiles()) {
    for (int i = 0; i < file->enum_type_count(); ++i) {
      const pb::EnumDescriptor* e = file->enum_type(i);
      ++enums;
      ASSERT_GT(e->value_count(), 0);
      EXPECT_EQ(e->value(0)->number(), 0) << e->full_name();
      EXPECT_TRUE(e->value(0)->name().ends_with("_UNSPECIFIED")) << e->full_name();
    }
  }
  EXPECT_GE(enums, 6);
}

TEST(Schema, JsonRejectsUnknownFieldsAndGarbage) {
  attest::v1::Evidence e;
  EXPECT_FALSE(pb::util::JsonStringToMessage(R"({"agentUuid":"a","bogus":1})", &e).ok());
  EXPECT_FALSE(pb::util::JsonStringToMessage("{not json", &e).ok());
  EXPECT_TRUE(
      pb::util::JsonStringToMessage(R"({"agentUuid":"a","challengeToken":"AAE="})", &e).ok());
  EXPECT_EQ(e.challenge_token(), std::string("\x00\x01", 2));
}

TEST(Schema, TruncatedBinaryIsRejected) {
  attest::v1::Evidence e;
  e.set_agent_uuid("d432fbb3-d2f1-4a97-9ef7-75bd81c00000");
  e.mutable_quote()->set_attest(std::string(300, 'x'));
  std::string wire = e.SerializeAsString();
  attest::v1::Evidence back;
  EXPECT_FALSE(back.ParseFromString(wire.substr(0, wire.size() - 10)));
}

}  // namespace
}  // namespace attest
