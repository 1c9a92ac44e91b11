#include <isolator/wire/codec.hpp>

#include <msgpack.hpp>

#include <limits>

namespace isolator::wire {
namespace {

// msgpack's packer writes into this: straight into the frame being built, so a large
// argument is copied once (not into a growing sbuffer, then a body, then a frame).
struct StringSink {
  std::string& out;
  void write(const char* data, std::size_t size) { out.append(data, size); }
};
using Packer = msgpack::packer<StringSink>;

// Counts what a packer would write, writing nothing.
struct CountingSink {
  std::size_t bytes = 0;
  void write(const char*, std::size_t size) { bytes += size; }
};

// A Crash's frames travel flat: function, library, offset, file, line, then the next frame.
constexpr std::uint32_t stack_frame_fields = 5;

template <class... F>
struct Overloaded : F... {
  using F::operator()...;
};
template <class... F>
Overloaded(F...) -> Overloaded<F...>;

template <class P>
void pack_header(P& p, MessageType type, std::uint32_t fields) {
  p.pack_array(fields + 1);
  p.pack(static_cast<std::uint8_t>(type));
}

template <class P>
void pack_bin(P& p, const std::string& bytes) {
  p.pack_bin(static_cast<std::uint32_t>(bytes.size()));
  p.pack_bin_body(bytes.data(), static_cast<std::uint32_t>(bytes.size()));
}

template <class P>
void pack_invoke(P& p, std::uint64_t id, const std::string& library, const std::string& symbol,
                 const std::vector<std::string>& args, const std::vector<std::string>& search_path,
                 const std::string& input) {
  pack_header(p, MessageType::invoke, 6);
  p.pack(id);
  p.pack(library);
  p.pack(symbol);
  p.pack_array(static_cast<std::uint32_t>(args.size()));
  for (const auto& arg : args) p.pack(arg);
  p.pack_array(static_cast<std::uint32_t>(search_path.size()));
  for (const auto& directory : search_path) p.pack(directory);
  pack_bin(p, input);
}

void pack_usage(Packer& p, const Usage& u) {
  p.pack_array(4);
  p.pack(u.wall_us);
  p.pack(u.cpu_user_us);
  p.pack(u.cpu_sys_us);
  p.pack(u.peak_rss_bytes);
}

void pack_message(Packer& p, const Message& message) {
  std::visit(Overloaded{
                 [&](const Hello& m) {
                   pack_header(p, MessageType::hello, 2);
                   p.pack(m.version);
                   p.pack(m.pid);
                 },
                 [&](const Invoke& m) { pack_invoke(p, m.id, m.library, m.symbol, m.args, m.search_path, m.input); },
                 [&](const Result& m) {
                   pack_header(p, MessageType::result, 4);
                   p.pack(m.id);
                   p.pack(m.code);
                   pack_usage(p, m.usage);
                   if (m.bytes) {
                     pack_bin(p, *m.bytes);
                   } else {
                     p.pack_nil();
                   }
                 },
                 [&](const Failed& m) {
                   pack_header(p, MessageType::failed, 6);
                   p.pack(m.id);
                   p.pack(static_cast<std::uint8_t>(m.reason));
                   p.pack(m.message);
                   pack_usage(p, m.usage);
                   p.pack(m.exception_type);
                   p.pack(m.signal);
                 },
                 [&](const Run& m) {
                   pack_header(p, MessageType::run, 6);
                   p.pack(m.id);
                   p.pack_array(static_cast<std::uint32_t>(m.argv.size()));
                   for (const auto& arg : m.argv) p.pack(arg);
                   p.pack_array(static_cast<std::uint32_t>(m.environment.size()));
                   for (const auto& entry : m.environment) p.pack(entry);
                   p.pack(m.directory);
                   pack_bin(p, m.input);
                   p.pack(m.cpu_limit_ms);
                 },
                 [&](const SetData& m) {
                   pack_header(p, MessageType::set_data, 2);
                   p.pack(m.key);
                   pack_bin(p, m.value);
                 },
                 [&](const GetData& m) {
                   pack_header(p, MessageType::get_data, 2);
                   p.pack(m.id);
                   p.pack(m.key);
                 },
                 [&](const DataValue& m) {
                   pack_header(p, MessageType::data_value, 3);
                   p.pack(m.id);
                   p.pack(m.found);
                   pack_bin(p, m.value);
                 },
                 [&](const Started& m) {
                   pack_header(p, MessageType::started, 1);
                   p.pack(m.id);
                 },
                 [&](const Ping& m) {
                   pack_header(p, MessageType::ping, 1);
                   p.pack(m.seq);
                 },
                 [&](const Pong& m) {
                   pack_header(p, MessageType::pong, 1);
                   p.pack(m.seq);
                 },
                 [&](const CallHost& m) {
                   pack_header(p, MessageType::call_host, 4);
                   p.pack(m.id);
                   p.pack(m.seq);
                   p.pack(m.service);
                   pack_bin(p, m.bytes);
                 },
                 [&](const HostAnswer& m) {
                   pack_header(p, MessageType::host_answer, 3);
                   p.pack(m.seq);
                   p.pack(static_cast<std::uint8_t>(m.status));
                   pack_bin(p, m.bytes);
                 },
                 [&](const Crash& m) {
                   pack_header(p, MessageType::crash, 6);
                   p.pack(m.signal);
                   p.pack(m.code);
                   p.pack(m.address);
                   p.pack(m.thread);
                   p.pack(m.note);
                   p.pack_array(static_cast<std::uint32_t>(m.frames.size() * stack_frame_fields));
                   for (const auto& frame : m.frames) {
                     p.pack(frame.function);
                     p.pack(frame.library);
                     p.pack(frame.offset);
                     p.pack(frame.file);
                     p.pack(frame.line);
                   }
                 },
             },
             message);
}

std::string_view type_name(msgpack::type::object_type type) {
  switch (type) {
    case msgpack::type::NIL: return "nil";
    case msgpack::type::BOOLEAN: return "bool";
    case msgpack::type::POSITIVE_INTEGER: return "non-negative integer";
    case msgpack::type::NEGATIVE_INTEGER: return "negative integer";
    case msgpack::type::FLOAT32:
    case msgpack::type::FLOAT64: return "float";
    case msgpack::type::STR: return "str";
    case msgpack::type::BIN: return "bin";
    case msgpack::type::ARRAY: return "array";
    case msgpack::type::MAP: return "map";
    case msgpack::type::EXT: return "ext";
  }
  return "unknown";
}

// The fields of one message, read by position with exact type checks. Errors name the
// message and the field: "Invoke.args[2]: expected str, got integer".
class FieldReader {
 public:
  FieldReader(const msgpack::object_array& array, std::string_view message)
      : array_(array), message_(message) {}

  void expect_fields(std::uint32_t count) const {
    if (array_.size != count + 1) {
      throw ProtocolError(std::string(message_) + ": expected " + std::to_string(count) + " fields, got " +
                          std::to_string(array_.size - 1));
    }
  }

  std::uint64_t u64(std::uint32_t index, std::string_view field) const {
    const auto& o = at(index, field, msgpack::type::POSITIVE_INTEGER);
    return o.via.u64;
  }

  std::int64_t i64(std::uint32_t index, std::string_view field) const {
    const auto& o = array_.ptr[index];
    if (o.type == msgpack::type::NEGATIVE_INTEGER) return o.via.i64;
    if (o.type != msgpack::type::POSITIVE_INTEGER) {
      throw ProtocolError(std::string(message_) + "." + std::string(field) + ": expected integer, got " +
                          std::string(type_name(o.type)));
    }
    const auto value = o.via.u64;
    if (value > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw out_of_range(field);
    }
    return static_cast<std::int64_t>(value);
  }

  template <class Int>
  Int bounded(std::uint32_t index, std::string_view field) const {
    const auto value = i64(index, field);
    if (value < std::numeric_limits<Int>::min() || value > std::numeric_limits<Int>::max()) {
      throw out_of_range(field);
    }
    return static_cast<Int>(value);
  }

  bool boolean(std::uint32_t index, std::string_view field) const {
    return at(index, field, msgpack::type::BOOLEAN).via.boolean;
  }

  std::string str(std::uint32_t index, std::string_view field) const {
    const auto& s = at(index, field, msgpack::type::STR).via.str;
    return std::string(s.ptr, s.size);
  }

  std::string bin(std::uint32_t index, std::string_view field) const {
    const auto& b = at(index, field, msgpack::type::BIN).via.bin;
    return std::string(b.ptr, b.size);
  }

  std::optional<std::string> bin_or_nil(std::uint32_t index, std::string_view field) const {
    const auto& o = array_.ptr[index];
    if (o.type == msgpack::type::NIL) return std::nullopt;
    if (o.type != msgpack::type::BIN) {
      throw ProtocolError(std::string(message_) + "." + std::string(field) + ": expected bin or nil, got " +
                          std::string(type_name(o.type)));
    }
    return std::string(o.via.bin.ptr, o.via.bin.size);
  }

  std::vector<std::string> str_array(std::uint32_t index, std::string_view field) const {
    const auto& list = at(index, field, msgpack::type::ARRAY).via.array;
    std::vector<std::string> out;
    out.reserve(list.size);
    for (std::uint32_t i = 0; i < list.size; ++i) {
      const auto& item = list.ptr[i];
      if (item.type != msgpack::type::STR) {
        throw ProtocolError(std::string(message_) + "." + std::string(field) + "[" + std::to_string(i) +
                            "]: expected str, got " + std::string(type_name(item.type)));
      }
      out.emplace_back(item.via.str.ptr, item.via.str.size);
    }
    return out;
  }

  std::vector<StackFrame> stack_frames(std::uint32_t index) const {
    const auto& list = at(index, "frames", msgpack::type::ARRAY).via.array;
    const std::string name = std::string(message_) + ".frames";
    if (list.size % stack_frame_fields != 0) {
      throw ProtocolError(name + ": " + std::to_string(list.size) + " fields, not " +
                          std::to_string(stack_frame_fields) + " per frame");
    }
    if (list.size / stack_frame_fields > max_stack_frames) {
      throw ProtocolError(name + ": " + std::to_string(list.size / stack_frame_fields) + " frames, more than " +
                          std::to_string(max_stack_frames));
    }
    FieldReader inner(list, name);
    std::vector<StackFrame> frames;
    frames.reserve(list.size / stack_frame_fields);
    for (std::uint32_t at = 0; at < list.size; at += stack_frame_fields) {
      frames.push_back(StackFrame{inner.str(at, "function"), inner.str(at + 1, "library"),
                                  inner.u64(at + 2, "offset"), inner.str(at + 3, "file"),
                                  inner.bounded<std::uint32_t>(at + 4, "line")});
    }
    return frames;
  }

  Usage usage(std::uint32_t index) const {
    const auto& list = at(index, "usage", msgpack::type::ARRAY).via.array;
    const std::string name = std::string(message_) + ".usage";
    FieldReader inner(list, name);
    // Usage has no type tag, so its four fields start at position 0.
    if (list.size != 4) {
      throw ProtocolError(name + ": expected 4 fields, got " + std::to_string(list.size));
    }
    return Usage{inner.i64(0, "wall_us"), inner.i64(1, "cpu_user_us"), inner.i64(2, "cpu_sys_us"),
                 inner.i64(3, "peak_rss_bytes")};
  }

 private:
  const msgpack::object& at(std::uint32_t index, std::string_view field,
                            msgpack::type::object_type type) const {
    const auto& o = array_.ptr[index];
    if (o.type != type) {
      throw ProtocolError(std::string(message_) + "." + std::string(field) + ": expected " +
                          std::string(type_name(type)) + ", got " + std::string(type_name(o.type)));
    }
    return o;
  }

  ProtocolError out_of_range(std::string_view field) const {
    return ProtocolError(std::string(message_) + "." + std::string(field) + ": integer out of range");
  }

  const msgpack::object_array& array_;
  std::string_view message_;
};

FailureReason failure_reason(std::uint8_t value) {
  switch (static_cast<FailureReason>(value)) {
    case FailureReason::library_not_found:
    case FailureReason::not_a_library:
    case FailureReason::symbol_not_found:
    case FailureReason::threw:
    case FailureReason::memory_limit:
    case FailureReason::dependency_not_found:
    case FailureReason::result_too_large:
    case FailureReason::program_not_found:
    case FailureReason::not_executable:
    case FailureReason::program_signalled:
    case FailureReason::program_cpu_limit:
    case FailureReason::program_start_failed: return static_cast<FailureReason>(value);
  }
  throw ProtocolError("Failed.reason: unknown failure reason " + std::to_string(value));
}

HostStatus host_status(std::uint8_t value) {
  switch (static_cast<HostStatus>(value)) {
    case HostStatus::ok:
    case HostStatus::unknown_service:
    case HostStatus::threw:
    case HostStatus::busy:
    case HostStatus::ended: return static_cast<HostStatus>(value);
  }
  throw ProtocolError("HostAnswer.status: unknown status " + std::to_string(value));
}

Message decode_fields(MessageType type, const msgpack::object_array& array) {
  switch (type) {
    case MessageType::hello: {
      FieldReader r(array, "Hello");
      r.expect_fields(2);
      return Hello{r.bounded<std::uint32_t>(1, "version"), r.i64(2, "pid")};
    }
    case MessageType::invoke: {
      FieldReader r(array, "Invoke");
      r.expect_fields(6);
      return Invoke{r.u64(1, "id"),           r.str(2, "library"),           r.str(3, "symbol"),
                    r.str_array(4, "args"),   r.str_array(5, "search_path"), r.bin(6, "input")};
    }
    case MessageType::result: {
      FieldReader r(array, "Result");
      r.expect_fields(4);
      return Result{r.u64(1, "id"), r.bounded<std::int32_t>(2, "code"), r.usage(3), r.bin_or_nil(4, "bytes")};
    }
    case MessageType::failed: {
      FieldReader r(array, "Failed");
      r.expect_fields(6);
      return Failed{r.u64(1, "id"),  failure_reason(r.bounded<std::uint8_t>(2, "reason")),
                    r.str(3, "message"), r.usage(4),
                    r.str(5, "exception_type"), r.bounded<std::int32_t>(6, "signal")};
    }
    case MessageType::set_data: {
      FieldReader r(array, "SetData");
      r.expect_fields(2);
      return SetData{r.str(1, "key"), r.bin(2, "value")};
    }
    case MessageType::get_data: {
      FieldReader r(array, "GetData");
      r.expect_fields(2);
      return GetData{r.u64(1, "id"), r.str(2, "key")};
    }
    case MessageType::data_value: {
      FieldReader r(array, "DataValue");
      r.expect_fields(3);
      return DataValue{r.u64(1, "id"), r.boolean(2, "found"), r.bin(3, "value")};
    }
    case MessageType::started: {
      FieldReader r(array, "Started");
      r.expect_fields(1);
      return Started{r.u64(1, "id")};
    }
    case MessageType::ping: {
      FieldReader r(array, "Ping");
      r.expect_fields(1);
      return Ping{r.u64(1, "seq")};
    }
    case MessageType::pong: {
      FieldReader r(array, "Pong");
      r.expect_fields(1);
      return Pong{r.u64(1, "seq")};
    }
    case MessageType::call_host: {
      FieldReader r(array, "CallHost");
      r.expect_fields(4);
      return CallHost{r.u64(1, "id"), r.u64(2, "seq"), r.str(3, "service"), r.bin(4, "bytes")};
    }
    case MessageType::host_answer: {
      FieldReader r(array, "HostAnswer");
      r.expect_fields(3);
      return HostAnswer{r.u64(1, "seq"), host_status(r.bounded<std::uint8_t>(2, "status")), r.bin(3, "bytes")};
    }
    case MessageType::crash: {
      FieldReader r(array, "Crash");
      r.expect_fields(6);
      return Crash{r.bounded<std::int32_t>(1, "signal"), r.bounded<std::int32_t>(2, "code"), r.u64(3, "address"),
                   r.str(4, "thread"), r.str(5, "note"), r.stack_frames(6)};
    }
    case MessageType::run: {
      FieldReader r(array, "Run");
      r.expect_fields(6);
      return Run{r.u64(1, "id"),          r.str_array(2, "argv"), r.str_array(3, "environment"),
                 r.str(4, "directory"), r.bin(5, "input"),      r.u64(6, "cpu_limit_ms")};
    }
  }
  throw ProtocolError("unknown message type " + std::to_string(static_cast<int>(type)));
}

msgpack::unpack_limit decoder_limits(std::size_t body_bytes) {
  // No map or ext appears in any message; strings and bins can't exceed the frame.
  return msgpack::unpack_limit(/*array=*/max_args, /*map=*/0, /*str=*/body_bytes,
                               /*bin=*/body_bytes, /*ext=*/0, /*depth=*/max_depth);
}

}  // namespace

namespace {

// A little more than the encoded size of `message`, so that encoding never reallocates.
std::size_t size_hint(const Message& message) {
  constexpr std::size_t per_field = 16;  // msgpack's headers and numbers, generously
  return std::visit(Overloaded{
                        [&](const Invoke& m) {
                          std::size_t n = 64 + m.library.size() + m.symbol.size();
                          for (const auto& arg : m.args) n += arg.size() + per_field;
                          for (const auto& directory : m.search_path) n += directory.size() + per_field;
                          return n + m.input.size();
                        },
                        [&](const Result& m) { return 128 + (m.bytes ? m.bytes->size() : 0); },
                        [&](const Failed& m) { return 128 + m.message.size() + m.exception_type.size(); },
                        [&](const Run& m) {
                          std::size_t n = 64 + m.directory.size() + m.input.size();
                          for (const auto& arg : m.argv) n += arg.size() + per_field;
                          for (const auto& entry : m.environment) n += entry.size() + per_field;
                          return n;
                        },
                        [&](const Crash& m) {
                          std::size_t n = 128 + m.thread.size() + m.note.size();
                          for (const auto& f : m.frames) n += 64 + f.function.size() + f.library.size() + f.file.size();
                          return n;
                        },
                        [&](const SetData& m) { return 64 + m.key.size() + m.value.size(); },
                        [&](const GetData& m) { return 64 + m.key.size(); },
                        [&](const DataValue& m) { return 64 + m.value.size(); },
                        [&](const CallHost& m) { return 64 + m.service.size() + m.bytes.size(); },
                        [&](const HostAnswer& m) { return 64 + m.bytes.size(); },
                        [&](const auto&) { return std::size_t{128}; },
                    },
                    message);
}

}  // namespace

std::string encode(const Message& message) {
  std::string body;
  body.reserve(size_hint(message));
  StringSink sink{body};
  Packer packer(sink);
  pack_message(packer, message);
  return body;
}

std::size_t invoke_frame_bytes(std::uint64_t id, const std::string& library, const std::string& symbol,
                               const std::vector<std::string>& args, const std::vector<std::string>& search_path,
                               const std::string& input) {
  CountingSink sink;
  msgpack::packer<CountingSink> packer(sink);
  pack_invoke(packer, id, library, symbol, args, search_path, input);
  return frame_header_bytes + sink.bytes;
}

std::string encode_frame(const Message& message) {
  std::string frame;
  frame.reserve(frame_header_bytes + size_hint(message));
  frame.append(frame_header_bytes, '\0');  // the length, filled in below
  StringSink sink{frame};
  Packer packer(sink);
  pack_message(packer, message);
  const auto n = static_cast<std::uint32_t>(frame.size() - frame_header_bytes);
  frame[0] = static_cast<char>((n >> 24) & 0xff);
  frame[1] = static_cast<char>((n >> 16) & 0xff);
  frame[2] = static_cast<char>((n >> 8) & 0xff);
  frame[3] = static_cast<char>(n & 0xff);
  return frame;
}

// Strings and binaries stay where they are in the frame body while it is decoded (the body
// outlives the msgpack objects), instead of being copied into the unpacker's zone first.
namespace {
bool reference_in_body(msgpack::type::object_type, std::size_t, void*) { return true; }
}  // namespace

Message decode(std::string_view body) {
  if (body.empty()) throw ProtocolError("empty frame");
  msgpack::object_handle handle;
  std::size_t offset = 0;
  try {
    handle = msgpack::unpack(body.data(), body.size(), offset, reference_in_body, nullptr,
                             decoder_limits(body.size()));
  } catch (const msgpack::insufficient_bytes&) {
    throw ProtocolError("truncated msgpack object (frame of " + std::to_string(body.size()) +
                        " bytes ends inside it)");
  } catch (const msgpack::depth_size_overflow&) {
    throw ProtocolError("msgpack nesting deeper than " + std::to_string(max_depth));
  } catch (const msgpack::size_overflow& e) {
    throw ProtocolError(std::string("msgpack size limit exceeded: ") + e.what());
  } catch (const msgpack::unpack_error& e) {
    throw ProtocolError(std::string("malformed msgpack: ") + e.what());
  }
  if (offset != body.size()) {
    throw ProtocolError(std::to_string(body.size() - offset) + " trailing bytes after the message");
  }
  const msgpack::object& root = handle.get();
  if (root.type != msgpack::type::ARRAY) {
    throw ProtocolError("message is a " + std::string(type_name(root.type)) + ", not an array");
  }
  if (root.via.array.size == 0) throw ProtocolError("message is an empty array");
  const msgpack::object& tag = root.via.array.ptr[0];
  if (tag.type != msgpack::type::POSITIVE_INTEGER || tag.via.u64 == 0 ||
      tag.via.u64 > static_cast<std::uint64_t>(MessageType::run)) {
    throw ProtocolError(tag.type == msgpack::type::POSITIVE_INTEGER
                            ? "unknown message type " + std::to_string(tag.via.u64)
                            : "message type is a " + std::string(type_name(tag.type)) +
                                  ", not a positive integer");
  }
  return decode_fields(static_cast<MessageType>(tag.via.u64), root.via.array);
}

std::string_view message_name(const Message& message) {
  static constexpr std::string_view names[] = {"Hello",   "Invoke",    "Result",  "Failed", "SetData",
                                               "GetData", "DataValue", "Started", "Ping",   "Pong",
                                               "CallHost", "HostAnswer", "Crash",  "Run"};
  return names[message.index()];
}

Sender sender_of(const Message& message) {
  return std::visit(Overloaded{
                        [](const Hello&) { return Sender::child; },
                        [](const Result&) { return Sender::child; },
                        [](const Failed&) { return Sender::child; },
                        [](const DataValue&) { return Sender::child; },
                        [](const Started&) { return Sender::child; },
                        [](const Pong&) { return Sender::child; },
                        [](const CallHost&) { return Sender::child; },
                        [](const Crash&) { return Sender::child; },
                        [](const auto&) { return Sender::host; },
                    },
                    message);
}

}  // namespace isolator::wire
