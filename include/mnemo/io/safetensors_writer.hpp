// mnemo/io/safetensors_writer.hpp — SafetensorsWriter: collects named tensors (copied to host)
// and metadata, then writes one safetensors file atomically (temporary file + rename).
#pragma once

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <system_error>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnemo/backend/tags.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/shape.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/io/safetensors_format.hpp"

namespace mnemo::io {

namespace detail {
/// True when `s` is valid UTF-8 (the JSON header must be).
inline bool is_utf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}
}  // namespace detail

class SafetensorsWriter {
 public:
  /// Copies `t` to host memory under `name`. IoError on an empty, reserved ("__metadata__"),
  /// non-UTF-8 or duplicate name, or an undefined tensor.
  template <class T, class B>
  void add(const std::string& name, const Tensor<T, B>& t) {
    constexpr std::string_view dtype = dtype_of<T>();
    require<IoError>(!name.empty(), "SafetensorsWriter::add: empty tensor name");
    require<IoError>(name != safetensors::kMetadataKey, "SafetensorsWriter::add: the tensor name '", name,
                     "' is reserved for the metadata");
    require<IoError>(detail::is_utf8(name), "SafetensorsWriter::add: tensor name '", name, "' is not valid UTF-8");
    if (auto it = entries_.find(name); it != entries_.end())
      throw IoError(mnemo::detail::cat("SafetensorsWriter::add: duplicate tensor name '", name,
                                       "' (already added with shape ", it->second.shape.str(), ")"));
    require<IoError>(t.defined(), "SafetensorsWriter::add: tensor '", name, "' is undefined, expected a tensor");
    Entry e{std::string(dtype), t.shape(), std::vector<char>(t.bytes())};
    if (t.numel() > 0)
      BackendTraits<B>::copy_to_host(BackendTraits<B>::default_context(), e.bytes.data(), t.data(), t.bytes());
    entries_.emplace(name, std::move(e));
  }

  /// Sets (or replaces) one string-to-string metadata entry. IoError on non-UTF-8 text.
  void set_metadata(const std::string& key, const std::string& value) {
    require<IoError>(detail::is_utf8(key) && detail::is_utf8(value), "SafetensorsWriter::set_metadata: key '",
                     key, "' or its value is not valid UTF-8");
    metadata_[key] = value;
  }

  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  size_t size() const { return entries_.size(); }

  /// The whole file write() would write, in memory (to embed a file in another one as a U8
  /// tensor, e.g. io::add_state_file; SafetensorsReader::from_bytes reads it back).
  std::vector<char> bytes() const {
    const std::string header = header_text();
    size_t total = 8 + header.size();
    for (const auto& [name, e] : entries_) total += e.bytes.size();
    std::vector<char> out(total);
    for (int i = 0; i < 8; ++i) out[static_cast<size_t>(i)] = static_cast<char>((static_cast<uint64_t>(header.size()) >> (8 * i)) & 0xFF);
    char* at = std::copy(header.data(), header.data() + header.size(), out.data() + 8);
    for (const auto& [name, e] : entries_) at = std::copy(e.bytes.data(), e.bytes.data() + e.bytes.size(), at);
    return out;
  }

  /// Writes the file: tensors contiguous in name order, header padded with spaces to a multiple
  /// of 8 bytes. Writes `path` + a unique suffix first and renames it over `path`, so readers
  /// never see a partial file. IoError naming the path and the reason on failure.
  void write(const std::string& path) const {
    const std::string header = header_text();
    const std::string tmp = temporary_name(path);
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      throw IoError(mnemo::detail::cat("cannot write safetensors file '", path, "': cannot create '", tmp,
                                       "' (", std::strerror(errno), ")"));
    char length[8];
    for (int i = 0; i < 8; ++i) length[i] = static_cast<char>((static_cast<uint64_t>(header.size()) >> (8 * i)) & 0xFF);
    out.write(length, 8);
    out.write(header.data(), static_cast<std::streamsize>(header.size()));
    for (const auto& [name, e] : entries_) out.write(e.bytes.data(), static_cast<std::streamsize>(e.bytes.size()));
    out.close();
    std::error_code ec;
    if (!out) {
      const std::string reason = std::strerror(errno);
      std::filesystem::remove(tmp, ec);
      throw IoError(mnemo::detail::cat("cannot write safetensors file '", path, "': writing '", tmp,
                                       "' failed (", reason, ")"));
    }
    std::filesystem::rename(tmp, path, ec);
    if (ec) {
      std::error_code ignored;
      std::filesystem::remove(tmp, ignored);
      throw IoError(mnemo::detail::cat("cannot write safetensors file '", path, "': renaming '", tmp,
                                       "' failed (", ec.message(), ")"));
    }
  }

 private:
  struct Entry {
    std::string dtype;
    Shape shape;
    std::vector<char> bytes;
  };

  std::string header_text() const {
    nlohmann::json header = nlohmann::json::object();
    uint64_t offset = 0;
    for (const auto& [name, e] : entries_) {
      const uint64_t end = offset + e.bytes.size();
      header[name] = {{"dtype", e.dtype},
                      {"shape", e.shape.to_vector()},
                      {"data_offsets", nlohmann::json::array({offset, end})}};
      offset = end;
    }
    if (!metadata_.empty()) header[std::string(safetensors::kMetadataKey)] = metadata_;
    std::string text = header.dump();
    const size_t padded = (8 + text.size() + safetensors::kHeaderAlignment - 1) / safetensors::kHeaderAlignment *
                              safetensors::kHeaderAlignment - 8;
    text.append(padded - text.size(), ' ');
    return text;
  }

  static std::string temporary_name(const std::string& path) {
    const auto stamp = static_cast<uint64_t>(std::chrono::steady_clock::now().time_since_epoch().count());
    const uint64_t tag = stamp ^ (std::hash<std::thread::id>{}(std::this_thread::get_id()) << 1);
    char hex[17];
    std::snprintf(hex, sizeof hex, "%llx", static_cast<unsigned long long>(tag));
    return mnemo::detail::cat(path, ".tmp-", hex);
  }

  std::map<std::string, Entry> entries_;  // name order = buffer order
  std::map<std::string, std::string> metadata_;
};

}  // namespace mnemo::io
