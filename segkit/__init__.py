"""segkit: customer segmentation for analysts (RFM, value tiers, clustering, evaluation, reports).

The public API. Notebooks and users call these; everything else is an implementation detail.

Names are imported when first used (PEP 562 module `__getattr__`), so `import segkit` is cheap: a
notebook that never clusters does not pay for scikit-learn, one that never reads a source does
not pay for Ibis. `segkit.X` and `from segkit import X` work for every name in `__all__`, and
`segkit.<package>.<module>` (e.g. `segkit.models.cluster`, `segkit.report.tables`) works without
importing the module first, as before.
"""

from __future__ import annotations

import importlib

from segkit._lazy import lazy_getattr

__version__ = "0.1.0"

# module -> the public names it gives; the one list of where each name of the API lives
_EXPORTS = {
    "segkit.intake.cleaning": ("CleanResult", "MonthNotInData", "NoCleanRows", "NoScoredCustomers", "build_ledger",
                               "clean_and_save", "clean_transactions", "join_report", "ledger_totals", "quarantine_sample"),
    "segkit.intake.customer_level": ("CustomerLevel", "customer_level_stage", "load_customer_level"),
    "segkit.models.clv": ("BGNBDModel", "ConvergenceWarning", "GammaGammaModel", "ParetoNBDModel", "group_intervals",
                          "holdout_check", "predicted_clv"),
    "segkit.models.customer_value": ("FitCaveat", "caveat_messages", "customer_value", "fit_value_models",
                                     "holdout_caveats", "holdout_stage", "prediction_caveats", "slipping_valuable",
                                     "value_by", "value_findings", "value_stage", "with_value"),
    "segkit.models.repeat_summary": ("repeat_summary",),
    "segkit.monthly.activity": ("churn_rates", "churned", "cohort_table", "features_at_month_starts",
                                "month_start_segments", "monthly_activity", "monthly_kpis", "retention_by_segment",
                                "segment_retention"),
    "segkit.monthly.shared": ("month_start_classes_file", "month_start_classes_stage", "monthly_kpis_stage"),
    "segkit.monthly.stage": ("Migration", "migration_stage"),
    "segkit.monthly.trends": ("kpi_changes", "kpi_series"),
    "segkit.models.cluster": ("ClusterStage", "RFMClusterer", "cluster_assignments", "cluster_names", "cluster_skip_reason",
                              "cluster_stage", "describe_clusters", "name_clusters", "profile_clusters", "rfm_matrix",
                              "scaled_rfm"),
    "segkit.datasets": ("generate_retail", "load_cdnow"),
    "segkit.errors": ("DataError", "ParamsError", "SegkitError"),
    "segkit.evaluate.quality": ("cluster_quality", "explain_with_tree", "compare_quality"),
    "segkit.features": ("customer_features", "time_summaries"),
    "segkit.i18n": ("label_columns", "t", "unit_words"),
    "segkit.params": ("Params", "load_params"),
    "segkit.intake.parsing": ("parse_amount", "parse_datetime"),
    "segkit.classify.profile": ("PROFILE_COLUMNS", "add_tags_and_rank", "customer_profile", "satisfaction_classes"),
    "segkit.classify.ranking": ("criteria_support", "rank_customers", "top_ranked", "used_weights"),
    "segkit.classify.rfm": ("RFMScorer", "assign_grid_segments", "assign_high_low_classes", "check_segment_map",
                            "grid_for", "high_low_thresholds", "load_segment_map", "map_for_codes", "score_rfm",
                            "segment_customers", "strategies"),
    "segkit.intake.sources": ("Intake", "connect", "load_source", "load_spark"),
    "segkit.intake.stage": ("cleaning_stage",),
    "segkit.store": ("known_lines_table", "load_run_info", "load_stage", "save_run_info", "save_stage", "stage_table",
                     "stage_tables"),
    "segkit.report.html": ("heading", "say"),
    "segkit.report.tables": ("before_after", "case_findings", "describe_transactions", "headline_kpis",
                             "segment_summary"),
    "segkit.classify.tags": ("apply_tags", "compile_rule", "compile_tags", "supported_tags", "tag_counts",
                             "unmatched_values", "unsupported_tags"),
    "segkit.classify.value": ("abc_classes", "concentration_curve", "gini", "pareto_table", "tier_cuts", "tiers",
                              "top_share"),
    "segkit.evaluate.matrix": ("SegmentationMatrix", "segmentation_matrix", "spend_growth"),
    "segkit.evaluate.next_period": ("NextPeriodCheck", "calibration_periods", "check_classes", "next_period_check"),
    "segkit.evaluate.stability": ("Stability", "cluster_stability"),
    "segkit.evaluate.stage": ("labelings", "matrix_stage", "next_period_stage"),
    "segkit.evaluate.sweep": ("compare_settings",),
    "segkit.tuning": ("TuningPanel", "TuningSettings", "tuning_panel", "tuning_tables", "write_tuned_params"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
# subpackages whose modules are reached as attributes (segkit.models.cluster, segkit.report.tables, ...)
_PACKAGES = ("classify", "evaluate", "intake", "models", "monthly", "report")

__all__ = [
    "BGNBDModel", "churn_rates", "churned", "cohort_table", "ConvergenceWarning", "GammaGammaModel", "group_intervals",
    "holdout_check", "monthly_activity", "customer_value", "fit_value_models", "holdout_stage", "slipping_valuable",
    "FitCaveat", "caveat_messages", "holdout_caveats", "prediction_caveats",
    "time_summaries", "value_by", "value_findings", "value_stage", "with_value", "monthly_kpis", "features_at_month_starts", "month_start_segments", "retention_by_segment",
    "segment_retention", "month_start_classes_stage", "monthly_kpis_stage", "Migration", "migration_stage", "kpi_series", "kpi_changes", "ParetoNBDModel", "predicted_clv", "repeat_summary",
    "abc_classes", "add_tags_and_rank", "apply_tags", "assign_grid_segments", "assign_high_low_classes",
    "before_after", "build_ledger", "case_findings", "check_segment_map", "clean_and_save", "cleaning_stage",
    "clean_transactions", "CleanResult", "cluster_assignments", "cluster_quality", "compile_rule",
    "compile_tags", "concentration_curve", "connect", "customer_features", "customer_profile", "DataError",
    "describe_clusters", "describe_transactions", "explain_with_tree", "generate_retail", "gini", "heading",
    "headline_kpis", "high_low_thresholds", "Intake", "join_report", "label_columns", "ledger_totals",
    "load_cdnow", "load_params", "load_run_info", "load_segment_map", "load_source", "load_spark", "load_stage",
    "name_clusters", "MonthNotInData", "NoCleanRows", "NoScoredCustomers", "CustomerLevel", "customer_level_stage",
    "load_customer_level", "Params", "ParamsError", "pareto_table", "parse_amount", "parse_datetime",
    "profile_clusters", "PROFILE_COLUMNS", "quarantine_sample", "rank_customers", "top_ranked", "rfm_matrix",
    "RFMClusterer", "RFMScorer", "satisfaction_classes", "save_run_info", "save_stage", "say", "scaled_rfm",
    "stage_table", "stage_tables", "month_start_classes_file", "known_lines_table", "score_rfm", "SegkitError", "segment_customers", "segment_summary", "strategies", "t", "tag_counts",
    "tier_cuts", "tiers", "top_share", "ClusterStage", "cluster_names", "cluster_skip_reason", "cluster_stage", "criteria_support",
    "used_weights", "grid_for", "map_for_codes", "supported_tags", "unsupported_tags", "unmatched_values",
    "SegmentationMatrix", "segmentation_matrix", "spend_growth", "NextPeriodCheck", "calibration_periods",
    "check_classes", "next_period_check", "compare_quality", "Stability", "cluster_stability", "labelings",
    "matrix_stage", "next_period_stage", "compare_settings",
    "TuningPanel", "TuningSettings", "tuning_panel", "tuning_tables", "write_tuned_params", "unit_words",
]


__getattr__ = lazy_getattr("segkit", _WHERE, globals())


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


for _name in _PACKAGES:
    _package = importlib.import_module(f"segkit.{_name}")  # docstring-only packages: nothing heavy
    if "__getattr__" not in vars(_package):  # `package.<module>` imports the module on first use
        _package.__getattr__ = lazy_getattr(_package.__name__, {}, vars(_package))
del _name, _package
