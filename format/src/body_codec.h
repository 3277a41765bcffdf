// Per-body decode/encode pairs for every kmodel V3 layer type (internal to emc_format).
#pragma once

#include <cstdint>

#include "emc/format/byte_io.h"
#include "emc/format/error.h"
#include "emc/format/kmodel_v3.h"

namespace emc::format::detail {

// Bytes of the fixed argument struct of `type` (without trailing arrays or conv blobs).
std::uint32_t body_fixed_bytes(LayerType type);

// Decodes one body from `r`, which spans exactly the body bytes present in the file. For K210_CONV
// only the 24-byte head is read here (the blobs sit at absolute offsets; see kmodel_parse.cpp).
// Trailing arrays are checked against r.remaining() before anything is allocated.
Result<LayerBody> decode_body(LayerType type, ByteReader& r);

// Encodes the body (for K210_CONV: the 24-byte head only). Fails when the body alternative does
// not match `type` or a count does not fit its uint32 field.
Status encode_body(LayerType type, const LayerBody& body, ByteWriter& w);

// Bytes of the body content implied by the body's own counts (fixed part + trailing arrays;
// K210_CONV: 24).
std::uint64_t body_content_bytes(LayerType type, const LayerBody& body);

}  // namespace emc::format::detail
