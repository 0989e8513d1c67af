import pytest

from etl.classes import CIFAR100_FINE_LABELS, VEHICLES, parse_classes
from etl.errors import UnknownClass


def test_default_selection_keeps_the_typed_order():
    assert parse_classes("bicycle,motorcycle") == ("bicycle", "motorcycle")
    assert parse_classes(" motorcycle , bicycle ") == ("motorcycle", "bicycle")


def test_vehicles_is_the_ten_vehicle_classes_in_fine_label_order():
    assert parse_classes("vehicles") == VEHICLES
    assert VEHICLES == (
        "bicycle", "bus", "lawn_mower", "motorcycle", "pickup_truck",
        "rocket", "streetcar", "tank", "tractor", "train",
    )  # fmt: skip
    fine = [CIFAR100_FINE_LABELS.index(name) for name in VEHICLES]
    assert fine == sorted(fine)


def test_a_name_given_twice_counts_once():
    assert parse_classes("motorcycle,vehicles") == ("motorcycle",) + tuple(
        name for name in VEHICLES if name != "motorcycle"
    )


def test_unknown_name_lists_the_valid_ones():
    with pytest.raises(UnknownClass) as caught:
        parse_classes("bicycle,motorbike")
    message = str(caught.value)
    assert "'motorbike' is not a CIFAR-100 class" in message
    assert "apple" in message and "worm" in message and "vehicles" in message


def test_empty_selection_is_an_error():
    with pytest.raises(UnknownClass, match="no class given"):
        parse_classes(" , ")


def test_official_label_list_has_100_unique_names():
    assert len(set(CIFAR100_FINE_LABELS)) == 100
    assert CIFAR100_FINE_LABELS.index("bicycle") == 8
    assert CIFAR100_FINE_LABELS.index("motorcycle") == 48
