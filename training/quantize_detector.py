"""Builds models/person-detector-int8.onnx: the shipped person detector (fp32 ONNX from
export-detector.mjs) with static QDQ int8 quantization, calibrated on a few street and mall photos.

    npm run build && node training/export-detector.mjs /tmp/detector-fp32.onnx && \
      /work/venv/crowd/bin/python training/quantize_detector.py --fp32 /tmp/detector-fp32.onnx \
        --data ../shared/data --out models/

Calibration photos (the only photos this script or the choice of its recipe looked at): Penn-Fudan
photos 1-8 and Mall frames 1-200 in label order. Accuracy is reported by the Node tools on the others
(docs/analytics.md): Penn-Fudan 9-74, Mall 201-800.

Inputs are letterboxed like the runtime does (src/analytics/detector.ts): the whole frame, and for Mall
frames also the 3x3 tiles (overlap 0.3) its calibrated profile runs, scaled into 512x512 at the top left.
MinMax keeps two scalars per tensor and input, so memory stays near 1 GB (percentile calibration keeps
every intermediate tensor: ~15 GB for 48 inputs).
"""

import argparse
import hashlib
import json
import math
import os
import tempfile
import time

import numpy as np
import onnx
import onnxruntime
from onnx import numpy_helper, shape_inference
from onnxruntime.quantization import (
    CalibrationDataReader,
    CalibrationMethod,
    QuantFormat,
    QuantType,
    quantize_static,
)
from PIL import Image, ImageOps

INPUT_SIZE = 512
INPUT_NAME = "tower_0/images"
STREET = ("pennfudan-fudan", 8)
MALL = ("mall-train", 200)
MALL_EVERY = 10
MALL_TILED_EVERY = 50
TILING = (3, 0.3)
MODEL_FILE = "person-detector-int8.onnx"
CARD_FILE = "person-detector-int8.json"


def spans(length, count, overlap):
    """The runtime's tile spans (src/analytics/tiling.ts)."""
    if count == 1:
        return [(0, length)]
    size = min(length, math.ceil(length / (count - (count - 1) * overlap)))
    step = (length - size) / (count - 1)
    out = []
    for i in range(count):
        start = round(i * step)
        out.append((start, min(size, length - start)))
    return out


def letterbox(image):
    scale = INPUT_SIZE / max(image.width, image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    canvas = Image.new("RGB", (INPUT_SIZE, INPUT_SIZE))
    canvas.paste(image.resize(size, Image.LANCZOS), (0, 0))
    return np.asarray(canvas, dtype=np.float32)[None]


def labelled(data, name, first):
    with open(os.path.join(data, name, "labels.json")) as f:
        images = json.load(f)["images"]
    return [os.path.join(data, name, image["file"]) for image in images[:first]]


def calibration_inputs(data):
    """(description, list of file paths), and a generator of NHWC float inputs."""
    street = labelled(data, *STREET)
    mall = labelled(data, *MALL)
    wholes = street + mall[::MALL_EVERY]
    tiled = mall[::MALL_TILED_EVERY]

    def generate():
        for path in wholes:
            yield letterbox(ImageOps.exif_transpose(Image.open(path)).convert("RGB"))
        count, overlap = TILING
        for path in tiled:
            frame = Image.open(path).convert("RGB")
            for top, height in spans(frame.height, count, overlap):
                for left, width in spans(frame.width, count, overlap):
                    yield letterbox(frame.crop((left, top, left + width, top + height)))

    described = {
        STREET[0]: f"photos 1-{STREET[1]} (label order), whole frame",
        MALL[0]: (
            f"frames 1-{MALL[1]}: every {MALL_EVERY}th whole, every {MALL_TILED_EVERY}th also as "
            f"{TILING[0]}x{TILING[0]}@{TILING[1]} tiles"
        ),
    }
    return described, len(wholes) + len(tiled) * TILING[0] ** 2, generate


class Reader(CalibrationDataReader):
    def __init__(self, generate):
        self.inputs = generate()

    def get_next(self):
        image = next(self.inputs, None)
        return None if image is None else {INPUT_NAME: image}


def full_resize_sizes(model):
    """The translator's Resize nodes give `sizes` for H and W only (`axes` 2, 3). ONNX Runtime's layout
    optimizer (level all) breaks on that once QDQ nodes surround them; sizes for all four axes (N and C
    unchanged) resize the same and load."""
    inferred = shape_inference.infer_shapes(model)
    shapes = {
        value.name: [dim.dim_value for dim in value.type.tensor_type.shape.dim]
        for value in list(inferred.graph.value_info) + list(inferred.graph.input)
    }
    initializers = {tensor.name: tensor for tensor in model.graph.initializer}
    for node in model.graph.node:
        axes = [a for a in node.attribute if a.name == "axes"]
        if node.op_type != "Resize" or not axes:
            continue
        sizes = np.array(shapes[node.input[0]], dtype=np.int64)
        sizes[list(axes[0].ints)] = numpy_helper.to_array(initializers[node.input[3]])
        name = node.input[3] + "/all_axes"
        model.graph.initializer.append(numpy_helper.from_array(sizes, name))
        node.input[3] = name
        node.attribute.remove(axes[0])
    return model


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--fp32", required=True, help="fp32 ONNX from training/export-detector.mjs")
    parser.add_argument("--data", required=True, help="the labelled sets (../shared/data)")
    parser.add_argument("--out", required=True, help="folder for the model and its card (models/)")
    args = parser.parse_args()

    started = time.time()
    described, count, generate = calibration_inputs(args.data)
    with tempfile.TemporaryDirectory() as tmp:
        prepared = os.path.join(tmp, "prepared.onnx")
        onnx.save(full_resize_sizes(onnx.load(args.fp32)), prepared)
        out = os.path.join(args.out, MODEL_FILE)
        quantize_static(
            prepared,
            out,
            Reader(generate),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
        )
    # Saved without producer noise so the same inputs give the same bytes.
    model = onnx.load(out)
    onnx.save(model, out)
    card = {
        "model": "centernet-mobilenetv3@human-3.3.6",
        "precision": "int8",
        "file": MODEL_FILE,
        "sha256": sha256(out),
        "bytes": os.path.getsize(out),
        "source": {
            "model": "CenterNet-MobileNetV3 (COCO) from @vladmandic/human 3.3.6, person-only head",
            "fp32": "node training/export-detector.mjs (the graph the fp32 runtime builds in memory)",
            "fp32Sha256": sha256(args.fp32),
        },
        "input": {"name": INPUT_NAME, "layout": "NHWC", "range": "RGB 0-255", "size": INPUT_SIZE},
        "method": {
            "tool": f"onnxruntime {onnxruntime.__version__} quantize_static",
            "format": "QDQ",
            "weights": "int8, symmetric, per channel",
            "activations": "uint8, asymmetric, per tensor",
            "calibration": "MinMax",
            "script": "training/quantize_detector.py",
        },
        "calibration": {"inputs": count, "photos": described},
        "minutes": round((time.time() - started) / 60, 1),
    }
    # Held-out figures are measured afterwards by the Node tools (docs/analytics.md) and written into the
    # card by hand; they stay as long as the model file is the same bytes.
    card_path = os.path.join(args.out, CARD_FILE)
    if os.path.exists(card_path):
        with open(card_path) as f:
            previous = json.load(f)
        if previous.get("sha256") == card["sha256"] and "heldOutFigures" in previous:
            card["heldOutFigures"] = previous["heldOutFigures"]
    with open(card_path, "w") as f:
        json.dump(card, f, indent=2)
        f.write("\n")
    print(json.dumps(card, indent=2))


if __name__ == "__main__":
    main()
