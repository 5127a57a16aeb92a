"""Rebuilds an ONNX graph of the shipped person detector as a trainable PyTorch module.

Only the ops that the project's TFJS→ONNX translator emits for CenterNet-MobileNetV3 are supported
(Conv with SAME_UPPER padding, Relu, Clip, HardSwish, Add, Mul, ReduceMean, Sigmoid, Concat,
Resize ×2 asymmetric-linear, Transpose, Identity); anything else fails with the node's name.
Float initializers of Conv nodes become parameters (the pretrained weights to fine-tune), every other
constant a buffer. Input sides must be multiples of 32, which makes the SAME padding a static
function of kernel and stride, so the module exports to ONNX with dynamic height and width.
"""

from __future__ import annotations

import numpy as np
import onnx
import torch
import torch.nn.functional as F
from onnx import numpy_helper
from torch import nn


def _attrs(node: onnx.NodeProto) -> dict:
    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _safe(name: str) -> str:
    return name.replace("/", "__").replace(":", "_").replace(".", "_")


def upsample2x_asymmetric(x: torch.Tensor) -> torch.Tensor:
    """TF ResizeBilinear (no align_corners, no half-pixel) to twice the size: ONNX 'asymmetric'."""
    right = torch.cat([x[..., :, 1:], x[..., :, -1:]], dim=3)
    cols = torch.stack([x, (x + right) * 0.5], dim=4).flatten(3)
    down = torch.cat([cols[..., 1:, :], cols[..., -1:, :]], dim=2)
    return torch.stack([cols, (cols + down) * 0.5], dim=3).flatten(2, 3)


class OnnxGraphModule(nn.Module):
    """Executes the graph's nodes in order; `frozen_prefixes` name nodes whose weights stay fixed."""

    def __init__(self, path: str):
        super().__init__()
        model = onnx.load(path)
        graph = model.graph
        self.input_name = graph.input[0].name
        consts = {t.name: numpy_helper.to_array(t) for t in graph.initializer}
        for node in graph.node:
            if node.op_type == "Constant":
                consts[node.output[0]] = numpy_helper.to_array(_attrs(node)["value"])
        self.params = nn.ParameterDict()
        conv_inputs = {i for n in graph.node if n.op_type == "Conv" for i in n.input[1:]}
        for name, value in consts.items():
            key = _safe(name)
            if name in conv_inputs and value.dtype == np.float32:
                self.params[key] = nn.Parameter(torch.from_numpy(value.copy()))
            else:
                tensor = torch.from_numpy(np.array(value))
                self.register_buffer(key, tensor, persistent=True)
        self.nodes = [
            (n.op_type, list(n.input), list(n.output), _attrs(n), n.name) for n in graph.node if n.op_type != "Constant"
        ]
        # The translator ends with a Transpose back to TF's NHWC (and an Identity naming the output):
        # the features stay NCHW here.
        while self.nodes and self.nodes[-1][0] in ("Transpose", "Identity"):
            self.nodes.pop()
        self.output_value = self.nodes[-1][2][0]

    def _const(self, name: str) -> torch.Tensor:
        key = _safe(name)
        if key in self.params:
            return self.params[key]
        return getattr(self, key)

    def forward(self, images_nhwc: torch.Tensor) -> torch.Tensor:
        values: dict[str, torch.Tensor] = {self.input_name: images_nhwc}

        def get(name: str) -> torch.Tensor:
            if name in values:
                return values[name]
            return self._const(name)

        for op, inputs, outputs, attrs, name in self.nodes:
            if op == "Transpose":
                out = get(inputs[0]).permute(*attrs["perm"])
            elif op == "Conv":
                x = get(inputs[0])
                w = get(inputs[1])
                b = get(inputs[2]) if len(inputs) > 2 and inputs[2] else None
                k = attrs["kernel_shape"]
                s = attrs.get("strides", [1, 1])
                if attrs.get("dilations", [1, 1]) != [1, 1]:
                    raise ValueError(f"{name}: dilated conv not supported")
                pad = attrs.get("auto_pad", b"NOTSET")
                if pad == b"SAME_UPPER":
                    # Sides divisible by the stride: total padding k - s, the extra pixel at the end.
                    th, tw = max(k[0] - s[0], 0), max(k[1] - s[1], 0)
                    x = F.pad(x, (tw // 2, tw - tw // 2, th // 2, th - th // 2))
                elif pad in (b"NOTSET", b"VALID") and any(attrs.get("pads", [0])):
                    raise ValueError(f"{name}: explicit pads not supported")
                out = F.conv2d(x, w, b, stride=s, groups=attrs.get("group", 1))
            elif op == "Relu":
                out = F.relu(get(inputs[0]))
            elif op == "Clip":
                lo = get(inputs[1]) if len(inputs) > 1 and inputs[1] else None
                hi = get(inputs[2]) if len(inputs) > 2 and inputs[2] else None
                out = torch.clamp(get(inputs[0]), float(lo) if lo is not None else None, float(hi) if hi is not None else None)
            elif op == "HardSwish":
                out = F.hardswish(get(inputs[0]))
            elif op == "Sigmoid":
                out = torch.sigmoid(get(inputs[0]))
            elif op == "Add":
                out = get(inputs[0]) + get(inputs[1])
            elif op == "Mul":
                out = get(inputs[0]) * get(inputs[1])
            elif op == "ReduceMean":
                axes = [int(a) for a in get(inputs[1]).tolist()]
                out = get(inputs[0]).mean(dim=axes, keepdim=bool(attrs.get("keepdims", 1)))
            elif op == "Concat":
                out = torch.cat([get(i) for i in inputs], dim=attrs["axis"])
            elif op == "Resize":
                if attrs.get("coordinate_transformation_mode") != b"asymmetric" or attrs.get("mode") != b"linear":
                    raise ValueError(f"{name}: only asymmetric linear Resize is supported")
                out = upsample2x_asymmetric(get(inputs[0]))
            elif op == "Identity":
                out = get(inputs[0])
            else:
                raise ValueError(f"{name}: op {op} not supported")
            values[outputs[0]] = out
        return values[self.output_value]

    def freeze(self, prefixes: list[str]) -> int:
        """Freezes the conv weights of nodes whose name starts with one of `prefixes`; returns how many."""
        frozen = 0
        for op, inputs, _outputs, _attrs, name in self.nodes:
            if op == "Conv" and any(name.startswith(p) for p in prefixes):
                for i in inputs[1:]:
                    key = _safe(i)
                    if i and key in self.params:
                        self.params[key].requires_grad_(False)
                        frozen += 1
        return frozen
