// The calibration progress indicator of emc-convert: a bar redrawn in place on stderr when stderr
// is a terminal, nothing otherwise (logs and pipes stay clean) or with --quiet.
#pragma once

#include <unistd.h>

#include <cstdio>
#include <string>

#include "emc/converter/calibrate.h"

namespace emc::tools {

class ProgressBar {
 public:
  // `passes`: 1 (minmax) or 2 (kld, mse: min/max first, then the histograms).
  ProgressBar(bool enabled, int passes)
      : enabled_(enabled && isatty(fileno(stderr))), passes_(passes) {}
  ~ProgressBar() { finish(); }
  ProgressBar(const ProgressBar&) = delete;
  ProgressBar& operator=(const ProgressBar&) = delete;

  converter::CalibrationProgress callback() {
    if (!enabled_) return {};
    return [this](std::size_t done, std::size_t total, int pass) {
      draw(done, total, pass);
      return true;
    };
  }

  // Ends the bar's line (once).
  void finish() {
    if (drawn_) std::fputc('\n', stderr);
    drawn_ = false;
  }

 private:
  void draw(std::size_t done, std::size_t total, int pass) {
    constexpr int kWidth = 30;
    const double f = total ? double(done) / double(total) : 1.0;
    const int full = static_cast<int>(f * kWidth);
    std::string bar(static_cast<std::size_t>(full), '#');
    bar.append(static_cast<std::size_t>(kWidth - full), '.');
    std::fprintf(stderr, "\rcalibrating [%s] %zu/%zu", bar.c_str(), done, total);
    if (passes_ > 1) std::fprintf(stderr, " (pass %d/%d)", pass, passes_);
    std::fflush(stderr);
    drawn_ = true;
  }

  bool enabled_;
  int passes_;
  bool drawn_ = false;
};

}  // namespace emc::tools
