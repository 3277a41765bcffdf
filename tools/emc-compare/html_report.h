// The --report page: one self-contained HTML file (inline CSS, inline SVG, no script, nothing
// fetched from the network) with the summary, the top-k tables of every input and, with
// --layers, the per-layer table and an SQNR bar chart (one <rect class="bar"> per compared layer,
// a dashed threshold line, layer labels under the bars).
#pragma once

#include <string>

#include "compare_result.h"

namespace emc::compare {

std::string render_html(const CompareResult& result);

// The per-layer SQNR chart alone (an <svg> element); exposed for tests.
std::string render_sqnr_svg(const CompareResult& result);

// Escapes & < > " ' for HTML text and attribute values.
std::string html_escape(const std::string& s);

}  // namespace emc::compare
