"""s3_access_sum: catalogue entry for nsys's recipe of that name; its input is not one we read.

Listed so that ``recipe list`` shows the whole nsys catalogue and ``recipe info`` and
``recipe run`` say what would record the data, instead of "unknown recipe".
"""

from __future__ import annotations

from nsight_lab.recipe import RecipeSpec

SPEC = RecipeSpec(
    name="s3_access_sum",
    display_name="S3 Access Summary",
    description="Summary of S3 object store access across traced S3 client libraries.",
    question="How did the job use S3 object storage?",
    counterpart="nsys s3_access_sum",
    unavailable="S3 client library tracing of recent nsys releases",
)
