#include "text_report.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace emc::compare {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

std::string pad_right(std::string s, std::size_t w) {
  if (s.size() < w) s.append(w - s.size(), ' ');
  return s;
}

std::string pad_left(std::string s, std::size_t w) {
  if (s.size() < w) s.insert(0, w - s.size(), ' ');
  return s;
}

// Probabilities print with 6 decimals: enough to see a 1e-4 difference, short enough to align.
std::string prob(float p) {
  return fmt("%.6f", p);
}
std::string delta(double d) {
  return fmt("%+.6f", d);
}

// The widths of the name and shape columns of a table of `result`'s outputs.
struct OutputColumns {
  std::size_t name = 4, shape = 5;
};
OutputColumns output_columns(const CompareResult& result) {
  OutputColumns w;
  for (const auto& o : result.outputs) {
    w.name = std::max(w.name, o.name.size());
    w.shape = std::max(w.shape, o.shape.size());
  }
  return w;
}

std::string join_sources(const std::vector<std::string>& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? " + " : "") + s[i];
  return out;
}

}  // namespace

std::string describe_layer(const LayerResult& layer) {
  std::string s = "kmodel layer " + std::to_string(layer.index) + " (" + layer.type + ")";
  if (!layer.source_layers.empty()) s += " <- " + join_sources(layer.source_layers);
  return s;
}

std::string describe_top_output(const CompareResult& result) {
  if (result.outputs.size() < 2 || result.top_output >= result.outputs.size()) return "";
  return "output " + std::to_string(result.top_output) + " " +
         result.outputs[result.top_output].name;
}

std::string format_db(double db) {
  if (std::isnan(db)) return "nan";
  if (std::isinf(db)) return db > 0 ? "inf" : "-inf";
  return fmt("%.2f", db);
}

std::string format_image_table(const CompareResult& result, const ImageResult& image) {
  std::ostringstream os;
  os << image.name;
  if (image.label >= 0) os << "  [label: " << result.label(std::size_t(image.label)) << "]";
  const std::string top_output = describe_top_output(result);
  os << "\n  " << (top_output.empty() ? "" : top_output + ": ") << "top-1 "
     << (image.top1_agree ? "agrees" : "DIFFERS") << " | top-" << result.top << " overlap "
     << image.top_k_overlap << "/" << image.float_top.size() << " | mean |dp| "
     << fmt("%.6f", image.mean_abs_dp) << " | max |dp| " << fmt("%.6f", image.max_abs_dp) << "\n";

  // Label column as wide as the longest label shown (at least "label"), capped for sanity.
  std::vector<std::size_t> rows = image.float_top;
  std::vector<std::size_t> extra;  // quantized top-k entries missing from the float top-k
  for (auto q : image.quant_top) {
    if (std::find(rows.begin(), rows.end(), q) == rows.end()) extra.push_back(q);
  }
  std::size_t lw = 5;
  for (auto i : rows) lw = std::max(lw, result.label(i).size());
  for (auto i : extra) lw = std::max(lw, result.label(i).size());
  lw = std::min<std::size_t>(lw, 40);

  auto quant_rank = [&](std::size_t cls) -> std::string {
    auto it = std::find(image.quant_top.begin(), image.quant_top.end(), cls);
    return it == image.quant_top.end() ? "-" : std::to_string(it - image.quant_top.begin() + 1);
  };
  auto row = [&](const std::string& rank, std::size_t cls) {
    std::string label = result.label(cls);
    if (label.size() > lw) label = label.substr(0, lw - 3) + "...";
    const float f = image.float_out[cls], q = image.quant_out[cls];
    os << "  " << pad_left(rank, 4) << "  " << pad_right(label, lw) << "  " << pad_left(prob(f), 9)
       << "  " << pad_left(prob(q), 9) << "  " << pad_left(delta(double(q) - double(f)), 10) << "  "
       << pad_left(quant_rank(cls), 6) << "\n";
  };
  os << "  " << pad_left("rank", 4) << "  " << pad_right("label", lw) << "  "
     << pad_left("float", 9) << "  " << pad_left("quant", 9) << "  " << pad_left("q - f", 10)
     << "  " << pad_left("q-rank", 6) << "\n";
  for (std::size_t r = 0; r < rows.size(); ++r) row(std::to_string(r + 1), rows[r]);
  if (!extra.empty()) {
    os << "  in the quantized top-" << result.top << " only:\n";
    for (auto cls : extra) row("-", cls);
  }
  if (result.outputs.size() > 1 && image.outputs.size() == result.outputs.size()) {
    const auto [nw, sw] = output_columns(result);
    os << "  every output of this input:\n";
    for (std::size_t o = 0; o < result.outputs.size(); ++o) {
      const TensorErrorAccumulator& e = image.outputs[o].error;
      os << "  " << pad_left(std::to_string(o), 4) << "  " << pad_right(result.outputs[o].name, nw)
         << "  " << pad_right(result.outputs[o].shape, sw) << "  SQNR "
         << pad_left(format_db(e.sqnr_db()), 6) << " dB | cosine " << fmt("%.6f", e.cosine())
         << " | max |diff| " << fmt("%.6g", e.max_abs()) << " | mean |diff| "
         << fmt("%.6g", e.mean_abs()) << "\n";
    }
  }
  return os.str();
}

std::string format_summary(const CompareResult& result) {
  const auto& s = result.summary;
  std::ostringstream os;
  os << "summary over " << s.images << " input" << (s.images == 1 ? "" : "s");
  if (result.outputs.size() > 1)
    os << " (top-k and agreement of " << describe_top_output(result) << ")";
  os << "\n";
  os << "  top-1 agreement       " << fmt("%6.2f %%", 100.0 * s.top1_agreement()) << "  ("
     << s.top1_agree << "/" << s.images << ")\n";
  os << "  top-" << s.effective_k() << " overlap (mean)  "
     << fmt("%6.2f %%", 100.0 * s.mean_top_k_overlap()) << "  (" << s.top_k_overlap_sum << "/"
     << s.top_k_slots << ")\n";
  os << "  mean |dp|             " << fmt("%.6f", s.mean_abs_dp()) << "\n";
  os << "  max |dp|              " << fmt("%.6f", s.max_abs_dp) << "\n";
  if (s.labelled > 0) {
    const double n = double(s.labelled);
    os << "  labelled inputs       " << s.labelled << "\n";
    auto acc = [&](const std::string& what, std::size_t f, std::size_t q) {
      os << "  " << what << std::string(22 - std::min<std::size_t>(21, what.size()), ' ')
         << "float " << fmt("%6.2f %%", 100.0 * f / n) << "   quantized "
         << fmt("%6.2f %%", 100.0 * q / n) << "   difference "
         << fmt("%+.2f points", 100.0 * (double(q) - double(f)) / n) << "  (" << f << " vs " << q
         << " of " << s.labelled << ")\n";
    };
    acc("top-1 accuracy", s.float_top1_correct, s.quant_top1_correct);
    acc("top-" + std::to_string(s.effective_k()) + " accuracy", s.float_top_k_correct,
        s.quant_top_k_correct);
  }
  return os.str();
}

std::string format_output_table(const CompareResult& result) {
  std::ostringstream os;
  const auto [nw, sw] = output_columns(result);
  os << "per-output comparison (float model output vs kmodel output";
  if (result.images.size() > 1) os << ", pooled over " << result.images.size() << " inputs";
  os << ")\n";
  os << "  " << pad_left("output", 6) << "  " << pad_right("name", nw) << "  "
     << pad_right("shape", sw) << "  " << pad_left("cosine", 9) << "  " << pad_left("SQNR dB", 8)
     << "  " << pad_left("max |diff|", 10) << "  " << pad_left("mean |diff|", 11) << "  "
     << "top-1 agrees\n";
  for (std::size_t i = 0; i < result.outputs.size(); ++i) {
    const OutputResult& o = result.outputs[i];
    os << "  " << pad_left(std::to_string(i), 6) << "  " << pad_right(o.name, nw) << "  "
       << pad_right(o.shape, sw) << "  " << pad_left(fmt("%.6f", o.error.cosine()), 9) << "  "
       << pad_left(format_db(o.error.sqnr_db()), 8) << "  "
       << pad_left(fmt("%.6g", o.error.max_abs()), 10) << "  "
       << pad_left(fmt("%.6g", o.error.mean_abs()), 11) << "  "
       << pad_left(std::to_string(o.top1_agree) + "/" + std::to_string(o.images), 12);
    if (i == result.top_output) os << "   <== top-k output";
    os << "\n";
  }
  os << "top-k, agreement and accuracy are of " << describe_top_output(result)
     << " (--output NAME|INDEX chooses)\n";
  return os.str();
}

std::string format_layer_table(const CompareResult& result) {
  std::ostringstream os;
  std::size_t tw = 4, bw = 7;
  for (const auto& l : result.layers) {
    tw = std::max(tw, l.type.size());
    bw = std::max(bw, l.backend.size());
  }
  os << "per-layer comparison (float reference vs dequantized kmodel output";
  if (result.images.size() > 1) os << ", pooled over " << result.images.size() << " inputs";
  os << ")\n";
  if (result.isolated_requested) {
    os << "  isol. dB: the layer's own SQNR when fed the float model's exact input (quantized "
          "with the kmodel's parameters)\n"
          "  round dB: the float output merely rounded to the layer's uint8 output grid (the "
          "best any implementation can do with that range from an exact input; the rounding of "
          "a coarse input grid passes through the layer and can put an exact layer several dB "
          "under it)\n";
  }
  os << "  " << pad_left("layer", 5) << "  " << pad_right("type", tw) << "  "
     << pad_right("backend", bw) << "  " << pad_left("cosine", 9) << "  " << pad_left("SQNR dB", 8)
     << "  " << pad_left("max |err|", 10) << "  ";
  if (result.isolated_requested)
    os << pad_left("isol. dB", 8) << "  " << pad_left("round dB", 8) << "  ";
  os << "source layers\n";
  for (std::size_t i = 0; i < result.layers.size(); ++i) {
    const auto& l = result.layers[i];
    os << "  " << pad_left(std::to_string(l.index), 5) << "  " << pad_right(l.type, tw) << "  "
       << pad_right(l.backend, bw) << "  ";
    if (l.compared) {
      os << pad_left(fmt("%.6f", l.error.cosine()), 9) << "  "
         << pad_left(format_db(l.error.sqnr_db()), 8) << "  "
         << pad_left(fmt("%.6g", l.error.max_abs()), 10) << "  ";
    } else {
      os << pad_left("-", 9) << "  " << pad_left("-", 8) << "  " << pad_left("-", 10) << "  ";
    }
    if (result.isolated_requested) {
      os << pad_left(l.isolated_compared ? format_db(l.isolated.sqnr_db()) : "-", 8) << "  ";
      os << pad_left(l.rounding_compared ? format_db(l.rounding.sqnr_db()) : "-", 8) << "  ";
    }
    os << join_sources(l.source_layers);
    if (result.first_below && *result.first_below == i) os << "   <== first below threshold";
    if (!l.compared && !l.note.empty())
      os << (l.source_layers.empty() ? "" : "  ") << "(" << l.note << ")";
    os << "\n";
  }
  if (result.first_below) {
    const auto& l = result.layers[*result.first_below];
    os << "first layer below " << fmt("%.1f", result.sqnr_threshold_db)
       << " dB SQNR: " << describe_layer(l) << ": SQNR " << format_db(l.error.sqnr_db())
       << " dB, cosine " << fmt("%.6f", l.error.cosine()) << "\n";
  } else {
    os << "every compared layer is at or above " << fmt("%.1f", result.sqnr_threshold_db)
       << " dB SQNR\n";
  }
  return os.str();
}

Progress::Progress(std::size_t total, std::FILE* out)
    : total_(total), out_(out), tty_(isatty(fileno(out)) != 0) {}

void Progress::update(std::size_t done, const std::string& item) {
  if (total_ == 0) return;
  active_ = true;
  if (tty_) {
    constexpr std::size_t kWidth = 30;
    const std::size_t filled = done * kWidth / total_;
    std::string name = item.size() > 40 ? "..." + item.substr(item.size() - 37) : item;
    std::fprintf(out_, "\r[%s%s] %zu/%zu %-40s", std::string(filled, '#').c_str(),
                 std::string(kWidth - filled, '.').c_str(), done, total_, name.c_str());
    std::fflush(out_);
    return;
  }
  // Not a terminal (CI logs, pipes): one line per 10 % step, and the last one.
  const std::size_t step = std::max<std::size_t>(1, total_ / 10);
  if (done == total_ || done >= last_reported_ + step) {
    std::fprintf(out_, "compared %zu/%zu\n", done, total_);
    last_reported_ = done;
  }
}

void Progress::finish() {
  if (active_ && tty_) std::fprintf(out_, "\n");
  active_ = false;
}

}  // namespace emc::compare
