"""The bundled models: parameter totals against their published numbers, FLOPs against published counts."""

import pytest

from commsim.training.architectures import ARCHITECTURES

PUBLISHED = {
    # torchvision's model pages give the exact count of each weights' parameters ("num_params"):
    # https://pytorch.org/vision/stable/models/generated/torchvision.models.resnet50.html (IMAGENET1K_V1)
    "resnet50": 25_557_032,
    # https://pytorch.org/vision/stable/models/generated/torchvision.models.resnet101.html
    "resnet101": 44_549_160,
    # https://pytorch.org/vision/stable/models/generated/torchvision.models.vgg16.html
    "vgg16": 138_357_544,
    # https://huggingface.co/google-bert/bert-large-uncased (model card: "336M parameters")
    "bert-large": 336e6,
    # https://github.com/karpathy/nanoGPT README, the OpenAI checkpoints' table: "gpt2-xl 1558M params"
    "gpt2-xl": 1558e6,
    # https://huggingface.co/meta-llama/Llama-2-7b-hf ("Model size 6.74B params")
    "llama2-7b": 6.74e9,
    # https://huggingface.co/meta-llama/Meta-Llama-3-8B ("Model size 8.03B params")
    "llama3-8b": 8.03e9,
    # https://huggingface.co/meta-llama/Llama-2-70b-hf ("Model size 69B params")
    "llama2-70b": 69e9,
}

GMACS = {  # torchvision's "GFLOPS" column counts multiply-adds (fvcore), per 224 x 224 image
    "resnet50": 4.09,  # resnet50 page above, IMAGENET1K_V1: 4.09
    "resnet101": 7.80,  # resnet101 page: 7.8
    "vgg16": 15.47,  # vgg16 page: 15.47
}


def test_every_bundled_model_has_a_published_count():
    """Each bundled model is checked below (none without its cited number)."""
    assert set(PUBLISHED) == set(ARCHITECTURES)


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_parameter_total_equals_the_published_one(name):
    """The total from the shapes is the published parameter count to 0.5 %."""
    total = ARCHITECTURES[name]().params
    assert abs(total - PUBLISHED[name]) <= 0.005 * PUBLISHED[name], (name, total)


@pytest.mark.parametrize("name", sorted(GMACS))
def test_cnn_forward_flops_are_twice_torchvisions_multiply_adds(name):
    """Forward FLOPs per image are 2 × torchvision's published multiply-adds to 0.5 %."""
    flops = ARCHITECTURES[name]().flops_per_sample
    assert abs(flops / 2e9 - GMACS[name]) <= 0.005 * GMACS[name]


def test_exact_counts_of_the_torchvision_models():
    """The CNNs' totals are torchvision's exactly (conv, BN and fc parameters, nothing else)."""
    assert {name: ARCHITECTURES[name]().params for name in ("resnet50", "resnet101", "vgg16")} == {
        name: PUBLISHED[name] for name in ("resnet50", "resnet101", "vgg16")}


def test_llama2_7b_forward_flops_per_token_by_kaplan():
    """Llama-2-7B's forward FLOPs per token: 2 × the matrices' weights (32 blocks of 4 d² attention and 3 d·ffn
    SwiGLU, the output layer) + 2·n_layer·n_ctx·d (Kaplan et al. 2020, Table 1, causal attention)."""
    d, ffn, layers, vocab, n_ctx = 4096, 11008, 32, 32000, 4096
    weights = layers * (4 * d * d + 3 * d * ffn) + vocab * d
    arch = ARCHITECTURES["llama2-7b"]()
    assert arch.flops_per_sample / arch.tokens_per_sample == 2 * weights + 2 * layers * n_ctx * d


def test_llama3_8b_has_grouped_kv_heads():
    """Llama-3-8B's block: q and o d×d, k and v d×(8·128), SwiGLU 3·d·14336, two norms."""
    d = 4096
    block = next(layer for layer in ARCHITECTURES["llama3-8b"]().layers if layer.name == "layers.0")
    assert block.params == 2 * d * d + 2 * d * 1024 + 3 * d * 14336 + 2 * d
