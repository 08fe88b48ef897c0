"""llmrun: a real causal LM (SmolLM2-135M, GGUF) run in numpy, for perplexity under quantization.

See ``docs/perplexity.md``. Loading reads the asset cache of :mod:`llmrun.assets` (fetched on
demand).
"""

from llmrun.forward import KVHook, PreparedModel, forward_hidden, window_nll
from llmrun.hooks import (
    WeightErrors,
    mant_kv_hook,
    quantize_model_weights,
    reference_int_kv_hook,
)
from llmrun.model import LayerWeights, LlamaConfig, LlamaModel, ModelName, load_model
from llmrun.perplexity import PerplexityResult, kv_dump, perplexity, prepared_model
from llmrun.specs import KVSpec, WeightSpec, parse_kv_spec, parse_weight_spec
from llmrun.text import Corpus, build_tokenizer, corpus_text, corpus_tokens

__all__ = [
    "Corpus",
    "KVHook",
    "KVSpec",
    "LayerWeights",
    "LlamaConfig",
    "LlamaModel",
    "ModelName",
    "PerplexityResult",
    "PreparedModel",
    "WeightErrors",
    "WeightSpec",
    "build_tokenizer",
    "corpus_text",
    "corpus_tokens",
    "forward_hidden",
    "kv_dump",
    "load_model",
    "mant_kv_hook",
    "parse_kv_spec",
    "parse_weight_spec",
    "perplexity",
    "prepared_model",
    "quantize_model_weights",
    "reference_int_kv_hook",
    "window_nll",
]
