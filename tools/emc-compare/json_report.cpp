#include "json_report.h"

#include <cmath>
#include <string>

namespace emc::compare {
namespace {

using nlohmann::json;

void put_number(json& obj, const std::string& key, double v) {
  if (std::isfinite(v)) {
    obj[key] = v;
    return;
  }
  obj[key] = nullptr;
  obj[key + "_note"] = std::isnan(v) ? "nan" : (v > 0 ? "identical" : "-inf");
}

json top_entries(const CompareResult& r, const ImageResult& img,
                 const std::vector<std::size_t>& top) {
  json arr = json::array();
  for (std::size_t rank = 0; rank < top.size(); ++rank) {
    const std::size_t c = top[rank];
    json e;
    e["rank"] = rank + 1;
    e["index"] = c;
    e["label"] = r.label(c);
    e["float"] = img.float_out[c];
    e["quant"] = img.quant_out[c];
    e["diff"] = double(img.quant_out[c]) - double(img.float_out[c]);
    arr.push_back(std::move(e));
  }
  return arr;
}

// cosine, SQNR, max / mean |difference| of `e` into `obj`.
void put_error(json& obj, const TensorErrorAccumulator& e) {
  obj["elements"] = e.elements();
  put_number(obj, "cosine", e.cosine());
  put_number(obj, "sqnr_db", e.sqnr_db());
  put_number(obj, "max_abs_error", e.max_abs());
  put_number(obj, "mean_abs_error", e.mean_abs());
}

}  // namespace

json to_json(const CompareResult& r) {
  json j;
  j["model_json"] = r.model_json;
  j["kmodel"] = r.kmodel;
  j["sidecar"] = r.sidecar;
  j["backend"] = r.backend;
  j["top"] = r.top;
  j["warnings"] = r.warnings;
  // The output top-k, agreement and accuracy are about (--output).
  if (r.top_output < r.outputs.size())
    j["top_output"] = {{"index", r.top_output}, {"name", r.outputs[r.top_output].name}};

  json images = json::array();
  for (const auto& img : r.images) {
    json e;
    e["name"] = img.name;
    if (img.label >= 0) {
      e["label_index"] = img.label;
      e["label"] = r.label(std::size_t(img.label));
    }
    e["top1_agree"] = img.top1_agree;
    e["top_k_overlap"] = img.top_k_overlap;
    put_number(e, "mean_abs_dp", img.mean_abs_dp);
    put_number(e, "max_abs_dp", img.max_abs_dp);
    e["float_top"] = top_entries(r, img, img.float_top);
    e["quant_top"] = top_entries(r, img, img.quant_top);
    json outs = json::array();  // every model output of this input, in the model's order
    for (std::size_t o = 0; o < img.outputs.size(); ++o) {
      json oe;
      oe["index"] = o;
      if (o < r.outputs.size()) oe["name"] = r.outputs[o].name;
      put_error(oe, img.outputs[o].error);
      oe["top1_agree"] = img.outputs[o].top1_agree;
      oe["top_k_overlap"] = img.outputs[o].top_k_overlap;
      outs.push_back(std::move(oe));
    }
    e["outputs"] = std::move(outs);
    images.push_back(std::move(e));
  }
  j["images"] = std::move(images);

  const auto& s = r.summary;
  json sum;
  sum["images"] = s.images;
  sum["top1_agree"] = s.top1_agree;
  sum["top1_agreement"] = s.top1_agreement();
  sum["k"] = s.k;
  sum["top_k_overlap_sum"] = s.top_k_overlap_sum;
  sum["top_k_slots"] = s.top_k_slots;
  sum["mean_top_k_overlap"] = s.mean_top_k_overlap();
  put_number(sum, "mean_abs_dp", s.mean_abs_dp());
  put_number(sum, "max_abs_dp", s.max_abs_dp);
  if (s.labelled > 0) {
    sum["labelled"] = s.labelled;
    sum["float_top1_correct"] = s.float_top1_correct;
    sum["quant_top1_correct"] = s.quant_top1_correct;
    sum["float_top_k_correct"] = s.float_top_k_correct;
    sum["quant_top_k_correct"] = s.quant_top_k_correct;
    const double n = double(s.labelled);
    sum["float_top1_accuracy"] = s.float_top1_correct / n;
    sum["quant_top1_accuracy"] = s.quant_top1_correct / n;
    sum["top1_accuracy_difference"] = (double(s.quant_top1_correct) - s.float_top1_correct) / n;
    sum["float_top_k_accuracy"] = s.float_top_k_correct / n;
    sum["quant_top_k_accuracy"] = s.quant_top_k_correct / n;
    sum["top_k_accuracy_difference"] = (double(s.quant_top_k_correct) - s.float_top_k_correct) / n;
  }
  j["summary"] = std::move(sum);

  // Every model output pooled over the inputs, in the model's order.
  json outputs = json::array();
  for (std::size_t o = 0; o < r.outputs.size(); ++o) {
    const OutputResult& out = r.outputs[o];
    json e;
    e["index"] = o;
    e["name"] = out.name;
    e["shape"] = out.shape;
    e["kmodel_output"] = out.kmodel_output;
    e["reordered_from_chw"] = out.reordered;
    put_error(e, out.error);
    e["images"] = out.images;
    e["top1_agree"] = out.top1_agree;
    e["top1_agreement"] = out.top1_agreement();
    e["top_k_overlap_sum"] = out.top_k_overlap_sum;
    e["top_k_slots"] = out.top_k_slots;
    e["mean_top_k_overlap"] = out.mean_top_k_overlap();
    outputs.push_back(std::move(e));
  }
  j["outputs"] = std::move(outputs);

  if (r.layers_requested) {
    j["sqnr_threshold_db"] = r.sqnr_threshold_db;
    j["isolated"] = r.isolated_requested;
    json layers = json::array();
    for (const auto& l : r.layers) {
      json e;
      e["index"] = l.index;
      e["type"] = l.type;
      e["backend"] = l.backend;
      e["source_layers"] = l.source_layers;
      e["float_tensor"] = l.float_tensor;
      e["compared"] = l.compared;
      if (!l.note.empty()) e["note"] = l.note;
      if (l.compared) {
        e["elements"] = l.error.elements();
        put_number(e, "cosine", l.error.cosine());
        put_number(e, "sqnr_db", l.error.sqnr_db());
        put_number(e, "max_abs_error", l.error.max_abs());
        put_number(e, "mean_abs_error", l.error.mean_abs());
      }
      if (l.isolated_compared) {
        put_number(e, "isolated_cosine", l.isolated.cosine());
        put_number(e, "isolated_sqnr_db", l.isolated.sqnr_db());
        put_number(e, "isolated_max_abs_error", l.isolated.max_abs());
      }
      if (l.rounding_compared) put_number(e, "rounding_sqnr_db", l.rounding.sqnr_db());
      layers.push_back(std::move(e));
    }
    j["layers"] = std::move(layers);
    if (r.first_below) {
      j["first_below_threshold"] = r.layers[*r.first_below].index;
    } else {
      j["first_below_threshold"] = nullptr;
    }
  }
  return j;
}

}  // namespace emc::compare
