"""llmrun: a real causal LM (SmolLM2-135M, GGUF) run in numpy, for perplexity under quantization.

See ``docs/perplexity.md``. Loading reads the asset cache of :mod:`llmrun.assets` (fetched on
demand).
"""

from llmrun.forward import ActHooks, KVHook, PreparedModel, forward_hidden, window_nll
from llmrun.hooks import (
    WeightErrors,
    mant_kv_hook,
    quantize_model_weights,
    reference_int_kv_hook,
)
from llmrun.model import LayerWeights, LlamaConfig, LlamaModel, ModelName, load_model
from llmrun.perplexity import (
    PerplexityResult,
    kv_dump,
    perplexity,
    prepared_model,
    resolve_quantization,
)
from llmrun.quantizers import act_hooks, kv_hook, kv_hook_for_config
from llmrun.text import Corpus, build_tokenizer, corpus_text, corpus_tokens

__all__ = [
    "ActHooks",
    "Corpus",
    "KVHook",
    "LayerWeights",
    "LlamaConfig",
    "LlamaModel",
    "ModelName",
    "PerplexityResult",
    "PreparedModel",
    "WeightErrors",
    "act_hooks",
    "build_tokenizer",
    "corpus_text",
    "corpus_tokens",
    "forward_hidden",
    "kv_dump",
    "kv_hook",
    "kv_hook_for_config",
    "load_model",
    "mant_kv_hook",
    "perplexity",
    "prepared_model",
    "quantize_model_weights",
    "reference_int_kv_hook",
    "resolve_quantization",
    "window_nll",
]
