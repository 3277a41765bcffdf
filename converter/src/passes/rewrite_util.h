// Small graph-surgery helpers shared by the passes (private).
#pragma once

#include <vector>

#include "emc/converter/graph.h"

namespace emc::converter::detail {

// Number of nodes reading `id` (counting a node once) plus one if it is a graph output.
int use_count(const Graph& g, TensorId id);
bool is_graph_output(const Graph& g, TensorId id);
// The single node reading `id`, when `id` has exactly one reader and is not a graph output.
int sole_consumer(const Graph& g, TensorId id);
// Replaces every read of `from` (node inputs, graph outputs) by `to`.
void replace_uses(Graph& g, TensorId from, TensorId to);
// Producer absorbs consumer: producer.output = consumer.output, source_layers appended, consumer
// removed. `consumer` must be the sole consumer of producer's output.
void absorb(Graph& g, int producer, int consumer);
// Drops tensors no node produces or reads and that are not graph inputs/outputs; renumbers ids.
void compact(Graph& g);

}  // namespace emc::converter::detail
