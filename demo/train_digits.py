#!/usr/bin/python3
"""Train a small CNN on scikit-learn's bundled 8x8 digits and export it to ONNX for the TrtNative.Server demo.

Runs offline (the data set ships inside python3-sklearn). Writes, under demo/digits/:
  digits.onnx        input "data" [N,1,8,8] float (pixel/255, i.e. 0..1, white ink on black), output "prob" [N,10] (softmax)
  corresp.txt        "<index> <label>" per line
  samples/*.png      a few test-split images, upscaled 8x8 -> 64x64 (nearest), 8-bit grayscale
  accuracy.txt       test accuracy of the trained model on the held-out split
  test_set.bin       the held-out split: per image 1 label byte + 64 pixel bytes (8x8, 0..255), for the server's
                     end-to-end accuracy test
Usage: /usr/bin/python3 demo/train_digits.py [--out demo/digits] [--epochs 60]
"""
import argparse, os, struct, zlib
import numpy as np
import torch
import torch.nn as nn
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


def write_png_gray(path, img):
    """Minimal 8-bit grayscale PNG writer (no PIL dependency)."""
    h, w = img.shape
    raw = b"".join(b"\x00" + bytes(img[y].astype(np.uint8)) for y in range(h))
    def chunk(t, d):
        return struct.pack(">I", len(d)) + t + d + struct.pack(">I", zlib.crc32(t + d) & 0xFFFFFFFF)
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 0, 0, 0, 0))
                + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))


class Net(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.BatchNorm2d(16), nn.ReLU(),
            nn.Conv2d(16, 32, 3, padding=1), nn.BatchNorm2d(32), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2))
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(64 * 2 * 2, 64), nn.ReLU(), nn.Linear(64, 10))

    def forward(self, x):
        return torch.softmax(self.head(self.features(x)), dim=1)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "digits"))
    ap.add_argument("--epochs", type=int, default=60)
    a = ap.parse_args()
    torch.manual_seed(0)
    np.random.seed(0)
    d = load_digits()
    # Dataset values are 0..16; the PNGs store round(v*255/16); the model sees png/255 (server: scale=1/255).
    imgs = np.round(d.images * 255.0 / 16.0).astype(np.uint8)
    x = (imgs.astype(np.float32) / 255.0)[:, None, :, :]
    y = d.target.astype(np.int64)
    xtr, xte, ytr, yte, itr, ite = train_test_split(x, y, np.arange(len(y)), test_size=0.25, random_state=0, stratify=y)
    net = Net()
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    lossf = nn.NLLLoss()
    xt, yt = torch.from_numpy(xtr), torch.from_numpy(ytr)
    for ep in range(a.epochs):
        net.train()
        perm = torch.randperm(len(xt))
        for i in range(0, len(xt), 64):
            b = perm[i:i + 64]
            opt.zero_grad()
            loss = lossf(torch.log(net(xt[b]) + 1e-9), yt[b])
            loss.backward()
            opt.step()
    net.eval()
    with torch.no_grad():
        pred = net(torch.from_numpy(xte)).argmax(1).numpy()
    acc = float((pred == yte).mean())
    print(f"test accuracy (torch): {acc:.4f} on {len(yte)} images")
    os.makedirs(a.out, exist_ok=True)
    onnx_path = os.path.join(a.out, "digits.onnx")
    torch.onnx.export(net, torch.zeros(1, 1, 8, 8), onnx_path, input_names=["data"], output_names=["prob"],
                      dynamic_axes={"data": {0: "batch"}, "prob": {0: "batch"}}, opset_version=13)
    with open(os.path.join(a.out, "corresp.txt"), "w") as f:
        for i in range(10):
            f.write(f"{i} digit {i}\n")
    sd = os.path.join(a.out, "samples")
    os.makedirs(sd, exist_ok=True)
    written = set()
    for k, idx in enumerate(ite):
        lbl = int(y[idx])
        if lbl in written:
            continue
        written.add(lbl)
        big = np.kron(imgs[idx], np.ones((8, 8), dtype=np.uint8))
        write_png_gray(os.path.join(sd, f"digit_{lbl}.png"), big)
    with open(os.path.join(a.out, "test_set.bin"), "wb") as f:
        for idx in ite:
            f.write(bytes([int(y[idx])]) + imgs[idx].astype(np.uint8).tobytes())
    with open(os.path.join(a.out, "accuracy.txt"), "w") as f:
        f.write(f"test_accuracy {acc:.4f}\ntest_images {len(yte)}\nsplit train_test_split(test_size=0.25, random_state=0, stratify)\n")


if __name__ == "__main__":
    main()
