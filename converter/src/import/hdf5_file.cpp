#include "hdf5_file.h"

#include <algorithm>
#include <cstring>

namespace emc::converter::detail {
namespace {

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  std::size_t start = 0;
  while (start <= path.size()) {
    auto end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

// Fixed-length HDF5 strings are padded with NULs or spaces.
std::string trim_fixed(const char* p, std::size_t n, H5T_str_t pad) {
  std::size_t len = 0;
  while (len < n && p[len] != '\0') ++len;
  if (pad == H5T_STR_SPACEPAD)
    while (len > 0 && p[len - 1] == ' ') --len;
  return std::string(p, len);
}

void silence_hdf5() {
  // HDF5 prints its error stack to stderr by default; every failure becomes one emc::Error.
  // Debian's libhdf5 is built thread-safe, where the default error stack (and so this
  // setting) is per thread: once per thread, not once per file.
  thread_local bool silenced = false;
  if (!silenced) silenced = H5Eset_auto2(H5E_DEFAULT, nullptr, nullptr) >= 0;
}

// Every "GCOL" global heap collection in the image is walked the way libhdf5 will walk it
// (walk_h5_global_heap): libhdf5 finds a collection only by its signature at the address it
// follows, so checking every signature catches a damaged one first (fuzz_keras_h5 findings 1
// and 4, fuzz/README.md).
void check_global_heaps(const std::vector<std::uint8_t>& bytes, const H5ImageLayout& layout,
                        const std::string& name) {
  const std::uint8_t* b = bytes.data();
  for (std::size_t at = 0; at + 5 <= bytes.size(); ++at) {
    if (b[at] != 'G' || std::memcmp(b + at, "GCOL", 4) != 0) continue;
    const auto why = walk_h5_global_heap(bytes, layout, at);
    if (why && !why->empty())
      throw ErrorException(
          Error(Errc::kInvalidModel, "HDF5 global heap collection " + *why).in_file(name));
  }
}

}  // namespace

bool looks_like_hdf5(const std::uint8_t* data, std::size_t size) {
  static constexpr std::uint8_t kSig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
  for (std::size_t off = 0; off + 8 <= size && off <= (std::size_t{1} << 20);
       off = off ? off * 2 : 512)
    if (std::memcmp(data + off, kSig, 8) == 0) return true;
  return false;
}

void Hdf5File::fail(const std::string& path, const std::string& message) const {
  throw ErrorException(
      Error(Errc::kInvalidModel, "HDF5 object '" + path + "': " + message).in_file(name_));
}

Hdf5File Hdf5File::open_memory(const std::vector<std::uint8_t>& bytes, std::string display_name) {
  silence_hdf5();
  auto bad = [&](const std::string& m) {
    return ErrorException(Error(Errc::kInvalidModel, m).in_file(display_name));
  };
  if (!looks_like_hdf5(bytes.data(), bytes.size()))
    throw bad("not an HDF5 file (no HDF5 signature)");
  const std::optional<H5ImageLayout> layout = read_h5_layout(bytes);
  if (!layout)
    throw bad(
        "HDF5 object '/': the superblock is damaged or uses address sizes other than 2, 4 "
        "or 8 bytes");
  if (const std::string why = check_h5_superblock(bytes, *layout); !why.empty())
    throw bad("HDF5 superblock: " + why);
  check_global_heaps(bytes, *layout, display_name);
  // libhdf5 loads the root group's header when it opens the file: check it first.
  if (const std::string why = check_h5_object_header(bytes, *layout, layout->root); !why.empty())
    throw bad("HDF5 object '/': the object header at address " + std::to_string(layout->root) +
              " is damaged: " + why);
  H5Id fapl(H5Pcreate(H5P_FILE_ACCESS), H5Pclose);
  if (!fapl.valid() || H5Pset_fapl_core(fapl.get(), 1 << 16, /*backing_store=*/0) < 0 ||
      H5Pset_file_image(fapl.get(), const_cast<std::uint8_t*>(bytes.data()), bytes.size()) < 0)
    throw bad("cannot set up the HDF5 in-memory driver");
  // The core driver needs a name; nothing is read from or written to it.
  H5Id file(H5Fopen("emc_in_memory.h5", H5F_ACC_RDONLY, fapl.get()), H5Fclose);
  if (!file.valid())
    throw bad("HDF5 object '/': the file is damaged or truncated (HDF5 cannot open it)");
  Hdf5File f(std::move(file), std::move(display_name), bytes, *layout);
  f.checked_.insert(layout->root);
  return f;
}

void Hdf5File::check_header(const std::string& path, haddr_t addr) const {
  if (checked_.count(addr)) return;
  const std::string why = check_h5_object_header(image_, layout_, addr);
  if (!why.empty())
    fail(path, "the object header at address " + std::to_string(addr) + " is damaged: " + why);
  checked_.insert(addr);
}

bool Hdf5File::exists(const std::string& path) const {
  // Each component: the link in its (already checked) parent group, then the header it points
  // to is checked from the image before libhdf5 loads it (H5Lget_info reads only the link).
  std::string prefix;
  for (const std::string& part : split_path(path)) {
    prefix += "/" + part;
    if (H5Lexists(file_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
    H5L_info_t link;
    if (H5Lget_info(file_.get(), prefix.c_str(), &link, H5P_DEFAULT) < 0 ||
        link.type != H5L_TYPE_HARD)
      return false;  // soft and external links: Keras writes none
    check_header(prefix, link.u.address);
    if (H5Oexists_by_name(file_.get(), prefix.c_str(), H5P_DEFAULT) <= 0) return false;
  }
  return true;
}

H5Id Hdf5File::open_object(const std::string& path) const {
  if (!exists(path)) fail(path, "does not exist");
  H5Id obj(H5Oopen(file_.get(), path.c_str(), H5P_DEFAULT), H5Oclose);
  if (!obj.valid()) fail(path, "cannot be opened (damaged file?)");
  return obj;
}

bool Hdf5File::is_group(const std::string& path) const {
  if (!exists(path)) return false;
  H5O_info_t info;
  if (H5Oget_info_by_name2(file_.get(), path.c_str(), &info, H5O_INFO_BASIC, H5P_DEFAULT) < 0)
    return false;
  return info.type == H5O_TYPE_GROUP;
}

bool Hdf5File::has_attribute(const std::string& path, const std::string& attr) const {
  if (!exists(path)) return false;
  return H5Aexists_by_name(file_.get(), path.c_str(), attr.c_str(), H5P_DEFAULT) > 0;
}

std::string Hdf5File::string_attribute(const std::string& path, const std::string& attr,
                                       std::size_t max_bytes) const {
  return read_strings(path, attr, true, 1, max_bytes).at(0);
}

std::vector<std::string> Hdf5File::string_list_attribute(const std::string& path,
                                                         const std::string& attr,
                                                         std::size_t max_items) const {
  if (!has_attribute(path, attr)) {
    // Keras writes lists larger than HDF5's 64 KiB attribute limit as attr0, attr1, ...
    std::vector<std::string> all;
    for (int chunk = 0; has_attribute(path, attr + std::to_string(chunk)); ++chunk) {
      auto part = string_list_attribute(path, attr + std::to_string(chunk), max_items);
      all.insert(all.end(), part.begin(), part.end());
      if (all.size() > max_items) fail(path, "attribute '" + attr + "' has too many entries");
    }
    if (all.empty() && !has_attribute(path, attr + "0"))
      fail(path + "' attribute '" + attr, "does not exist");
    return all;
  }
  return read_strings(path, attr, false, max_items, 4096);
}

std::vector<std::string> Hdf5File::read_strings(const std::string& path, const std::string& attr,
                                                bool scalar, std::size_t max_items,
                                                std::size_t max_len) const {
  const std::string where = path + "' attribute '" + attr;
  H5Id obj = open_object(path);
  H5Id a(H5Aopen(obj.get(), attr.c_str(), H5P_DEFAULT), H5Aclose);
  if (!a.valid()) fail(where, "does not exist or cannot be opened");
  H5Id type(H5Aget_type(a.get()), H5Tclose);
  H5Id space(H5Aget_space(a.get()), H5Sclose);
  if (!type.valid() || !space.valid()) fail(where, "has a damaged type or dataspace");
  const hssize_t n = H5Sget_simple_extent_npoints(space.get());
  if (n < 0) fail(where, "has a damaged dataspace");
  if (n == 0 && !scalar) return {};  // h5py stores an empty list as an empty float64 array
  if (H5Tget_class(type.get()) != H5T_STRING)
    fail(where, scalar ? "is not a string" : "is not a list of strings");
  if (scalar && n != 1) fail(where, "is not a single string (a scalar)");
  if (!scalar && H5Sget_simple_extent_ndims(space.get()) > 1) fail(where, "is not a 1-D list");
  if (static_cast<std::uint64_t>(n) > max_items)
    fail(where, "has " + std::to_string(n) + " entries; the limit is " + std::to_string(max_items));
  const auto count = static_cast<std::size_t>(n);
  std::vector<std::string> out;
  const htri_t vlen = H5Tis_variable_str(type.get());
  if (vlen < 0) fail(where, "has a damaged string type");
  if (vlen) {
    H5Id mem(H5Tcopy(H5T_C_S1), H5Tclose);
    if (!mem.valid() || H5Tset_size(mem.get(), H5T_VARIABLE) < 0 ||
        H5Tset_cset(mem.get(), H5Tget_cset(type.get())) < 0)
      fail(where, "cannot set up a string read");
    std::vector<char*> ptrs(count, nullptr);
    if (H5Aread(a.get(), mem.get(), ptrs.data()) < 0) fail(where, "cannot be read (damaged file?)");
    bool too_long = false;
    for (char* p : ptrs) {
      if (!p) {
        out.emplace_back();
        continue;
      }
      const std::size_t len = strnlen(p, max_len + 1);
      too_long |= len > max_len;
      out.emplace_back(p, std::min(len, max_len));
    }
    H5Dvlen_reclaim(mem.get(), space.get(), H5P_DEFAULT, ptrs.data());
    if (too_long)
      fail(where, "has a string of more than " + std::to_string(max_len) + " bytes (the limit is " +
                      std::to_string(max_len) + ")");
    return out;
  }
  const std::size_t size = H5Tget_size(type.get());
  if (size == 0 || size > max_len)
    fail(where, "has strings of " + std::to_string(size) + " bytes; the limit is " +
                    std::to_string(max_len));
  std::vector<char> buf(size * count);
  H5Id mem(H5Tcopy(type.get()), H5Tclose);
  if (!mem.valid()) fail(where, "cannot set up a string read");
  if (H5Aread(a.get(), mem.get(), buf.data()) < 0) fail(where, "cannot be read (damaged file?)");
  const H5T_str_t pad = H5Tget_strpad(type.get());
  for (std::size_t i = 0; i < count; ++i) out.push_back(trim_fixed(&buf[i * size], size, pad));
  return out;
}

namespace {
struct ChildList {
  std::vector<std::string> names;
  std::size_t max_items;
  bool overflow = false;
};

herr_t collect_child(hid_t, const char* name, const H5L_info_t*, void* data) {
  auto* list = static_cast<ChildList*>(data);
  if (list->names.size() >= list->max_items) {
    list->overflow = true;
    return 1;  // stop
  }
  list->names.emplace_back(name);
  return 0;
}
}  // namespace

std::vector<std::string> Hdf5File::children(const std::string& path, std::size_t max_items) const {
  if (!is_group(path)) fail(path, exists(path) ? "is not a group" : "does not exist");
  H5Id group(H5Gopen2(file_.get(), path.c_str(), H5P_DEFAULT), H5Gclose);
  if (!group.valid()) fail(path, "cannot be opened as a group");
  ChildList list{{}, max_items};
  hsize_t idx = 0;
  if (H5Literate(group.get(), H5_INDEX_NAME, H5_ITER_INC, &idx, collect_child, &list) < 0)
    fail(path, "cannot list its members (damaged file?)");
  if (list.overflow) fail(path, "has more than " + std::to_string(max_items) + " members");
  return list.names;
}

H5FloatData Hdf5File::read_floats(const std::string& path, std::uint64_t max_values) const {
  if (!exists(path)) fail(path, "does not exist");
  H5Id ds(H5Dopen2(file_.get(), path.c_str(), H5P_DEFAULT), H5Dclose);
  if (!ds.valid()) fail(path, "is not a dataset (or cannot be opened)");
  H5Id type(H5Dget_type(ds.get()), H5Tclose);
  H5Id space(H5Dget_space(ds.get()), H5Sclose);
  if (!type.valid() || !space.valid()) fail(path, "has a damaged type or dataspace");
  const std::size_t size = H5Tget_size(type.get());
  const H5T_class_t cls = H5Tget_class(type.get());
  const bool is_float = cls == H5T_FLOAT && (size == 2 || size == 4 || size == 8);
  const bool is_int = cls == H5T_INTEGER && (size == 1 || size == 2 || size == 4 || size == 8);
  if (!is_float && !is_int)
    fail(path, "is not a float16/32/64 or 8..64-bit integer dataset (HDF5 class " +
                   std::to_string(static_cast<int>(cls)) + ", " + std::to_string(size) + " bytes)");
  const int rank = H5Sget_simple_extent_ndims(space.get());
  if (rank < 0 || rank > 8) fail(path, "has rank " + std::to_string(rank) + "; at most 8");
  hsize_t dims[8] = {};
  if (rank > 0 && H5Sget_simple_extent_dims(space.get(), dims, nullptr) != rank)
    fail(path, "has a damaged dataspace");
  H5FloatData out;
  if (is_float) {
    out.stored_dtype = "float" + std::to_string(size * 8);
  } else {
    out.stored_dtype =
        (H5Tget_sign(type.get()) == H5T_SGN_NONE ? "uint" : "int") + std::to_string(size * 8);
  }
  std::uint64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    if (dims[i] > max_values) fail(path, "has a dimension of " + std::to_string(dims[i]));
    count *= dims[i];
    if (count > max_values)
      fail(path, "has more than " + std::to_string(max_values) + " values (the limit)");
    out.shape.push_back(static_cast<std::int64_t>(dims[i]));
  }
  if (H5Sget_simple_extent_type(space.get()) == H5S_NULL) count = 0;
  // Compact storage (the data inside the layout message) must hold every element: libhdf5 1.10.8
  // reads a compact dataset whose message holds fewer bytes (or none: a null buffer) than its
  // dataspace needs from past that buffer (fuzz_keras_h5 finding 6: a SEGV).
  H5Id dcpl(H5Dget_create_plist(ds.get()), H5Pclose);
  if (!dcpl.valid()) fail(path, "has damaged creation properties");
  if (H5Pget_layout(dcpl.get()) == H5D_COMPACT) {
    const std::uint64_t held = H5Dget_storage_size(ds.get());
    if (held != count * size)
      fail(path, "is a compact dataset of " + std::to_string(count) + " values of " +
                     std::to_string(size) + " bytes whose layout message holds " +
                     std::to_string(held) + " bytes");
  }
  // The storage must be able to hold the data (a truncated file names the dataset).
  out.values.resize(static_cast<std::size_t>(count));
  if (count > 0 &&
      H5Dread(ds.get(), H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, out.values.data()) < 0)
    fail(path, "cannot be read (damaged or truncated file?)");
  return out;
}

}  // namespace emc::converter::detail
