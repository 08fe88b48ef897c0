"""llmrun: a real causal LM (SmolLM2-135M, GGUF) run in numpy, for perplexity under quantization.

See ``docs/perplexity.md``. Loading reads the asset cache of :mod:`llmrun.assets` (fetched on
demand)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from mant._lazy import lazy_exports

if TYPE_CHECKING:
    from llmrun.forward import (
        ActHooks,
        KVHook,
        PreparedModel,
        forward_hidden,
        window_nll,
    )
    from llmrun.hooks import (
        WeightErrors,
        mant_kv_hook,
        quantize_model_weights,
        reference_int_kv_hook,
    )
    from llmrun.model import (
        LayerWeights,
        LlamaConfig,
        LlamaModel,
        ModelName,
        load_model,
    )
    from llmrun.perplexity import (
        PerplexityResult,
        kv_dump,
        perplexity,
        prepared_model,
        resolve_quantization,
    )
    from llmrun.quantizers import (
        act_hooks,
        kv_hook,
        kv_hook_for_config,
    )
    from llmrun.text import (
        Corpus,
        build_tokenizer,
        corpus_text,
        corpus_tokens,
    )

_EXPORTS = {
    "ActHooks": "llmrun.forward",
    "Corpus": "llmrun.text",
    "KVHook": "llmrun.forward",
    "LayerWeights": "llmrun.model",
    "LlamaConfig": "llmrun.model",
    "LlamaModel": "llmrun.model",
    "ModelName": "llmrun.model",
    "PerplexityResult": "llmrun.perplexity",
    "PreparedModel": "llmrun.forward",
    "WeightErrors": "llmrun.hooks",
    "act_hooks": "llmrun.quantizers",
    "build_tokenizer": "llmrun.text",
    "corpus_text": "llmrun.text",
    "corpus_tokens": "llmrun.text",
    "forward_hidden": "llmrun.forward",
    "kv_dump": "llmrun.perplexity",
    "kv_hook": "llmrun.quantizers",
    "kv_hook_for_config": "llmrun.quantizers",
    "load_model": "llmrun.model",
    "mant_kv_hook": "llmrun.hooks",
    "perplexity": "llmrun.perplexity",
    "prepared_model": "llmrun.perplexity",
    "quantize_model_weights": "llmrun.hooks",
    "reference_int_kv_hook": "llmrun.hooks",
    "resolve_quantization": "llmrun.perplexity",
    "window_nll": "llmrun.forward",
}

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
__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)
