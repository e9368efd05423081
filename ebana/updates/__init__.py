"""Weight-update components: turn EqProp gradients into new conductances."""

from ebana.updates.ideal import OPTIMIZERS, IdealUpdate, Updater

__all__ = ["OPTIMIZERS", "IdealUpdate", "Updater"]
