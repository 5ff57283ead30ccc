"""Real models by their shapes: per layer (or per block) the parameter count and the forward FLOPs of one
sample (CNNs, 224 × 224 images) or one token (transformers), computed from the official configs.

Nothing here trains: a :class:`Architecture` is what a training step's compute and communication need —
how many gradients each layer produces, in backward order, and how long its forward takes.

FLOPs count a multiply-add as 2. A convolution of k×k, C_in → C_out onto an H×W output costs
2·k²·C_in·C_out·H·W (+ the bias); a linear layer 2·d_in·d_out per sample or token. A transformer layer adds
attention over the context: 2·2·n_ctx·d_attn per token (QKᵀ and AV), half under a causal mask — the rule of
Kaplan et al. 2020, "Scaling Laws for Neural Language Models", Table 1 (C_forward ≈ 2N + 2·n_layer·n_ctx·d_attn;
https://arxiv.org/abs/2001.08361).
Norms, activations, softmax and embedding lookups are not counted (they move bytes, they do few FLOPs).

Each bundled model cites where its shapes come from; ``PUBLISHED`` in ``tests/test_architectures.py`` holds the
published parameter totals they are checked against (to 0.5 %).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Layer:
    """One layer or block: its parameters and the forward FLOPs of one sample (or token); measured forward
    and backward seconds of one micro-batch, when a profiler gave them."""

    name: str
    params: int
    flops: float
    forward_s: float | None = None
    backward_s: float | None = None


@dataclass(frozen=True)
class Architecture:
    """A model as training sees it: its layers in forward order, what one FLOP count is per (``sample`` or
    ``token``), tokens per sample (the context length; 1 for images), and where the shapes come from."""

    name: str
    layers: tuple[Layer, ...]
    per: str = "sample"
    tokens_per_sample: int = 1
    source: str = ""

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def flops_per_sample(self) -> float:
        """Forward FLOPs of one sample (a sequence of ``tokens_per_sample`` tokens)."""
        return sum(layer.flops for layer in self.layers) * (self.tokens_per_sample if self.per == "token" else 1)


# -- CNNs -------------------------------------------------------------------------------------------
def _conv(k: int, c_in: int, c_out: int, out_hw: int, bias: bool = False) -> tuple[int, float]:
    """(params, FLOPs) of a k×k convolution onto an out_hw × out_hw map."""
    params = k * k * c_in * c_out + (c_out if bias else 0)
    return params, 2.0 * k * k * c_in * c_out * out_hw * out_hw + (c_out * out_hw * out_hw if bias else 0)


def _bn(channels: int) -> int:
    return 2 * channels  # weight and bias (running statistics are buffers, not parameters)


def _resnet(name: str, blocks: tuple[int, int, int, int]) -> Architecture:
    """torchvision's ResNet (v1.5: the stride on the 3×3 conv) for 224 × 224 inputs, one layer per bottleneck
    block, the stem and the classifier. He et al. 2016, https://arxiv.org/abs/1512.03385, Table 1; torchvision
    models/resnet.py (https://github.com/pytorch/vision/blob/main/torchvision/models/resnet.py)."""
    params, flops = _conv(7, 3, 64, 112)
    layers = [Layer("stem", params + _bn(64), flops)]
    c_in, hw = 64, 56
    for stage, (count, width) in enumerate(zip(blocks, (64, 128, 256, 512))):
        for index in range(count):
            stride = 2 if index == 0 and stage > 0 else 1
            hw_out = hw // stride
            parts = [_conv(1, c_in, width, hw), _conv(3, width, width, hw_out), _conv(1, width, 4 * width, hw_out)]
            bn = _bn(width) * 2 + _bn(4 * width)
            if index == 0:  # the projection shortcut
                parts.append(_conv(1, c_in, 4 * width, hw_out))
                bn += _bn(4 * width)
            layers.append(Layer(f"layer{stage + 1}.{index}", sum(p for p, _ in parts) + bn, sum(f for _, f in parts)))
            c_in, hw = 4 * width, hw_out
    layers.append(Layer("fc", 2048 * 1000 + 1000, 2.0 * 2048 * 1000 + 1000))
    return Architecture(name, tuple(layers), source="https://arxiv.org/abs/1512.03385 (Table 1); torchvision resnet.py")


def resnet50() -> Architecture:
    return _resnet("resnet50", (3, 4, 6, 3))


def resnet101() -> Architecture:
    return _resnet("resnet101", (3, 4, 23, 3))


def vgg16() -> Architecture:
    """VGG-16 (configuration D) for 224 × 224 inputs, each conv and fc a layer, with biases. Simonyan &
    Zisserman 2015, https://arxiv.org/abs/1409.1556, Table 1 (D); torchvision models/vgg.py."""
    layers, c_in, hw = [], 3, 224
    for stage, (count, width) in enumerate(zip((2, 2, 3, 3, 3), (64, 128, 256, 512, 512))):
        for index in range(count):
            params, flops = _conv(3, c_in, width, hw, bias=True)
            layers.append(Layer(f"conv{stage + 1}_{index + 1}", params, flops))
            c_in = width
        hw //= 2
    for name, d_in, d_out in (("fc6", 512 * 7 * 7, 4096), ("fc7", 4096, 4096), ("fc8", 4096, 1000)):
        layers.append(Layer(name, d_in * d_out + d_out, 2.0 * d_in * d_out + d_out))
    return Architecture("vgg16", tuple(layers), source="https://arxiv.org/abs/1409.1556 (Table 1, D); torchvision vgg.py")


# -- transformers -----------------------------------------------------------------------------------
def _attention_flops(n_ctx: int, d_attn: int, causal: bool) -> float:
    """QKᵀ and AV of one token against the context: 2·2·n_ctx·d_attn, half of it under a causal mask (each token
    sees n_ctx/2 on average): Kaplan et al.'s 2·n_ctx·d_attn per layer."""
    return 2.0 * 2 * n_ctx * d_attn / (2 if causal else 1)


def bert_large() -> Architecture:
    """BERT-large (uncased): 24 layers, hidden 1024, 16 heads, FFN 4096, vocab 30522, 512 positions, 2 token
    types, with the pooler; sequence 512. Devlin et al. 2019, https://arxiv.org/abs/1810.04805; config:
    https://huggingface.co/google-bert/bert-large-uncased/blob/main/config.json."""
    d, ffn, vocab, n_ctx = 1024, 4096, 30522, 512
    embeddings = vocab * d + n_ctx * d + 2 * d + 2 * d  # word, position, token type, LayerNorm
    block = 4 * (d * d + d) + 2 * d + (d * ffn + ffn) + (ffn * d + d) + 2 * d
    block_flops = 2.0 * (4 * d * d + 2 * d * ffn) + _attention_flops(n_ctx, d, causal=False)
    layers = [Layer("embeddings", embeddings, 0.0)]
    layers += [Layer(f"layer{i}", block, block_flops) for i in range(24)]
    layers.append(Layer("pooler", d * d + d, 2.0 * d * d / n_ctx))  # one token per sequence
    return Architecture("bert-large", tuple(layers), "token", n_ctx,
                        "https://huggingface.co/google-bert/bert-large-uncased/blob/main/config.json")


def gpt2_xl() -> Architecture:
    """GPT-2 XL: 48 layers, d 1600, vocab 50257, context 1024, the output layer tied to the embedding.
    Radford et al. 2019; config: https://huggingface.co/openai-community/gpt2-xl/blob/main/config.json."""
    d, vocab, n_ctx = 1600, 50257, 1024
    block = 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + 2 * d + (d * 4 * d + 4 * d) + (4 * d * d + d)
    block_flops = 2.0 * 12 * d * d + _attention_flops(n_ctx, d, causal=True)
    layers = [Layer("embeddings", vocab * d + n_ctx * d, 0.0)]
    layers += [Layer(f"h{i}", block, block_flops) for i in range(48)]
    layers.append(Layer("ln_f+head", 2 * d, 2.0 * d * vocab))  # the head's weights are the embedding's
    return Architecture("gpt2-xl", tuple(layers), "token", n_ctx,
                        "https://huggingface.co/openai-community/gpt2-xl/blob/main/config.json")


def _llama(name: str, d: int, ffn: int, layers_: int, heads: int, kv_heads: int, vocab: int, n_ctx: int,
           source: str) -> Architecture:
    """A Llama decoder: RMSNorm, attention with grouped KV heads (no biases), SwiGLU FFN (three matrices),
    untied embedding and output."""
    kv = d // heads * kv_heads
    attention = 2 * d * d + 2 * d * kv
    block = attention + 3 * d * ffn + 2 * d
    block_flops = 2.0 * (attention + 3 * d * ffn) + _attention_flops(n_ctx, d, causal=True)
    layers = [Layer("embed_tokens", vocab * d, 0.0)]
    layers += [Layer(f"layers.{i}", block, block_flops) for i in range(layers_)]
    layers.append(Layer("norm+lm_head", d + vocab * d, 2.0 * d * vocab))
    return Architecture(name, tuple(layers), "token", n_ctx, source)


def llama2_7b() -> Architecture:
    """Llama-2-7B: d 4096, FFN 11008, 32 layers, 32 heads, vocab 32000, context 4096. Touvron et al. 2023,
    https://arxiv.org/abs/2307.09288; config: https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json."""
    return _llama("llama2-7b", 4096, 11008, 32, 32, 32, 32000, 4096,
                  "https://huggingface.co/meta-llama/Llama-2-7b-hf/blob/main/config.json")


def llama3_8b() -> Architecture:
    """Llama-3-8B: d 4096, FFN 14336, 32 layers, 32 heads, 8 KV heads, vocab 128256, context 8192.
    https://huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json."""
    return _llama("llama3-8b", 4096, 14336, 32, 32, 8, 128256, 8192,
                  "https://huggingface.co/meta-llama/Meta-Llama-3-8B/blob/main/config.json")


def llama2_70b() -> Architecture:
    """Llama-2-70B: d 8192, FFN 28672, 80 layers, 64 heads, 8 KV heads, vocab 32000, context 4096.
    https://huggingface.co/meta-llama/Llama-2-70b-hf/blob/main/config.json."""
    return _llama("llama2-70b", 8192, 28672, 80, 64, 8, 32000, 4096,
                  "https://huggingface.co/meta-llama/Llama-2-70b-hf/blob/main/config.json")


ARCHITECTURES: dict[str, Callable[[], Architecture]] = {
    "resnet50": resnet50, "resnet101": resnet101, "vgg16": vgg16, "bert-large": bert_large, "gpt2-xl": gpt2_xl,
    "llama2-7b": llama2_7b, "llama3-8b": llama3_8b, "llama2-70b": llama2_70b,
}
"""The bundled models by the name a ``workload:`` section gives."""
