// wire::parse_context_id: the one text form of a context ID, used by sttd's
// config and sttctl's --context-id.

#include "wire/context_id.hpp"

#include <gtest/gtest.h>

namespace stt::wire {
namespace {

using Id = std::optional<std::uint64_t>;
constexpr auto kSep = DigitSeparators::kUnderscore;

TEST(ContextId, Decimal) {
  EXPECT_EQ(parse_context_id("0"), Id(0));
  EXPECT_EQ(parse_context_id("7471"), Id(7471));
  EXPECT_EQ(parse_context_id("007"), Id(7));
}

TEST(ContextId, Hex) {
  EXPECT_EQ(parse_context_id("0x0"), Id(0));
  EXPECT_EQ(parse_context_id("0x1d2F"), Id(0x1d2f));
  EXPECT_EQ(parse_context_id("0XABCDEF"), Id(0xabcdef));
  EXPECT_EQ(parse_context_id("0x8000000000000000"), Id(0x8000000000000000ull));
}

TEST(ContextId, SixtyFourBitMaximum) {
  EXPECT_EQ(parse_context_id("18446744073709551615"), Id(0xffffffffffffffffull));
  EXPECT_EQ(parse_context_id("0xffffffffffffffff"), Id(0xffffffffffffffffull));
  EXPECT_EQ(parse_context_id("0x0000ffffffffffffffff"), Id(0xffffffffffffffffull));
}

TEST(ContextId, OverflowIsRefusedNotWrapped) {
  EXPECT_EQ(parse_context_id("18446744073709551616"), std::nullopt);
  EXPECT_EQ(parse_context_id("0x10000000000000000"), std::nullopt);
  EXPECT_EQ(parse_context_id("99999999999999999999999"), std::nullopt);
}

TEST(ContextId, SignsAreRefused) {
  EXPECT_EQ(parse_context_id("-1"), std::nullopt);
  EXPECT_EQ(parse_context_id("+1"), std::nullopt);
  EXPECT_EQ(parse_context_id("0x-1"), std::nullopt);
  EXPECT_EQ(parse_context_id("-0x1"), std::nullopt);
  EXPECT_EQ(parse_context_id("-1", kSep), std::nullopt);
}

TEST(ContextId, JunkIsRefused) {
  for (const char* s : {"", " ", "0x", "0X", "x1", "1x", "0x0x1", "12a", "0xg", " 1", "1 ", "1.0",
                        "1e3", "0b101", "1_000"}) {
    EXPECT_EQ(parse_context_id(s), std::nullopt) << '"' << s << '"';
  }
}

TEST(ContextId, TomlDigitSeparatorsOnlyWhenAsked) {
  EXPECT_EQ(parse_context_id("1_000", kSep), Id(1000));
  EXPECT_EQ(parse_context_id("0x8000_0000_0000_0000", kSep), Id(0x8000000000000000ull));
  EXPECT_EQ(parse_context_id("0x8000_0000_0000_0000"), std::nullopt);
  EXPECT_EQ(parse_context_id("_", kSep), std::nullopt);
  EXPECT_EQ(parse_context_id("0x_", kSep), std::nullopt);
  EXPECT_EQ(parse_context_id("1_x", kSep), std::nullopt);
}

}  // namespace
}  // namespace stt::wire
