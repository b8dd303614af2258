"""``make loadtest``: shoppers and an experimenter against a running abgate."""

from loadtests.experimenter import Experimenter
from loadtests.storefront import Shopper

__all__ = ["Experimenter", "Shopper"]
