#include "html_report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "text_report.h"

namespace emc::compare {
namespace {

std::string fmt(const char* f, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, f, v);
  return buf;
}

// Inputs listed in the page beyond this many are summarised (a dataset of 10k photos would make
// an unusable page); the JSON output keeps all of them.
constexpr std::size_t kMaxImagesInPage = 200;

constexpr const char* kStyle = R"(
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:24px;color:#1d2330;
max-width:1150px}
h1{font-size:22px;margin:0 0 4px}h2{font-size:18px;margin:28px 0 8px;border-bottom:1px solid #dde;
padding-bottom:4px}h3{font-size:15px;margin:18px 0 6px;word-break:break-all}
.meta{color:#5a6275;font-size:13px}.meta code{background:#f2f4f8;padding:1px 4px;border-radius:3px}
table{border-collapse:collapse;font-size:13px;margin:4px 0 8px}
th,td{padding:3px 10px;border-bottom:1px solid #e6e8ef;text-align:right}
th{background:#f2f4f8;font-weight:600}td.l,th.l{text-align:left}
td.num{font-family:ui-monospace,Menlo,Consolas,monospace}
tr.below td{background:#fdecec}tr.first td{background:#f9c9c9;font-weight:600}
.pos{color:#1a7f37}.neg{color:#b42318}.ok{color:#1a7f37;font-weight:600}
.bad{color:#b42318;font-weight:600}.warn{background:#fff6db;border:1px solid #f0d68a;padding:8px;
border-radius:4px;font-size:13px}.callout{background:#fdecec;border:1px solid #f2b8b5;
padding:8px 12px;border-radius:4px;margin:8px 0}.good{background:#eaf6ec;border:1px solid #b6dfbf;
padding:8px 12px;border-radius:4px;margin:8px 0}
svg text{font-family:system-ui,sans-serif}
)";

std::string join_sources(const std::vector<std::string>& s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) out += (i ? " + " : "") + s[i];
  return out;
}

void image_section(std::ostringstream& os, const CompareResult& r, const ImageResult& img) {
  os << "<h3>" << html_escape(img.name);
  if (img.label >= 0)
    os << " <span class=\"meta\">label: " << html_escape(r.label(img.label)) << "</span>";
  const std::string top_output = describe_top_output(r);
  os << "</h3>\n<div class=\"meta\">" << (top_output.empty() ? "" : html_escape(top_output) + ": ")
     << "top-1 "
     << (img.top1_agree ? "<span class=\"ok\">agrees</span>" : "<span class=\"bad\">differs</span>")
     << " &middot; top-" << r.top << " overlap " << img.top_k_overlap << "/" << img.float_top.size()
     << " &middot; mean |&Delta;p| " << fmt("%.6f", img.mean_abs_dp) << " &middot; max |&Delta;p| "
     << fmt("%.6f", img.max_abs_dp) << "</div>\n";
  if (r.outputs.size() > 1 && img.outputs.size() == r.outputs.size()) {
    os << "<div class=\"meta\">every output:";
    for (std::size_t o = 0; o < r.outputs.size(); ++o) {
      const TensorErrorAccumulator& e = img.outputs[o].error;
      os << (o ? " &middot; " : " ") << o << " " << html_escape(r.outputs[o].name) << " SQNR "
         << format_db(e.sqnr_db()) << " dB, cosine " << fmt("%.6f", e.cosine()) << ", max |diff| "
         << fmt("%.6g", e.max_abs());
    }
    os << "</div>\n";
  }
  os << "<table><tr><th>rank</th><th class=\"l\">label</th><th>float</th><th>quantized</th>"
        "<th>q &minus; f</th><th>quantized rank</th></tr>\n";
  auto row = [&](const std::string& rank, std::size_t c) {
    const double f = img.float_out[c], q = img.quant_out[c], d = q - f;
    auto it = std::find(img.quant_top.begin(), img.quant_top.end(), c);
    const std::string qr =
        it == img.quant_top.end() ? "&ndash;" : std::to_string(it - img.quant_top.begin() + 1);
    os << "<tr><td>" << rank << "</td><td class=\"l\">" << html_escape(r.label(c))
       << "</td><td class=\"num\">" << fmt("%.6f", f) << "</td><td class=\"num\">" << fmt("%.6f", q)
       << "</td><td class=\"num " << (d >= 0 ? "pos" : "neg") << "\">" << fmt("%+.6f", d)
       << "</td><td>" << qr << "</td></tr>\n";
  };
  for (std::size_t i = 0; i < img.float_top.size(); ++i)
    row(std::to_string(i + 1), img.float_top[i]);
  for (auto c : img.quant_top) {
    if (std::find(img.float_top.begin(), img.float_top.end(), c) == img.float_top.end()) {
      row("&ndash;", c);
    }
  }
  os << "</table>\n";
}

}  // namespace

std::string html_escape(const std::string& s) {
  std::string out;
  out.reserve(s.size());
  for (char ch : s) {
    switch (ch) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      case '\'':
        out += "&#39;";
        break;
      default:
        out += ch;
    }
  }
  return out;
}

std::string render_sqnr_svg(const CompareResult& r) {
  std::vector<std::size_t> shown;  // positions in r.layers of compared layers
  for (std::size_t i = 0; i < r.layers.size(); ++i) {
    if (r.layers[i].compared) shown.push_back(i);
  }
  // Vertical scale: 0 dB at the baseline up to a round top that shows the threshold and every
  // finite value (capped at 100 dB; +inf and larger values are drawn full height and labelled).
  double top = std::max(10.0, r.sqnr_threshold_db * 1.5);
  for (auto i : shown) {
    const double v = r.layers[i].error.sqnr_db();
    if (std::isfinite(v)) top = std::max(top, v);
  }
  top = std::min(100.0, std::ceil(top / 10.0) * 10.0);

  const double bar_w = shown.size() > 60 ? 10 : 18, gap = shown.size() > 60 ? 4 : 8;
  const double left = 56, plot_h = 300, top_pad = 24, label_h = 150;
  const double width = std::max(640.0, left + 20 + shown.size() * (bar_w + gap));
  const double height = top_pad + plot_h + label_h;
  auto y_of = [&](double db) { return top_pad + plot_h * (1.0 - std::clamp(db, 0.0, top) / top); };

  std::ostringstream os;
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width << "\" height=\"" << height
     << "\" viewBox=\"0 0 " << width << " " << height
     << "\" role=\"img\" aria-label=\"SQNR per kmodel layer\">\n";
  // Grid and y axis labels every 10 dB.
  for (double db = 0; db <= top + 1e-9; db += 10) {
    os << "<line x1=\"" << left << "\" x2=\"" << width - 10 << "\" y1=\"" << y_of(db) << "\" y2=\""
       << y_of(db) << "\" stroke=\"#e3e6ee\"/>"
       << "<text x=\"" << left - 6 << "\" y=\"" << y_of(db) + 4
       << "\" font-size=\"11\" text-anchor=\"end\" fill=\"#5a6275\">" << fmt("%.0f", db)
       << "</text>\n";
  }
  os << "<text x=\"14\" y=\"" << top_pad + plot_h / 2
     << "\" font-size=\"12\" fill=\"#5a6275\" transform=\"rotate(-90 14 " << top_pad + plot_h / 2
     << ")\" text-anchor=\"middle\">SQNR (dB)</text>\n";

  for (std::size_t k = 0; k < shown.size(); ++k) {
    const auto& l = r.layers[shown[k]];
    const double v = l.error.sqnr_db();
    const bool below = std::isnan(v) || v < r.sqnr_threshold_db;
    const bool first = r.first_below && *r.first_below == shown[k];
    const double x = left + 10 + k * (bar_w + gap);
    const double y = std::isnan(v) ? y_of(0) : y_of(v);
    const std::string fill = first ? "#b42318" : (below ? "#e8847c" : "#4c78a8");
    os << "<rect class=\"bar\" x=\"" << x << "\" y=\"" << y << "\" width=\"" << bar_w
       << "\" height=\"" << std::max(0.0, y_of(0) - y) << "\" fill=\"" << fill << "\"><title>"
       << html_escape(describe_layer(l)) << ": SQNR " << format_db(v) << " dB, cosine "
       << fmt("%.6f", l.error.cosine()) << "</title></rect>\n";
    if (!std::isfinite(v) || v > top || v < 0) {
      os << "<text x=\"" << x + bar_w / 2 << "\" y=\"" << (v < 0 ? y_of(0) - 3 : y - 3)
         << "\" font-size=\"10\" text-anchor=\"middle\" fill=\"#1d2330\">"
         << (std::isnan(v) ? "nan" : (std::isinf(v) && v > 0 ? "&#8734;" : format_db(v)))
         << "</text>\n";
    }
    const double lx = x + bar_w / 2, ly = top_pad + plot_h + 8;
    os << "<text x=\"" << lx << "\" y=\"" << ly << "\" font-size=\"10\" fill=\""
       << (first ? "#b42318" : "#1d2330") << "\" text-anchor=\"end\" transform=\"rotate(-60 " << lx
       << " " << ly << ")\">" << l.index << " " << html_escape(l.type) << "</text>\n";
  }
  // Threshold line on top of the bars.
  const double ty = y_of(r.sqnr_threshold_db);
  os << "<line class=\"threshold\" x1=\"" << left << "\" x2=\"" << width - 10 << "\" y1=\"" << ty
     << "\" y2=\"" << ty << "\" stroke=\"#b42318\" stroke-width=\"1.5\" stroke-dasharray=\"6 4\"/>"
     << "<text x=\"" << width - 12 << "\" y=\"" << ty - 5
     << "\" font-size=\"11\" text-anchor=\"end\" fill=\"#b42318\">threshold "
     << fmt("%.1f", r.sqnr_threshold_db) << " dB</text>\n";
  os << "<line x1=\"" << left << "\" x2=\"" << width - 10 << "\" y1=\"" << y_of(0) << "\" y2=\""
     << y_of(0) << "\" stroke=\"#1d2330\"/>\n";
  os << "</svg>\n";
  return os.str();
}

std::string render_html(const CompareResult& r) {
  std::ostringstream os;
  os << "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n<title>emc-compare: "
     << html_escape(r.kmodel) << "</title>\n<style>" << kStyle << "</style></head><body>\n";
  os << "<h1>emc-compare</h1>\n<div class=\"meta\">float <code>" << html_escape(r.model_json)
     << "</code> vs kmodel <code>" << html_escape(r.kmodel) << "</code> on backend <code>"
     << html_escape(r.backend) << "</code>";
  if (!r.sidecar.empty()) os << " &middot; map <code>" << html_escape(r.sidecar) << "</code>";
  os << "</div>\n";
  for (const auto& w : r.warnings) os << "<p class=\"warn\">" << html_escape(w) << "</p>\n";

  const auto& s = r.summary;
  os << "<h2>Summary</h2>\n<table>"
     << "<tr><th class=\"l\">inputs</th><td>" << s.images << "</td></tr>";
  if (r.outputs.size() > 1)
    os << "<tr><th class=\"l\">top-k, agreement and accuracy of</th><td class=\"l\">"
       << html_escape(describe_top_output(r)) << "</td></tr>";
  os << "<tr><th class=\"l\">top-1 agreement</th><td>" << fmt("%.2f %%", 100 * s.top1_agreement())
     << " (" << s.top1_agree << "/" << s.images << ")</td></tr>"
     << "<tr><th class=\"l\">top-" << s.effective_k() << " overlap (mean)</th><td>"
     << fmt("%.2f %%", 100 * s.mean_top_k_overlap()) << "</td></tr>"
     << "<tr><th class=\"l\">mean |&Delta;p|</th><td class=\"num\">" << fmt("%.6f", s.mean_abs_dp())
     << "</td></tr><tr><th class=\"l\">max |&Delta;p|</th><td class=\"num\">"
     << fmt("%.6f", s.max_abs_dp) << "</td></tr>";
  if (s.labelled > 0) {
    const double n = double(s.labelled);
    auto acc = [&](const std::string& what, std::size_t f, std::size_t q) {
      const double d = 100.0 * (double(q) - double(f)) / n;
      os << "<tr><th class=\"l\">" << what << " float / quantized (difference)</th><td>"
         << fmt("%.2f %%", 100.0 * f / n) << " / " << fmt("%.2f %%", 100.0 * q / n)
         << " (<span class=\"" << (d < 0 ? "neg" : "pos") << "\">" << fmt("%+.2f points", d)
         << "</span>, " << s.labelled << " labelled)</td></tr>";
    };
    acc("top-1 accuracy", s.float_top1_correct, s.quant_top1_correct);
    acc("top-" + std::to_string(s.effective_k()) + " accuracy", s.float_top_k_correct,
        s.quant_top_k_correct);
  }
  os << "</table>\n";

  if (r.outputs.size() > 1) {
    os << "<h2>Outputs</h2>\n<div class=\"meta\">Every model output, float model vs kmodel, "
          "pooled over the inputs; --output chooses the top-k output.</div>\n"
          "<table><tr><th>output</th><th class=\"l\">name</th><th class=\"l\">shape</th>"
          "<th>cosine</th><th>SQNR dB</th><th>max |diff|</th><th>mean |diff|</th>"
          "<th>top-1 agrees</th><th class=\"l\"></th></tr>\n";
    for (std::size_t i = 0; i < r.outputs.size(); ++i) {
      const OutputResult& o = r.outputs[i];
      os << "<tr><td>" << i << "</td><td class=\"l\">" << html_escape(o.name)
         << "</td><td class=\"l\">" << html_escape(o.shape) << "</td><td class=\"num\">"
         << fmt("%.6f", o.error.cosine()) << "</td><td class=\"num\">"
         << format_db(o.error.sqnr_db()) << "</td><td class=\"num\">"
         << fmt("%.6g", o.error.max_abs()) << "</td><td class=\"num\">"
         << fmt("%.6g", o.error.mean_abs()) << "</td><td>" << o.top1_agree << "/" << o.images
         << "</td><td class=\"l\">" << (i == r.top_output ? "top-k output" : "") << "</td></tr>\n";
    }
    os << "</table>\n";
  }

  if (r.layers_requested) {
    os << "<h2>Per-layer SQNR</h2>\n";
    if (r.first_below) {
      const auto& l = r.layers[*r.first_below];
      os << "<div class=\"callout\">First layer below " << fmt("%.1f", r.sqnr_threshold_db)
         << " dB: <b>" << html_escape(describe_layer(l)) << "</b> &mdash; SQNR "
         << format_db(l.error.sqnr_db()) << " dB, cosine " << fmt("%.6f", l.error.cosine())
         << "</div>\n";
    } else {
      os << "<div class=\"good\">Every compared layer is at or above "
         << fmt("%.1f", r.sqnr_threshold_db) << " dB SQNR.</div>\n";
    }
    os << render_sqnr_svg(r);
    os << "<table><tr><th>layer</th><th class=\"l\">type</th><th class=\"l\">backend</th>"
          "<th>cosine</th><th>SQNR dB</th><th>max |err|</th>";
    if (r.isolated_requested) os << "<th>isolated SQNR dB</th><th>rounding-only SQNR dB</th>";
    os << "<th class=\"l\">source layers</th></tr>\n";
    for (std::size_t i = 0; i < r.layers.size(); ++i) {
      const auto& l = r.layers[i];
      const double v = l.error.sqnr_db();
      const bool first = r.first_below && *r.first_below == i;
      const bool below = l.compared && (std::isnan(v) || v < r.sqnr_threshold_db);
      os << "<tr" << (first ? " class=\"first\"" : (below ? " class=\"below\"" : "")) << "><td>"
         << l.index << "</td><td class=\"l\">" << html_escape(l.type) << "</td><td class=\"l\">"
         << html_escape(l.backend) << "</td>";
      if (l.compared) {
        os << "<td class=\"num\">" << fmt("%.6f", l.error.cosine()) << "</td><td class=\"num\">"
           << format_db(v) << "</td><td class=\"num\">" << fmt("%.6g", l.error.max_abs())
           << "</td>";
      } else {
        os << "<td>&ndash;</td><td>&ndash;</td><td>&ndash;</td>";
      }
      if (r.isolated_requested) {
        if (l.isolated_compared)
          os << "<td class=\"num\">" << format_db(l.isolated.sqnr_db()) << "</td>";
        else
          os << "<td>&ndash;</td>";
        if (l.rounding_compared)
          os << "<td class=\"num\">" << format_db(l.rounding.sqnr_db()) << "</td>";
        else
          os << "<td>&ndash;</td>";
      }
      os << "<td class=\"l\">" << html_escape(join_sources(l.source_layers));
      if (!l.compared && !l.note.empty())
        os << " <span class=\"meta\">(" << html_escape(l.note) << ")</span>";
      os << "</td></tr>\n";
    }
    os << "</table>\n";
  }

  os << "<h2>Top-" << r.top;
  if (r.outputs.size() > 1) os << " of " << html_escape(describe_top_output(r));
  os << " per input</h2>\n";
  for (std::size_t i = 0; i < r.images.size() && i < kMaxImagesInPage; ++i) {
    image_section(os, r, r.images[i]);
  }
  if (r.images.size() > kMaxImagesInPage) {
    os << "<p class=\"meta\">" << r.images.size() - kMaxImagesInPage
       << " more inputs are not listed here (see --json for all of them).</p>\n";
  }
  os << "<p class=\"meta\">Generated by emc-compare. Probabilities: float = the converter's float "
        "executor on the imported TF.js graph; quantized = the kmodel on the EMC "
        "interpreter.</p>\n";
  os << "</body></html>\n";
  return os.str();
}

}  // namespace emc::compare
