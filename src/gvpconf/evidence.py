"""What a probe saw: ``Fact`` values and ``Evidence`` (facts, written as JUnit properties, and the last
protocol exchange). The one ``Fact`` type of the project: the probes record them, the reports keep them."""

from __future__ import annotations

from dataclasses import dataclass, field

from gvpconf import redact

Fact = str | int | float | bool


@dataclass
class Evidence:
    """Facts (JUnit properties) and the last protocol exchange, scrubbed of secrets as they are recorded."""

    facts: dict[str, Fact] = field(default_factory=dict)
    transcript: list[tuple[str, str]] = field(default_factory=list)
    max_transcript: int = 20

    def fact(self, name: str, value: Fact) -> None:
        self.facts[name] = redact.scrub(value) if isinstance(value, str) else value

    def sent(self, text: str) -> None:
        self._log("->", text)

    def received(self, text: str) -> None:
        self._log("<-", text)

    def _log(self, direction: str, text: str) -> None:
        self.transcript.append((direction, redact.scrub(text)))
        del self.transcript[: -self.max_transcript]
