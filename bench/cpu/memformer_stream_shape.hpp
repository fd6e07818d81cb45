// bench/cpu/memformer_stream_shape.hpp — the streaming Memformer shape the CPU benchmarks share
// (issue 3 item 6, issue 17): B1 L64 d256 h4 ffn1024 K64, 4 encoder + 4 decoder layers, vocab 256.
#pragma once

#include "mnemo/models/memformer_config.hpp"

namespace mnemo::bench {

inline models::MemformerConfig memformer_stream_config() {
  models::MemformerConfig c;
  c.vocab = 256;
  c.d_model = 256;
  c.heads = 4;
  c.d_ff = 1024;
  c.slots = 64;
  c.encoder_layers = 4;
  c.decoder_layers = 4;
  c.segment_length = 64;
  c.bos_id = 0;
  return c;
}

}  // namespace mnemo::bench
