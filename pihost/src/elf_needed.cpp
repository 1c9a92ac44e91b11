#include "elf_needed.hpp"

#include <elf.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <optional>

namespace pihost {
namespace {

constexpr std::size_t max_names = 1024;
constexpr std::size_t max_program_headers = 4096;
constexpr std::size_t max_dynamic_entries = 4096;
constexpr std::size_t max_string_table = std::size_t{1} << 20;

class File {
 public:
  explicit File(const std::string& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
    struct stat st {};
    if (fd_ >= 0 && ::fstat(fd_, &st) == 0 && S_ISREG(st.st_mode)) size_ = static_cast<std::uint64_t>(st.st_size);
  }
  ~File() {
    if (fd_ >= 0) ::close(fd_);
  }
  File(const File&) = delete;
  File& operator=(const File&) = delete;

  std::uint64_t size() const { return size_; }

  /// `bytes` bytes at `offset`, all of them inside the file, or false.
  bool read(std::uint64_t offset, void* into, std::size_t bytes) const {
    if (fd_ < 0 || offset > size_ || bytes > size_ - offset) return false;
    auto* at = static_cast<char*>(into);
    while (bytes > 0) {
      const ssize_t n = ::pread(fd_, at, bytes, static_cast<off_t>(offset));
      if (n <= 0) return false;
      at += n;
      offset += static_cast<std::uint64_t>(n);
      bytes -= static_cast<std::size_t>(n);
    }
    return true;
  }

 private:
  int fd_;
  std::uint64_t size_ = 0;
};

template <class Ehdr, class Phdr, class Dyn>
std::vector<std::string> read_needed(const File& file) {
  Ehdr header{};
  if (!file.read(0, &header, sizeof header) || header.e_phentsize != sizeof(Phdr) || header.e_phnum == 0 ||
      header.e_phnum > max_program_headers) {
    return {};
  }
  std::vector<Phdr> segments(header.e_phnum);
  if (!file.read(header.e_phoff, segments.data(), segments.size() * sizeof(Phdr))) return {};

  const Phdr* dynamic = nullptr;
  for (const auto& segment : segments) {
    if (segment.p_type == PT_DYNAMIC) dynamic = &segment;
  }
  if (dynamic == nullptr) return {};
  const std::size_t count = std::min<std::size_t>(dynamic->p_filesz / sizeof(Dyn), max_dynamic_entries);
  std::vector<Dyn> entries(count);
  if (!file.read(dynamic->p_offset, entries.data(), count * sizeof(Dyn))) return {};

  std::vector<std::uint64_t> needed;
  std::uint64_t table_address = 0;
  std::uint64_t table_bytes = 0;
  for (const auto& entry : entries) {
    if (entry.d_tag == DT_NULL) break;
    if (entry.d_tag == DT_NEEDED && needed.size() < max_names) needed.push_back(entry.d_un.d_val);
    if (entry.d_tag == DT_STRTAB) table_address = entry.d_un.d_ptr;
    if (entry.d_tag == DT_STRSZ) table_bytes = entry.d_un.d_val;
  }
  if (needed.empty() || table_bytes == 0) return {};

  // DT_STRTAB is an address: the loadable segment that holds it says where it is in the file.
  std::optional<std::uint64_t> table_offset;
  for (const auto& segment : segments) {
    if (segment.p_type == PT_LOAD && table_address >= segment.p_vaddr &&
        table_address - segment.p_vaddr < segment.p_filesz) {
      table_offset = segment.p_offset + (table_address - segment.p_vaddr);
      break;
    }
  }
  if (!table_offset || *table_offset > file.size()) return {};
  table_bytes = std::min<std::uint64_t>({table_bytes, file.size() - *table_offset, max_string_table});
  std::string table(static_cast<std::size_t>(table_bytes), '\0');
  if (!file.read(*table_offset, table.data(), table.size())) return {};

  std::vector<std::string> names;
  for (const std::uint64_t at : needed) {
    if (at >= table.size()) continue;
    const auto end = table.find('\0', static_cast<std::size_t>(at));
    if (end == std::string::npos) continue;  // not terminated inside the table
    if (end > at) names.push_back(table.substr(static_cast<std::size_t>(at), end - at));
  }
  return names;
}

}  // namespace

std::vector<std::string> needed_libraries(const std::string& path) {
  const File file(path);
  unsigned char ident[EI_NIDENT] = {};
  if (!file.read(0, ident, sizeof ident) || std::memcmp(ident, ELFMAG, SELFMAG) != 0) return {};
#if __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
  if (ident[EI_DATA] != ELFDATA2LSB) return {};
#else
  if (ident[EI_DATA] != ELFDATA2MSB) return {};
#endif
  if (ident[EI_CLASS] == ELFCLASS64) return read_needed<Elf64_Ehdr, Elf64_Phdr, Elf64_Dyn>(file);
  if (ident[EI_CLASS] == ELFCLASS32) return read_needed<Elf32_Ehdr, Elf32_Phdr, Elf32_Dyn>(file);
  return {};
}

}  // namespace pihost
