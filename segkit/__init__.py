"""segkit: customer segmentation for analysts (RFM, value tiers, clustering, evaluation, reports).

The public API. Notebooks and users call these; everything else is an implementation detail.
"""

from segkit.intake.cleaning import (CleanResult, NoCleanRows, NoScoredCustomers, build_ledger, clean_and_save,
                                    clean_transactions, join_report, ledger_totals, quarantine_sample)
from segkit.intake.customer_level import CustomerLevel, customer_level_stage, load_customer_level
from segkit.models.clv import (BGNBDModel, ConvergenceWarning, GammaGammaModel, ParetoNBDModel, group_intervals,
                               holdout_check, predicted_clv)
from segkit.models.customer_value import (customer_value, fit_value_models, holdout_stage, slipping_valuable,
                                          value_by, value_findings, value_stage, with_value)
from segkit.models.repeat_summary import repeat_summary
from segkit.monthly.activity import (churn_rates, churned, cohort_table, features_at_month_starts, month_start_segments,
                                     monthly_activity, monthly_kpis, retention_by_segment, segment_retention)
from segkit.monthly.stage import Migration, migration_stage
from segkit.monthly.trends import kpi_changes, kpi_series
from segkit.models.cluster import (ClusterStage, RFMClusterer, cluster_assignments, cluster_skip_reason, cluster_stage,
                                   describe_clusters, name_clusters, profile_clusters, rfm_matrix, scaled_rfm)
from segkit.datasets import generate_retail, load_cdnow
from segkit.errors import DataError, ParamsError, SegkitError
from segkit.evaluate.quality import cluster_quality, explain_with_tree
from segkit.features import customer_features, time_summaries
from segkit.i18n import label_columns, t
from segkit.params import Params, load_params
from segkit.intake.parsing import parse_amount, parse_datetime
from segkit.classify.profile import PROFILE_COLUMNS, add_tags_and_rank, customer_profile, satisfaction_classes
from segkit.classify.ranking import criteria_support, rank_customers, used_weights
from segkit.classify.rfm import (RFMScorer, assign_grid_segments, assign_high_low_classes, check_segment_map, grid_for,
                                 high_low_thresholds, load_segment_map, map_for_codes, score_rfm, segment_customers,
                                 strategies)
from segkit.intake.sources import Intake, connect, load_source
from segkit.store import load_run_info, load_stage, save_run_info, save_stage
from segkit.report.html import heading, say
from segkit.report.tables import before_after, case_findings, describe_transactions, headline_kpis, segment_summary
from segkit.classify.tags import apply_tags, compile_rule, compile_tags, supported_tags, tag_counts, unsupported_tags
from segkit.classify.value import abc_classes, concentration_curve, gini, pareto_table, tier_cuts, tiers, top_share

# issue 11, evaluation: stability, quality side by side, the segmentation matrix, the next-period test, sweeps
from segkit.evaluate.matrix import SegmentationMatrix, segmentation_matrix, spend_growth
from segkit.evaluate.next_period import NextPeriodCheck, calibration_periods, check_classes, next_period_check
from segkit.evaluate.quality import compare_quality
from segkit.evaluate.stability import Stability, cluster_stability
from segkit.evaluate.stage import labelings, matrix_stage, next_period_stage
from segkit.evaluate.sweep import compare_settings

__version__ = "0.1.0"

__all__ = [
    "BGNBDModel", "churn_rates", "churned", "cohort_table", "ConvergenceWarning", "GammaGammaModel", "group_intervals",
    "holdout_check", "monthly_activity", "customer_value", "fit_value_models", "holdout_stage", "slipping_valuable",
    "time_summaries", "value_by", "value_findings", "value_stage", "with_value", "monthly_kpis", "features_at_month_starts", "month_start_segments", "retention_by_segment",
    "segment_retention", "Migration", "migration_stage", "kpi_series", "kpi_changes", "ParetoNBDModel", "predicted_clv", "repeat_summary",
    "abc_classes", "add_tags_and_rank", "apply_tags", "assign_grid_segments", "assign_high_low_classes",
    "before_after", "build_ledger", "case_findings", "check_segment_map", "clean_and_save",
    "clean_transactions", "CleanResult", "cluster_assignments", "cluster_quality", "compile_rule",
    "compile_tags", "concentration_curve", "connect", "customer_features", "customer_profile", "DataError",
    "describe_clusters", "describe_transactions", "explain_with_tree", "generate_retail", "gini", "heading",
    "headline_kpis", "high_low_thresholds", "Intake", "join_report", "label_columns", "ledger_totals",
    "load_cdnow", "load_params", "load_run_info", "load_segment_map", "load_source", "load_stage",
    "name_clusters", "NoCleanRows", "NoScoredCustomers", "CustomerLevel", "customer_level_stage",
    "load_customer_level", "Params", "ParamsError", "pareto_table", "parse_amount", "parse_datetime",
    "profile_clusters", "PROFILE_COLUMNS", "quarantine_sample", "rank_customers", "rfm_matrix",
    "RFMClusterer", "RFMScorer", "satisfaction_classes", "save_run_info", "save_stage", "say", "scaled_rfm",
    "score_rfm", "SegkitError", "segment_customers", "segment_summary", "strategies", "t", "tag_counts",
    "tier_cuts", "tiers", "top_share", "ClusterStage", "cluster_skip_reason", "cluster_stage", "criteria_support",
    "used_weights", "grid_for", "map_for_codes", "supported_tags", "unsupported_tags",
    "SegmentationMatrix", "segmentation_matrix", "spend_growth", "NextPeriodCheck", "calibration_periods",
    "check_classes", "next_period_check", "compare_quality", "Stability", "cluster_stability", "labelings",
    "matrix_stage", "next_period_stage", "compare_settings",
    "TuningPanel", "TuningSettings", "tuning_panel", "tuning_tables", "write_tuned_params",
]
from segkit.tuning import TuningPanel, TuningSettings, tuning_panel, tuning_tables, write_tuned_params  # noqa: E402
