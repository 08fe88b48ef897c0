"""Which projection a weight tensor is, read from its name.

Per-kind studies (``space.weight_bits.q`` ...) score each weight tensor with its projection
kind's format, so the tensor suites need the kind of each tensor. The names of the common
checkpoint layouts say it:

========  =========================  ==================  ==========================  ==========
kind      Hugging Face LLaMA-style   GGUF                BERT (MiniLM)               Meta / GPT
========  =========================  ==================  ==========================  ==========
q         ``q_proj``                 ``attn_q``          ``attention.self.query``    ``wq``
k         ``k_proj``                 ``attn_k``          ``attention.self.key``      ``wk``
v         ``v_proj``                 ``attn_v``          ``attention.self.value``    ``wv``
o         ``o_proj``, ``out_proj``   ``attn_output``     ``attention.output.dense``  ``wo``
gate      ``gate_proj``              ``ffn_gate``        (none)                      ``w1``
up        ``up_proj``, ``fc1``       ``ffn_up``          ``intermediate.dense``      ``w3``
down      ``down_proj``, ``fc2``     ``ffn_down``        ``output.dense``            ``w2``
========  =========================  ==================  ==========================  ==========

Example:
    >>> projection_kind("model.layers.3.self_attn.q_proj.weight")
    'q'
    >>> projection_kind("blk.0.ffn_down.weight"), projection_kind("encoder.layer.1.output.dense")
    ('down', 'down')
    >>> projection_kind("token_embd.weight") is None
    True
"""

from __future__ import annotations

import re

__all__ = ["projection_kind"]

# first match wins: the attention output is tested before the FFN's "output.dense"
_PATTERNS: tuple[tuple[str, str], ...] = (
    (r"(^|[._])(q_proj|attn_q|wq|query)([._]|$)", "q"),
    (r"(^|[._])(k_proj|attn_k|wk|key)([._]|$)", "k"),
    (r"(^|[._])(v_proj|attn_v|wv|value)([._]|$)", "v"),
    (r"(^|[._])(o_proj|out_proj|attn_output|wo)([._]|$)|attention\.output\.dense", "o"),
    (r"(^|[._])(gate_proj|ffn_gate|w1)([._]|$)", "gate"),
    (r"(^|[._])(up_proj|ffn_up|fc1|w3)([._]|$)|intermediate\.dense", "up"),
    (r"(^|[._])(down_proj|ffn_down|fc2|w2)([._]|$)|(^|\.)output\.dense", "down"),
)
_COMPILED = tuple((re.compile(p), kind) for p, kind in _PATTERNS)


def projection_kind(name: str) -> str | None:
    """The projection kind (``q k v o gate up down``) a tensor name says, or None."""
    low = name.lower()
    for pattern, kind in _COMPILED:
        if pattern.search(low):
            return kind
    return None
