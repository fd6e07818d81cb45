// mnemo/io/safetensors_reader.hpp — SafetensorsReader: opens a safetensors file, validates its
// whole header against the file size, then reads tensors on request.
//
// Nothing a header says is trusted: every length and offset is checked against the file's size
// before anything is allocated or read, so a truncated or lying file fails with an IoError that
// names the file, the tensor and what was expected — never with a crash or a huge allocation.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <tuple>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "mnemo/backend/cpu.hpp"
#include "mnemo/core/error.hpp"
#include "mnemo/core/shape.hpp"
#include "mnemo/core/tensor.hpp"
#include "mnemo/io/safetensors_format.hpp"

namespace mnemo::io {

class SafetensorsReader {
 public:
  /// Reads the header of `path` and validates all of it (see docs/io.md for the list of checks).
  explicit SafetensorsReader(const std::string& path) : path_(path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec))
      fail("cannot open: ", ec ? ec.message() : (std::filesystem::exists(path, ec) ? "not a regular file"
                                                                                    : "no such file"));
    // The whole file is read through one open descriptor into one buffer: a writer that replaces
    // the file (SafetensorsWriter renames a finished temporary over it) cannot mix two versions
    // into one load, and every later read_into copies from this buffer, never from the path.
    std::ifstream in(path, std::ios::binary | std::ios::ate);
    if (!in) fail("cannot open: ", std::strerror(errno));
    const std::streamoff end = in.tellg();
    if (end < 0) fail("cannot read its size");
    file_size_ = static_cast<uint64_t>(end);
    if (file_size_ < 8) fail("the file is ", file_size_, " bytes long, expected at least 8 (the header length)");
    if (file_size_ > kMaxFileBytes)
      fail("the file is ", file_size_, " bytes long, expected at most ", kMaxFileBytes);
    bytes_.resize(static_cast<size_t>(file_size_));
    in.seekg(0);
    in.read(bytes_.data(), static_cast<std::streamsize>(file_size_));
    if (static_cast<uint64_t>(in.gcount()) != file_size_)
      fail("read ", in.gcount(), " of its ", file_size_, " bytes (the file changed while it was read?)");
    if (in.peek() != std::char_traits<char>::eof())
      fail("the file grew past ", file_size_, " bytes while it was read");
    parse_file();
  }

  /// A reader over a whole safetensors file already in memory (received, mapped or embedded
  /// elsewhere); `label` stands for the path in messages. The same checks as for a file.
  static SafetensorsReader from_bytes(std::vector<char> bytes, std::string label = "<memory>") {
    return SafetensorsReader(std::move(label), std::move(bytes));
  }

  /// Files larger than this are refused before anything is allocated (the reader holds the whole
  /// file in memory while it is alive).
  static constexpr uint64_t kMaxFileBytes = uint64_t{1} << 40;

 private:
  SafetensorsReader(std::string label, std::vector<char> bytes) : path_(std::move(label)), bytes_(std::move(bytes)) {
    file_size_ = bytes_.size();
    if (file_size_ < 8) fail("the file is ", file_size_, " bytes long, expected at least 8 (the header length)");
    parse_file();
  }

  /// Validates the length field and the header of bytes_ (file_size_ bytes).
  void parse_file() {
    uint64_t header_bytes = 0;
    for (int i = 0; i < 8; ++i) header_bytes |= uint64_t{static_cast<unsigned char>(bytes_[static_cast<size_t>(i)])} << (8 * i);
    if (header_bytes > file_size_ - 8)
      fail("header length is ", header_bytes, " bytes, but only ", file_size_ - 8,
           " bytes follow the length field (truncated file?)");
    if (header_bytes > safetensors::kMaxHeaderBytes)
      fail("header length is ", header_bytes, " bytes, expected at most ", safetensors::kMaxHeaderBytes);
    data_start_ = 8 + header_bytes;
    buffer_size_ = file_size_ - data_start_;
    parse_header(std::string_view(bytes_.data() + 8, static_cast<size_t>(header_bytes)));
  }

 public:
  const std::string& path() const { return path_; }
  bool contains(const std::string& name) const { return entries_.count(name) != 0; }
  /// Tensor names in lexicographic order.
  std::vector<std::string> names() const {
    std::vector<std::string> out;
    out.reserve(entries_.size());
    for (const auto& kv : entries_) out.push_back(kv.first);
    return out;
  }
  /// The tensor's safetensors dtype: "F32", "F64", "I32", ... IoError if there is no such tensor.
  std::string dtype(const std::string& name) const { return entry(name).dtype; }
  Shape shape(const std::string& name) const { return entry(name).shape; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

  /// The tensor `name` as a new Tensor<T, B>. IoError if it is absent or its dtype is not T's.
  template <class T, class B = Cpu>
  Tensor<T, B> read(const std::string& name) const {
    const Entry& e = checked_entry<T>(name);
    Tensor<T, B> out(e.shape);
    copy_into(name, e, out);
    return out;
  }

  /// Reads `name` into `dst`, whose shape must equal the stored one (ShapeError otherwise) and
  /// whose element type must match the dtype (IoError otherwise).
  template <class T, class B>
  void read_into(const std::string& name, Tensor<T, B>& dst) const {
    const Entry& e = checked_entry<T>(name);
    if (!dst.defined() || dst.shape() != e.shape)
      throw ShapeError(mnemo::detail::cat("safetensors file '", path_, "': tensor '", name, "' has shape ",
                                          e.shape.str(), ", expected ",
                                          dst.defined() ? dst.shape().str() : std::string("a defined tensor"),
                                          " (the destination's shape)"));
    copy_into(name, e, dst);
  }

 private:
  struct Entry {
    std::string dtype;
    Shape shape;
    uint64_t begin = 0, end = 0;  // relative to the buffer start
  };

  template <class... Args>
  [[noreturn]] void fail(Args&&... args) const {
    throw IoError(mnemo::detail::cat("safetensors file '", path_, "': ", std::forward<Args>(args)...));
  }

  const Entry& entry(const std::string& name) const {
    auto it = entries_.find(name);
    if (it == entries_.end()) fail("no tensor named '", name, "' (the file holds ", entries_.size(), " tensors)");
    return it->second;
  }

  template <class T>
  const Entry& checked_entry(const std::string& name) const {
    const Entry& e = entry(name);
    if (e.dtype != dtype_of<T>())
      fail("tensor '", name, "' has dtype ", e.dtype, ", expected ", dtype_of<T>(), " (reading as ",
           Precision<T>::name, ")");
    return e;
  }

  /// Copies the entry's bytes (validated in the constructor) from the file buffer into `dst`.
  template <class T, class B>
  void copy_into(const std::string&, const Entry& e, Tensor<T, B>& dst) const {
    const uint64_t bytes = e.end - e.begin;
    if (bytes == 0) return;
    BackendTraits<B>::copy_from_host(BackendTraits<B>::default_context(), dst.data(),
                                     bytes_.data() + data_start_ + e.begin, static_cast<size_t>(bytes));
  }

  /// A short description of a JSON value for error messages: scalars and short arrays of scalars
  /// as written (cut at 64 characters), other arrays and objects by their size only: never a
  /// recursive serialisation of a value the file controls.
  static std::string brief(const nlohmann::json& v) {
    if (v.is_object()) return mnemo::detail::cat("a JSON object of ", v.size(), " keys");
    if (v.is_array()) {
      // A short array of scalars (a shape, data_offsets) is shown as written.
      const bool flat = v.size() <= static_cast<size_t>(Shape::kMaxRank) &&
                        std::all_of(v.begin(), v.end(), [](const nlohmann::json& x) { return x.is_primitive(); });
      if (!flat) return mnemo::detail::cat("a JSON array of ", v.size(), " elements");
    }
    std::string text = v.dump();
    if (text.size() > 64) text = text.substr(0, 64) + "...";
    return text;
  }

  /// Rejects a header whose arrays and objects nest deeper than safetensors::kMaxHeaderDepth
  /// before the JSON parser sees it (a valid header nests 3 deep), so that no recursive walk of
  /// the parsed value (serialising, destroying) can exhaust the stack.
  void check_nesting(std::string_view text) const {
    int depth = 0;
    bool in_string = false, escaped = false;
    for (size_t i = 0; i < text.size(); ++i) {
      const char ch = text[i];
      if (in_string) {
        if (escaped) escaped = false;
        else if (ch == '\\') escaped = true;
        else if (ch == '"') in_string = false;
      } else if (ch == '"') {
        in_string = true;
      } else if (ch == '[' || ch == '{') {
        if (++depth > safetensors::kMaxHeaderDepth)
          fail("header nests arrays/objects deeper than ", safetensors::kMaxHeaderDepth, " levels (at byte ", i,
               " of the header), expected a flat object of tensor entries");
      } else if (ch == ']' || ch == '}') {
        --depth;
      }
    }
  }

  void parse_header(std::string_view text) {
    check_nesting(text);
    // Duplicate keys at any level are an error (nlohmann would silently keep the last one).
    std::vector<std::set<std::string>> open_objects;
    std::string duplicate;
    auto on_event = [&](int, nlohmann::json::parse_event_t event, nlohmann::json& parsed) {
      using Ev = nlohmann::json::parse_event_t;
      if (event == Ev::object_start) open_objects.emplace_back();
      if (event == Ev::object_end && !open_objects.empty()) open_objects.pop_back();
      if (event == Ev::key && !open_objects.empty() && !open_objects.back().insert(parsed.get<std::string>()).second &&
          duplicate.empty())
        duplicate = parsed.get<std::string>();
      return true;
    };
    nlohmann::json header;
    try {
      header = nlohmann::json::parse(text, on_event);
    } catch (const nlohmann::json::exception& e) {
      fail("header is not valid JSON (", e.what(), ")");
    }
    if (!duplicate.empty()) fail("header repeats the key '", duplicate, "'");
    if (!header.is_object()) fail("header is a JSON ", header.type_name(), ", expected an object");

    for (const auto& [name, value] : header.items()) {
      if (name == safetensors::kMetadataKey)
        parse_metadata(value);
      else
        entries_.emplace(name, parse_entry(name, value));
    }
    check_no_overlap();
  }

  void parse_metadata(const nlohmann::json& value) {
    if (!value.is_object()) fail("__metadata__ is a JSON ", value.type_name(), ", expected an object of strings");
    for (const auto& [key, v] : value.items()) {
      if (!v.is_string()) fail("__metadata__ entry '", key, "' is a JSON ", v.type_name(), ", expected a string");
      metadata_.emplace(key, v.get<std::string>());
    }
  }

  Entry parse_entry(const std::string& name, const nlohmann::json& value) const {
    if (!value.is_object())
      fail("tensor '", name, "': entry is a JSON ", value.type_name(),
           ", expected an object with dtype, shape and data_offsets");
    for (const char* field : {"dtype", "shape", "data_offsets"})
      if (!value.contains(field)) fail("tensor '", name, "': entry has no '", field, "'");
    Entry e;

    const auto& dtype = value["dtype"];
    if (!dtype.is_string()) fail("tensor '", name, "': dtype is a JSON ", dtype.type_name(), ", expected a string");
    e.dtype = dtype.get<std::string>();
    const size_t element_bytes = dtype_size(e.dtype);
    if (element_bytes == 0)
      fail("tensor '", name, "': unknown dtype '", e.dtype, "', expected one of F64, F32, F16, BF16, I64, I32, "
           "I16, I8, U64, U32, U16, U8, BOOL, F8_E4M3, F8_E5M2");

    // Shape: at most Shape::kMaxRank non-negative integers whose product fits in int64 (the
    // product of the non-zero extents, so that every partial product fits too).
    const auto& shape = value["shape"];
    if (!shape.is_array()) fail("tensor '", name, "': shape is a JSON ", shape.type_name(), ", expected an array");
    if (shape.size() > static_cast<size_t>(Shape::kMaxRank))
      fail("tensor '", name, "': shape has rank ", shape.size(), ", expected at most ", Shape::kMaxRank);
    std::vector<int64_t> dims;
    uint64_t nonzero_product = 1;
    bool has_zero = false;
    constexpr uint64_t kMaxCount = static_cast<uint64_t>(std::numeric_limits<int64_t>::max());
    for (size_t i = 0; i < shape.size(); ++i) {
      const auto& d = shape[i];
      if (!d.is_number_integer())
        fail("tensor '", name, "': shape[", i, "] is ", brief(d), ", expected a non-negative integer");
      if (d.is_number_unsigned() ? d.get<uint64_t>() > kMaxCount : d.get<int64_t>() < 0)
        fail("tensor '", name, "': shape[", i, "] is ", brief(d), ", expected a non-negative integer below 2^63");
      const uint64_t extent = d.get<uint64_t>();
      dims.push_back(static_cast<int64_t>(extent));
      if (extent == 0) {
        has_zero = true;
      } else {
        if (nonzero_product > kMaxCount / extent)
          fail("tensor '", name, "': the element count of shape ", brief(shape), " overflows a 64-bit integer");
        nonzero_product *= extent;
      }
    }
    e.shape = Shape(dims);
    const uint64_t numel = has_zero ? 0 : nonzero_product;
    if (numel > std::numeric_limits<uint64_t>::max() / element_bytes)
      fail("tensor '", name, "': the byte size of shape ", brief(shape), " in ", e.dtype, " overflows a 64-bit integer");
    const uint64_t expected_bytes = numel * element_bytes;

    const auto& offsets = value["data_offsets"];
    if (!offsets.is_array() || offsets.size() != 2 || !offsets[0].is_number_unsigned() ||
        !offsets[1].is_number_unsigned())
      fail("tensor '", name, "': data_offsets is ", brief(offsets), ", expected [begin, end] (two non-negative integers)");
    e.begin = offsets[0].get<uint64_t>();
    e.end = offsets[1].get<uint64_t>();
    if (e.end < e.begin) fail("tensor '", name, "': data_offsets [", e.begin, ", ", e.end, "] end before begin");
    if (e.end - e.begin != expected_bytes)
      fail("tensor '", name, "': data_offsets [", e.begin, ", ", e.end, "] span ", e.end - e.begin,
           " bytes, expected ", expected_bytes, " (shape ", e.shape.str(), " in ", e.dtype, ")");
    if (e.end > buffer_size_)
      fail("tensor '", name, "': data_offsets [", e.begin, ", ", e.end, "] point past the end of the ",
           buffer_size_, "-byte data buffer (truncated file?)");
    return e;
  }

  /// No two non-empty byte ranges may share a byte; bytes that no tensor covers are allowed.
  void check_no_overlap() const {
    std::vector<std::tuple<uint64_t, uint64_t, const std::string*>> ranges;
    for (const auto& [name, e] : entries_)
      if (e.end > e.begin) ranges.emplace_back(e.begin, e.end, &name);
    std::sort(ranges.begin(), ranges.end());
    for (size_t i = 1; i < ranges.size(); ++i) {
      const auto& [b0, e0, n0] = ranges[i - 1];
      const auto& [b1, e1, n1] = ranges[i];
      if (b1 < e0)
        fail("tensors '", *n0, "' [", b0, ", ", e0, ") and '", *n1, "' [", b1, ", ", e1, ") overlap");
    }
  }

  std::string path_;
  std::vector<char> bytes_;  // the whole file, read once
  uint64_t file_size_ = 0;
  uint64_t data_start_ = 0;   // 8 + header length
  uint64_t buffer_size_ = 0;  // file size - data_start_
  std::map<std::string, Entry> entries_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace mnemo::io
