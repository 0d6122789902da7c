"""Process metrics in Prometheus text format, kept dependency-free: a handful of
counters and a latency histogram are all /metrics needs."""

from __future__ import annotations

import gc
import threading
from collections import defaultdict

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.connections = 0
        self.connections_total = 0
        self.events_emitted: dict[str, int] = defaultdict(int)
        self.commands: dict[tuple[str, str], int] = defaultdict(int)
        self._buckets: dict[str, list[int]] = {}
        self._sum: dict[str, float] = defaultdict(float)
        self._count: dict[str, int] = defaultdict(int)
        # Group commit: transactions committed for commands, and the
        # commands they carried (their ratio is the average batch).
        self.command_commits = 0
        self.committed_commands = 0
        # Notifications: the outbox per (channel, status) as last counted
        # from the database by a background task (every sender's work, this
        # process's or a notify-worker's), and the outcomes this process's
        # sender recorded.
        self.notifications: dict[tuple[str, str], int] = {}
        self.notification_outcomes: dict[tuple[str, str], int] = defaultdict(int)

    def connected(self) -> None:
        with self._lock:
            self.connections += 1
            self.connections_total += 1

    def disconnected(self) -> None:
        with self._lock:
            self.connections = max(0, self.connections - 1)

    def emitted(self, audience: str, count: int = 1) -> None:
        with self._lock:
            self.events_emitted[audience] += count

    def command(self, name: str, outcome: str, seconds: float) -> None:
        with self._lock:
            self.commands[(name, outcome)] += 1
            buckets = self._buckets.setdefault(name, [0] * len(LATENCY_BUCKETS))
            for index, bound in enumerate(LATENCY_BUCKETS):
                if seconds <= bound:
                    buckets[index] += 1
            self._sum[name] += seconds
            self._count[name] += 1

    def committed(self, commands: int) -> None:
        with self._lock:
            self.command_commits += 1
            self.committed_commands += commands

    def notification_outcome(self, channel: str, status: str) -> None:
        with self._lock:
            self.notification_outcomes[(channel, status)] += 1

    def set_notifications(self, counts: dict[tuple[str, str], int]) -> None:
        with self._lock:
            self.notifications = dict(counts)

    def render(self) -> str:
        """The Prometheus exposition text."""
        lines = [
            "# HELP baylight_socket_connections Open Socket.IO connections in this process.",
            "# TYPE baylight_socket_connections gauge",
            f"baylight_socket_connections {self.connections}",
            "# HELP baylight_socket_connections_total Socket.IO connections accepted.",
            "# TYPE baylight_socket_connections_total counter",
            f"baylight_socket_connections_total {self.connections_total}",
            "# HELP baylight_gc_threshold Python garbage-collector thresholds per generation.",
            "# TYPE baylight_gc_threshold gauge",
            *(
                f'baylight_gc_threshold{{generation="{generation}"}} {value}'
                for generation, value in enumerate(gc.get_threshold())
            ),
            "# HELP baylight_events_emitted_total Order messages emitted, per audience.",
            "# TYPE baylight_events_emitted_total counter",
        ]
        with self._lock:
            for audience, count in sorted(self.events_emitted.items()):
                lines.append(f'baylight_events_emitted_total{{audience="{audience}"}} {count}')
            lines += [
                "# HELP baylight_commands_total Commands handled, per name and outcome.",
                "# TYPE baylight_commands_total counter",
            ]
            for (name, outcome), count in sorted(self.commands.items()):
                lines.append(
                    f'baylight_commands_total{{command="{name}",outcome="{outcome}"}} {count}'
                )
            lines += [
                "# HELP baylight_command_seconds Command latency, commit included.",
                "# TYPE baylight_command_seconds histogram",
            ]
            for name, buckets in sorted(self._buckets.items()):
                for bound, count in zip(LATENCY_BUCKETS, buckets, strict=True):
                    lines.append(
                        f'baylight_command_seconds_bucket{{command="{name}",le="{bound}"}} {count}'
                    )
                lines.append(
                    f'baylight_command_seconds_bucket{{command="{name}",le="+Inf"}} '
                    f"{self._count[name]}"
                )
                lines.append(
                    f'baylight_command_seconds_sum{{command="{name}"}} {self._sum[name]:.6f}'
                )
                lines.append(
                    f'baylight_command_seconds_count{{command="{name}"}} {self._count[name]}'
                )
            lines += [
                "# HELP baylight_notifications Customer messages in the outbox, per channel "
                "and status (counted from the database every minute).",
                "# TYPE baylight_notifications gauge",
            ]
            for (channel, status), count in sorted(self.notifications.items()):
                lines.append(
                    f'baylight_notifications{{channel="{channel}",status="{status}"}} {count}'
                )
            lines += [
                "# HELP baylight_notification_outcomes_total Outcomes this process's sender "
                "recorded, per channel and status.",
                "# TYPE baylight_notification_outcomes_total counter",
            ]
            for (channel, status), count in sorted(self.notification_outcomes.items()):
                lines.append(
                    f'baylight_notification_outcomes_total{{channel="{channel}",status="{status}"}}'
                    f" {count}"
                )
        lines += [
            "# HELP baylight_command_commits_total Transactions committed for commands "
            "(several waiting commands share one: group commit).",
            "# TYPE baylight_command_commits_total counter",
            f"baylight_command_commits_total {self.command_commits}",
            "# HELP baylight_committed_commands_total Commands those transactions carried.",
            "# TYPE baylight_committed_commands_total counter",
            f"baylight_committed_commands_total {self.committed_commands}",
        ]
        return "\n".join(lines) + "\n"
