"""`lra-bench new-attention NAME`: write a variant file and its config that already meet the contract.

The template is plain scaled dot-product attention with a `temperature` hyperparameter, so the new
variant trains and passes the conformance suite before the author changes a line; the docstring
says where the new mechanism goes and what the suite will check.
"""

from __future__ import annotations

import keyword
import re
from pathlib import Path

from .config import CONF_DIR, PROJECT_ROOT
from .errors import ConfigError

TEMPLATE = '''"""{title}: <one line on the mechanism>. <Paper, year; authors' code; equation numbers>.

Replace `forward` with the mechanism. The contract (spec/README.md): q, k, v are
[batch, heads, length, dim_head] after the shared projections; `key_padding_mask` is [batch, length]
with True for real tokens (or None); return [batch, heads, length, dim_head]. Padded keys must not
change real outputs; with `causal`, output i may only depend on positions <= i. The conformance suite
(lra_bench/conformance.py) checks this for every registered variant, with no test code of yours:
run `lra-bench check attention={name}`. Set the class flags below to what the variant supports.
Hyperparameters are keyword arguments with annotations and defaults; conf/attention/{name}.yaml
lists them and is type-checked against this signature.
"""

import torch

{import_line}


@register_attention("{name}")
class {cls}(Attention):
    supports_causal = True
    padding_invariant = True
    bf16_tolerance = 0.05

    def __init__(self, dim_head, num_heads, causal=False, max_len=4096, temperature: float = 1.0):
        super().__init__(dim_head, num_heads, causal, max_len)
        self.temperature = temperature

    def forward(self, q, k, v, key_padding_mask=None):
        scores = q @ k.transpose(-1, -2) / (self.temperature * self.dim_head**0.5)
        allowed = torch.ones(scores.shape[-2:], dtype=torch.bool, device=q.device)
        if self.causal:
            allowed = allowed.tril()
        if key_padding_mask is not None:
            allowed = allowed & key_padding_mask[:, None, None, :]
        return scores.masked_fill(~allowed, float("-inf")).softmax(dim=-1) @ v
'''

CONFIG = """# {title}: hyperparameters of {code} (type-checked against its __init__).
name: {name}
temperature: 1.0
"""


def new_attention(name: str, root: Path = PROJECT_ROOT, folder: Path | None = None) -> list[Path]:
    """Create the variant file and its config; refuse bad names and never overwrite. With `folder`, both go
    outside the package (`folder/NAME.py`, `folder/conf/attention/NAME.yaml`), importing lra_bench by
    name, for LRA_BENCH_INCLUDE=folder to load."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name) or keyword.iskeyword(name):
        raise ConfigError(f"new-attention {name}: expected a lower-case Python identifier such as 'my_attn'")
    if folder is not None:
        code, config = folder / f"{name}.py", folder / "conf" / "attention" / f"{name}.yaml"
        import_line = "from lra_bench.attention import Attention, register_attention"
    else:
        code = root / "lra_bench" / "attention" / f"{name}.py"
        config = (CONF_DIR if root == PROJECT_ROOT else root / "conf") / "attention" / f"{name}.yaml"
        import_line = "from .registry import Attention, register_attention"
    for path in (code, config):
        if path.exists():
            raise ConfigError(f"new-attention {name}: {path} already exists; pick another name or edit it")
    title = name.replace("_", " ").title()
    cls = "".join(part.title() for part in name.split("_")) + "Attention"
    config.parent.mkdir(parents=True, exist_ok=True)
    code.write_text(TEMPLATE.format(name=name, title=title, cls=cls, import_line=import_line))
    config.write_text(CONFIG.format(name=name, title=title, code=code.name if folder else f"lra_bench/attention/{name}.py"))
    return [code, config]
