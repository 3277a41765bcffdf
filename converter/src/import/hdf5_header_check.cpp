#include "hdf5_header_check.h"

#include <cstring>
#include <map>
#include <set>
#include <utility>

#include "hdf5_image_bytes.h"

// Layouts from the HDF5 File Format Specification (version 3.0): superblock (II.A), version 1
// and 2 object headers (IV.A.1), link (IV.A.2.g), dataspace (IV.A.2.b), datatype (IV.A.2.d),
// attribute (IV.A.2.m) and continuation (IV.A.2.q) messages.
namespace emc::converter::detail {
namespace {

constexpr std::uint8_t kSig[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
constexpr int kMaxChunks = 256;

std::uint64_t align8(std::uint64_t n) {
  return (n + 7) & ~std::uint64_t{7};
}

struct Span {
  const std::uint8_t* p;
  std::uint64_t n;
};

// Encoded length of the datatype at `s` (what libhdf5's decoder will read), 0 when it is damaged
// or of a class EMC does not accept; `elem` gets the size of one element as stored in the file.
std::uint64_t datatype_length(Span s, const H5ImageLayout& l, std::uint64_t& elem, std::string& why,
                              int depth = 0) {
  if (s.n < 8) {
    why = "a datatype shorter than its 8-byte header";
    return 0;
  }
  const int cls = s.p[0] & 0x0F;
  const std::uint64_t size = le(s.p + 4, 4);
  std::uint64_t props = 0;
  switch (cls) {
    case 0:
      props = 4;
      break;  // fixed-point: bit offset, precision
    case 1:
      props = 12;
      break;  // floating-point
    case 2:
      props = 2;
      break;  // time
    case 3:
      props = 0;
      break;  // string
    case 4:
      props = 4;
      break;   // bitfield
    case 9: {  // variable-length: the base type follows
      if (depth >= 4) {
        why = "variable-length datatypes nested more than 4 deep";
        return 0;
      }
      std::uint64_t base_elem = 0;
      const std::uint64_t base = datatype_length({s.p + 8, s.n - 8}, l, base_elem, why, depth + 1);
      if (base == 0) return 0;
      elem = 4 + static_cast<std::uint64_t>(l.offset_size) + 4;  // length + global heap ID
      return 8 + base;
    }
    default:
      why = "a datatype of class " + std::to_string(cls) +
            " (compound, reference, enum, array or opaque), which a Keras file does not use";
      return 0;
  }
  if (8 + props > s.n) {
    why = "a datatype of class " + std::to_string(cls) + " cut short";
    return 0;
  }
  if (cls == 0 || cls == 1) {
    // libhdf5 converts these to native numbers with bit operations on the fields the file
    // declares (H5T__conv_i_i / H5T__conv_f_f): each must lie inside the element.
    const std::uint64_t bits = 8 * size;
    const std::uint64_t offset = le(s.p + 8, 2), precision = le(s.p + 10, 2);
    bool ok = (size == 1 || size == 2 || size == 4 || size == 8) && precision >= 1 &&
              offset + precision <= bits;
    if (ok && cls == 1) {
      const std::uint64_t sign = s.p[2], epos = s.p[12], esize = s.p[13], mpos = s.p[14],
                          msize = s.p[15];
      ok = sign < bits && esize >= 1 && esize <= 32 && epos + esize <= bits && msize >= 1 &&
           mpos + msize <= bits;
    }
    if (!ok) {
      why = std::string("a ") + (cls == 0 ? "fixed-point" : "floating-point") +
            " datatype whose bit fields do not fit its " + std::to_string(size) + "-byte element";
      return 0;
    }
  }
  elem = size;
  return 8 + props;
}

// Encoded length of the dataspace at `s`, 0 when damaged; `points` gets its element count
// (saturating at 2^62).
std::uint64_t dataspace_length(Span s, const H5ImageLayout& l, std::uint64_t& points,
                               std::string& why) {
  if (s.n < 4) {
    why = "a dataspace shorter than its header";
    return 0;
  }
  const int version = s.p[0], rank = s.p[1], flags = s.p[2];
  if (version != 1 && version != 2) {
    why = "a dataspace of version " + std::to_string(version);
    return 0;
  }
  if (rank > 32) {
    why = "a dataspace of rank " + std::to_string(rank) + " (HDF5 allows 32)";
    return 0;
  }
  const std::uint64_t head = version == 1 ? 8 : 4;
  const std::uint64_t len =
      head + static_cast<std::uint64_t>(rank) * l.length_size * ((flags & 1) ? 2 : 1);
  if (len > s.n) {
    why = "a dataspace of rank " + std::to_string(rank) + " cut short";
    return 0;
  }
  const bool null_space = version == 2 && s.p[3] == 2;
  points = null_space ? 0 : 1;
  for (int i = 0; i < rank && !null_space; ++i) {
    const std::uint64_t d =
        le(s.p + head + static_cast<std::uint64_t>(i) * l.length_size, l.length_size);
    points =
        (d != 0 && points > (std::uint64_t{1} << 62) / d) ? (std::uint64_t{1} << 62) : points * d;
  }
  return len;
}

// The variable-length values of an attribute (`points` elements of seq_len(4), collection
// address, object index(4) at `data`): each non-empty one must name an object of a sound
// collection holding exactly seq_len * base_elem bytes.
std::string check_vlen_references(const std::vector<std::uint8_t>& image, const H5ImageLayout& l,
                                  const std::uint8_t* data, std::uint64_t points,
                                  std::uint64_t base_elem) {
  const std::uint64_t elem = 4 + static_cast<std::uint64_t>(l.offset_size) + 4;
  std::map<std::uint64_t, std::vector<H5HeapObject>> collections;
  for (std::uint64_t i = 0; i < points; ++i) {
    const std::uint8_t* e = data + i * elem;
    const std::uint64_t seq_len = le(e, 4);
    if (seq_len == 0) continue;  // libhdf5 reads nothing for an empty value
    const std::uint64_t addr = le(e + 4, l.offset_size);
    const std::uint64_t index = le(e + 4 + l.offset_size, 4);
    const std::string value = "value " + std::to_string(i) + " (global heap object " +
                              std::to_string(index) + " at address " + std::to_string(addr) + ")";
    auto it = collections.find(addr);
    if (it == collections.end()) {
      std::vector<H5HeapObject> objects;
      const bool in_file = addr <= image.size() && l.base <= image.size() - addr;
      const auto walk =
          in_file ? walk_h5_global_heap(image, l, l.base + addr, &objects) : std::nullopt;
      if (!walk) return "has " + value + ", where the file holds no heap collection";
      if (!walk->empty()) return "has " + value + ", whose collection " + *walk;
      it = collections.emplace(addr, std::move(objects)).first;
    }
    const H5HeapObject* found = nullptr;
    for (const H5HeapObject& o : it->second)
      if (o.index == index) found = &o;
    if (!found) return "has " + value + ", which its collection does not hold";
    if (base_elem == 0 || seq_len > found->size / base_elem || seq_len * base_elem != found->size)
      return "has " + value + ", whose " + std::to_string(found->size) +
             " bytes are not the declared " + std::to_string(seq_len) + " values of " +
             std::to_string(base_elem) + " bytes";
  }
  return {};
}

std::string check_attribute(Span s, const H5ImageLayout& l,
                            const std::vector<std::uint8_t>& image) {
  if (s.n < 8) return "is shorter than an attribute header";
  const int version = s.p[0];
  if (version < 1 || version > 3) return "has attribute version " + std::to_string(version);
  if (version >= 2 && (s.p[1] & 0x03))
    return "uses a shared datatype or dataspace, which EMC does not read";
  const std::uint64_t name_len = le(s.p + 2, 2), dt_len = le(s.p + 4, 2), ds_len = le(s.p + 6, 2);
  const std::uint64_t head = version == 3 ? 9 : 8;
  auto field = [&](std::uint64_t n) { return version == 1 ? align8(n) : n; };
  const std::uint64_t name_at = head, dt_at = name_at + field(name_len),
                      ds_at = dt_at + field(dt_len), data_at = ds_at + field(ds_len);
  if (data_at > s.n)
    return "declares name, datatype and dataspace fields of " + std::to_string(data_at) +
           " bytes in a message of " + std::to_string(s.n);
  if (name_len == 0 || std::memchr(s.p + name_at, 0, name_len) == nullptr)
    return "has a name that is not NUL-terminated within its " + std::to_string(name_len) +
           " bytes";
  std::string why;
  std::uint64_t elem = 0, points = 0;
  const std::uint64_t dt = datatype_length({s.p + dt_at, dt_len}, l, elem, why);
  if (dt == 0) return "has " + why;
  const std::uint64_t ds = dataspace_length({s.p + ds_at, ds_len}, l, points, why);
  if (ds == 0) return "has " + why;
  const std::uint64_t room = s.n - data_at;
  if (points != 0 && (elem > room || points > room / (elem ? elem : 1)))
    return "holds " + std::to_string(points) + " values of " + std::to_string(elem) + " bytes in " +
           std::to_string(room) + " bytes";
  if ((s.p[dt_at] & 0x0F) == 9) {  // variable-length: its values live in global heaps
    std::uint64_t base_elem = 0;
    datatype_length({s.p + dt_at + 8, dt_len - 8}, l, base_elem, why, 1);
    return check_vlen_references(image, l, s.p + data_at, points, base_elem);
  }
  return {};
}

// A link message (IV.A.2.g): names a group member in a compact (version 2) group.
std::string check_link(Span s, const H5ImageLayout& l) {
  if (s.n < 2 || s.p[0] != 1) return "is a link message of an unknown version";
  const int flags = s.p[1];
  std::uint64_t p = 2;
  int type = 0;
  if (flags & 0x08) type = p < s.n ? s.p[p++] : -1;
  if (flags & 0x04) p += 8;
  if (flags & 0x10) ++p;
  const int width = 1 << (flags & 3);
  if (type < 0 || p + width > s.n) return "is a link message cut short";
  const std::uint64_t name_len = le(s.p + p, width);
  p += width;
  if (name_len == 0 || name_len > s.n - p) return "is a link whose name runs past the message";
  p += name_len;
  std::uint64_t need = 0;
  if (type == 0) {
    need = static_cast<std::uint64_t>(l.offset_size);
  } else {
    if (p + 2 > s.n) return "is a link message cut short";
    need = 2 + le(s.p + p, 2);
  }
  if (need > s.n - p) return "is a link whose target runs past the message";
  return {};
}

struct Chunk {
  std::uint64_t start, end;  // absolute offsets of the messages
};

}  // namespace

std::optional<H5ImageLayout> read_h5_layout(const std::vector<std::uint8_t>& image) {
  for (std::uint64_t at = 0; at + 8 <= image.size() && at <= (std::uint64_t{1} << 20);
       at = at ? at * 2 : 512) {
    if (std::memcmp(image.data() + at, kSig, 8) != 0) continue;
    if (at + 16 > image.size()) return std::nullopt;
    const std::uint8_t* p = image.data() + at;
    H5ImageLayout l;
    // libhdf5 takes the superblock's own position as the base address (a user block precedes).
    l.base = at;
    std::uint64_t root_at = 0;   // where the root object header address is stored
    std::uint64_t other_at = 0;  // where the driver information / extension address is
    if (p[8] <= 1) {
      l.offset_size = p[13];
      l.length_size = p[14];
      // base, free-space, end-of-file and driver addresses, then the root symbol table entry
      // (link name offset, object header address)
      const std::uint64_t base_at = p[8] == 0 ? 24 : 28;
      other_at = base_at + 3 * static_cast<std::uint64_t>(l.offset_size);
      root_at = base_at + 5 * static_cast<std::uint64_t>(l.offset_size);
    } else {
      l.offset_size = p[9];
      l.length_size = p[10];
      // base, superblock extension and end-of-file addresses, then the root's
      other_at = 12 + static_cast<std::uint64_t>(l.offset_size);
      root_at = 12 + 3 * static_cast<std::uint64_t>(l.offset_size);
    }
    auto ok = [](int n) { return n == 2 || n == 4 || n == 8; };
    if (!ok(l.offset_size) || !ok(l.length_size)) return std::nullopt;
    if (at + root_at + l.offset_size > image.size()) return std::nullopt;
    if (p[8] <= 1) {  // group leaf and internal node K follow the two sizes and a reserved byte
      l.sym_leaf_k = static_cast<int>(le(p + 16, 2));
      l.sym_internal_k = static_cast<int>(le(p + 18, 2));
    }
    l.root = le(p + root_at, l.offset_size);
    // The undefined address is all ones in offset_size bytes.
    const std::uint64_t other = le(p + other_at, l.offset_size);
    if (other != all_ones(static_cast<std::uint64_t>(l.offset_size)))
      (p[8] <= 1 ? l.driver_info : l.extension) = other;
    return l;
  }
  return std::nullopt;
}

std::string check_h5_superblock(const std::vector<std::uint8_t>& image, const H5ImageLayout& l) {
  const std::uint64_t size = image.size();
  if (l.driver_info != H5ImageLayout::kUndefined) {
    // Driver information block (II.B): version, 3 reserved bytes, the size of the driver
    // information (4 bytes), the driver's 8-byte name, then that many bytes.
    const std::uint64_t addr = l.driver_info;
    const auto at = image_offset(image, l, addr, 16);
    if (!at)
      return "the driver information block at address " + std::to_string(addr) +
             " is past the end of the file";
    const std::uint64_t n = le(image.data() + *at + 4, 4);
    if (n > size - *at - 16)
      return "the driver information block at address " + std::to_string(addr) + " declares " +
             std::to_string(n) + " bytes, past the end of the file";
  }
  if (l.extension != H5ImageLayout::kUndefined) {
    if (const std::string why = check_h5_object_header(image, l, l.extension); !why.empty())
      return "the superblock extension's object header at address " + std::to_string(l.extension) +
             " is damaged: " + why;
  }
  return {};
}

std::optional<std::string> walk_h5_global_heap(const std::vector<std::uint8_t>& image,
                                               const H5ImageLayout& l, std::uint64_t at,
                                               std::vector<H5HeapObject>* objects) {
  const std::uint8_t* b = image.data();
  const std::uint64_t n = image.size();
  // "GCOL", version 1, 3 reserved bytes, collection size (a length); then objects: index(2),
  // reference count(2), 4 reserved bytes, size (a length), data padded to 8 bytes. Index 0 is
  // the free space, whose size counts its header.
  const std::uint64_t head = 8 + static_cast<std::uint64_t>(l.length_size);
  if (at > n || n - at < head || std::memcmp(b + at, "GCOL", 4) != 0 || b[at + 4] != 1)
    return std::nullopt;
  const std::uint64_t size = le(b + at + 8, l.length_size);
  if (size < head || size > n - at) return std::nullopt;
  const std::uint64_t end = at + size;
  std::uint64_t p = at + head;
  while (end - p >= head) {  // libhdf5 takes a tail shorter than an object header as free space
    const std::uint64_t index = le(b + p, 2);
    const std::uint64_t obj = le(b + p + 8, l.length_size);
    const std::uint64_t need = index > 0 ? (obj > size ? obj : head + align8(obj)) : obj;
    if (need == 0 || need > end - p)
      return "at offset " + std::to_string(at) + " is damaged: object " + std::to_string(index) +
             " of " + std::to_string(obj) + " bytes at offset " + std::to_string(p) +
             (need == 0 ? " is empty" : " runs past the collection");
    if (index > 0 && objects) objects->push_back({index, obj});
    p += need;
  }
  return std::string{};
}

std::string check_h5_object_header(const std::vector<std::uint8_t>& image, const H5ImageLayout& l,
                                   std::uint64_t addr) {
  const std::uint64_t size = image.size();
  const std::uint8_t* b = image.data();
  auto in_image = [&](std::uint64_t at, std::uint64_t n) { return at <= size && n <= size - at; };
  if (addr > size || l.base > size - addr) return "its address is past the end of the file";
  const std::uint64_t at = l.base + addr;
  bool v2 = false;
  int crt_order = 0;
  std::vector<Chunk> todo;
  if (in_image(at, 4) && std::memcmp(b + at, "OHDR", 4) == 0) {
    v2 = true;
    if (!in_image(at, 6) || b[at + 4] != 2) return "has an unknown object header version";
    const int flags = b[at + 5];
    crt_order = (flags & 0x04) ? 2 : 0;
    std::uint64_t p = at + 6 + ((flags & 0x20) ? 16 : 0) + ((flags & 0x10) ? 4 : 0);
    const int width = 1 << (flags & 3);
    if (!in_image(p, width)) return "is cut short";
    const std::uint64_t n = le(b + p, width);
    p += width;
    if (!in_image(p, n) || n < 4 || !in_image(p + n, 4)) return "has its first chunk past the end";
    todo.push_back({p, p + n});
  } else {
    if (!in_image(at, 16) || b[at] != 1) return "has an unknown object header version";
    const std::uint64_t n = le(b + at + 8, 4);
    if (!in_image(at + 16, n)) return "has its first chunk past the end";
    todo.push_back({at + 16, at + 16 + n});
  }
  std::set<std::uint64_t> seen{todo.front().start};
  std::vector<std::pair<std::string, Span>> tables;  // symbol table messages
  const std::uint64_t msg_head = v2 ? 4 + crt_order : 8;
  for (std::size_t c = 0; c < todo.size(); ++c) {
    std::uint64_t p = todo[c].start;
    const std::uint64_t end = todo[c].end;
    int index = 0;
    while (end - p >= msg_head) {
      const std::uint64_t type = v2 ? b[p] : le(b + p, 2);
      const std::uint64_t n = v2 ? le(b + p + 1, 2) : le(b + p + 2, 2);
      const int mflags = v2 ? b[p + 3] : b[p + 4];
      p += msg_head;
      const std::string where = "message " + std::to_string(index) + " (type " +
                                std::to_string(type) + ") in chunk " + std::to_string(c) +
                                " at offset " + std::to_string(p - msg_head);
      if (n > end - p) return where + " runs past its chunk";
      const Span body{b + p, n};
      const bool shared = (mflags & 0x02) != 0;
      std::string why;
      if (type == 0x0C) {  // attribute
        why = shared ? "is a shared attribute, which EMC does not read"
                     : check_attribute(body, l, image);
      } else if (type == 0x03 && !shared) {  // datatype
        std::uint64_t elem = 0;
        if (datatype_length(body, l, elem, why) == 0) why = "is " + why;
      } else if (type == 0x01 && !shared) {  // dataspace
        std::uint64_t points = 0;
        if (dataspace_length(body, l, points, why) == 0) why = "is " + why;
      } else if (type == 0x06 && !shared) {  // link
        why = check_link(body, l);
      } else if (type == 0x11 && !shared) {  // symbol table: checked after the header itself
        tables.push_back({where, body});
      } else if (type == 0x14) {  // driver info (superblock extension): version, name, size
        if (n < 11 || le(body.p + 9, 2) > n - 11)
          why = "is a driver info message whose data runs past the message";
      } else if (type == 0x10) {  // continuation: another chunk
        if (n < static_cast<std::uint64_t>(l.offset_size + l.length_size))
          return where + " is a continuation cut short";
        const std::uint64_t caddr = le(body.p, l.offset_size);
        const std::uint64_t clen = le(body.p + l.offset_size, l.length_size);
        if (caddr > size || l.base > size - caddr || !in_image(l.base + caddr, clen))
          return where + " continues the header past the end of the file";
        std::uint64_t s = l.base + caddr, e = s + clen;
        if (v2) {
          if (clen < 8 || std::memcmp(b + s, "OCHK", 4) != 0)
            return where + " continues the header at a chunk without its signature";
          s += 4;
          e -= 4;  // checksum
        }
        if (!seen.insert(s).second) return where + " continues the header in a loop";
        if (todo.size() >= kMaxChunks) return "has more than 256 chunks";
        todo.push_back({s, e});
      }
      if (!why.empty()) return where + " " + why;
      p += n;
      ++index;
    }
  }
  for (const auto& [where, body] : tables)
    if (std::string why = check_h5_symbol_table(body.p, body.n, l, image); !why.empty())
      return where + " " + why;
  return {};
}

}  // namespace emc::converter::detail
