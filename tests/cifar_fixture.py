"""A tiny CIFAR-100 tarball in the official format, for tests that must not need the real one.

``write_tiny_cifar_tarball(path)`` writes ``cifar-100-python/meta``, ``train`` and ``test``
exactly as the official ``cifar-100-python.tar.gz`` holds them: protocol-2 pickles that unpickle
with ``encoding="bytes"`` to dicts with bytes keys; ``data`` is an ``N x 3072`` uint8 array (red
plane, green plane, blue plane, each 32x32 row-major); ``meta`` has all 100 fine and 20 coarse
label names in the official order. File names are realistic (``bicycle_s_000001.png``,
``minibike_s_000007.png``...), and in each split the first motorcycle is named ``bike_s_*``,
as some motorcycles are in the real data: labels must come from the pickles, not from names.
``TarballServer`` serves such a tarball over HTTP (with Range support and dropped connections
on request) for download tests.

Each class has its own mean colour plus noise, so a small model can learn the tiny data. The
same arguments always give a byte-identical tarball (fixed seed, gzip and tar times zeroed).
"""

from __future__ import annotations

import gzip
import io
import pickle
import re
import socket
import tarfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

FINE_LABEL_NAMES = (
    "apple", "aquarium_fish", "baby", "bear", "beaver", "bed", "bee", "beetle", "bicycle",
    "bottle", "bowl", "boy", "bridge", "bus", "butterfly", "camel", "can", "castle",
    "caterpillar", "cattle", "chair", "chimpanzee", "clock", "cloud", "cockroach", "couch",
    "crab", "crocodile", "cup", "dinosaur", "dolphin", "elephant", "flatfish", "forest", "fox",
    "girl", "hamster", "house", "kangaroo", "keyboard", "lamp", "lawn_mower", "leopard", "lion",
    "lizard", "lobster", "man", "maple_tree", "motorcycle", "mountain", "mouse", "mushroom",
    "oak_tree", "orange", "orchid", "otter", "palm_tree", "pear", "pickup_truck", "pine_tree",
    "plain", "plate", "poppy", "porcupine", "possum", "rabbit", "raccoon", "ray", "road",
    "rocket", "rose", "sea", "seal", "shark", "shrew", "skunk", "skyscraper", "snail", "snake",
    "spider", "squirrel", "streetcar", "sunflower", "sweet_pepper", "table", "tank", "telephone",
    "television", "tiger", "tractor", "train", "trout", "tulip", "turtle", "wardrobe", "whale",
    "willow_tree", "wolf", "woman", "worm",
)  # fmt: skip
COARSE_LABEL_NAMES = (
    "aquatic_mammals", "fish", "flowers", "food_containers", "fruit_and_vegetables",
    "household_electrical_devices", "household_furniture", "insects", "large_carnivores",
    "large_man-made_outdoor_things", "large_natural_outdoor_scenes",
    "large_omnivores_and_herbivores", "medium_mammals", "non-insect_invertebrates", "people",
    "reptiles", "small_mammals", "trees", "vehicles_1", "vehicles_2",
)  # fmt: skip
# Coarse label of each fine label (official CIFAR-100 superclasses).
FINE_TO_COARSE = (
    4, 1, 14, 8, 0, 6, 7, 7, 18, 3, 3, 14, 9, 18, 7, 11, 3, 9, 7, 11,
    6, 11, 5, 10, 7, 6, 13, 15, 3, 15, 0, 11, 1, 10, 12, 14, 16, 9, 11, 5,
    5, 19, 8, 8, 15, 13, 14, 17, 18, 10, 16, 4, 17, 4, 2, 0, 17, 4, 18, 17,
    10, 3, 2, 12, 12, 16, 12, 1, 9, 19, 2, 10, 0, 1, 16, 12, 9, 13, 15, 13,
    16, 19, 2, 4, 6, 19, 5, 5, 8, 19, 18, 1, 2, 15, 6, 0, 17, 8, 14, 13,
)  # fmt: skip

# All ten vehicle classes plus two others, so that filtering and `vehicles` are exercised.
TINY_CLASSES = (
    "bicycle", "motorcycle", "apple", "bear", "bus", "lawn_mower", "pickup_truck", "rocket",
    "streetcar", "tank", "tractor", "train",
)  # fmt: skip
TINY_IMAGES_PER_CLASS = {"train": 6, "test": 3}

SPLITS = ("train", "test")
BATCH_LABELS = {"train": b"training batch 1 of 1", "test": b"testing batch 1 of 1"}
# Synonyms CIFAR-100 file names use, e.g. bicycles are also "bike_s_..." or "velocipede_s_...".
_NAME_STEMS = {
    "bicycle": ("bicycle", "bike", "safety_bicycle", "velocipede"),
    "motorcycle": ("motorcycle", "minibike", "motorbike", "moped"),
}


def write_tiny_cifar_tarball(
    path: Path | str,
    classes_per_split: Sequence[str] | Mapping[str, Sequence[str]] = TINY_CLASSES,
    images_per_class: int | Mapping[str, int] = TINY_IMAGES_PER_CLASS,
    seed: int = 0,
) -> Path:
    """Write the tarball to ``path`` and return it.

    ``classes_per_split``: class names present in every split, or ``{"train": [...], "test":
    [...]}``. ``images_per_class``: images of each class in every split, or per split.
    """
    path = Path(path)
    rng = np.random.default_rng(seed)
    serial = iter(range(1, 1_000_000))
    members = {"meta": _pickle(_meta())}
    for split in SPLITS:
        classes = (
            classes_per_split[split]
            if isinstance(classes_per_split, Mapping)
            else classes_per_split
        )
        count = (
            images_per_class[split] if isinstance(images_per_class, Mapping) else images_per_class
        )
        members[split] = _pickle(_split(split, classes, count, rng, serial))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(_targz(members))
    return path


def load_member(tarball: Path | str, name: str) -> dict:
    """Unpickle ``cifar-100-python/<name>`` of a tarball as the official files require."""
    with tarfile.open(tarball, "r:gz") as tar:
        handle = tar.extractfile(f"cifar-100-python/{name}")
        assert handle is not None
        return pickle.load(handle, encoding="bytes")


def _meta() -> dict:
    return {
        b"fine_label_names": [name.encode() for name in FINE_LABEL_NAMES],
        b"coarse_label_names": [name.encode() for name in COARSE_LABEL_NAMES],
    }


def _split(
    split: str, classes: Sequence[str], count: int, rng: np.random.Generator, serial
) -> dict:
    records = []
    for name in classes:
        fine = FINE_LABEL_NAMES.index(name)
        colour = np.array([(fine * 37) % 200 + 28, (fine * 91) % 200 + 28, (fine * 53) % 200 + 28])
        stems = _NAME_STEMS.get(name, (name,))
        for i in range(count):
            noise = rng.normal(0.0, 24.0, size=(3, 32, 32))
            pixels = np.clip(colour[:, None, None] + noise, 0, 255).astype(np.uint8)
            stem = "bike" if (name == "motorcycle" and i == 0) else stems[i % len(stems)]
            records.append((pixels.reshape(-1), fine, f"{stem}_s_{next(serial):06d}.png"))
    order = rng.permutation(len(records))
    records = [records[i] for i in order]
    data = (
        np.stack([pixels for pixels, _, _ in records])
        if records
        else np.zeros((0, 3072), dtype=np.uint8)
    )
    return {
        b"filenames": [filename.encode() for _, _, filename in records],
        b"batch_label": BATCH_LABELS[split],
        b"fine_labels": [fine for _, fine, _ in records],
        b"coarse_labels": [FINE_TO_COARSE[fine] for _, fine, _ in records],
        b"data": data,
    }


def _pickle(value: dict) -> bytes:
    return pickle.dumps(value, protocol=2)


def _targz(members: dict[str, bytes]) -> bytes:
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        folder = tarfile.TarInfo("cifar-100-python")
        folder.type, folder.mode = tarfile.DIRTYPE, 0o755
        tar.addfile(folder)
        for name, content in (("file.txt~", b""), *members.items()):
            info = tarfile.TarInfo(f"cifar-100-python/{name}")
            info.size, info.mode = len(content), 0o644
            tar.addfile(info, io.BytesIO(content))
    packed = io.BytesIO()
    with gzip.GzipFile(fileobj=packed, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())
    return packed.getvalue()


class TarballServer:
    """A real HTTP server on 127.0.0.1 serving ``content`` at ``.url``, for download tests.

    It honours ``Range: bytes=N-`` (206 + Content-Range) unless ``honour_range`` is false, and
    misbehaves on request: the i-th response is cut (connection closed) after ``drops[i]`` bytes
    of body, ``status`` (e.g. 404, 503) answers every request with that error instead, and
    ``content_length`` replaces the Content-Length header's value (the body is still complete and
    the connection closes after it).
    ``requests`` records the Range header of each request (``None`` when absent).
    """

    def __init__(
        self,
        content: bytes,
        *,
        name: str = "cifar-100-python.tar.gz",
        drops: Sequence[int] = (),
        honour_range: bool = True,
        status: int | None = None,
        content_length: str | None = None,
    ) -> None:
        self.content, self.drops, self.honour_range, self.status = (
            content,
            list(drops),
            honour_range,
            status,
        )
        self.content_length = content_length
        self.requests: list[str | None] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                server._serve(self)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/{name}"
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def __enter__(self) -> TarballServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join()

    def _serve(self, handler: BaseHTTPRequestHandler) -> None:
        number = len(self.requests)
        requested = handler.headers.get("Range")
        self.requests.append(requested)
        if self.status is not None:
            handler.send_error(self.status)
            return
        start = 0
        match = re.fullmatch(r"bytes=(\d+)-", requested or "")
        if match and self.honour_range:
            start = int(match.group(1))
            if start >= len(self.content):
                handler.send_error(416)
                return
            handler.send_response(206)
            handler.send_header(
                "Content-Range", f"bytes {start}-{len(self.content) - 1}/{len(self.content)}"
            )
        else:
            handler.send_response(200)
        body = self.content[start:]
        handler.send_header("Content-Type", "application/gzip")
        handler.send_header(
            "Content-Length", self.content_length if self.content_length else str(len(body))
        )
        handler.end_headers()
        if number < len(self.drops):
            handler.wfile.write(body[: self.drops[number]])
            handler.wfile.flush()
            handler.connection.shutdown(socket.SHUT_RDWR)  # the connection drops mid-body
            handler.close_connection = True
            return
        handler.wfile.write(body)
