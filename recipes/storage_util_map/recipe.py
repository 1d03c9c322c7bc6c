"""storage_util_map: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="storage_util_map",
    display_name="Storage Metrics Heatmap",
    description="Heatmaps of storage device metrics.",
    question="How busy were the storage devices over time?",
    counterpart="nsys storage_util_map",
    unavailable="storage device metrics (nsys profile --storage-metrics ...)",
)
