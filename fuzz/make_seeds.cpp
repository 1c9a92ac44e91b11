// Writes the fuzzers' seed corpus into the directory given: one file per valid message of
// each side, a conversation of several frames, and hostile frames (zero and oversized
// lengths, a truncated frame, deep nesting, wrong field types, trailing bytes). The first
// byte of each file is the fuzzers' read size.
#include <isolator/wire/codec.hpp>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace {

using namespace isolator::wire;

std::string frame_of_body(const std::string& body) {
  const auto n = static_cast<std::uint32_t>(body.size());
  std::string frame{static_cast<char>(n >> 24), static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                    static_cast<char>(n)};
  return frame + body;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
    return 2;
  }
  const std::filesystem::path dir = argv[1];
  std::filesystem::create_directories(dir);
  const Usage usage{10, 5, 1, 4096};
  const std::vector<std::pair<std::string, std::string>> seeds{
      {"hello", encode_frame(Hello{protocol_version, 1234})},
      {"started", encode_frame(Started{7})},
      {"result", encode_frame(Result{7, 42, usage, std::nullopt})},
      {"failed", encode_frame(Failed{7, FailureReason::threw, "boom", usage, "std::runtime_error"})},
      {"failed_dependency", encode_frame(Failed{7, FailureReason::dependency_not_found, "needs 'libdep.so'", usage, {}})},
      {"data_value", encode_frame(DataValue{3, true, std::string("\0\xff", 2)})},
      {"pong", encode_frame(Pong{9})},
      {"invoke", encode_frame(Invoke{7, "/lib/libplugin.so", "method", {"a", "", "ccc"}, {}, {}})},
      {"invoke_search_path",
       encode_frame(Invoke{8, "/p/libplugin.so", "method", {"a"}, {"/opt/deps", "/srv/more deps"}, {}})},
      {"invoke_input", encode_frame(Invoke{9, "/p/libplugin.so", "method", {}, {}, std::string("\0\x93\x01", 3)})},
      {"result_bytes", encode_frame(Result{9, 0, usage, std::string("\x81\xa1k\x01", 4)})},
      {"result_empty_bytes", encode_frame(Result{9, 0, usage, std::string()})},
      {"failed_result_too_large", encode_frame(Failed{9, FailureReason::result_too_large, "2000000 bytes", usage, {}})},
      {"call_host", encode_frame(CallHost{9, 1, "log", std::string("hi\0", 3)})},
      {"host_answer", encode_frame(HostAnswer{1, HostStatus::ok, "answer"})},
      {"host_answer_busy", encode_frame(HostAnswer{2, HostStatus::busy, ""})},
      {"crash", encode_frame(Crash{11, 1, 0, "pihost", "",
                                   {StackFrame{"ns::f(int)", "/p/libplugin.so", 0x1139, "/src/f.cpp", 12},
                                    StackFrame{"", "/p/libplugin.so", 0x2000, "", 0}}})},
      {"crash_no_stack", encode_frame(Crash{6, -6, 0, "t", "no stack: why", {}})},
      {"run", encode_frame(Run{10, {"/bin/sh", "-c", "exit 3"}, {"A=1", "B="}, "/work", std::string("in\0put", 6), 1500})},
      {"run_bare", encode_frame(Run{11, {"true"}, {}, "", "", 0})},
      {"failed_program_signalled",
       encode_frame(Failed{10, FailureReason::program_signalled, "'sh' was killed by SIGSEGV", usage, {}, 11})},
      {"failed_program_not_found",
       encode_frame(Failed{11, FailureReason::program_not_found, "'x' was found in no directory", usage, {}, 0})},
      {"set_data", encode_frame(SetData{"key", "value"})},
      {"get_data", encode_frame(GetData{3, "key"})},
      {"ping", encode_frame(Ping{9})},
      {"conversation_child", encode_frame(Hello{protocol_version, 1}) + encode_frame(Started{1}) +
                                 encode_frame(Result{1, 0, usage, std::nullopt}) + encode_frame(Pong{1})},
      {"conversation_host", encode_frame(SetData{"k", "v"}) + encode_frame(Invoke{1, "/l.so", "m", {}, {}, {}}) +
                                encode_frame(Ping{1}) + encode_frame(GetData{2, "k"}) +
                                encode_frame(Run{3, {"sort"}, {}, "", "b\na\n", 0})},
      {"zero_length", std::string(4, '\0')},
      {"oversized_length", std::string("\x7f\xff\xff\xff", 4)},
      {"truncated", encode_frame(Result{1, 0, usage, std::nullopt}).substr(0, 9)},
      {"deep_nesting", frame_of_body(std::string(64, '\x91') + '\x01')},
      {"wrong_field_type", frame_of_body("\x93\x03\xa1x\x01")},
      {"trailing_bytes", frame_of_body(encode(Started{1}) + "\xc0")},
      {"huge_array_header", frame_of_body("\xdd\xff\xff\xff\xff")},
      {"unknown_type", frame_of_body("\x92\x7f\x01")},
  };
  for (const auto& [name, bytes] : seeds) {
    for (const char piece : {'\x00', '\x03', '\x3f'}) {  // 1, 4 and 64 bytes per read
      std::ofstream out(dir / (name + "_" + std::to_string(static_cast<int>(piece))), std::ios::binary);
      out << piece << bytes;
    }
  }
  return 0;
}
