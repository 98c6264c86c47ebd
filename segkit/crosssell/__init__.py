"""What each segment buys and how it responds: category mix, cross-sell rules (关联规则), next best
category and campaign response per segment (issue 14; notebook 07_cross_sell).

Names are imported when first used (PEP 562 module `__getattr__`, as in `segkit`): `from segkit import
crosssell` does not import Ibis, and only a run with campaigns imports scipy.stats.
`segkit.crosssell.X`, `from segkit.crosssell import X` and the modules (`segkit.crosssell.tables`)
work as before.
"""

import sys
import types

from segkit._lazy import lazy_getattr

# module -> the public names it gives
_EXPORTS = {
    "segkit.crosssell.campaigns": ("join_campaigns", "overall_rate", "response_rates", "segments_at_send_dates",
                                   "uplift", "wide_to_long", "wilson_interval", "worth_targeting"),
    "segkit.crosssell.category_mix": ("category_mix", "distinguishing_items", "mix_matrix"),
    "segkit.crosssell.rules": ("baskets", "mine_rules", "next_best_counts", "next_best_item", "pair_rules",
                               "rules_by_group", "top_rules"),
    "segkit.crosssell.summaries": ("Purchases", "load_purchases", "purchase_summaries", "save_purchase_summaries"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

__all__ = ["Purchases", "baskets", "category_mix", "distinguishing_items", "join_campaigns", "load_purchases",
           "mine_rules", "mix_matrix", "next_best_counts", "next_best_item", "overall_rate", "pair_rules",
           "purchase_summaries", "response_rates", "rules_by_group", "save_purchase_summaries",
           "segments_at_send_dates", "top_rules", "uplift", "wide_to_long", "wilson_interval", "worth_targeting"]


__getattr__ = lazy_getattr(__name__, _WHERE, globals())


def __dir__() -> list[str]:
    # the modules too, which the package used to import as it loaded
    return sorted({*globals(), *__all__, *(module.rsplit(".", 1)[1] for module in _EXPORTS)})


class _Package(types.ModuleType):
    """This package's module type: importing the module segkit.crosssell.category_mix sets the package's
    attribute `category_mix` to that module; the package's `category_mix` stays the function, as it was
    when the package imported its names as it loaded."""

    def __setattr__(self, name: str, value) -> None:
        if name in _WHERE and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package

