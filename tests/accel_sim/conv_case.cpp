#include "conv_case.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <set>

#include "emc/cpu_backend/cpu_backend.h"
#include "emc/cpu_backend/k210_reference.h"
#include "emc/format/kpu_regs.h"
#include "emc/interpreter/backend.h"

namespace emc::test {

namespace {
constexpr std::size_t kKpuBytes = 2u * 1024 * 1024;

// The cpu backend's K210 options equal to kpu-sim's (both enums mean the same sources, §9.1-9.2).
cpu_backend::CpuBackendOptions cpu_options_from(const accel_sim::KpuSimOptions& o) {
  cpu_backend::CpuBackendOptions c;
  c.k210_selection = o.selection == accel_sim::SegmentSelection::kStartStrictlyLess
                         ? cpu_backend::SegmentSelection::kStartStrictlyLess
                         : cpu_backend::SegmentSelection::kStartLessOrEqual;
  c.k210_rounding = o.rounding == accel_sim::ActivationRounding::kNn02Banker
                        ? cpu_backend::ActivationRounding::kNn02Banker
                        : cpu_backend::ActivationRounding::kSdkCarryShift;
  return c;
}

// Prepares layer 0 of `model` on `backend` and runs it twice on the memories (the second run
// must not depend on scratch left by the first).
void prepare_and_run_twice(interpreter::Backend& backend, const format::Kmodel& model,
                           std::vector<std::uint8_t>& kpu, std::vector<std::uint8_t>& main) {
  ASSERT_TRUE(backend.supports(interpreter::layer_info(model, 0))) << backend.name();
  interpreter::LayerInfo info;
  info.index = 0;
  info.layer = &model.layers[0];
  info.model = &model;
  info.main_mem_bytes = main.size();
  info.kpu_mem_bytes = kpu.size();
  auto prepared = backend.prepare(info);
  ASSERT_TRUE(prepared.ok()) << backend.name() << ": " << prepared.error().to_string();
  interpreter::ExecContext ctx{interpreter::MemoryRegion("main", main),
                               interpreter::MemoryRegion("kpu", kpu)};
  for (int pass = 0; pass < 2; ++pass) {
    const Status st = (*prepared)->run(ctx);
    ASSERT_TRUE(st.ok()) << backend.name() << ": " << st.error().to_string();
  }
}

std::uint64_t map_bytes(std::uint32_t w, std::uint32_t h, std::uint32_t c) {
  const TestLayout l = test_layout(w);
  const std::uint64_t groups = std::min(c, l.groups);
  return (c + groups - 1) / groups * l.row_len * h * 64;
}
}  // namespace

void ConvCase::build() {
  if (built_) return;
  built_ = true;
  std::mt19937 rng(seed_);
  auto uni = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  if (dw_) oc_ = ic_;
  const std::uint32_t ow = test_pool_size(w_, pool_), oh = test_pool_size(h_, pool_);

  const std::uint64_t out_bytes = map_bytes(ow, oh, oc_);
  format::KpuLayerFields f =
      spec_conv_fields(w_, h_, ic_, oc_, k_, pool_, src_row_,
                       static_cast<std::uint32_t>((kKpuBytes - out_bytes) / 64));
  f.depth_wise_layer = dw_ ? 1 : 0;
  f.pad_value = uni(0, 255);
  f.shr_x = shr_x_ ? *shr_x_ : uni(0, 15);
  f.shr_w = shr_w_ ? *shr_w_ : uni(0, 15);
  // Zero-point-like arguments (arg ≈ zp * 2^shr, §6.2) plus noise so the floor shifts matter.
  const std::int64_t wmax = sixteen_ ? 65535 : 255;
  f.arg_x = std::clamp<std::int64_t>(-uni(0, wmax) * (std::int64_t{1} << f.shr_x) + uni(-99, 99),
                                     -(1 << 23), (1 << 23) - 1);
  if (arg_x_) f.arg_x = *arg_x_;
  f.arg_w = std::clamp<std::int64_t>(-uni(0, 255) * (std::int64_t{1} << f.shr_w) + uni(-99, 99),
                                     -(1 << 23), (1 << 23) - 1);
  f.arg_add = uni(-static_cast<std::int64_t>(k_ * k_) * 255 * wmax, k_ * k_ * 255 * wmax);
  f.send_data_out = main_out_ ? 1 : 0;

  format::ConvBody body;
  body.flags = main_out_ ? 1 : 0;
  body.main_mem_out_address = 24;  // not 0, to catch address mix-ups
  body.layer_words = format::pack_kpu_layer(f);
  const std::size_t wcount = std::size_t{oc_} * (dw_ ? 1 : ic_) * k_ * k_;
  body.weights.resize(wcount * (sixteen_ ? 2 : 1));
  for (auto& b : body.weights) b = static_cast<std::uint8_t>(uni(0, 255));
  body.bn_words.assign(oc_, 0);

  model_ = format::Kmodel{};
  model_.header.flags = sixteen_ ? 0 : format::kHeaderFlag8BitWeights;
  model_.header.layers_length = 1;
  model_.header.main_mem_usage = static_cast<std::uint32_t>(24 + ow * oh * oc_ + 40);
  format::Layer layer;
  layer.type = format::LayerType::kK210Conv;
  layer.body = std::move(body);
  model_.layers.push_back(std::move(layer));

  kpu_.resize(kKpuBytes);
  for (auto& b : kpu_) b = static_cast<std::uint8_t>(rng());
  main_.assign(model_.header.main_mem_usage, 0);
  for (auto& b : main_) b = static_cast<std::uint8_t>(rng());

  derive_bn_and_activation(rng);
}

void ConvCase::derive_bn_and_activation(std::mt19937& rng) {
  auto uni = [&](std::int64_t lo, std::int64_t hi) {
    return std::uniform_int_distribution<std::int64_t>(lo, hi)(rng);
  };
  auto& body = std::get<format::ConvBody>(model_.layers[0].body);
  const bool eight_bit = !sixteen_;
  auto acc_or = cpu_backend::k210_conv_accumulators(body, eight_bit, kpu_);
  ASSERT_TRUE(acc_or.ok()) << acc_or.error().to_string();
  const std::vector<std::int64_t>& acc = *acc_or;
  const std::size_t plane = acc.size() / oc_;

  // BN: random mul (negative for some or all channels) and shift; add centres each channel.
  std::vector<std::int64_t> all_bn;
  for (std::uint32_t o = 0; o < oc_; ++o) {
    format::KpuBatchNorm bn;
    std::int64_t mul = uni(1, (1 << 23) - 1) >> uni(0, 16);
    if (mul == 0) mul = 1;
    if (negative_bn_ ? uni(0, 3) != 0 : uni(0, 5) == 0) mul = -mul;
    bn.norm_mul = static_cast<std::int32_t>(mul);
    bn.norm_shift = static_cast<std::uint32_t>(bn_shift_ ? *bn_shift_ : uni(0, 15));
    if (relu_table_) {  // BN range ~2000 per channel, so the linear segment spans few 2^e steps
      const auto [mn, mx] =
          std::minmax_element(acc.begin() + o * plane, acc.begin() + (o + 1) * plane);
      const double range = static_cast<double>(std::max<std::int64_t>(1, *mx - *mn));
      bn.norm_shift = 15;
      bn.norm_mul = static_cast<std::int32_t>(
          std::clamp<double>(std::round(32768.0 * 2000.0 / range), 1, (1 << 23) - 1));
    }
    std::vector<std::int64_t> pre;
    for (std::size_t i = 0; i < plane; ++i) {
      pre.push_back(cpu_backend::k210_batch_norm(acc[o * plane + i], bn));
    }
    std::nth_element(pre.begin(), pre.begin() + static_cast<std::ptrdiff_t>(pre.size() / 2),
                     pre.end());
    std::int64_t add = -pre[pre.size() / 2] + uni(-1000, 1000);
    if (negative_bn_ && uni(0, 1) == 0) add = -std::abs(add) - uni(0, 5000);
    bn.norm_add = static_cast<std::int32_t>(std::clamp<std::int64_t>(add, INT32_MIN, INT32_MAX));
    body.bn_words[o] = format::pack_kpu_batchnorm(bn);
    for (std::size_t i = 0; i < plane; ++i) {
      all_bn.push_back(cpu_backend::k210_batch_norm(acc[o * plane + i], bn));
    }
  }
  std::sort(all_bn.begin(), all_bn.end());

  // Activation: segment 0 at -2^35, starts 1..15 at quantiles of the actual BN values (so some
  // BN values equal a start exactly), optional equal starts, slopes mapping a segment to ~0..255.
  format::KpuActivationTable t{};
  t[0].x_start = -(std::int64_t{1} << 35);
  t[0].y_mul = 0;
  t[0].result_bias = static_cast<std::uint8_t>(uni(0, 40));
  for (std::size_t i = 1; i < 16; ++i) {
    const std::size_t q = std::min(all_bn.size() - 1, (all_bn.size() * i) / 16);
    t[i].x_start = all_bn[q];
  }
  if (equal_starts_) t[2].x_start = t[1].x_start;  // as in nncase v0.1 LeakyReLU tables
  std::sort(t.begin() + 1, t.end(),
            [](const auto& a, const auto& b) { return a.x_start < b.x_start; });
  const std::int64_t top = all_bn.back();
  for (std::size_t i = 1; i < 16; ++i) {
    const std::int64_t next = i + 1 < 16 ? t[i + 1].x_start : top + 1;
    const std::int64_t span = std::max<std::int64_t>(1, next - t[i].x_start);
    std::int64_t mul = uni(1, 32767);
    if (!positive_act_ && (negative_act_ ? uni(0, 1) == 0 : uni(0, 7) == 0)) mul = -mul;
    int shift = act_shift_ ? *act_shift_ : 0;
    if (!act_shift_) {
      const double ratio = static_cast<double>(span) * static_cast<double>(std::abs(mul)) / 200.0;
      shift = ratio > 1 ? static_cast<int>(std::ceil(std::log2(ratio))) : 0;
    }
    t[i].y_mul = static_cast<std::int32_t>(mul);
    t[i].shift_number = static_cast<std::uint32_t>(std::clamp(shift, 0, 255));
    t[i].result_bias = static_cast<std::uint8_t>(mul < 0 ? uni(128, 255) : uni(0, 128));
  }
  if (relu_table_) {
    const std::int64_t lo = all_bn[all_bn.size() / 5], hi = all_bn[all_bn.size() * 4 / 5];
    const double span = static_cast<double>(std::max<std::int64_t>(1, hi - lo));
    const int e = std::max(1, static_cast<int>(std::ceil(std::log2(span / 255.0))));
    const int k = static_cast<int>(uni(0, 14));
    t = format::KpuActivationTable{};
    t[0].x_start = -(std::int64_t{1} << 35);
    t[1].x_start = lo;
    t[1].y_mul = std::int32_t{1} << k;
    t[1].shift_number = static_cast<std::uint32_t>(k + e);
    t[2].x_start = std::max(lo + 1, hi);
    t[2].result_bias = 255;
    for (std::size_t i = 3; i < 16; ++i) {
      t[i].x_start = (std::int64_t{1} << 35) - 17 + static_cast<std::int64_t>(i);
      t[i].result_bias = 255;
    }
  }
  body.act_words = format::pack_kpu_activation(t);
}

void ConvCase::check_against_reference() {
  build();
  if (::testing::Test::HasFatalFailure()) return;
  auto& body = std::get<format::ConvBody>(model_.layers[0].body);
  std::vector<std::uint8_t> ref_kpu = kpu_, ref_main = main_;
  auto cpu = cpu_backend::make_cpu_backend(cpu_options_from(options_));
  prepare_and_run_twice(*cpu, model_, ref_kpu, ref_main);
  if (::testing::Test::HasFatalFailure()) return;
  auto sim = accel_sim::make_kpu_sim_backend(options_);
  prepare_and_run_twice(*sim, model_, kpu_, main_);
  if (::testing::Test::HasFatalFailure()) return;

  auto first_diff = [](const std::vector<std::uint8_t>& a, const std::vector<std::uint8_t>& b) {
    auto m = std::mismatch(a.begin(), a.end(), b.begin());
    return static_cast<std::size_t>(m.first - a.begin());
  };
  const std::size_t kd = first_diff(kpu_, ref_kpu);
  EXPECT_EQ(kd, kpu_.size()) << "KPU RAM differs first at byte " << kd << " (kpu-sim "
                             << int(kpu_[kd < kpu_.size() ? kd : 0]) << ", cpu "
                             << int(ref_kpu[kd < kpu_.size() ? kd : 0]) << ")";
  const std::size_t md = first_diff(main_, ref_main);
  EXPECT_EQ(md, main_.size()) << "main memory differs first at byte " << md;

  // The case must exercise the activation: outputs spread, not all clamped to one value.
  // (Forced activation shifts 0 and 1 saturate most pixels by design: they test the clamp.)
  const format::KpuLayerFields f = body.fields();
  const std::size_t n = static_cast<std::size_t>(f.out_width() * f.out_height() * f.out_channels());
  if (main_out_ && n >= 64 && (!act_shift_ || *act_shift_ > 1)) {
    std::set<int> distinct(ref_main.begin() + 24,
                           ref_main.begin() + 24 + static_cast<std::ptrdiff_t>(n));
    EXPECT_GE(distinct.size(), 8u)
        << "degenerate case: outputs take only " << distinct.size() << " values";
  }
}

}  // namespace emc::test
