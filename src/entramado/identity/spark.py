"""A local Spark session set up for Splink, for batch linkage on Spark (``LinkConfig(backend="spark")``).

pyspark is an optional dependency (``pip install 'entramado[spark]'``, about 490 MB, and it needs Java 17+); it is
imported only when a session is built, so the rest of the package works without it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession


def spark_session(app_name: str = "entramado-identity", *, checkpoint_dir: Path, partitions: int = 4) -> SparkSession:
    """Build (or reuse) a local Spark session that Splink can link on.

    Splink needs two things a default session lacks: its similarity UDF jar on ``spark.jars`` (without it Spark has
    no ``jaro_winkler`` or ``damerau_levenshtein``) and a checkpoint directory (Splink's default way of breaking
    Spark's lineage writes its intermediate tables there; our scorer persists them instead, other Splink calls may
    not). ``partitions`` sets the shuffle partitions: Spark's default of 200 makes every stage of a small linkage
    wait on 200 near-empty tasks.

    Args:
        app_name: Spark application name.
        checkpoint_dir: Directory for Splink's intermediate tables, and Spark's empty warehouse; created if missing.
        partitions: Shuffle partitions and default parallelism; a few per core is right on one machine.

    Returns:
        The session, in local mode on all cores, UI off, bound to loopback.

    Raises:
        ImportError: pyspark is not installed.
        RuntimeError: a Spark session built without Splink's jar is running in this process.
    """
    from pyspark.sql import SparkSession
    from splink.backends.spark import similarity_jar_location

    jar = similarity_jar_location()
    checkpoint_dir.mkdir(parents=True, exist_ok=True)
    session = (
        SparkSession.builder.appName(app_name)
        .master("local[*]")
        .config("spark.jars", jar)
        .config("spark.sql.shuffle.partitions", str(partitions))
        .config("spark.default.parallelism", str(partitions))
        .config("spark.sql.execution.arrow.pyspark.enabled", "true")
        .config("spark.sql.session.timeZone", "UTC")
        # Spark makes its warehouse directory (for managed tables; we make none) in the working directory otherwise.
        .config("spark.sql.warehouse.dir", str(checkpoint_dir.resolve() / "warehouse"))
        .config("spark.ui.enabled", "false")
        .config("spark.ui.showConsoleProgress", "false")
        .config("spark.driver.host", "127.0.0.1")
        .config("spark.driver.bindAddress", "127.0.0.1")
        .getOrCreate()
    )
    if jar not in session.sparkContext.getConf().get("spark.jars", "").split(","):
        # getOrCreate returned a session built earlier: its context's jars are fixed.
        raise RuntimeError(
            f"the running Spark session was built without Splink's jar; stop it, or add {jar} to its jars"
        )
    session.sparkContext.setCheckpointDir(str(checkpoint_dir))
    session.sparkContext.setLogLevel("ERROR")
    return session
