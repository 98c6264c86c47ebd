"""What each segment buys and how it responds: category mix, cross-sell rules (关联规则), next best
category and campaign response per segment (issue 14; notebook 07_cross_sell)."""

from segkit.crosssell.campaigns import (join_campaigns, overall_rate, response_rates, segments_at_send_dates, uplift,
                                        wide_to_long, wilson_interval, worth_targeting)
from segkit.crosssell.category_mix import category_mix, distinguishing_items, mix_matrix
from segkit.crosssell.rules import (baskets, mine_rules, next_best_counts, next_best_item, pair_rules, rules_by_group,
                                    top_rules)
from segkit.crosssell.summaries import Purchases, load_purchases, purchase_summaries, save_purchase_summaries

__all__ = ["Purchases", "baskets", "category_mix", "distinguishing_items", "join_campaigns", "load_purchases",
           "mine_rules", "mix_matrix", "next_best_counts", "next_best_item", "overall_rate", "pair_rules",
           "purchase_summaries", "response_rates", "rules_by_group", "save_purchase_summaries",
           "segments_at_send_dates", "top_rules", "uplift", "wide_to_long", "wilson_interval", "worth_targeting"]
