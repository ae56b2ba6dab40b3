"""Monitor configuration: windows, durations, checks, notifiers and rules are validated."""

from __future__ import annotations

import pytest

from cycleml.errors import InvalidInput
from cycleml.monitoring import MonitorConfig, parse_window


@pytest.mark.parametrize(
    ("text", "ms"),
    [("500ms", 500), ("30s", 30_000), ("15m", 900_000), ("1h", 3_600_000), ("1d", 86_400_000),
     ("2w", 1_209_600_000), (1.5, 1_500), ("0.5h", 1_800_000)],
)  # fmt: skip
def test_duration_windows(text: str | float, ms: int) -> None:
    assert parse_window(text) == ("time", ms)  # type: ignore[arg-type]


@pytest.mark.parametrize("bad", ["", "1 fortnight", "h", "-1h", "0s", 0, -3, True])
def test_bad_windows_say_how_to_write_one(bad: object) -> None:
    with pytest.raises(InvalidInput, match="window") as info:
        parse_window(bad)  # type: ignore[arg-type]
    assert info.value.message.startswith("Invalid window")


def test_deprecated_parse_duration_ms_warns_and_still_works() -> None:
    import cycleml.monitoring

    with pytest.warns(DeprecationWarning, match=r"cycleml\.time\.parse_duration_ms"):
        parse_duration_ms = cycleml.monitoring.parse_duration_ms
    assert parse_duration_ms("1h") == 3_600_000
    assert parse_duration_ms(1.5) == 1_500
    with pytest.raises(InvalidInput, match=r"^Invalid cooldown '0s': expected a positive"):
        parse_duration_ms("0s", what="cooldown")  # positive, as before
    assert "parse_duration_ms" not in cycleml.monitoring.__all__


def test_windows_are_rows_or_durations() -> None:
    assert parse_window(5000) == ("rows", 5000)
    assert parse_window("250") == ("rows", 250)
    assert parse_window("1h") == ("time", 3_600_000)
    with pytest.raises(InvalidInput, match="at least 1 row"):
        parse_window(0)


def test_round_trip_and_unknown_settings() -> None:
    config = MonitorConfig(
        checks=("drift", "performance"), window=1000, drift={"method": "ks"},
        rules=({"name": "r", "metric": "drift.share", "operator": ">", "threshold": 0.5,
                "notify": ["hook"]},),
        notifications={"hook": {"kind": "webhook", "url": "http://127.0.0.1:1/x"}},
    )  # fmt: skip
    assert MonitorConfig.from_dict(config.to_dict()) == config
    with pytest.raises(InvalidInput, match="Unknown monitor setting 'windw'"):
        MonitorConfig.from_dict({"windw": "1h"})


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"checks": ["drift", "vibes"]}, "Unknown monitor check 'vibes'"),
        ({"checks": []}, "No checks"),
        ({"window": "soon"}, "expected a number of rows, or a duration"),
        ({"lag": -1}, "lag must be"),
        ({"notifications": {"x": {"kind": "pager"}}}, "kind 'pager'"),
        ({"notifications": {"x": {"kind": "webhook"}}}, "has no url"),
        ({"notifications": {"x": {"kind": "retrain"}}}, "has no command"),
        (
            {
                "rules": [
                    {
                        "name": "r",
                        "metric": "drift.share",
                        "operator": ">",
                        "threshold": 1,
                        "notify": ["nobody"],
                    }
                ]
            },
            "notifies .nobody.",
        ),
    ],
)
def test_bad_settings_are_refused(settings: dict[str, object], message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        MonitorConfig.from_dict(settings)
