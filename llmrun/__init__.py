"""llmrun: a real causal LM (SmolLM2-135M, GGUF) run in numpy, for perplexity under quantization.

See ``docs/perplexity.md``. Loading reads the asset cache of :mod:`llmrun.assets` (fetched on
demand).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mant._lazy import lazy_exports

if TYPE_CHECKING:
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

_EXPORTS = {
    "Corpus": "llmrun.text",
    "KVHook": "llmrun.forward",
    "KVSpec": "llmrun.specs",
    "LayerWeights": "llmrun.model",
    "LlamaConfig": "llmrun.model",
    "LlamaModel": "llmrun.model",
    "ModelName": "llmrun.model",
    "PerplexityResult": "llmrun.perplexity",
    "PreparedModel": "llmrun.forward",
    "WeightErrors": "llmrun.hooks",
    "WeightSpec": "llmrun.specs",
    "build_tokenizer": "llmrun.text",
    "corpus_text": "llmrun.text",
    "corpus_tokens": "llmrun.text",
    "forward_hidden": "llmrun.forward",
    "kv_dump": "llmrun.perplexity",
    "load_model": "llmrun.model",
    "mant_kv_hook": "llmrun.hooks",
    "parse_kv_spec": "llmrun.specs",
    "parse_weight_spec": "llmrun.specs",
    "perplexity": "llmrun.perplexity",
    "prepared_model": "llmrun.perplexity",
    "quantize_model_weights": "llmrun.hooks",
    "reference_int_kv_hook": "llmrun.hooks",
    "window_nll": "llmrun.forward",
}

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
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
