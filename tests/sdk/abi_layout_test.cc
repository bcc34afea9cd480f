/// @file tests/sdk/abi_layout_test.cc
/// @brief Locks the ABI v1 layout and constants: a failure here means the ABI changed and
/// SY_ABI_MAJOR (or, for growth at the end of a table, SY_ABI_MINOR) must be bumped.
#include <gtest/gtest.h>
#include <switchyard/abi.h>

#include <cstddef>
#include <string>
#include <type_traits>
#include <vector>

namespace {

#if defined(__x86_64__) && defined(__LP64__)
#define SY_SIZE(type, bytes) static_assert(sizeof(type) == (bytes), "sizeof " #type);
#define SY_OFFSET(type, field, bytes) \
  static_assert(offsetof(type, field) == (bytes), "offsetof " #type "." #field);
#include "abi_layout.inc"
#undef SY_SIZE
#undef SY_OFFSET
#endif

struct Layout {
  std::string what;
  size_t actual;
  size_t expected;
};

// The same list as runtime values, so a failure names every mismatch at once.
std::vector<Layout> layouts() {
  return {
#define SY_SIZE(type, bytes) {"sizeof(" #type ")", sizeof(type), bytes},
#define SY_OFFSET(type, field, bytes) \
  {"offsetof(" #type ", " #field ")", offsetof(type, field), bytes},
#include "abi_layout.inc"
#undef SY_SIZE
#undef SY_OFFSET
  };
}

TEST(AbiLayout, SizesAndOffsetsOnX8664) {
#if !(defined(__x86_64__) && defined(__LP64__))
  GTEST_SKIP() << "the locked layout is x86_64 LP64";
#endif
  for (const auto& l : layouts()) {
    EXPECT_EQ(l.actual, l.expected) << l.what;
  }
}

TEST(AbiLayout, StructSizeComesFirstInEveryTable) {
  EXPECT_EQ(offsetof(sy_host_api, struct_size), 0u);
  EXPECT_EQ(offsetof(sy_provider_request, struct_size), 0u);
  EXPECT_EQ(offsetof(sy_upstream_response, struct_size), 0u);
  EXPECT_EQ(offsetof(sy_http_request, struct_size), 0u);
  EXPECT_EQ(offsetof(sy_provider_vtable, struct_size), 0u);
  EXPECT_EQ(offsetof(sy_auth_vtable, struct_size), 0u);
  EXPECT_EQ(offsetof(sy_log_sink_vtable, struct_size), 0u);
  EXPECT_EQ(offsetof(sy_analytics_vtable, struct_size), 0u);
  EXPECT_EQ(offsetof(sy_component, struct_size), 0u);
  EXPECT_EQ(offsetof(sy_plugin_info, struct_size), 0u);
  static_assert(std::is_same_v<decltype(sy_plugin_info::struct_size), size_t>);
  static_assert(std::is_same_v<decltype(sy_host_api::struct_size), size_t>);
}

TEST(AbiLayout, ScalarTypes) {
  static_assert(std::is_same_v<sy_status, int32_t>);
  static_assert(std::is_same_v<sy_kind, uint32_t>);
  static_assert(std::is_same_v<sy_operation, uint32_t>);
  static_assert(std::is_same_v<sy_event, uint32_t>);
  static_assert(std::is_same_v<sy_plugin_entry_fn, const sy_plugin_info* (*)(uint32_t, uint32_t)>);
  static_assert(std::is_standard_layout_v<sy_host_api> && std::is_trivial_v<sy_host_api>);
  static_assert(std::is_standard_layout_v<sy_plugin_info> && std::is_trivial_v<sy_plugin_info>);
  EXPECT_EQ(sizeof(bool), 1u);  // sy_provider_request.stream is a C bool.
}

// ABI 1.1 took the first reserved slot of sy_host_api, so the table did not grow and a 1.0
// host's zeroed slot reads as NULL to a 1.1 plugin.
TEST(AbiLayout, MinorOneKeepsTheHostTableSize) {
  EXPECT_EQ(offsetof(sy_host_api, note_dropped_param),
            offsetof(sy_host_api, principal_add_metadata) + sizeof(void*));
  EXPECT_EQ(sizeof(sy_host_api::reserved) / sizeof(void*), 7u);
  sy_host_api zeroed{};
  EXPECT_EQ(zeroed.note_dropped_param, nullptr);
}

TEST(AbiConstants, VersionAndEntry) {
  EXPECT_EQ(SY_ABI_MAJOR, 1);
  EXPECT_EQ(SY_ABI_MINOR, 1);
  EXPECT_STREQ(SY_PLUGIN_ENTRY_SYMBOL, "sy_plugin_entry");
}

TEST(AbiConstants, StatusValues) {
  EXPECT_EQ(SY_OK, 0);
  EXPECT_EQ(SY_ERR_INVALID_ARG, 1);
  EXPECT_EQ(SY_ERR_UNSUPPORTED, 2);
  EXPECT_EQ(SY_ERR_UPSTREAM, 3);
  EXPECT_EQ(SY_ERR_INTERNAL, 4);
  EXPECT_EQ(SY_ERR_DENIED, 5);
  EXPECT_EQ(SY_DECLINED, 6);
}

TEST(AbiConstants, KindOperationEventValues) {
  EXPECT_EQ(SY_KIND_PROVIDER, 1);
  EXPECT_EQ(SY_KIND_AUTH, 2);
  EXPECT_EQ(SY_KIND_LOG_SINK, 3);
  EXPECT_EQ(SY_KIND_ANALYTICS, 4);
  EXPECT_EQ(SY_OP_CHAT_COMPLETIONS, 1);
  EXPECT_EQ(SY_OP_EMBEDDINGS, 2);
  EXPECT_EQ(SY_EVENT_RESPONSE, 1);
  EXPECT_EQ(SY_EVENT_CHUNK, 2);
  EXPECT_EQ(SY_EVENT_USAGE, 3);
  EXPECT_EQ(SY_EVENT_DONE, 4);
  EXPECT_EQ(SY_EVENT_QUERY_RESULT, 5);
}

TEST(AbiConstants, LogMetricAndFlagValues) {
  EXPECT_EQ(SY_LOG_TRACE, 0);
  EXPECT_EQ(SY_LOG_DEBUG, 1);
  EXPECT_EQ(SY_LOG_INFO, 2);
  EXPECT_EQ(SY_LOG_WARN, 3);
  EXPECT_EQ(SY_LOG_ERROR, 4);
  EXPECT_EQ(SY_METRIC_COUNTER, 1);
  EXPECT_EQ(SY_METRIC_GAUGE, 2);
  EXPECT_EQ(SY_METRIC_HISTOGRAM, 3);
  EXPECT_EQ(SY_PLUGIN_FLAG_NO_UNLOAD, 1u);
}

}  // namespace
