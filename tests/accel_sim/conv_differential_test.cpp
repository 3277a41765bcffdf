// Randomized differential tests: kpu-sim vs the cpu backend's K210_CONV reference kernel (plain
// loops written from kmodel_v3.md §6, no code shared with accel_sim/src), exact equality of the
// whole 2 MiB KPU RAM and of main memory. This is the layer-level proof that the two backends
// compute the same thing; tests/e2e/convert_cpu_target_test.cpp checks whole models.
#include <gtest/gtest.h>

#include <functional>
#include <ostream>
#include <string>
#include <vector>

#include "conv_case.h"

namespace emc::test {
namespace {

using accel_sim::ActivationRounding;
using accel_sim::KernelIsa;
using accel_sim::KpuSimOptions;
using accel_sim::SegmentSelection;

struct NamedCase {
  std::string name;
  std::function<ConvCase()> make;
};

std::vector<NamedCase> all_cases() {
  std::vector<NamedCase> cases;
  // Widths around the 16 / 32 / 64 layout boundaries, odd heights, both kernels.
  for (std::uint32_t w : {15u, 16u, 17u, 31u, 32u, 33u, 63u, 64u, 65u, 130u}) {
    for (std::uint32_t k : {1u, 3u}) {
      cases.push_back({"w" + std::to_string(w) + "_k" + std::to_string(k), [w, k] {
                         return ConvCase()
                             .width(w)
                             .height(w > 64 ? 3 : 7)
                             .in_channels(5)
                             .out_channels(11)
                             .kernel(k)
                             .seed(w * 10 + k);
                       }});
    }
  }
  // Channel counts 1..70 (odd counts exercise the phantom pair channel, >8 the weight blocks).
  for (std::uint32_t ic : {1u, 2u, 3u, 8u, 9u, 17u, 33u, 70u}) {
    for (std::uint32_t oc : {1u, 7u, 8u, 9u, 70u}) {
      cases.push_back(
          {"ic" + std::to_string(ic) + "_oc" + std::to_string(oc), [ic, oc] {
             return ConvCase().width(17).height(5).in_channels(ic).out_channels(oc).kernel(3).seed(
                 ic * 100 + oc);
           }});
    }
  }
  // Every pool type on odd sizes (floor output sizes), 3x3 and 1x1.
  for (int pool = 0; pool <= 9; ++pool) {
    for (std::uint32_t w : {17u, 33u, 65u}) {
      cases.push_back({"pool" + std::to_string(pool) + "_w" + std::to_string(w), [pool, w] {
                         return ConvCase()
                             .width(w)
                             .height(9)
                             .in_channels(4)
                             .out_channels(6)
                             .kernel(w == 33 ? 1 : 3)
                             .pool(pool)
                             .seed(1000 + pool * 7 + w);
                       }});
    }
  }
  // Depthwise 1x1 and 3x3.
  for (std::uint32_t w : {15u, 16u, 33u, 65u}) {
    for (std::uint32_t k : {1u, 3u}) {
      for (std::uint32_t c : {1u, 5u, 70u}) {
        cases.push_back(
            {"dw_w" + std::to_string(w) + "_k" + std::to_string(k) + "_c" + std::to_string(c),
             [w, k, c] {
               return ConvCase().width(w).height(5).in_channels(c).kernel(k).depthwise().seed(
                   2000 + w * 11 + k * 3 + c);
             }});
      }
    }
  }
  // 16-bit weights.
  for (std::uint32_t k : {1u, 3u}) {
    cases.push_back({"bits16_k" + std::to_string(k), [k] {
                       return ConvCase()
                           .width(33)
                           .height(5)
                           .in_channels(9)
                           .out_channels(10)
                           .kernel(k)
                           .sixteen_bit()
                           .seed(3000 + k);
                     }});
    cases.push_back({"bits16_dw_k" + std::to_string(k), [k] {
                       return ConvCase()
                           .width(20)
                           .height(5)
                           .in_channels(6)
                           .kernel(k)
                           .depthwise()
                           .sixteen_bit()
                           .seed(3100 + k);
                     }});
  }
  cases.push_back({"bits16_pool1", [] {
                     return ConvCase()
                         .width(16)
                         .height(8)
                         .in_channels(3)
                         .out_channels(5)
                         .sixteen_bit()
                         .pool(1)
                         .seed(3200);
                   }});
  // Shifts at their limits.
  for (int s : {0, 15}) {
    cases.push_back(
        {"shr_x" + std::to_string(s), [s] {
           return ConvCase().width(17).height(5).in_channels(6).out_channels(9).shr_x(s).seed(4000 +
                                                                                              s);
         }});
    cases.push_back(
        {"shr_w" + std::to_string(s), [s] {
           return ConvCase().width(17).height(5).in_channels(6).out_channels(9).shr_w(s).seed(4100 +
                                                                                              s);
         }});
    cases.push_back(
        {"bn_shift" + std::to_string(s), [s] {
           return ConvCase().width(17).height(5).in_channels(6).out_channels(9).bn_shift(s).seed(
               4200 + s);
         }});
  }
  for (int s : {0, 1, 40, 63, 64, 200}) {
    cases.push_back(
        {"act_shift" + std::to_string(s), [s] {
           return ConvCase().width(16).height(4).in_channels(3).out_channels(8).act_shift(s).seed(
               4300 + s);
         }});
  }
  // Negative batch-norm mul/add, negative activation slopes, equal segment starts.
  cases.push_back(
      {"negative_bn", [] {
         return ConvCase().width(33).height(5).in_channels(7).out_channels(12).negative_bn().seed(
             5000);
       }});
  cases.push_back({"negative_act_mul", [] {
                     return ConvCase()
                         .width(33)
                         .height(5)
                         .in_channels(7)
                         .out_channels(12)
                         .negative_act_mul()
                         .seed(5001);
                   }});
  cases.push_back(
      {"equal_starts", [] {
         return ConvCase().width(17).height(7).in_channels(7).out_channels(12).equal_starts().seed(
             5002);
       }});
  // Both selection rules x both roundings, with edge-heavy tables.
  for (int sel = 0; sel < 2; ++sel) {
    for (int rnd = 0; rnd < 2; ++rnd) {
      cases.push_back({std::string(sel ? "strict" : "le") + (rnd ? "_banker" : "_sdk"), [sel, rnd] {
                         KpuSimOptions o;
                         o.selection = sel ? SegmentSelection::kStartStrictlyLess
                                           : SegmentSelection::kStartLessOrEqual;
                         o.rounding = rnd ? ActivationRounding::kNn02Banker
                                          : ActivationRounding::kSdkCarryShift;
                         return ConvCase()
                             .width(17)
                             .height(7)
                             .in_channels(4)
                             .out_channels(12)
                             .negative_act_mul()
                             .equal_starts()
                             .options(o)
                             .seed(6000 + sel * 2 + rnd);
                       }});
    }
  }
  // ReLU6-shaped tables (rounding ties on purpose) and tables with only non-negative slopes, on
  // each conv form, under both selection rules x both roundings.
  for (int sel = 0; sel < 2; ++sel) {
    for (int rnd = 0; rnd < 2; ++rnd) {
      for (int form = 0; form < 3; ++form) {
        for (int relu = 0; relu < 2; ++relu) {
          const std::string name = std::string(relu ? "relu6_table_" : "positive_slopes_") +
                                   (form == 0   ? "1x1_"
                                    : form == 1 ? "3x3_"
                                                : "dw3x3_") +
                                   (sel ? "strict" : "le") + (rnd ? "_banker" : "_sdk");
          cases.push_back({name, [sel, rnd, form, relu] {
                             KpuSimOptions o;
                             o.selection = sel ? SegmentSelection::kStartStrictlyLess
                                               : SegmentSelection::kStartLessOrEqual;
                             o.rounding = rnd ? ActivationRounding::kNn02Banker
                                              : ActivationRounding::kSdkCarryShift;
                             ConvCase c;
                             c.width(form == 2 ? 30 : 17)
                                 .height(9)
                                 .in_channels(form == 0 ? 16 : 6)
                                 .out_channels(form == 2 ? 6 : 11)
                                 .kernel(form == 0 ? 1 : 3)
                                 .depthwise(form == 2)
                                 .options(o)
                                 .seed(static_cast<std::uint32_t>(6100 + sel * 100 + rnd * 10 +
                                                                  form * 2 + relu));
                             if (relu) {
                               c.relu_table();
                             } else {
                               c.positive_act_mul();
                             }
                             return c;
                           }});
        }
      }
    }
  }
  // MobileNet's widths with whole quads of input channels (the gather's 16- and 8-pixel SIMD steps
  // and scalar rests), plain and with the stride-2 select pools (every second pixel).
  // Without the DMA to main memory (every layer but a model's last), kpu-sim's output stage
  // writes straight into the KPU RAM lines; the harness then compares KPU RAM.
  for (std::uint32_t w : {7u, 14u, 28u, 56u, 112u}) {
    for (int pool : {0, 5, 6}) {
      for (std::uint32_t k : {1u, 3u}) {
        for (bool dw : {false, true}) {
          for (bool main_out : {true, false}) {
            if (pool != 0 && k == 3) continue;
            if (dw && (k == 1 || pool != 0)) continue;
            cases.push_back(
                {"mobilenet_w" + std::to_string(w) + "_k" + std::to_string(k) + "_pool" +
                     std::to_string(pool) + (dw ? "_dw" : "") + (main_out ? "" : "_kpu_out"),
                 [w, k, pool, dw, main_out] {
                   ConvCase c =
                       ConvCase()
                           .width(w)
                           .height(4)
                           .kernel(k)
                           .in_channels(dw ? 10 : 8)
                           .out_channels(10)
                           .pool(pool)
                           .main_out(main_out)
                           .seed(static_cast<std::uint32_t>(9100 + w * 10 + k + pool * 3 +
                                                            (dw ? 5 : 0) + (main_out ? 0 : 7)));
                   return dw ? c.depthwise() : c;
                 }});
          }
        }
      }
    }
  }
  // 3x3 depthwise with MobileNet's arguments (shr_x 0, arg_x around -128: w + arg_x fits int8 for
  // every weight at -128 only), maps taller than one row chunk of the kernel that reads KPU RAM
  // lines, with pools (the dense path) and the DMA to main memory.
  for (std::uint32_t w : {7u, 16u, 17u, 112u}) {
    for (std::int64_t arg_x : {-128, -127, -131}) {
      for (int pool : {0, 1, 5}) {
        for (bool main_out : {false, true}) {
          if (pool != 0 && !main_out && w != 17) continue;
          cases.push_back({"dw_lines_w" + std::to_string(w) + "_argx" + std::to_string(-arg_x) +
                               "_pool" + std::to_string(pool) + (main_out ? "" : "_kpu_out"),
                           [w, arg_x, pool, main_out] {
                             return ConvCase()
                                 .width(w)
                                 .height(w == 112 ? 11 : 70)
                                 .kernel(3)
                                 .in_channels(w == 112 ? 3 : 5)
                                 .depthwise()
                                 .shr_x(0)
                                 .arg_x(arg_x)
                                 .pool(pool)
                                 .main_out(main_out)
                                 .seed(static_cast<std::uint32_t>(9700 + w * 10 - arg_x * 3 + pool +
                                                                  (main_out ? 0 : 50)));
                           }});
        }
      }
    }
  }
  // Channel-split runs (KpuSimOptions::threads 2 and 3; 20 output channels: 3 uneven blocks of 8):
  // the quad GEMM path (1x1, 1x1 + select pool, 3x3) and the depthwise line kernel, into KPU RAM
  // and through the DMA.
  for (unsigned threads : {2u, 3u}) {
    for (std::uint32_t w : {7u, 28u, 112u}) {
      for (int form = 0; form < 4; ++form) {
        for (bool main_out : {false, true}) {
          const char* names[] = {"1x1", "1x1_pool5", "3x3", "dw"};
          cases.push_back(
              {"threads" + std::to_string(threads) + "_w" + std::to_string(w) + "_" + names[form] +
                   (main_out ? "" : "_kpu_out"),
               [threads, w, form, main_out] {
                 KpuSimOptions o;
                 o.threads = threads;
                 ConvCase c = ConvCase()
                                  .width(w)
                                  .height(w == 112 ? 4 : 9)
                                  .kernel(form >= 2 ? 3 : 1)
                                  .in_channels(form == 3 ? 9 : 12)
                                  .out_channels(20)
                                  .pool(form == 1 ? 5 : 0)
                                  .main_out(main_out)
                                  .shr_x(0)
                                  .arg_x(-128)
                                  .bn_shift(15)
                                  .options(o)
                                  .seed(static_cast<std::uint32_t>(9900 + threads * 1000 + w * 10 +
                                                                   form * 2 + (main_out ? 1 : 0)));
                 if (form == 3) c.depthwise();
                 return c;
               }});
        }
      }
    }
  }
  // 1x1 convs with the select pools (kpu-sim computes only the kept pixels there), odd and even
  // widths, channel counts with and without a partial quad.
  for (int pool : {5, 6, 7}) {
    for (std::uint32_t w : {17u, 33u, 64u, 66u}) {
      cases.push_back(
          {"select_pool" + std::to_string(pool) + "_1x1_w" + std::to_string(w), [pool, w] {
             return ConvCase()
                 .width(w)
                 .height(w == 64 ? 8 : 9)
                 .kernel(1)
                 .in_channels(w % 2 == 0 ? 8 : 13)
                 .out_channels(9)
                 .pool(pool)
                 .seed(static_cast<std::uint32_t>(6500 + pool * 100 + w));
           }});
    }
  }
  // Kernel variants (results must not depend on the instruction set).
  for (int isa = 0; isa < 3; ++isa) {
    cases.push_back(
        {std::string("isa_") + (isa == 0   ? "portable"
                                : isa == 1 ? "avx2"
                                           : "vnni"),
         [isa] {
           KpuSimOptions o;
           o.max_isa = static_cast<KernelIsa>(isa);
           return ConvCase().width(65).height(5).in_channels(19).out_channels(21).options(o).seed(
               7000 + isa);
         }});
    cases.push_back({std::string("isa_1x1_") + (isa == 0   ? "portable"
                                                : isa == 1 ? "avx2"
                                                           : "vnni"),
                     [isa] {
                       KpuSimOptions o;
                       o.max_isa = static_cast<KernelIsa>(isa);
                       return ConvCase()
                           .width(40)
                           .height(30)
                           .kernel(1)
                           .in_channels(13)
                           .out_channels(17)
                           .options(o)
                           .seed(7100 + isa);
                     }});
  }
  // No DMA, input not at row 0.
  cases.push_back(
      {"no_main_out", [] { return ConvCase().width(17).height(5).main_out(false).seed(8000); }});
  cases.push_back(
      {"src_row_1000", [] { return ConvCase().width(33).height(5).src_row(1000).seed(8001); }});
  return cases;
}

void PrintTo(const NamedCase& c, std::ostream* os) {
  *os << c.name;
}

class ConvDifferential : public ::testing::TestWithParam<NamedCase> {};

TEST_P(ConvDifferential, MatchesReferenceExactly) {
  ConvCase c = GetParam().make();
  c.check_against_reference();
}

INSTANTIATE_TEST_SUITE_P(AccelSim, ConvDifferential, ::testing::ValuesIn(all_cases()),
                         [](const ::testing::TestParamInfo<NamedCase>& param_info) {
                           return param_info.param.name;
                         });

}  // namespace
}  // namespace emc::test
