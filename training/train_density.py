"""Trains the crowd-density model and writes it as ONNX plus its model card.

The network is the shipped person detector (CenterNet-MobileNetV3, COCO) up to its stride-4 feature
pyramid output, rebuilt in PyTorch from the project's own ONNX translation (onnx_torch.py), with a
small density head at stride 8. The detector's early, high-resolution blocks stay frozen; the rest is
fine-tuned on random crops of the shared labelled sets, with a pixel loss on Gaussian-smoothed head
maps plus a count loss (`--loss map`, the shipped recipe) or the Bayesian loss on the head points
(`--loss bayesian`, Ma et al., ICCV 2019, with a background term). One fold of each set (5 folds;
Mall: its last 160 frames, a block in time, so neighbouring frames do not leak) is held out and never
used to train or choose anything; the card reports the error on it.

    python training/train_density.py --data ../shared/data --out models/ --backbone /tmp/backbone.onnx

See training/README.md for the whole recipe.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from onnx_torch import OnnxGraphModule  # noqa: E402

# One declaration of the input rule and output stride: written into the card, read by the runtime.
LONG_SIDE = 1024
SIDE_MULTIPLE = 32
STRIDE = 8
FROZEN = [
    "tower_0/MobilenetV3/Conv/",
    "tower_0/MobilenetV3/expanded_conv/",
    "tower_0/MobilenetV3/expanded_conv_1/",
    "tower_0/MobilenetV3/expanded_conv_2/",
]
SETS = {
    # name: sampling weight per training crop
    "shanghaitech-b-train": 0.35,
    "shanghaitech-a-train": 0.35,
    "mall-train": 0.2,
    "pennfudan-fudan": 0.1,
}
FOLDS = 5
MALL_HELD_OUT_FROM = 641  # frames 641–800: a block in time


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def model_size(width: int, height: int) -> tuple[int, int]:
    """The photo's size for the model: the longer side 1024, both sides multiples of 32."""
    scale = LONG_SIDE / max(width, height)
    return (
        max(SIDE_MULTIPLE, round(width * scale / SIDE_MULTIPLE) * SIDE_MULTIPLE),
        max(SIDE_MULTIPLE, round(height * scale / SIDE_MULTIPLE) * SIDE_MULTIPLE),
    )


@dataclass
class Photo:
    set: str
    file: str
    pixels: torch.Tensor  # uint8 HWC at model size
    heads: np.ndarray  # (n, 2) x, y at model size
    count: int


def heads_of(entry: dict) -> np.ndarray:
    if "heads" in entry:
        return np.asarray(entry["heads"], dtype=np.float32).reshape(-1, 2)
    # Penn-Fudan marks boxes: a head sits at the top centre, about 8 % of the body's height down.
    boxes = np.asarray(entry.get("boxes", []), dtype=np.float32).reshape(-1, 4)
    return np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, boxes[:, 1] + 0.08 * (boxes[:, 3] - boxes[:, 1])], axis=1)


def load_sets(data: Path, fold: int, seed: int, limit: int | None) -> tuple[list[Photo], list[Photo]]:
    train: list[Photo] = []
    held: list[Photo] = []
    for set_name in SETS:
        labels = json.loads((data / set_name / "labels.json").read_text())
        entries = labels["images"]
        rng = random.Random(f"{seed}:{set_name}")
        order = list(range(len(entries)))
        rng.shuffle(order)
        position = {i: p for p, i in enumerate(order)}
        chosen = range(len(entries)) if limit is None else sorted(order[:limit])
        for index in chosen:
            entry = entries[index]
            image = Image.open(data / set_name / entry["file"]).convert("RGB")
            width, height = model_size(image.width, image.height)
            heads = heads_of(entry) * np.array([width / image.width, height / image.height], dtype=np.float32)
            pixels = torch.from_numpy(np.asarray(image.resize((width, height), Image.BILINEAR)).copy())
            photo = Photo(set_name, entry["file"], pixels, heads, int(entry["count"]))
            is_held = (
                int("".join(c for c in Path(entry["file"]).stem if c.isdigit()) or 0) >= MALL_HELD_OUT_FROM
                if set_name == "mall-train"
                else position[index] % FOLDS == fold
            )
            (held if is_held else train).append(photo)
        log(f"{set_name}: {sum(p.set == set_name for p in train)} train, {sum(p.set == set_name for p in held)} held out")
    return train, held


class DensityHead(nn.Module):
    def __init__(self, channels: int = 128):
        super().__init__()
        self.reduce = nn.Conv2d(channels, 64, 3, padding=1)
        self.down = nn.Conv2d(64, 64, 3, stride=2, padding=1)
        self.context = nn.Conv2d(64, 64, 3, padding=2, dilation=2)
        self.out = nn.Conv2d(64, 1, 1)
        # A small positive start: a ReLU output that starts negative never learns (dead from step one).
        nn.init.normal_(self.out.weight, std=1e-3)
        nn.init.constant_(self.out.bias, 0.01)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        x = F.relu(self.reduce(features))
        x = F.relu(self.down(x))
        x = F.relu(self.context(x)) + x
        return F.relu(self.out(x))


class DensityNet(nn.Module):
    """NHWC photo (0–255, sides multiples of 32) → people per stride-8 cell, `[1, 1, H/8, W/8]`."""

    def __init__(self, backbone: OnnxGraphModule):
        super().__init__()
        self.backbone = backbone
        self.head = DensityHead()

    def forward(self, images_nhwc: torch.Tensor) -> torch.Tensor:
        return self.head(self.backbone(images_nhwc))


def gaussian_kernel(sigma: float, radius: int) -> torch.Tensor:
    axis = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-(axis**2) / (2 * sigma**2))
    kernel = torch.outer(g, g)
    return (kernel / kernel.sum())[None, None]


KERNEL = gaussian_kernel(1.0, 2)


def density_target(heads: np.ndarray, width: int, height: int) -> torch.Tensor:
    """People per stride-8 cell, smoothed by a Gaussian of one cell (the sum is kept inside the crop)."""
    cells_w, cells_h = width // STRIDE, height // STRIDE
    grid = np.zeros((cells_h, cells_w), dtype=np.float32)
    if len(heads):
        cx = np.clip((heads[:, 0] / STRIDE).astype(int), 0, cells_w - 1)
        cy = np.clip((heads[:, 1] / STRIDE).astype(int), 0, cells_h - 1)
        np.add.at(grid, (cy, cx), 1.0)
    t = torch.from_numpy(grid)[None, None]
    smoothed = F.conv2d(F.pad(t, (2, 2, 2, 2), mode="reflect") if min(cells_h, cells_w) > 2 else F.pad(t, (2, 2, 2, 2)), KERNEL)
    total = t.sum()
    if total > 0 and smoothed.sum() > 0:
        smoothed = smoothed * (total / smoothed.sum())
    return smoothed[0]


def random_crop(photo: Photo, crop: int, rng: random.Random) -> tuple[torch.Tensor, torch.Tensor, float, np.ndarray]:
    """A crop of `crop`² pixels at a random scale and place, flipped half the time.

    Returns pixels, target map, count and the head points in crop pixels (those inside the crop)."""
    scale = math.exp(rng.uniform(math.log(0.7), math.log(1.4)))
    window = crop / scale
    height, width = photo.pixels.shape[:2]
    x0 = rng.uniform(0, max(0.0, width - window))
    y0 = rng.uniform(0, max(0.0, height - window))
    x1, y1 = int(x0), int(y0)
    x2, y2 = min(width, int(math.ceil(x0 + window))), min(height, int(math.ceil(y0 + window)))
    region = photo.pixels[y1:y2, x1:x2].permute(2, 0, 1)[None].float()
    out_w, out_h = max(1, round((x2 - x1) * scale)), max(1, round((y2 - y1) * scale))
    resized = F.interpolate(region, size=(min(out_h, crop), min(out_w, crop)), mode="bilinear", align_corners=False)
    canvas = torch.zeros(1, 3, crop, crop)
    canvas[:, :, : resized.shape[2], : resized.shape[3]] = resized
    sx, sy = resized.shape[3] / (x2 - x1), resized.shape[2] / (y2 - y1)
    heads = photo.heads
    inside = (heads[:, 0] >= x1) & (heads[:, 0] < x2) & (heads[:, 1] >= y1) & (heads[:, 1] < y2)
    local = np.stack([(heads[inside, 0] - x1) * sx, (heads[inside, 1] - y1) * sy], axis=1) if inside.any() else np.zeros((0, 2), np.float32)
    if rng.random() < 0.5:
        canvas = canvas.flip(3)
        local = local.copy()
        local[:, 0] = crop - 1e-3 - local[:, 0]
    if rng.random() < 0.1:
        canvas = canvas.mean(dim=1, keepdim=True).expand(-1, 3, -1, -1).clone()
    canvas = (canvas * rng.uniform(0.8, 1.2)).clamp(0, 255)
    target = density_target(local, crop, crop)
    return canvas[0].permute(1, 2, 0), target, float(len(local)), local.astype(np.float32)


def bayesian_loss(predicted: torch.Tensor, points: list[np.ndarray], crop: int, sigma: float, bg_ratio: float) -> torch.Tensor:
    """Bayesian loss with a background term (Ma et al., ICCV 2019, "BL+"), averaged over the batch.

    Each stride-8 cell's predicted people are shared among the marked heads and a background by the
    posterior of a Gaussian likelihood (σ px) around each head; the background's squared distance to a
    cell is (bg_ratio · crop)² over the cell's squared distance to its nearest head. Each head should then
    collect one person and the background none: Σ_n |1 − E_n| + |E_0|; a crop without heads: |Σ D|.
    """
    batch, _, cells_h, cells_w = predicted.shape
    ys = (torch.arange(cells_h, dtype=torch.float32) + 0.5) * STRIDE
    xs = (torch.arange(cells_w, dtype=torch.float32) + 0.5) * STRIDE
    centres_y, centres_x = torch.meshgrid(ys, xs, indexing="ij")
    centres = torch.stack([centres_x.reshape(-1), centres_y.reshape(-1)], dim=1)  # (m, 2) x, y
    losses = []
    for b in range(batch):
        density = predicted[b].reshape(-1)
        if len(points[b]) == 0:
            losses.append(density.sum().abs())
            continue
        heads = torch.from_numpy(points[b])
        dist = torch.cdist(heads, centres).pow(2)  # (n, m) squared distances in crop pixels
        min_dis = dist.min(dim=0, keepdim=True).values.clamp(min=0.0)
        bg_dis = (bg_ratio * crop) ** 2 / (min_dis + 1e-5)
        posterior = torch.softmax(-torch.cat([dist, bg_dis], dim=0) / (2 * sigma**2), dim=0)  # (n + 1, m)
        expected = posterior @ density  # (n + 1,)
        target = torch.ones_like(expected)
        target[-1] = 0.0
        losses.append((target - expected).abs().sum())
    return torch.stack(losses).mean()


def evaluate(net: DensityNet, photos: list[Photo]) -> dict:
    net.eval()
    per_set: dict[str, list[tuple[float, int]]] = {}
    predictions = []
    with torch.no_grad():
        for photo in photos:
            predicted = float(net(photo.pixels[None].float()).sum())
            per_set.setdefault(photo.set, []).append((predicted, photo.count))
            predictions.append({"set": photo.set, "file": photo.file, "count": photo.count, "predicted": round(predicted, 3)})
    net.train()
    figures = {}
    for set_name, pairs in per_set.items():
        errors = np.array([p - c for p, c in pairs])
        figures[set_name] = {
            "photos": len(pairs),
            "meanCount": round(float(np.mean([c for _, c in pairs])), 2),
            "mae": round(float(np.abs(errors).mean()), 2),
            "rmse": round(float(np.sqrt((errors**2).mean())), 2),
            "bias": round(float(errors.mean()), 2),
        }
    return {"sets": figures, "predictions": predictions}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


class ExportWrapper(nn.Module):
    def __init__(self, net: DensityNet):
        super().__init__()
        self.net = net

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(images)


def export_onnx(net: DensityNet, path: Path, sample: torch.Tensor) -> None:
    net.eval()
    torch.onnx.export(
        ExportWrapper(net),
        (sample,),
        str(path),
        input_names=["images"],
        output_names=["density"],
        dynamic_axes={"images": {1: "height", 2: "width"}, "density": {2: "cells_high", 3: "cells_wide"}},
        opset_version=18,
        dynamo=False,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True, help="folder holding the shared labelled sets")
    parser.add_argument("--backbone", type=Path, required=True, help="ONNX from training/export-backbone.mjs")
    parser.add_argument("--out", type=Path, required=True, help="folder for crowd-density.onnx and its card")
    parser.add_argument("--steps", type=int, default=None, help="training steps (default 4500; 30 with --quick)")
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--crop", type=int, default=320)
    parser.add_argument("--seed", type=int, default=26)
    parser.add_argument("--fold", type=int, default=0, help="which of the 5 folds is held out")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 2)
    parser.add_argument("--quick", action="store_true", help="smoke test: 12 photos per set, --steps 30 unless given")
    parser.add_argument(
        "--loss",
        choices=["map", "bayesian"],
        default="map",
        help="map: MSE on Gaussian head maps plus a count loss (the shipped recipe); bayesian: Bayesian loss on head points",
    )
    parser.add_argument("--sigma", type=float, default=8.0, help="--loss bayesian: likelihood σ in crop pixels")
    parser.add_argument("--bg-ratio", type=float, default=1.0, help="--loss bayesian: background distance as a share of the crop side")
    parser.add_argument("--lr-scale", type=float, default=1.0, help="multiplies both learning rates (head 1e-3, backbone 2e-4)")
    parser.add_argument("--log-every", type=int, default=50)
    parser.add_argument(
        "--eval-every", type=int, default=0, help="check runs: also count 8 held-out photos per set every N steps (0: only the full evaluation at the end)"
    )
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    rng = random.Random(args.seed)
    np.random.seed(args.seed)
    torch.set_num_threads(args.threads)
    steps = args.steps or (30 if args.quick else 4500)
    started = time.time()

    train, held = load_sets(args.data, args.fold, args.seed, 12 if args.quick else None)
    by_set = {name: [p for p in train if p.set == name] for name in SETS}
    names = [name for name in SETS if by_set[name]]
    weights = [SETS[name] for name in names]

    backbone = OnnxGraphModule(str(args.backbone))
    frozen = backbone.freeze(FROZEN)
    net = DensityNet(backbone)
    head_params = list(net.head.parameters())
    tuned = [p for p in backbone.parameters() if p.requires_grad]
    log(f"weights: {sum(p.numel() for p in net.parameters())} ({frozen} frozen tensors, {sum(p.numel() for p in tuned)} fine-tuned backbone weights)")
    optimizer = torch.optim.AdamW(
        [{"params": head_params, "lr": 1e-3 * args.lr_scale}, {"params": tuned, "lr": 2e-4 * args.lr_scale}], weight_decay=1e-4
    )
    base_lrs = [g["lr"] for g in optimizer.param_groups]
    warm = max(1, steps // 20)

    running = []
    for step in range(1, steps + 1):
        progress = step / steps
        cosine = 0.5 * (1 + math.cos(math.pi * progress))
        for group, base in zip(optimizer.param_groups, base_lrs):
            group["lr"] = base * cosine * min(1.0, step / warm)
        images, targets, counts, points = [], [], [], []
        for _ in range(args.batch):
            photo = rng.choice(by_set[rng.choices(names, weights)[0]])
            image, target, count, local = random_crop(photo, args.crop, rng)
            images.append(image)
            targets.append(target)
            counts.append(count)
            points.append(local)
        predicted = net(torch.stack(images))
        target = torch.stack(targets)
        count_error = (predicted.sum(dim=(1, 2, 3)) - target.sum(dim=(1, 2, 3))).abs().mean()
        if args.loss == "bayesian":
            main_loss = bayesian_loss(predicted, points, args.crop, args.sigma, args.bg_ratio)
            loss = main_loss
        else:
            main_loss = ((predicted - target) ** 2).sum(dim=(1, 2, 3)).mean() * 10
            loss = main_loss + count_error * 0.05
        optimizer.zero_grad()
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(net.parameters(), 10.0)
        optimizer.step()
        with torch.no_grad():
            crop_counts = (float(predicted.sum()) / args.batch, sum(counts) / args.batch, float((predicted > 0).float().mean()))
        running.append((float(main_loss), float(count_error), float(grad_norm), *crop_counts))
        if step % args.log_every == 0 or step == steps:
            m, c, g, p, t, alive = np.mean(running, axis=0)
            running = []
            elapsed = time.time() - started
            log(
                f"step {step}/{steps}: {args.loss} loss {m:.4f}, crop count MAE {c:.3f} (predicted {p:.1f} / marked {t:.1f}"
                f" per crop, {alive:.0%} cells > 0), grad norm {g:.2f} (clip 10), {elapsed / 60:.1f} min,"
                f" eta {(elapsed / step) * (steps - step) / 60:.1f} min"
            )
        if args.eval_every and step % args.eval_every == 0 and step < steps:
            # A look during a check run: the first 8 held-out photos of each set (the full figures come at the end).
            sample = [p for name in SETS for p in [q for q in held if q.set == name][:8]]
            for set_name, figures in evaluate(net, sample)["sets"].items():
                log(f"  step {step} held out {set_name}: mae {figures['mae']}, bias {figures['bias']} on {figures['meanCount']}")

    log(f"evaluating on {len(held)} held-out photos")
    result = evaluate(net, held)
    for set_name, figures in result["sets"].items():
        log(f"held out {set_name}: {figures}")

    args.out.mkdir(parents=True, exist_ok=True)
    onnx_path = args.out / "crowd-density.onnx"
    sample = held[0].pixels[None].float()
    export_onnx(net, onnx_path, sample)
    import onnxruntime as ort

    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    exported = float(session.run(None, {"images": sample.numpy()})[0].sum())
    with torch.no_grad():
        reference = float(net(sample).sum())
    log(f"export check on {held[0].file}: torch {reference:.4f}, onnxruntime {exported:.4f}")
    if abs(exported - reference) > 1e-3 * max(1.0, abs(reference)):
        raise SystemExit("the exported model does not match the trained one")

    card = {
        "model": "crowd-density",
        "file": onnx_path.name,
        "sha256": sha256(onnx_path),
        "bytes": onnx_path.stat().st_size,
        "input": {
            "name": "images",
            "layout": "NHWC",
            "range": "RGB 0-255",
            "longSide": LONG_SIDE,
            "sideMultiple": SIDE_MULTIPLE,
        },
        "output": {"name": "density", "stride": STRIDE, "unit": "people per cell"},
        "training": {
            "backbone": "CenterNet-MobileNetV3 (COCO) from @vladmandic/human, translated by this project",
            "frozen": FROZEN,
            "sets": {name: sum(p.set == name for p in train) for name in SETS},
            "heldOut": {name: sum(p.set == name for p in held) for name in SETS},
            "split": f"5 folds by a seeded shuffle, fold {args.fold} held out; mall-train frames >= {MALL_HELD_OUT_FROM} held out",
            "loss": (
                {"name": "bayesian", "paper": "Ma et al., ICCV 2019 (with background)", "sigma": args.sigma, "bgRatio": args.bg_ratio}
                if args.loss == "bayesian"
                else {"name": "map", "terms": "10 x pixel MSE on Gaussian head maps + 0.05 x |count error|"}
            ),
            "learningRates": {"head": 1e-3 * args.lr_scale, "backbone": 2e-4 * args.lr_scale, "schedule": "AdamW, cosine"},
            "steps": steps,
            "batch": args.batch,
            "crop": args.crop,
            "seed": args.seed,
            "quick": args.quick,
            "minutes": round((time.time() - started) / 60, 1),
            "torch": torch.__version__,
        },
        "heldOutFigures": result["sets"],
        "exportCheck": {"file": held[0].file, "torch": round(reference, 4), "onnxruntime": round(exported, 4)},
        "terms": "Trained on ShanghaiTech A/B, Mall and Penn-Fudan: research data sets; the weights are for research use.",
    }
    (args.out / "crowd-density.json").write_text(json.dumps(card, indent=2) + "\n")
    (args.out / "crowd-density.held-out.json").write_text(json.dumps(result["predictions"], indent=1) + "\n")
    log(f"wrote {onnx_path} ({card['bytes']} bytes) and its card in {(time.time() - started) / 60:.1f} min")


if __name__ == "__main__":
    main()
