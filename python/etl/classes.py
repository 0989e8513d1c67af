"""Class selection by name: ``--classes bicycle,motorcycle`` or ``--classes vehicles``.

The label index of a class is its position in the selection, so ``labels.json`` and the ``.lst``
files follow the order the user typed, never CIFAR-100's numbering. Names are checked before
anything is downloaded, against the official fine-label list (the archive's own ``meta`` is
checked again once read).
"""

from __future__ import annotations

from etl.errors import UnknownClass

# CIFAR-100 fine label names in the official order (index = fine label in the pickles).
CIFAR100_FINE_LABELS: tuple[str, ...] = (
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

# The ten fine classes of the coarse labels vehicles_1 (bicycle, bus, motorcycle, pickup_truck,
# train) and vehicles_2 (lawn_mower, rocket, streetcar, tank, tractor), in CIFAR-100 fine-label
# order: with ``--classes vehicles`` bicycle is label 0, bus 1, ..., train 9.
VEHICLES: tuple[str, ...] = (
    "bicycle", "bus", "lawn_mower", "motorcycle", "pickup_truck",
    "rocket", "streetcar", "tank", "tractor", "train",
)  # fmt: skip

GROUPS: dict[str, tuple[str, ...]] = {"vehicles": VEHICLES}

DEFAULT_CLASSES = "bicycle,motorcycle"


def parse_classes(spec: str, valid: tuple[str, ...] = CIFAR100_FINE_LABELS) -> tuple[str, ...]:
    """Turn ``"bicycle,motorcycle"`` (or a group name such as ``vehicles``) into class names.

    Order is kept (it defines the label indices); a name given twice counts once.
    """
    selected: list[str] = []
    for word in (part.strip() for part in spec.split(",")):
        if not word:
            continue
        for name in GROUPS.get(word, (word,)):
            if name not in valid:
                raise UnknownClass(
                    f"{name!r} is not a CIFAR-100 class; valid names: {', '.join(valid)}"
                    f" (or a group: {', '.join(GROUPS)})"
                )
            if name not in selected:
                selected.append(name)
    if not selected:
        raise UnknownClass(f"no class given; valid names: {', '.join(valid)}")
    return tuple(selected)
