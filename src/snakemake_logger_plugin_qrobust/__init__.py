"""qrobust's Snakemake terminal: one line per job, progress with elapsed time and what is left.

`snakemake --logger qrobust ...`; the workflow's default profile (profiles/default/config.yaml)
sets it, and `--workflow-profile none` gives Snakemake's own full output back. Each job is one
line, `[elapsed] rule  wildcards` (`would run` in a dry run); after each finished job a progress
line, `[elapsed] 12/51 jobs (24%), about 3m10s left` (the estimate is the mean time per finished
job so far times the jobs left, on the cores in use). A failed job prints its rule, wildcards, log
file and the log's last lines. Warnings and errors pass through; Snakemake's chatter (input lists,
reasons, shell commands) does not, and stays in its complete log (.snakemake/log/).
Snakemake finds this module by its name (snakemake_logger_plugin_<name>) on the import path.
"""
from __future__ import annotations

import logging
import re
import sys
import time
from pathlib import Path

from snakemake_interface_logger_plugins.base import LogHandlerBase
from snakemake_interface_logger_plugins.common import LogEvent

# messages worth a line though they are only INFO
KEEP = re.compile(r"^(Nothing to be done|This was a dry-run|Complete log|Job stats)")
TAIL = 8  # lines of a failed job's log shown


def clock(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else (f"{m}m{s:02d}s" if m else f"{s}s")


def wildcards_text(wildcards) -> str:
    items = dict(wildcards or {}).items()
    return " ".join(f"{k}={v}" for k, v in items)


class LogHandler(LogHandlerBase):
    def __post_init__(self) -> None:
        self.stream = sys.stdout if getattr(self.common_settings, "stdout", False) else sys.stderr
        self.dryrun = bool(getattr(self.common_settings, "dryrun", False))
        self.show_failed_logs = bool(getattr(self.common_settings, "show_failed_logs", True))
        self.start = time.monotonic()
        self.jobs: dict[int, tuple[str, str, list]] = {}  # jobid -> (rule, wildcards, log files)
        self.stats_shown: set[str] = set()  # Snakemake sends the job stats twice in a dry run

    def _line(self, text: str) -> None:
        self.stream.write(text + "\n")
        self.stream.flush()

    def _elapsed(self) -> str:
        return clock(time.monotonic() - self.start)

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self._emit(record)
        except Exception:  # noqa: BLE001  a display problem must not stop the workflow
            self.handleError(record)

    def _emit(self, record: logging.LogRecord) -> None:
        event = getattr(record, "event", None)
        if event == LogEvent.JOB_INFO:
            rule, wc = getattr(record, "rule_name", "?"), wildcards_text(getattr(record, "wildcards", {}))
            self.jobs[getattr(record, "jobid", -1)] = (rule, wc, list(getattr(record, "log", []) or []))
            verb = "would run " if self.dryrun else ""
            self._line(f"[{self._elapsed()}] {verb}{rule}" + (f"  {wc}" if wc else ""))
        elif event == LogEvent.PROGRESS:
            done, total = getattr(record, "done", 0), getattr(record, "total", 0)
            spent = time.monotonic() - self.start
            left = f", about {clock(spent / done * (total - done))} left" if 0 < done < total else ""
            pct = f" ({100 * done / total:.0f}%)" if total else ""
            self._line(f"[{self._elapsed()}] {done}/{total} jobs{pct}{left}")
        elif event == LogEvent.JOB_ERROR:
            self._job_error(record)
        elif event == LogEvent.RUN_INFO:
            stats = dict(getattr(record, "stats", {}) or {})
            total = stats.pop("total", None)
            per_rule = ", ".join(f"{rule} {n}" for rule, n in stats.items())
            line = f"{total if total is not None else sum(stats.values())} jobs: {per_rule}"
            if stats and line not in self.stats_shown:
                self.stats_shown.add(line)
                self._line(line)
        elif event in (LogEvent.ERROR, LogEvent.GROUP_ERROR) or event is None:
            message = record.getMessage()
            if message in ("", "None"):
                return
            if record.levelno >= logging.WARNING or KEEP.match(message):
                self._line(message)
        # the other events (job started/finished, shell commands, resources, DAG) stay in the log file

    def _job_error(self, record: logging.LogRecord) -> None:
        jobid = getattr(record, "jobid", -1)
        rule, wc, logs = self.jobs.get(jobid, (getattr(record, "rule_name", "?"), "", []))
        logs = list(getattr(record, "log", []) or logs)
        where = f"; log: {', '.join(logs)}" if logs else ""
        self._line(f"[{self._elapsed()}] FAILED {rule}" + (f"  {wc}" if wc else "") + f" (jobid {jobid}){where}")
        if not self.show_failed_logs:
            return
        for log in logs:
            path = Path(str(log).split(" ")[0])
            if path.is_file():
                for text in path.read_text(errors="replace").splitlines()[-TAIL:]:
                    self._line(f"    {text}")

    @property
    def writes_to_stream(self) -> bool:
        return True

    @property
    def writes_to_file(self) -> bool:
        return False

    @property
    def has_filter(self) -> bool:
        return True

    @property
    def has_formatter(self) -> bool:
        return True

    @property
    def needs_rulegraph(self) -> bool:
        return False
