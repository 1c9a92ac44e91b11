// Unit tests for the wire protocol: encode/decode of every message, the strict decoder's
// rejection of hostile or malformed bodies, and FrameReader's framing and size limits.
#include <isolator/wire/codec.hpp>
#include <isolator/wire/frame_reader.hpp>
#include <isolator/wire/protocol.hpp>

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <bit>
#include <concepts>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <optional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

namespace isolator::wire {

// Lets gtest print messages on failure (gtest prints a Message by printing its alternative):
// the message's name and the hex of its encoding.
static void print_encoded(const Message& message, std::ostream* os) {
  static constexpr char hex[] = "0123456789abcdef";
  *os << message_name(message) << " {";
  for (const char c : encode(message)) {
    const auto byte = static_cast<unsigned char>(c);
    *os << ' ' << hex[byte >> 4] << hex[byte & 0xf];
  }
  *os << " }";
}
static void PrintTo(const Hello& m, std::ostream* os) { print_encoded(m, os); }
static void PrintTo(const Invoke& m, std::ostream* os) { print_encoded(m, os); }
static void PrintTo(const Result& m, std::ostream* os) { print_encoded(m, os); }
static void PrintTo(const Failed& m, std::ostream* os) { print_encoded(m, os); }
static void PrintTo(const SetData& m, std::ostream* os) { print_encoded(m, os); }
static void PrintTo(const GetData& m, std::ostream* os) { print_encoded(m, os); }
static void PrintTo(const DataValue& m, std::ostream* os) { print_encoded(m, os); }

namespace {

// ---------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------

/// A string holding exactly the given byte values.
std::string raw_bytes(std::initializer_list<unsigned> values) {
  std::string out;
  for (const unsigned v : values) out.push_back(static_cast<char>(v));
  return out;
}

/// Builds a msgpack body element by element, to craft malformed-but-parseable messages.
class Body {
 public:
  Body& array(std::uint32_t size) {
    packer_.pack_array(size);
    return *this;
  }
  /// The array header and type tag of a message with `fields` fields.
  Body& header(MessageType type, std::uint32_t fields) {
    return array(fields + 1).integer(static_cast<std::uint8_t>(type));
  }
  Body& map(std::uint32_t size) {
    packer_.pack_map(size);
    return *this;
  }
  template <std::integral Int>
    requires(!std::same_as<Int, bool>)
  Body& integer(Int value) {
    packer_.pack(value);
    return *this;
  }
  Body& boolean(bool value) {
    packer_.pack(value);
    return *this;
  }
  /// A float64 (0xcb) even for integral values, which msgpack's packer would write as ints.
  Body& float64(double value) {
    const auto bits = std::bit_cast<std::uint64_t>(value);
    std::string out(1, static_cast<char>(0xcb));
    for (int shift = 56; shift >= 0; shift -= 8) out.push_back(static_cast<char>(bits >> shift));
    return raw(out);
  }
  Body& nil() {
    packer_.pack_nil();
    return *this;
  }
  Body& str(std::string_view s) {
    packer_.pack_str(static_cast<std::uint32_t>(s.size()));
    packer_.pack_str_body(s.data(), static_cast<std::uint32_t>(s.size()));
    return *this;
  }
  Body& bin(std::string_view b) {
    packer_.pack_bin(static_cast<std::uint32_t>(b.size()));
    packer_.pack_bin_body(b.data(), static_cast<std::uint32_t>(b.size()));
    return *this;
  }
  /// A well-formed Usage array.
  Body& usage() { return array(4).integer(1).integer(2).integer(3).integer(4); }
  /// Bytes appended verbatim (for headers msgpack's packer would never write).
  Body& raw(std::string_view bytes) {
    buffer_.write(bytes.data(), bytes.size());
    return *this;
  }
  std::string build() const { return std::string(buffer_.data(), buffer_.size()); }

 private:
  msgpack::sbuffer buffer_;
  msgpack::packer<msgpack::sbuffer> packer_{buffer_};
};

/// Succeeds when decoding `body` throws ProtocolError (and nothing else) whose what()
/// contains `needle`.
testing::AssertionResult RejectedWith(std::string_view body, std::string_view needle) {
  try {
    const Message decoded = decode(body);
    return testing::AssertionFailure() << "decode accepted the body as " << message_name(decoded);
  } catch (const ProtocolError& e) {
    const std::string what = e.what();
    if (what.find(needle) != std::string::npos) {
      return testing::AssertionSuccess() << "ProtocolError: " << what;
    }
    return testing::AssertionFailure()
           << "ProtocolError \"" << what << "\" does not mention \"" << needle << "\"";
  } catch (const std::exception& e) {
    return testing::AssertionFailure() << "threw a non-ProtocolError: " << e.what();
  } catch (...) {
    return testing::AssertionFailure() << "threw something that is not a std::exception";
  }
}

/// The what() of the ProtocolError `feed` throws, or nothing if it does not throw.
std::optional<std::string> feed_error(FrameReader& reader, std::string_view bytes) {
  try {
    reader.feed(bytes.data(), bytes.size());
  } catch (const ProtocolError& e) {
    return std::string(e.what());
  }
  return std::nullopt;
}

void feed(FrameReader& reader, std::string_view bytes) { reader.feed(bytes.data(), bytes.size()); }

/// Feeds `bytes` one at a time, taking every frame as soon as it is complete.
std::vector<std::string> feed_byte_by_byte(FrameReader& reader, std::string_view bytes) {
  std::vector<std::string> frames;
  for (const char c : bytes) {
    reader.feed(&c, 1);
    while (auto frame = reader.next()) frames.push_back(std::move(*frame));
  }
  return frames;
}

const Usage sample_usage{1500, 1200, 300, 4 << 20};

const FailureReason all_reasons[] = {FailureReason::library_not_found, FailureReason::not_a_library,
                                     FailureReason::symbol_not_found, FailureReason::threw,
                                     FailureReason::memory_limit, FailureReason::dependency_not_found,
                                     FailureReason::result_too_large, FailureReason::program_not_found,
                                     FailureReason::not_executable, FailureReason::program_signalled,
                                     FailureReason::program_cpu_limit, FailureReason::program_start_failed};

// ---------------------------------------------------------------------------------------
// Round trips and the encoded layout
// ---------------------------------------------------------------------------------------

TEST(CodecRoundTrip, Hello) {
  const Message message = Hello{protocol_version, 4242};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(CodecRoundTrip, InvokeWithSeveralArgsIncludingEmptyAndBinaryBytes) {
  const Message message = Invoke{std::numeric_limits<std::uint64_t>::max(),
                                 "/opt/lib/libplugin.so",
                                 "run",
                                 {"", "plain", std::string("\0nul\xff\x80\x01", 7), "", "utf-8 \xc3\xa9"}, {}, {}};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(CodecRoundTrip, InvokeWithNoArgs) {
  const Message message = Invoke{7, "libx.so", "main", {}, {}, {}};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(CodecRoundTrip, InvokeWithASearchPath) {
  const Message message = Invoke{7, "/p/libx.so", "main", {"a"}, {"/opt/deps", "/srv/more deps"}, std::string("in\0put", 6)};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(CodecRoundTrip, ResultWithNegativeCode) {
  const Message message = Result{9, -1, sample_usage, std::nullopt};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(CodecRoundTrip, ResultWithExtremeCodesAndNegativeUsage) {
  const Message lowest = Result{1, std::numeric_limits<std::int32_t>::min(), {-1, -2, -3, -4}, std::string()};
  const Message highest = Result{
      2,
      std::numeric_limits<std::int32_t>::max(),
      {std::numeric_limits<std::int64_t>::max(), 0, 0, std::numeric_limits<std::int64_t>::min()},
      std::string("\0\xff", 2)};
  EXPECT_EQ(decode(encode(lowest)), lowest);
  EXPECT_EQ(decode(encode(highest)), highest);
}

TEST(CodecRoundTrip, FailedForEveryReason) {
  for (const FailureReason reason : all_reasons) {
    SCOPED_TRACE(static_cast<int>(reason));
    const Message message = Failed{3, reason, "symbol 'run' not found", sample_usage};
    EXPECT_EQ(decode(encode(message)), message);
  }
}

TEST(CodecRoundTrip, SetDataWithNulBytes) {
  const Message message = SetData{"key", std::string("a\0b\0\0c\xff", 7)};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(CodecRoundTrip, SetDataWithEmptyValue) {
  const Message message = SetData{"empty", ""};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(CodecRoundTrip, GetData) {
  const Message message = GetData{11, "some key"};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(CodecRoundTrip, DataValueFound) {
  const Message message = DataValue{12, true, std::string("\0value\0", 7)};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(CodecRoundTrip, DataValueNotFound) {
  const Message message = DataValue{13, false, ""};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(CodecLayout, EncodeWritesTheDocumentedArrays) {
  EXPECT_EQ(encode(Hello{1, 77}), Body().array(3).integer(1).integer(1).integer(77).build());
  EXPECT_EQ(encode(Invoke{5, "lib", "sym", {"a", ""}, {"/d"}, "in"}),
            Body().array(7).integer(2).integer(5).str("lib").str("sym").array(2).str("a").str("").array(1).str("/d").bin("in").build());
  EXPECT_EQ(encode(Result{6, -3, {1, 2, 3, 4}, std::nullopt}),
            Body().array(5).integer(3).integer(6).integer(-3).usage().nil().build());
  EXPECT_EQ(encode(Failed{8, FailureReason::symbol_not_found, "m", {1, 2, 3, 4}, "std::bad_cast", 0}),
            Body().array(7).integer(4).integer(8).integer(3).str("m").usage().str("std::bad_cast").integer(0).build());
  EXPECT_EQ(encode(::isolator::wire::Run{12, {"/bin/sh", "-c"}, {"A=1"}, "/tmp", "in", 1500}),
            Body().array(7).integer(14).integer(12).array(2).str("/bin/sh").str("-c").array(1).str("A=1")
                .str("/tmp").bin("in").integer(1500).build());
  // SetData and DataValue values are bin, not str.
  EXPECT_EQ(encode(SetData{"k", "v"}), Body().array(3).integer(5).str("k").bin("v").build());
  EXPECT_EQ(encode(GetData{9, "k"}), Body().array(3).integer(6).integer(9).str("k").build());
  EXPECT_EQ(encode(DataValue{10, true, "v"}),
            Body().array(4).integer(7).integer(10).boolean(true).bin("v").build());
  EXPECT_EQ(encode(Started{11}), Body().array(2).integer(8).integer(11).build());
}

TEST(CodecRoundTrip, FailedCarriesTheExceptionsType) {
  const Message message = Failed{3, FailureReason::threw, "boom", sample_usage, "parser::SyntaxError<char>"};
  EXPECT_EQ(decode(encode(message)), message);
}

// A Failed of an older protocol (no exception type, version 5; no signal, version 6) is
// refused, not read as one without it.
TEST(DecodeArity, FailedOfOlderVersionsWithoutTheirLaterFieldsIsRejected) {
  const std::string v5 = Body().header(MessageType::failed, 4).integer(1).integer(4).str("m").usage().build();
  EXPECT_TRUE(RejectedWith(v5, "Failed: expected 6 fields"));
  const std::string v6 =
      Body().header(MessageType::failed, 5).integer(1).integer(4).str("m").usage().str("").build();
  EXPECT_TRUE(RejectedWith(v6, "Failed: expected 6 fields"));
}

TEST(CodecRoundTrip, FailedCarriesTheProgramsSignal) {
  const Message message = Failed{3, FailureReason::program_signalled, "'sh' was killed by SIGSEGV", sample_usage, "", 11};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(CodecRoundTrip, RunWithEveryField) {
  const Message full = ::isolator::wire::Run{7, {"/usr/bin/env", "a b", std::string("\xff", 1)}, {"A=1", "EMPTY="}, "/work",
                           std::string("line\0two\n", 9), 2500};
  EXPECT_EQ(decode(encode(full)), full);
  const Message bare = ::isolator::wire::Run{8, {"true"}, {}, "", "", 0};
  EXPECT_EQ(decode(encode(bare)), bare);
}

TEST(DecodeTypes, RunFieldsOfTheWrongTypeAreRejectedByName) {
  EXPECT_TRUE(RejectedWith(Body().header(MessageType::run, 6).integer(1).array(1).integer(5).array(0).str("")
                               .bin("").integer(0).build(),
                           "Run.argv[0]: expected str"));
  EXPECT_TRUE(RejectedWith(Body().header(MessageType::run, 6).integer(1).array(0).array(0).str("").str("")
                               .integer(0).build(),
                           "Run.input: expected bin"));
  EXPECT_TRUE(RejectedWith(Body().header(MessageType::run, 6).integer(1).array(0).array(0).str("").bin("")
                               .integer(-1).build(),
                           "Run.cpu_limit_ms: expected non-negative integer"));
  EXPECT_TRUE(RejectedWith(Body().header(MessageType::run, 5).integer(1).array(0).array(0).str("").bin("").build(),
                           "Run: expected 6 fields"));
}

TEST(CodecRoundTrip, CrashWithFramesAndWithout) {
  const Message named = Crash{11, 1, 0, "pihost", "", {StackFrame{"ns::f(int)", "/p/libx.so", 0x1139, "/src/x.cpp", 12},
                                                      StackFrame{"", "/p/libx.so", 0x2000, "", 0},
                                                      StackFrame{"", "", 0x7fff0000, "", 0}}};
  EXPECT_EQ(decode(encode(named)), named);
  const Message empty = Crash{6, -6, 0, "worker", "no stack: the crashed instruction was not found", {}};
  EXPECT_EQ(decode(encode(empty)), empty);
  EXPECT_EQ(encode(Crash{11, 2, 16, "t", "n", {StackFrame{"f", "l", 3, "s", 4}}}),
            Body().array(7).integer(13).integer(11).integer(2).integer(16).str("t").str("n")
                .array(5).str("f").str("l").integer(3).str("s").integer(4).build());
  EXPECT_EQ(sender_of(named), Sender::child);
  EXPECT_EQ(message_name(named), "Crash");
}

TEST(DecodeMalformed, CrashFramesMustComeInFivesOfTheRightTypes) {
  const auto crash = [](Body& body) -> Body& {
    return body.header(MessageType::crash, 6).integer(11).integer(1).integer(0).str("t").str("");
  };
  Body four;
  EXPECT_TRUE(RejectedWith(crash(four).array(4).str("f").str("l").integer(1).str("s").build(),
                           "Crash.frames: 4 fields, not 5 per frame"));
  Body offset_as_str;
  EXPECT_TRUE(RejectedWith(crash(offset_as_str).array(5).str("f").str("l").str("1").str("s").integer(1).build(),
                           "Crash.frames.offset: expected non-negative integer, got str"));
  Body negative_line;
  EXPECT_TRUE(RejectedWith(crash(negative_line).array(5).str("f").str("l").integer(1).str("s").integer(-1).build(),
                           "Crash.frames.line"));
  EXPECT_TRUE(RejectedWith(Body().header(MessageType::crash, 6).integer(11).integer(1).integer(-1).str("t").str("").array(0).build(),
                           "Crash.address"));
}

TEST(DecodeMalformed, ACrashWithMoreFramesThanTheMostIsRejected) {
  Body body;
  body.header(MessageType::crash, 6).integer(11).integer(1).integer(0).str("t").str("");
  body.array(static_cast<std::uint32_t>((max_stack_frames + 1) * 5));
  for (std::size_t i = 0; i <= max_stack_frames; ++i) body.str("").str("").integer(0).str("").integer(0);
  EXPECT_TRUE(RejectedWith(body.build(), "more than 256"));
}

TEST(CodecRoundTrip, CallHostAndHostAnswer) {
  const Message call = CallHost{7, 3, "logger", std::string("a\0b", 3)};
  EXPECT_EQ(decode(encode(call)), call);
  EXPECT_EQ(encode(call), Body().array(5).integer(11).integer(7).integer(3).str("logger").bin(std::string("a\0b", 3)).build());
  for (const HostStatus status : {HostStatus::ok, HostStatus::unknown_service, HostStatus::threw, HostStatus::busy,
                                  HostStatus::ended}) {
    const Message answer = HostAnswer{3, status, "x"};
    EXPECT_EQ(decode(encode(answer)), answer);
  }
  EXPECT_EQ(encode(HostAnswer{3, HostStatus::busy, ""}),
            Body().array(4).integer(12).integer(3).integer(3).bin("").build());
}

TEST(DecodeFieldType, CallHostServiceAsBinNamesCallHostService) {
  const std::string body = Body().header(MessageType::call_host, 4).integer(1).integer(2).bin("s").bin("").build();
  EXPECT_TRUE(RejectedWith(body, "CallHost.service: expected str, got bin"));
}

TEST(DecodeFieldType, HostAnswerBytesAsStrNamesHostAnswerBytes) {
  const std::string body = Body().header(MessageType::host_answer, 3).integer(1).integer(0).str("x").build();
  EXPECT_TRUE(RejectedWith(body, "HostAnswer.bytes: expected bin, got str"));
}

TEST(DecodeRange, HostAnswerWithAnUnknownStatusIsRejected) {
  for (const int status : {5, 99, 255}) {
    SCOPED_TRACE(status);
    const std::string body = Body().header(MessageType::host_answer, 3).integer(1).integer(status).bin("").build();
    EXPECT_TRUE(RejectedWith(body, "status"));
  }
}

TEST(CodecRoundTrip, PingAndPong) {
  EXPECT_EQ(decode(encode(Ping{7})), Message(Ping{7}));
  EXPECT_EQ(decode(encode(Pong{8})), Message(Pong{8}));
  EXPECT_EQ(encode(Ping{7}), Body().array(2).integer(9).integer(7).build());
}

TEST(CodecRoundTrip, Started) {
  const Message message = Started{std::numeric_limits<std::uint64_t>::max()};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(EncodeFrame, PrefixIsFourByteBigEndianBodyLength) {
  // A body above 64 KiB, so three of the four prefix bytes are non-zero.
  const Message message = SetData{"k", std::string(0x012345, 'x')};
  const std::string body = encode(message);
  const std::string frame = encode_frame(message);
  const auto n = static_cast<std::uint32_t>(body.size());
  ASSERT_GT(n, 0xffffu);

  ASSERT_EQ(frame.size(), frame_header_bytes + body.size());
  EXPECT_EQ(static_cast<unsigned char>(frame[0]), (n >> 24) & 0xff);
  EXPECT_EQ(static_cast<unsigned char>(frame[1]), (n >> 16) & 0xff);
  EXPECT_EQ(static_cast<unsigned char>(frame[2]), (n >> 8) & 0xff);
  EXPECT_EQ(static_cast<unsigned char>(frame[3]), n & 0xff);
  EXPECT_EQ(frame.substr(frame_header_bytes), body);
}

TEST(EncodeFrame, SmallFrameHasExpectedPrefixBytes) {
  const Message message = GetData{1, "k"};
  const std::string body = encode(message);
  ASSERT_LT(body.size(), 256u);
  EXPECT_EQ(encode_frame(message), raw_bytes({0, 0, 0, static_cast<unsigned>(body.size())}) + body);
}

TEST(MessageName, NamesEveryType) {
  EXPECT_EQ(message_name(Hello{}), "Hello");
  EXPECT_EQ(message_name(Invoke{}), "Invoke");
  EXPECT_EQ(message_name(Result{}), "Result");
  EXPECT_EQ(message_name(Failed{}), "Failed");
  EXPECT_EQ(message_name(SetData{}), "SetData");
  EXPECT_EQ(message_name(GetData{}), "GetData");
  EXPECT_EQ(message_name(DataValue{}), "DataValue");
  EXPECT_EQ(message_name(Started{}), "Started");
  EXPECT_EQ(message_name(Ping{}), "Ping");
  EXPECT_EQ(message_name(Pong{}), "Pong");
  EXPECT_EQ(message_name(CallHost{}), "CallHost");
  EXPECT_EQ(message_name(HostAnswer{}), "HostAnswer");
  EXPECT_EQ(message_name(Crash{}), "Crash");
  EXPECT_EQ(message_name(::isolator::wire::Run{}), "Run");
}

// ---------------------------------------------------------------------------------------
// Size bombs: headers claiming far more than the body holds
// ---------------------------------------------------------------------------------------

TEST(DecodeBombs, Array32ClaimingFourBillionElementsThrowsProtocolError) {
  // Must be rejected by the array limit, not by a failed 64 GiB allocation.
  EXPECT_THROW(decode(raw_bytes({0xdd, 0xff, 0xff, 0xff, 0xff})), ProtocolError);
}

TEST(DecodeBombs, Array32JustAboveMaxArgsInTinyBodyThrowsProtocolError) {
  const auto n = static_cast<std::uint32_t>(max_args + 1);
  EXPECT_THROW(decode(raw_bytes({0xdd, (n >> 24) & 0xff, (n >> 16) & 0xff, (n >> 8) & 0xff, n & 0xff})),
               ProtocolError);
}

TEST(DecodeBombs, Array16ClaimingHugeSizeInTinyBodyThrowsProtocolError) {
  EXPECT_THROW(decode(raw_bytes({0xdc, 0xff, 0xff})), ProtocolError);
  EXPECT_THROW(decode(raw_bytes({0xdc, 0xff, 0xff, 0x01})), ProtocolError);
}

TEST(DecodeBombs, Map32ClaimingHugeSizeInTinyBodyThrowsProtocolError) {
  EXPECT_THROW(decode(raw_bytes({0xdf, 0xff, 0xff, 0xff, 0xff})), ProtocolError);
}

TEST(DecodeBombs, Str32ClaimingHugeSizeInTinyBodyThrowsProtocolError) {
  EXPECT_THROW(decode(raw_bytes({0xdb, 0xff, 0xff, 0xff, 0xff, 'a'})), ProtocolError);
}

TEST(DecodeBombs, Bin32ClaimingHugeSizeInTinyBodyThrowsProtocolError) {
  EXPECT_THROW(decode(raw_bytes({0xc6, 0xff, 0xff, 0xff, 0xff, 'a'})), ProtocolError);
}

TEST(DecodeBombs, InvokeArgsArray32BombThrowsProtocolError) {
  const std::string body = Body()
                               .header(MessageType::invoke, 6)
                               .integer(1)
                               .str("lib")
                               .str("sym")
                               .raw(raw_bytes({0xdd, 0xff, 0xff, 0xff, 0xff}))
                               .array(0).bin("").build();
  EXPECT_THROW(decode(body), ProtocolError);
}

TEST(DecodeBombs, SetDataValueBin32BombThrowsProtocolError) {
  const std::string body =
      Body().header(MessageType::set_data, 2).str("k").raw(raw_bytes({0xc6, 0xff, 0xff, 0xff, 0xff})).build();
  EXPECT_THROW(decode(body), ProtocolError);
}

TEST(DecodeLimits, InvokeWithExactlyMaxArgsIsAccepted) {
  const Message message = Invoke{1, "lib", "sym", std::vector<std::string>(max_args), {}, {}};
  EXPECT_EQ(decode(encode(message)), message);
}

TEST(DecodeLimits, InvokeWithMoreThanMaxArgsIsRejected) {
  const Message message = Invoke{1, "lib", "sym", std::vector<std::string>(max_args + 1), {}, {}};
  EXPECT_THROW(decode(encode(message)), ProtocolError);
}

// ---------------------------------------------------------------------------------------
// Malformed msgpack: truncation, trailing bytes, nesting, non-array bodies
// ---------------------------------------------------------------------------------------

TEST(DecodeMalformed, EmptyBodyThrowsProtocolError) { EXPECT_THROW(decode(""), ProtocolError); }

TEST(DecodeMalformed, TruncatedInvokeMentionsTruncated) {
  std::string body = encode(Invoke{1, "lib", "sym", {"arg one", "arg two"}, {}, {}});
  body.pop_back();
  EXPECT_TRUE(RejectedWith(body, "truncated"));
}

TEST(DecodeMalformed, EveryProperPrefixOfAValidBodyIsRejected) {
  const std::string body = encode(Failed{1, FailureReason::threw, "boom", sample_usage});
  for (std::size_t length = 1; length < body.size(); ++length) {
    SCOPED_TRACE(length);
    EXPECT_TRUE(RejectedWith(body.substr(0, length), "truncated"));
  }
}

TEST(DecodeMalformed, TrailingByteAfterValidMessageMentionsTrailing) {
  const std::string body = encode(Hello{protocol_version, 1}) + raw_bytes({0xc0});
  EXPECT_TRUE(RejectedWith(body, "trailing"));
}

TEST(DecodeMalformed, TwoMessagesInOneBodyMentionsTrailing) {
  const std::string body = encode(GetData{1, "a"}) + encode(GetData{2, "b"});
  EXPECT_TRUE(RejectedWith(body, "trailing"));
}

TEST(DecodeMalformed, HundredNestedArraysHitTheDepthLimit) {
  // A complete, well-formed object: [[[...[nil]...]]], 100 levels deep.
  Body body;
  for (int i = 0; i < 100; ++i) body.array(1);
  body.nil();
  EXPECT_TRUE(RejectedWith(body.build(), "nesting"));
}

TEST(DecodeMalformed, DepthLimitIsExactlyMaxDepth) {
  const auto nested = [](std::size_t levels) {
    Body body;
    for (std::size_t i = 0; i < levels; ++i) body.array(1);
    body.nil();
    return body.build();
  };
  // max_depth levels parse (and are then rejected for their content, not their depth)...
  const std::string allowed = nested(max_depth);
  EXPECT_THROW(decode(allowed), ProtocolError);
  EXPECT_FALSE(RejectedWith(allowed, "nesting"));
  // ...one more level is the depth limit.
  EXPECT_TRUE(RejectedWith(nested(max_depth + 1), "nesting"));
}

TEST(DecodeMalformed, InvokeArgNestedBeyondMaxDepthIsRejected) {
  const std::string body = Body()
                               .header(MessageType::invoke, 6)
                               .integer(1)
                               .str("lib")
                               .str("sym")
                               .array(1)
                               .array(1)
                               .array(1)
                               .str("deep")
                               .array(0).bin("").build();
  EXPECT_TRUE(RejectedWith(body, "nesting"));
}

TEST(DecodeMalformed, BodyThatIsAnIntegerIsRejected) {
  EXPECT_TRUE(RejectedWith(Body().integer(2).build(), "array"));
}

TEST(DecodeMalformed, BodyThatIsAnEmptyMapIsRejected) {
  EXPECT_THROW(decode(Body().map(0).build()), ProtocolError);
}

TEST(DecodeMalformed, BodyThatIsANonEmptyMapIsRejected) {
  EXPECT_THROW(decode(Body().map(1).integer(0).integer(2).build()), ProtocolError);
}

TEST(DecodeMalformed, BodyThatIsAStringIsRejected) {
  EXPECT_THROW(decode(Body().str("Hello").build()), ProtocolError);
}

TEST(DecodeMalformed, EmptyArrayIsRejected) { EXPECT_TRUE(RejectedWith(Body().array(0).build(), "array")); }

TEST(DecodeMalformed, ReservedByteC1IsRejected) { EXPECT_THROW(decode(raw_bytes({0xc1})), ProtocolError); }

TEST(DecodeMalformed, ExtObjectIsRejected) {
  // fixext1 as Invoke's library.
  const std::string body = Body()
                               .header(MessageType::invoke, 6)
                               .integer(1)
                               .raw(raw_bytes({0xd4, 0x01, 0x00}))
                               .str("sym")
                               .array(0)
                               .array(0).bin("").build();
  EXPECT_THROW(decode(body), ProtocolError);
}

// ---------------------------------------------------------------------------------------
// Type tags
// ---------------------------------------------------------------------------------------

TEST(DecodeTypeTag, UnknownType99IsRejected) {
  EXPECT_TRUE(
      RejectedWith(Body().array(3).integer(99).integer(1).integer(2).build(), "unknown message type"));
}

TEST(DecodeTypeTag, TypeZeroIsRejected) {
  EXPECT_TRUE(RejectedWith(Body().array(3).integer(0).integer(1).integer(2).build(), "unknown message type"));
}

TEST(DecodeTypeTag, TypeOneAboveLastIsRejected) {
  const auto past_last = static_cast<int>(MessageType::run) + 1;
  EXPECT_TRUE(
      RejectedWith(Body().array(3).integer(past_last).integer(1).integer(2).build(), "unknown message type"));
}

TEST(DecodeTypeTag, StringTagIsRejected) {
  EXPECT_TRUE(RejectedWith(Body().array(3).str("Hello").integer(1).integer(2).build(), "message type"));
}

TEST(DecodeTypeTag, NegativeTagIsRejected) {
  EXPECT_THROW(decode(Body().array(3).integer(-1).integer(1).integer(2).build()), ProtocolError);
}

TEST(DecodeTypeTag, TagBeyond8BitsIsNotTruncatedToAValidType) {
  // 257 would be Hello (1) if the tag were narrowed to uint8 before checking.
  EXPECT_TRUE(
      RejectedWith(Body().array(3).integer(257).integer(1).integer(2).build(), "unknown message type"));
}

// ---------------------------------------------------------------------------------------
// Arity
// ---------------------------------------------------------------------------------------

TEST(DecodeArity, ResultWithTwoFieldsIsRejected) {
  const std::string body = Body().header(MessageType::result, 2).integer(1).integer(0).build();
  EXPECT_TRUE(RejectedWith(body, "expected 4 fields"));
}

TEST(DecodeArity, ResultWithFiveFieldsIsRejected) {
  const std::string body = Body().header(MessageType::result, 5).integer(1).integer(0).usage().nil().nil().build();
  EXPECT_TRUE(RejectedWith(body, "expected 4 fields"));
}

// A Result of protocol version 3 (no bytes field) is refused, not read as one without bytes.
TEST(DecodeArity, ResultOfVersion3WithoutBytesIsRejected) {
  const std::string body = Body().header(MessageType::result, 3).integer(1).integer(0).usage().build();
  EXPECT_TRUE(RejectedWith(body, "expected 4 fields"));
}

TEST(DecodeFieldType, ResultBytesAsStrNamesResultBytes) {
  const std::string body = Body().header(MessageType::result, 4).integer(1).integer(0).usage().str("x").build();
  EXPECT_TRUE(RejectedWith(body, "Result.bytes: expected bin or nil, got str"));
}

TEST(DecodeFieldType, InvokeInputAsStrNamesInvokeInput) {
  const std::string body =
      Body().header(MessageType::invoke, 6).integer(1).str("lib").str("sym").array(0).array(0).str("x").build();
  EXPECT_TRUE(RejectedWith(body, "Invoke.input: expected bin, got str"));
}

TEST(DecodeFieldType, InvokeInputAsNilNamesInvokeInput) {
  const std::string body =
      Body().header(MessageType::invoke, 6).integer(1).str("lib").str("sym").array(0).array(0).nil().build();
  EXPECT_TRUE(RejectedWith(body, "Invoke.input: expected bin, got nil"));
}

TEST(DecodeArity, EveryMessageRejectsOneFieldTooFewOrTooMany) {
  struct Shape {
    MessageType type;
    std::uint32_t fields;
  };
  const Shape shapes[] = {{MessageType::hello, 2},      {MessageType::invoke, 6},
                          {MessageType::result, 4},     {MessageType::failed, 6},
                          {MessageType::set_data, 2},   {MessageType::get_data, 2},
                          {MessageType::data_value, 3}, {MessageType::started, 1},
                          {MessageType::ping, 1},       {MessageType::pong, 1},
                          {MessageType::call_host, 4},  {MessageType::host_answer, 3},
                          {MessageType::crash, 6},      {MessageType::run, 6}};
  for (const Shape& shape : shapes) {
    const std::string expected = "expected " + std::to_string(shape.fields) + " fields";
    for (const std::uint32_t count : {0u, shape.fields - 1, shape.fields + 1}) {
      SCOPED_TRACE(testing::Message()
                   << "type " << static_cast<int>(shape.type) << " with " << count << " fields");
      Body body;
      body.header(shape.type, count);
      for (std::uint32_t i = 0; i < count; ++i) body.nil();
      EXPECT_TRUE(RejectedWith(body.build(), expected));
    }
  }
}

TEST(DecodeArity, UsageWithThreeFieldsIsRejected) {
  const std::string body = Body()
                               .header(MessageType::result, 4)
                               .integer(1)
                               .integer(0)
                               .array(3)
                               .integer(1)
                               .integer(2)
                               .integer(3)
                               .nil().build();
  EXPECT_TRUE(RejectedWith(body, "Result.usage"));
  EXPECT_TRUE(RejectedWith(body, "expected 4 fields"));
}

TEST(DecodeArity, UsageWithFiveFieldsIsRejected) {
  const std::string body = Body()
                               .header(MessageType::failed, 6)
                               .integer(1)
                               .integer(4)
                               .str("m")
                               .array(5)
                               .integer(1)
                               .integer(2)
                               .integer(3)
                               .integer(4)
                               .integer(5)
                               .str("")
                               .integer(0)
                               .build();
  EXPECT_TRUE(RejectedWith(body, "Failed.usage"));
  EXPECT_TRUE(RejectedWith(body, "expected 4 fields"));
}

// ---------------------------------------------------------------------------------------
// Field types: every error names the message and the field
// ---------------------------------------------------------------------------------------

TEST(DecodeFieldType, InvokeIdAsStringNamesInvokeId) {
  const std::string body =
      Body().header(MessageType::invoke, 6).str("1").str("lib").str("sym").array(0).array(0).bin("").build();
  EXPECT_TRUE(RejectedWith(body, "Invoke.id"));
}

TEST(DecodeFieldType, InvokeIdNegativeNamesInvokeId) {
  const std::string body =
      Body().header(MessageType::invoke, 6).integer(-1).str("lib").str("sym").array(0).array(0).bin("").build();
  EXPECT_TRUE(RejectedWith(body, "Invoke.id"));
}

TEST(DecodeFieldType, InvokeLibraryAsBinNamesInvokeLibrary) {
  const std::string body =
      Body().header(MessageType::invoke, 6).integer(1).bin("lib").str("sym").array(0).array(0).bin("").build();
  EXPECT_TRUE(RejectedWith(body, "Invoke.library"));
}

TEST(DecodeFieldType, InvokeSymbolAsNilNamesInvokeSymbol) {
  const std::string body = Body().header(MessageType::invoke, 6).integer(1).str("lib").nil().array(0).array(0).bin("").build();
  EXPECT_TRUE(RejectedWith(body, "Invoke.symbol"));
}

TEST(DecodeFieldType, InvokeArgsNotAnArrayNamesInvokeArgs) {
  const std::string body =
      Body().header(MessageType::invoke, 6).integer(1).str("lib").str("sym").str("a b c").array(0).bin("").build();
  EXPECT_TRUE(RejectedWith(body, "Invoke.args"));
}

TEST(DecodeFieldType, InvokeArgIntegerNamesItsIndex) {
  const std::string body = Body()
                               .header(MessageType::invoke, 6)
                               .integer(1)
                               .str("lib")
                               .str("sym")
                               .array(3)
                               .str("a")
                               .integer(42)
                               .str("c")
                               .array(0).bin("").build();
  EXPECT_TRUE(RejectedWith(body, "Invoke.args[1]"));
}

TEST(DecodeFieldType, InvokeArgBinNamesItsIndex) {
  const std::string body = Body()
                               .header(MessageType::invoke, 6)
                               .integer(1)
                               .str("lib")
                               .str("sym")
                               .array(3)
                               .str("a")
                               .str("b")
                               .bin("c")
                               .array(0).bin("").build();
  EXPECT_TRUE(RejectedWith(body, "Invoke.args[2]"));
}

TEST(DecodeFieldType, InvokeSearchPathEntryIntegerNamesItsIndex) {
  const std::string body =
      Body().header(MessageType::invoke, 6).integer(1).str("lib").str("sym").array(0).array(2).str("/d").integer(3).bin("").build();
  EXPECT_TRUE(RejectedWith(body, "Invoke.search_path[1]"));
}

TEST(DecodeArity, InvokeOfVersion2WithoutASearchPathIsRejected) {
  const std::string body = Body().header(MessageType::invoke, 4).integer(1).str("lib").str("sym").array(0).build();
  EXPECT_TRUE(RejectedWith(body, "expected 6 fields"));
}

TEST(DecodeArity, InvokeOfVersion3WithoutInputIsRejected) {
  const std::string body =
      Body().header(MessageType::invoke, 5).integer(1).str("lib").str("sym").array(0).array(0).build();
  EXPECT_TRUE(RejectedWith(body, "expected 6 fields"));
}

TEST(DecodeFieldType, HelloVersionNegativeNamesHelloVersion) {
  const std::string body = Body().header(MessageType::hello, 2).integer(-1).integer(10).build();
  EXPECT_TRUE(RejectedWith(body, "Hello.version"));
}

TEST(DecodeFieldType, HelloPidAsFloatNamesHelloPid) {
  const std::string body = Body().header(MessageType::hello, 2).integer(1).float64(10.0).build();
  EXPECT_TRUE(RejectedWith(body, "Hello.pid"));
}

TEST(DecodeFieldType, ResultCodeAsStringNamesResultCode) {
  const std::string body = Body().header(MessageType::result, 4).integer(1).str("0").usage().nil().build();
  EXPECT_TRUE(RejectedWith(body, "Result.code"));
}

TEST(DecodeFieldType, ResultUsageNotAnArrayNamesResultUsage) {
  const std::string body = Body().header(MessageType::result, 4).integer(1).integer(0).integer(5).nil().build();
  EXPECT_TRUE(RejectedWith(body, "Result.usage"));
}

TEST(DecodeFieldType, UsageFieldAsStringNamesTheUsageField) {
  const std::string body = Body()
                               .header(MessageType::result, 4)
                               .integer(1)
                               .integer(0)
                               .array(4)
                               .integer(1)
                               .integer(2)
                               .str("3")
                               .integer(4)
                               .nil().build();
  EXPECT_TRUE(RejectedWith(body, "Result.usage.cpu_sys_us"));
}

TEST(DecodeFieldType, FailedMessageAsIntegerNamesFailedMessage) {
  const std::string body =
      Body().header(MessageType::failed, 6).integer(1).integer(4).integer(0).usage().str("").integer(0).build();
  EXPECT_TRUE(RejectedWith(body, "Failed.message"));
}

TEST(DecodeFieldType, SetDataValueAsStrNamesSetDataValue) {
  const std::string body = Body().header(MessageType::set_data, 2).str("k").str("v").build();
  EXPECT_TRUE(RejectedWith(body, "SetData.value"));
}

TEST(DecodeFieldType, SetDataKeyAsBinNamesSetDataKey) {
  const std::string body = Body().header(MessageType::set_data, 2).bin("k").bin("v").build();
  EXPECT_TRUE(RejectedWith(body, "SetData.key"));
}

TEST(DecodeFieldType, GetDataIdAsNilNamesGetDataId) {
  const std::string body = Body().header(MessageType::get_data, 2).nil().str("k").build();
  EXPECT_TRUE(RejectedWith(body, "GetData.id"));
}

TEST(DecodeFieldType, DataValueFoundAsIntegerNamesDataValueFound) {
  const std::string body = Body().header(MessageType::data_value, 3).integer(1).integer(1).bin("v").build();
  EXPECT_TRUE(RejectedWith(body, "DataValue.found"));
}

TEST(DecodeFieldType, DataValueValueAsStrNamesDataValueValue) {
  const std::string body =
      Body().header(MessageType::data_value, 3).integer(1).boolean(true).str("v").build();
  EXPECT_TRUE(RejectedWith(body, "DataValue.value"));
}

// ---------------------------------------------------------------------------------------
// Integer ranges and enum values
// ---------------------------------------------------------------------------------------

TEST(DecodeRange, ResultCodeTwoToTheFortyIsRejected) {
  const std::string body =
      Body().header(MessageType::result, 4).integer(1).integer(std::int64_t{1} << 40).usage().nil().build();
  EXPECT_TRUE(RejectedWith(body, "Result.code"));
}

TEST(DecodeRange, ResultCodeJustOutsideInt32IsRejected) {
  const std::int64_t above = std::int64_t{std::numeric_limits<std::int32_t>::max()} + 1;
  const std::int64_t below = std::int64_t{std::numeric_limits<std::int32_t>::min()} - 1;
  EXPECT_TRUE(RejectedWith(Body().header(MessageType::result, 4).integer(1).integer(above).usage().nil().build(),
                           "Result.code"));
  EXPECT_TRUE(RejectedWith(Body().header(MessageType::result, 4).integer(1).integer(below).usage().nil().build(),
                           "Result.code"));
}

TEST(DecodeRange, HelloVersionAboveUint32IsRejected) {
  const std::string body =
      Body().header(MessageType::hello, 2).integer(std::uint64_t{1} << 32).integer(1).build();
  EXPECT_TRUE(RejectedWith(body, "Hello.version"));
}

TEST(DecodeRange, HelloPidAboveInt64IsRejected) {
  const std::string body = Body()
                               .header(MessageType::hello, 2)
                               .integer(1)
                               .integer(std::numeric_limits<std::uint64_t>::max())
                               .build();
  EXPECT_TRUE(RejectedWith(body, "Hello.pid"));
}

TEST(DecodeRange, UsageWallAboveInt64IsRejected) {
  const std::string body = Body()
                               .header(MessageType::result, 4)
                               .integer(1)
                               .integer(0)
                               .array(4)
                               .integer(std::uint64_t{1} << 63)
                               .integer(2)
                               .integer(3)
                               .integer(4)
                               .nil().build();
  EXPECT_TRUE(RejectedWith(body, "Result.usage.wall_us"));
}

TEST(DecodeRange, FailedWithUnknownReasonNumbersIsRejected) {
  for (const int reason : {0, 13, 99, 255}) {
    SCOPED_TRACE(reason);
    const std::string body =
        Body().header(MessageType::failed, 6).integer(1).integer(reason).str("m").usage().str("").integer(0).build();
    EXPECT_TRUE(RejectedWith(body, "reason"));
  }
}

TEST(DecodeRange, FailedReasonBeyond8BitsIsNotTruncatedToAValidReason) {
  // 257 would be library_not_found (1) if narrowed to uint8 before checking.
  const std::string body =
      Body().header(MessageType::failed, 6).integer(1).integer(257).str("m").usage().str("").integer(0).build();
  EXPECT_TRUE(RejectedWith(body, "Failed.reason"));
}

TEST(DecodeRange, FailedReasonNegativeIsRejected) {
  const std::string body =
      Body().header(MessageType::failed, 6).integer(1).integer(-1).str("m").usage().str("").integer(0).build();
  EXPECT_TRUE(RejectedWith(body, "Failed.reason"));
}

// ---------------------------------------------------------------------------------------
// FrameReader
// ---------------------------------------------------------------------------------------

TEST(FrameReader, DefaultMaximumIsDefaultMaxFrameBytes) {
  EXPECT_EQ(FrameReader().max_frame_bytes(), default_max_frame_bytes);
  EXPECT_EQ(FrameReader(1024).max_frame_bytes(), 1024u);
}

TEST(FrameReader, OversizePrefixThrowsOnItsFourthByte) {
  FrameReader reader(1024);
  const std::string header = raw_bytes({0x00, 0x00, 0x08, 0x00});  // 2048
  EXPECT_NO_THROW(feed(reader, header.substr(0, 1)));
  EXPECT_NO_THROW(feed(reader, header.substr(1, 1)));
  EXPECT_NO_THROW(feed(reader, header.substr(2, 1)));
  EXPECT_THROW(feed(reader, header.substr(3, 1)), ProtocolError);
}

TEST(FrameReader, MaxUint32PrefixThrowsOnItsFourthByteWithDefaultMaximum) {
  FrameReader reader;
  const std::string header = raw_bytes({0xff, 0xff, 0xff, 0xff});
  EXPECT_NO_THROW(feed(reader, header.substr(0, 1)));
  EXPECT_NO_THROW(feed(reader, header.substr(1, 1)));
  EXPECT_NO_THROW(feed(reader, header.substr(2, 1)));
  EXPECT_THROW(feed(reader, header.substr(3, 1)), ProtocolError);
}

TEST(FrameReader, PrefixEqualToMaximumIsAcceptedAndOneMoreIsRejected) {
  FrameReader at_max(1024);
  EXPECT_NO_THROW(feed(at_max, raw_bytes({0x00, 0x00, 0x04, 0x00})));
  FrameReader above_max(1024);
  EXPECT_THROW(feed(above_max, raw_bytes({0x00, 0x00, 0x04, 0x01})), ProtocolError);
}

TEST(FrameReader, OversizeErrorNamesLengthAndMaximum) {
  FrameReader reader(1024);
  const auto error = feed_error(reader, raw_bytes({0x00, 0x00, 0x08, 0x00}));
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("2048"), std::string::npos) << *error;
  EXPECT_NE(error->find("1024"), std::string::npos) << *error;
}

TEST(FrameReader, OversizeErrorWithDefaultMaximumNamesBothNumbers) {
  FrameReader reader;
  const auto error = feed_error(reader, raw_bytes({0xff, 0xff, 0xff, 0xff}));
  ASSERT_TRUE(error.has_value());
  EXPECT_NE(error->find("4294967295"), std::string::npos) << *error;
  EXPECT_NE(error->find(std::to_string(default_max_frame_bytes)), std::string::npos) << *error;
}

TEST(FrameReader, ZeroLengthPrefixThrows) {
  FrameReader reader;
  EXPECT_THROW(feed(reader, raw_bytes({0, 0, 0, 0})), ProtocolError);
}

TEST(FrameReader, ZeroLengthPrefixThrowsOnItsFourthByte) {
  FrameReader reader;
  const std::string zero(4, '\0');
  EXPECT_NO_THROW(feed(reader, zero.substr(0, 1)));
  EXPECT_NO_THROW(feed(reader, zero.substr(1, 1)));
  EXPECT_NO_THROW(feed(reader, zero.substr(2, 1)));
  EXPECT_THROW(feed(reader, zero.substr(3, 1)), ProtocolError);
}

TEST(FrameReader, OversizePrefixAfterATakenFrameThrowsOnItsFourthByte) {
  FrameReader reader(1024);
  const std::string first = encode_frame(GetData{1, "k"});
  feed(reader, first);
  ASSERT_EQ(reader.next(), encode(GetData{1, "k"}));
  const std::string header = raw_bytes({0x00, 0x01, 0x00, 0x00});
  EXPECT_NO_THROW(feed(reader, header.substr(0, 3)));
  EXPECT_THROW(feed(reader, header.substr(3, 1)), ProtocolError);
}

TEST(FrameReader, FramesFedOneByteAtATimeComeOutInOrder) {
  const std::vector<Message> messages = {Hello{protocol_version, 1}, Invoke{2, "lib", "sym", {"", "x"}, {}, {}},
                                         SetData{"k", std::string("\0\0", 2)}, DataValue{3, false, ""}};
  std::string stream;
  for (const Message& m : messages) stream += encode_frame(m);

  FrameReader reader;
  const std::vector<std::string> frames = feed_byte_by_byte(reader, stream);

  ASSERT_EQ(frames.size(), messages.size());
  for (std::size_t i = 0; i < messages.size(); ++i) {
    EXPECT_EQ(frames[i], encode(messages[i])) << "frame " << i;
    EXPECT_EQ(decode(frames[i]), messages[i]) << "frame " << i;
  }
  EXPECT_FALSE(reader.mid_frame());
  EXPECT_EQ(reader.next(), std::nullopt);
}

TEST(FrameReader, NextViewGivesTheSameBodiesAsNextWithoutTakingThemTwice) {
  const std::vector<Message> messages = {Invoke{2, "lib", "sym", {std::string(100000, 'a'), "x"}, {}, {}},
                                         GetData{3, "k"}};
  FrameReader reader;
  feed(reader, encode_frame(messages[0]) + encode_frame(messages[1]));
  const auto first = reader.next_view();
  const auto second = reader.next_view();  // the first view stays valid: no feed() between
  ASSERT_TRUE(first && second);
  EXPECT_EQ(*first, encode(messages[0]));
  EXPECT_EQ(decode(*first), messages[0]);
  EXPECT_EQ(decode(*second), messages[1]);
  EXPECT_EQ(reader.next_view(), std::nullopt);
  EXPECT_EQ(reader.next(), std::nullopt);
  EXPECT_FALSE(reader.mid_frame());
}

TEST(InvokeFrameBytes, IsTheSizeOfTheEncodedFrameForEveryLengthClass) {
  // msgpack's string and array headers change size at 32, 256 and 65,536 (and ids at each
  // integer width): the count must follow every step.
  for (const std::uint64_t id : {std::uint64_t{1}, std::uint64_t{200}, std::uint64_t{70000},
                                 std::uint64_t{1} << 40, ~std::uint64_t{0}}) {
    for (const std::size_t length : {0, 31, 32, 255, 256, 65535, 65536}) {
      for (const std::size_t count : {0, 1, 15, 16}) {
        const std::vector<std::string> args(count, std::string(length, 'a'));
        const std::string library(length, 'l');
        const std::vector<std::string> search_path(count, std::string(length, 'd'));
        const std::string input(length * count, '\0');
        EXPECT_EQ(invoke_frame_bytes(id, library, "method", args, search_path, input),
                  encode_frame(Invoke{id, library, "method", args, search_path, input}).size())
            << "id " << id << ", " << count << " arguments of " << length << " bytes";
      }
    }
  }
  const std::vector<std::string> many(65536, "");
  EXPECT_EQ(invoke_frame_bytes(7, "/l.so", "m", many, {}, {}), encode_frame(Invoke{7, "/l.so", "m", many, {}, {}}).size());
}

TEST(FrameReader, HasNextSaysWhetherNextNeedsMoreBytes) {
  FrameReader reader(1024);
  EXPECT_FALSE(reader.has_next());
  const std::string two = encode_frame(GetData{1, "a"}) + encode_frame(GetData{2, "b"});
  feed(reader, two.substr(0, two.size() - 1));
  EXPECT_TRUE(reader.has_next()) << "the first frame is whole";
  ASSERT_TRUE(reader.next_view());
  EXPECT_FALSE(reader.has_next()) << "the second lacks its last byte";
  feed(reader, two.substr(two.size() - 1));
  EXPECT_TRUE(reader.has_next());
  ASSERT_TRUE(reader.next_view());
  EXPECT_FALSE(reader.has_next());
  EXPECT_THROW(feed(reader, raw_bytes({0x00, 0x01, 0x00, 0x00})), ProtocolError);
  EXPECT_TRUE(reader.has_next()) << "next() has an error to throw";
}

TEST(FrameReader, FrameIsReturnedOnlyOnceItsLastByteArrives) {
  const std::string frame = encode_frame(GetData{5, "key"});
  FrameReader reader;
  for (std::size_t i = 0; i + 1 < frame.size(); ++i) {
    feed(reader, frame.substr(i, 1));
    ASSERT_EQ(reader.next(), std::nullopt) << "after " << i + 1 << " bytes";
  }
  feed(reader, frame.substr(frame.size() - 1));
  EXPECT_EQ(reader.next(), encode(GetData{5, "key"}));
}

TEST(FrameReader, TwoFramesInOneFeed) {
  const std::string first = encode(Hello{protocol_version, 10});
  const std::string second = encode(Result{1, -5, sample_usage, std::nullopt});
  FrameReader reader;
  feed(reader, encode_frame(Hello{protocol_version, 10}) + encode_frame(Result{1, -5, sample_usage, std::nullopt}));
  EXPECT_EQ(reader.next(), first);
  EXPECT_EQ(reader.next(), second);
  EXPECT_EQ(reader.next(), std::nullopt);
  EXPECT_FALSE(reader.mid_frame());
}

TEST(FrameReader, FrameSplitAcrossFeedsWithNextOneStarted) {
  const std::string stream = encode_frame(GetData{1, "a"}) + encode_frame(GetData{2, "b"});
  const std::size_t split = encode_frame(GetData{1, "a"}).size() + 2;  // into 2nd header
  FrameReader reader;
  feed(reader, stream.substr(0, split));
  EXPECT_EQ(reader.next(), encode(GetData{1, "a"}));
  EXPECT_EQ(reader.next(), std::nullopt);
  EXPECT_TRUE(reader.mid_frame());
  feed(reader, stream.substr(split));
  EXPECT_EQ(reader.next(), encode(GetData{2, "b"}));
  EXPECT_FALSE(reader.mid_frame());
}

TEST(FrameReader, MidFrameTracksPartialFrames) {
  const std::string frame = encode_frame(Invoke{1, "lib", "sym", {"a"}, {}, {}});
  FrameReader reader;
  EXPECT_FALSE(reader.mid_frame());

  feed(reader, frame.substr(0, 2));  // part of the header
  EXPECT_TRUE(reader.mid_frame());

  feed(reader, frame.substr(2, frame.size() - 3));  // all but the last byte
  EXPECT_TRUE(reader.mid_frame());
  EXPECT_EQ(reader.next(), std::nullopt);

  feed(reader, frame.substr(frame.size() - 1));
  ASSERT_TRUE(reader.next().has_value());
  EXPECT_FALSE(reader.mid_frame());
}

TEST(FrameReader, FrameOfExactlyTheMaximumIsReturned) {
  const std::string body(64, 'z');
  FrameReader reader(body.size());
  feed(reader, raw_bytes({0, 0, 0, static_cast<unsigned>(body.size())}) + body);
  EXPECT_EQ(reader.next(), body);
}

// Regression: the prefix behind a frame not yet taken was not checked, so its body was
// buffered without limit.
TEST(FrameReader, NothingIsBufferedAfterABadPrefixBehindAnUntakenFrame) {
  FrameReader reader(1024);
  feed(reader, encode_frame(GetData{1, "k"}));
  feed(reader, raw_bytes({0x00, 0x01, 0x00, 0x00}));
  const std::string megabyte(1 << 20, 'x');
  EXPECT_THROW(feed(reader, megabyte), ProtocolError);
}

// Regression: next() took a good frame, then threw on the bad prefix behind it, and the
// good frame was lost (a pihost reply followed by garbage would never reach the host).
TEST(FrameReader, GoodFramesBeforeABadPrefixAreHandedOutThenTheErrorIsThrown) {
  FrameReader reader(1024);
  EXPECT_NO_THROW(feed(reader, encode_frame(GetData{1, "k"}) + raw_bytes({0x00, 0x01, 0x00, 0x00})));
  ASSERT_EQ(reader.next(), encode(GetData{1, "k"}));
  EXPECT_THROW(reader.next(), ProtocolError);
}

}  // namespace
}  // namespace isolator::wire

namespace isolator::wire {
namespace {

TEST(MessageDirection, EachMessageHasExactlyTheSenderTheProtocolGivesIt) {
  EXPECT_EQ(sender_of(Hello{}), Sender::child);
  EXPECT_EQ(sender_of(Result{}), Sender::child);
  EXPECT_EQ(sender_of(Failed{}), Sender::child);
  EXPECT_EQ(sender_of(DataValue{}), Sender::child);
  EXPECT_EQ(sender_of(Started{}), Sender::child);
  EXPECT_EQ(sender_of(Pong{}), Sender::child);
  EXPECT_EQ(sender_of(Invoke{}), Sender::host);
  EXPECT_EQ(sender_of(SetData{}), Sender::host);
  EXPECT_EQ(sender_of(GetData{}), Sender::host);
  EXPECT_EQ(sender_of(Ping{}), Sender::host);
  EXPECT_EQ(sender_of(CallHost{}), Sender::child);
  EXPECT_EQ(sender_of(HostAnswer{}), Sender::host);
  EXPECT_EQ(sender_of(Crash{}), Sender::child);
  EXPECT_EQ(sender_of(::isolator::wire::Run{}), Sender::host);
  static_assert(std::variant_size_v<Message> == 14, "a new message needs its sender here");
}

}  // namespace
}  // namespace isolator::wire
