#include "emc_int8_support.h"

#include "emc/format/kmodel_codec.h"

namespace emc::cpu_backend::detail {

Result<Int8Io> check_int8_layer(const LayerChecker& c) {
  if (Status s = format::validate_layer(c.layer(), c.info().main_mem_bytes); !s.ok()) {
    return c.attach(s.error());
  }
  EMC_CPU_ASSIGN_OR_RETURN(format::LayerFootprint f, c.footprint());
  Int8Io io;
  for (const format::FootprintRange& r : f.main_reads) {
    EMC_CPU_ASSIGN_OR_RETURN(ByteRange b, c.range(r.field, r.start, r.size, 1, "bytes"));
    io.reads.push_back(b);
  }
  if (f.main_writes.size() != 1) return c.error("internal: expected one output range");
  const format::FootprintRange& w = f.main_writes[0];
  EMC_CPU_ASSIGN_OR_RETURN(io.out, c.range(w.field, w.start, w.size, 1, "bytes"));
  return io;
}

}  // namespace emc::cpu_backend::detail
